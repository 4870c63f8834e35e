import { encodeStoredEvent, lastWireTextOfEachMessageId, storedEventWireText } from '../events/stored-event';
import { RedisClient } from './client';
import { LUA_COMMANDS } from './commands';
import type { StreamChangeWrite } from './key-batch';
import { PartitionKeys } from './keys';

/*
 * The Lua commands of src/redis/commands/, typed. Each wrapper builds the script's KEYS
 * from the partition's key layout (so they share its hash tag) and turns its integer reply
 * into a word. The scripts never rewrite stream metadata themselves: Lua's cjson would
 * round microsecond timestamps (14 significant digits) and reorder fields, so the caller
 * decides a move in TypeScript and the script applies it only while the stream still holds
 * the text the decision was made on (a compare-and-set).
 *
 * The matcher's writes are scripts of the same kind rather than WATCH/MULTI: on a Redis
 * Cluster, ioredis sends a MULTI that met MOVED again to the slot's new node without its
 * WATCH, so after a slot move the transaction would run unguarded.
 */

type CommandName = keyof typeof LUA_COMMANDS;
type Arg = string | number;
type CommandClient = Record<CommandName, (...keysThenArgs: Arg[]) => Promise<unknown>>;

const prepared = new WeakSet<RedisClient>();

/**
 * The client with every command defined, once per client: ioredis then sends EVALSHA, and
 * the whole script (EVAL) on a connection's first use or after NOSCRIPT (a restarted Redis,
 * a node promoted by a failover, a slot moved to a node that never ran the script).
 */
function withCommands(redis: RedisClient): CommandClient {
  if (!prepared.has(redis)) {
    for (const [name, { lua, numberOfKeys }] of Object.entries(LUA_COMMANDS)) {
      redis.defineCommand(name, { lua, numberOfKeys });
    }
    prepared.add(redis);
  }
  return redis as unknown as CommandClient;
}

/** A command's raw reply. */
function runRaw(redis: RedisClient, name: CommandName, keys: string[], args: Arg[]): Promise<unknown> {
  if (keys.length !== LUA_COMMANDS[name].numberOfKeys) {
    throw new Error(`${name} takes ${LUA_COMMANDS[name].numberOfKeys} keys, was given ${keys.length}`);
  }
  return withCommands(redis)[name](...keys, ...args);
}

async function run(redis: RedisClient, name: CommandName, keys: string[], args: Arg[]): Promise<number> {
  return Number(await runRaw(redis, name, keys, args));
}

/** A script's reply when the stream's metadata is no longer the text the caller read. */
const CHANGED = -1;
/** A matcher script's reply when the partition's owner epoch is no longer the caller's. */
const FENCED = -2;

/** A matcher write's outcome: done, lost a race (read again), or fenced out by a new owner. */
export type FencedReply = 'done' | 'changed' | 'fenced';

const fencedReply = (reply: number): FencedReply =>
  reply === FENCED ? 'fenced' : reply === CHANGED ? 'changed' : 'done';

/** A due timer's move, decided from the metadata text read (takeDueTimer-7.lua). */
export interface TimerTake {
  streamId: string;
  /** The stream key whose active pointer is dropped if it still names the stream. */
  streamKey: string;
  metaText: string | null;
  /** Null for a stale timer: only the entries named are dropped. */
  nextMetaText: string | null;
  dropFireTimer: boolean;
  dropExpireTimer: boolean;
}

/** A taken stream's events as wire text (whatever form they are stored in). */
export type TimerTakeReply = { taken: string[] } | 'stale' | 'changed' | 'fenced';

function timerTakeReply(reply: unknown): TimerTakeReply {
  const [status, ...events] = reply as [number, ...string[]];
  if (status === 1) return { taken: events.map(storedEventWireText) };
  if (status === 0) return 'stale';
  return status === FENCED ? 'fenced' : 'changed';
}

const flag = (on: boolean) => (on ? 1 : 0);

export type ClaimReply = 'claimed' | 'held-by-other' | 'changed';

