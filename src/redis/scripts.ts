import Redis, { ChainableCommander } from 'ioredis';
import { LUA_COMMANDS } from './commands';
import { PartitionKeys } from './keys';

/*
 * The Lua commands of src/redis/commands/, typed. Each wrapper builds the script's KEYS
 * from the partition's key layout (so they share its hash tag) and turns its integer reply
 * into a word. The scripts never rewrite stream metadata themselves: Lua's cjson would
 * round microsecond timestamps (14 significant digits) and reorder fields, so the caller
 * decides a move in TypeScript and the script applies it only while the stream still holds
 * the text the decision was made on (a compare-and-set).
 */

type CommandName = keyof typeof LUA_COMMANDS;
type Arg = string | number;
type CommandClient = Record<CommandName, (...keysThenArgs: Arg[]) => Promise<unknown>>;

const prepared = new WeakSet<Redis>();

/**
 * The client with every command defined, once per client: ioredis then sends EVALSHA, and
 * the whole script (EVAL) on a connection's first use or after NOSCRIPT (a restarted Redis).
 */
function withCommands(redis: Redis): CommandClient {
  if (!prepared.has(redis)) {
    for (const [name, { lua, numberOfKeys }] of Object.entries(LUA_COMMANDS)) {
      redis.defineCommand(name, { lua, numberOfKeys });
    }
    prepared.add(redis);
  }
  return redis as unknown as CommandClient;
}

async function run(redis: Redis, name: CommandName, keys: string[], args: Arg[]): Promise<number> {
  if (keys.length !== LUA_COMMANDS[name].numberOfKeys) {
    throw new Error(`${name} takes ${LUA_COMMANDS[name].numberOfKeys} keys, was given ${keys.length}`);
  }
  return Number(await withCommands(redis)[name](...keys, ...args));
}

/** A script's reply when the stream's metadata is no longer the text the caller read. */
const CHANGED = -1;

export type ClaimReply = 'claimed' | 'held-by-other' | 'changed';

export const scripts = {
  /** claimStream-2.lua: the worker's claim, while the metadata is still `metaText`. */
  async claimStream(
    redis: Redis,
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
    redis: Redis,
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
    redis: Redis,
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
    redis: Redis,
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
    redis: Redis,
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
    redis: Redis,
    keys: PartitionKeys,
    streamId: string,
    lease: { now: number; leaseUntil: number },
  ): Promise<boolean> {
    const reply = await run(redis, 'takeRetry', [keys.retryTimers], [streamId, lease.now, lease.leaseUntil]);
    return reply === 1;
  },

  /** releaseRetry-1.lua: true when the entry still held the caller's lease and is gone. */
  async releaseRetry(
    redis: Redis,
    keys: PartitionKeys,
    streamId: string,
    leaseUntil: number,
  ): Promise<boolean> {
    return (await run(redis, 'releaseRetry', [keys.retryTimers], [streamId, leaseUntil])) === 1;
  },

  /**
   * compareAndDeletePointer-1.lua, queued on a MULTI. Sent whole (EVAL), not by hash: an
   * EVALSHA meeting an emptied script cache fails inside EXEC, after the transaction's other
   * writes were applied.
   */
  queueCompareAndDeletePointer(
    multi: ChainableCommander,
    keys: PartitionKeys,
    streamKey: string,
    streamId: string,
  ): void {
    multi.eval(LUA_COMMANDS.compareAndDeletePointer.lua, 1, keys.active(streamKey), streamId);
  },
};