export const scripts = {
  /** claimStream-2.lua: the worker's claim, while the metadata is still `metaText`. */
  async claimStream(
    redis: RedisClient,
    keys: PartitionKeys,
    streamId: string,
    claim: { metaText: string; value: string; ttlMs: number },
  ): Promise<ClaimReply> {
    const reply = await run(
      redis,
      'claimStream',
      [keys.stream(streamId), keys.claim(streamId)],
      [claim.metaText, claim.value, claim.ttlMs],
    );
    return reply === CHANGED ? 'changed' : reply === 1 ? 'claimed' : 'held-by-other';
  },

  /** renewClaim-1.lua: true when the claim still had `value` and was extended. */
  async renewClaim(
    redis: RedisClient,
    keys: PartitionKeys,
    streamId: string,
    claim: { value: string; ttlMs: number },
  ): Promise<boolean> {
    return (await run(redis, 'renewClaim', [keys.claim(streamId)], [claim.value, claim.ttlMs])) === 1;
  },

  /**
   * finishStream-8.lua: `nextMetaText` null purges the stream; `failureText` (a stream ending
   * in error) keeps its failed attempts, null drops them.
   */
  async finishStream(
    redis: RedisClient,
    keys: PartitionKeys,
    streamId: string,
    move: {
      metaText: string;
      nextMetaText: string | null;
      tombstoneText: string;
      tombstoneSeconds: number;
      failureText: string | null;
    },
  ): Promise<'finished' | 'changed'> {
    const reply = await run(
      redis,
      'finishStream',
      [
        keys.stream(streamId),
        keys.events(streamId),
        keys.ids,
        keys.done(streamId),
        keys.claim(streamId),
        keys.pending,
        keys.retry(streamId),
        keys.retryTimers,
      ],
      [
        move.metaText,
        move.nextMetaText ?? '',
        move.tombstoneText,
        move.tombstoneSeconds,
        streamId,
        move.failureText ?? '',
      ],
    );
    return reply === CHANGED ? 'changed' : 'finished';
  },

  /** resetStream-4.lua. */
  async resetStream(
    redis: RedisClient,
    keys: PartitionKeys,
    streamId: string,
    move: { metaText: string; nextMetaText: string },
  ): Promise<'reset' | 'changed'> {
    const reply = await run(
      redis,
      'resetStream',
      [keys.stream(streamId), keys.pending, keys.done(streamId), keys.retry(streamId)],
      [move.metaText, move.nextMetaText, streamId],
    );
    return reply === CHANGED ? 'changed' : 'reset';
  },

  /** scheduleRetry-5.lua: the stream waits for its next attempt, due at `due` (µs). */
  async scheduleRetry(
    redis: RedisClient,
    keys: PartitionKeys,
    streamId: string,
    move: { metaText: string; nextMetaText: string; failureText: string; due: number },
  ): Promise<'scheduled' | 'changed'> {
    const reply = await run(
      redis,
      'scheduleRetry',
      [keys.stream(streamId), keys.claim(streamId), keys.retry(streamId), keys.retryTimers, keys.pending],
      [move.metaText, move.nextMetaText, move.failureText, move.due, streamId],
    );
    return reply === CHANGED ? 'changed' : 'scheduled';
  },

  /** takeRetry-1.lua: true when the retry was due and is now leased to the caller until `leaseUntil`. */
  async takeRetry(
    redis: RedisClient,
    keys: PartitionKeys,
    streamId: string,
    lease: { now: number; leaseUntil: number },
  ): Promise<boolean> {
    const reply = await run(redis, 'takeRetry', [keys.retryTimers], [streamId, lease.now, lease.leaseUntil]);
    return reply === 1;
  },

  /** releaseRetry-1.lua: true when the entry still held the caller's lease and is gone. */
  async releaseRetry(
    redis: RedisClient,
    keys: PartitionKeys,
    streamId: string,
    leaseUntil: number,
  ): Promise<boolean> {
    return (await run(redis, 'releaseRetry', [keys.retryTimers], [streamId, leaseUntil])) === 1;
  },

  /** applyStreamChange-9.lua: one stream change of a key's batch, fenced by the owner epoch. */
  async applyStreamChange(
    redis: RedisClient,
    keys: PartitionKeys,
    epoch: string,
    change: StreamChangeWrite,
  ): Promise<FencedReply> {
    const pointer = change.expectedPointer;
    const reply = await run(
      redis,
      'applyStreamChange',
      [
        keys.epoch,
        keys.active(change.key),
        keys.seen(change.key),
        keys.ids,
        keys.expireTimers,
        keys.fireTimers,
        keys.stream(change.streamId),
        keys.events(change.streamId),
        keys.stream(pointer ?? change.streamId),
      ],
      [
        epoch,
        pointer ?? '',
        change.expectedMetaText ?? '',
        change.metaText,
        change.streamId,
        flag(change.created),
        change.expireAt,
        change.fireAt ?? '',
        change.seenAt,
        change.forgetSeenBefore,
        change.seenRetentionSeconds,
        ...change.events.flatMap(([messageId, wireText]) => [messageId, encodeStoredEvent(wireText)]),
      ],
    );
    return fencedReply(reply);
  },

  /** takeDueTimer-7.lua: a due stream to firing/expiring with its events, or a stale timer's entries dropped. */
  async takeDueTimer(
    redis: RedisClient,
    keys: PartitionKeys,
    epoch: string,
    take: TimerTake,
  ): Promise<TimerTakeReply> {
    const reply = await runRaw(
      redis,
      'takeDueTimer',
      [
        keys.epoch,
        keys.stream(take.streamId),
        keys.events(take.streamId),
        keys.fireTimers,
        keys.expireTimers,
        keys.pending,
        keys.active(take.streamKey),
      ],
      [
        epoch,
        take.metaText ?? '',
        take.nextMetaText ?? '',
        flag(take.dropFireTimer),
        flag(take.dropExpireTimer),
        take.streamId,
      ],
    );
    return timerTakeReply(reply);
  },

  /**
   * readRetryRecord-3.lua: a stream's metadata, failed attempts and events (wire text, one per
   * message id), read at one instant.
   */
  async readRetryRecord(
    redis: RedisClient,
    keys: PartitionKeys,
    streamId: string,
  ): Promise<{ metaText: string | null; attemptsText: string | null; events: string[] }> {
    const reply = await runRaw(
      redis,
      'readRetryRecord',
      [keys.stream(streamId), keys.retry(streamId), keys.events(streamId)],
      [],
    );
    const [metaText, attemptsText, ...stored] = reply as [string | null, string | null, ...string[]];
    return { metaText, attemptsText, events: lastWireTextOfEachMessageId(stored.map(storedEventWireText)) };
  },

  /** readStreamEvents-1.lua: a stream's events as wire text, as stored (a message id may repeat). */
  async readStreamEvents(redis: RedisClient, keys: PartitionKeys, streamId: string): Promise<string[]> {
    const stored = await runRaw(redis, 'readStreamEvents', [keys.events(streamId)], []);
    return (stored as string[]).map(storedEventWireText);
  },

  /** setClock-2.lua: the clock fields `updates`, while the clock still holds `read`. */
  async setClock(
    redis: RedisClient,
    keys: PartitionKeys,
    epoch: string,
    clock: { read: Record<string, string>; updates: Record<string, string> },
  ): Promise<FencedReply> {
    const read = Object.entries(clock.read);
    const updates = Object.entries(clock.updates);
    const args = [epoch, read.length, ...read.flat(), ...updates.flat()];
    return fencedReply(await run(redis, 'setClock', [keys.epoch, keys.clock], args));
  },

  /** storeOffset-2.lua: the last applied repartition offset, fenced by the owner epoch. */
  async storeOffset(
    redis: RedisClient,
    keys: PartitionKeys,
    epoch: string,
    offset: string,
  ): Promise<FencedReply> {
    return fencedReply(await run(redis, 'storeOffset', [keys.epoch, keys.offset], [epoch, offset]));
  },
};
