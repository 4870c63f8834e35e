import { randomUUID } from 'node:crypto';
import { lastOfEachMessageId } from '../events/stored-event';
import { decodeEvent } from '../events/wire';
import { ClockMode, KeyApplyResult, takenStreamRecord, transitionForTimer } from '../streams/engine';
import { compareDueTimers, DueTimer, StreamMeta, StreamRecord, StreamState } from '../streams/model';
import { KeyBatchEntry, KeyGroup, PartitionStore, partitionClock } from '../streams/store';
import { TriggerLookup, TriggerRuntime, VersionedTrigger } from '../streams/trigger-runtime';
import { Micros } from '../time/micros';
import { RedisClient } from './client';
import { RedisConnectionPool } from './connection-pool';
import { LostOwnershipError } from './errors';
import { KeyBatchProgress, KeyRead, planKeyBatch, StreamChangeWrite } from './key-batch';
import { PartitionKeys, repartitionPartitionsKey } from './keys';
import { Attempt, CONFLICT, retryOnConflict } from './retry';
import { FencedReply, scripts, TimerTake } from './scripts';
import { EMITTABLE_STATES, parseStreamMeta, readStreamMeta, streamMetaText } from './stream-meta';

/** How many stream keys' active ids a store remembers to prefetch their stream (LRU by insertion). */
const ACTIVE_ID_CACHE_SIZE = 50_000;

export interface RedisStoreOptions {
  namespace: string;
  /** How long a message_id is remembered after it was seen (duplicates later than this are new events). */
  seenRetentionSeconds: number;
  maxAttempts: number;
  onConflict?: (trigger: string) => void;
}

/** A stream a timer took: its new metadata and its events' wire text (a message id may repeat). */
interface TakenStream {
  meta: StreamMeta;
  events: string[];
}

/**
 * Stream state of one repartition partition in Redis. Every write is a Lua script of
 * src/redis/commands fenced by the partition's owner epoch and guarded by what was read
 * (an optimistic compare-and-set, retried on conflict), so it behaves the same on one Redis
 * and on a Redis Cluster, where all of a partition's keys share one hash slot.
 */
export class RedisPartitionStore implements PartitionStore {
  readonly keys: PartitionKeys;
  private epoch: string | null = null;
  /** Stream key → its active stream id as last written here (a hint, always verified). */
  private readonly activeIds = new Map<string, string>();

  constructor(
    readonly partition: number,
    private readonly pool: RedisConnectionPool,
    private readonly options: RedisStoreOptions,
  ) {
    this.keys = new PartitionKeys(options.namespace, partition);
  }

  /** Takes ownership: bumps the owner epoch (fencing out the previous owner) and returns the last applied offset. */
  async claim(): Promise<string | null> {
    return this.pool.with(async (c) => {
      this.epoch = String(await c.incr(this.keys.epoch));
      return c.get(this.keys.offset);
    });
  }

  get ownerEpoch(): string | null {
    return this.epoch;
  }

  /** The epoch this store holds, as read back with its reads; LostOwnershipError when another owner took it. */
  private ownEpoch(read: unknown = this.epoch): string {
    if (this.epoch === null || read !== this.epoch) throw new LostOwnershipError(this.partition);
    return this.epoch;
  }

  /** A script's reply turned into an attempt: CONFLICT to read again, LostOwnershipError when fenced. */
  private settleWrite<T>(reply: FencedReply, value: T): Attempt<T> {
    if (reply === 'fenced') throw new LostOwnershipError(this.partition);
    return reply === 'changed' ? CONFLICT : value;
  }

  async applyKey(
    trigger: TriggerRuntime | VersionedTrigger,
    key: string,
    batch: KeyBatchEntry[],
    clock: ClockMode,
    now: Micros,
  ): Promise<KeyApplyResult> {
    const [result] = await this.applyGroups([{ trigger, key, batch }], clock, now);
    return result;
  }

  /**
   * Several keys at once: their reads share a round trip and their writes are sent together,
   * so a batch spread over N keys costs two round trips rather than 2N. A key whose write lost
   * a race is read and decided again (only what it has not applied yet), up to maxAttempts.
   */
  applyKeys(groups: KeyGroup[], clock: ClockMode, now: Micros): Promise<KeyApplyResult[]> {
    return this.applyGroups(groups, clock, now);
  }

  private async applyGroups(groups: KeyGroup[], clock: ClockMode, now: Micros): Promise<KeyApplyResult[]> {
    const progress = groups.map((group) => new KeyBatchProgress(group));
    const what =
      groups.length === 1
        ? `apply ${groups[0].trigger.name} ${groups[0].key}`
        : `apply ${groups.length} keys`;
    await retryOnConflict(what, this.options.maxAttempts, async () => {
      const open = progress.filter((p) => !p.done);
      await this.pool.with((c) => this.attemptApply(c, open, clock, now));
      const lost = open.filter((p) => !p.done);
      for (const p of lost) this.options.onConflict?.(p.group.trigger.name);
      return lost.length ? CONFLICT : undefined;
    });
    const results = progress.map((p) => p.result);
    groups.forEach((g, i) => this.rememberActive(g.key, results[i].activeId));
    return results;
  }

  /** One attempt for the keys not done yet: read, decide, write; each key settles what landed. */
  private async attemptApply(
    c: RedisClient,
    open: KeyBatchProgress[],
    clock: ClockMode,
    now: Micros,
  ): Promise<void> {
    const pending = open.map((p) => p.pending());
    const reads = await this.readKeys(c, pending);
    const context = {
      partition: this.partition,
      clock,
      now,
      seenAt: Date.now(),
      seenRetentionSeconds: this.options.seenRetentionSeconds,
      // The id names its partition, so tools can find a stream's keys from its id alone.
      newStreamId: () => `${this.partition}.${randomUUID()}`,
    };
    const plans = pending.map((group, i) => planKeyBatch(group, reads[i], context));
    const applied = await Promise.all(plans.map((plan) => this.writeChain(c, plan.writes)));
    open.forEach((p, i) => p.settle(plans[i], applied[i]));
  }

  /**
   * Sends a key's writes together, in order (one connection keeps their order); returns how
   * many landed. They land as a prefix: each write expects what the one before it wrote.
   */
  private async writeChain(c: RedisClient, writes: StreamChangeWrite[]): Promise<number> {
    const epoch = this.ownEpoch();
    const replies = await Promise.all(writes.map((w) => scripts.applyStreamChange(c, this.keys, epoch, w)));
    if (replies.includes('fenced')) throw new LostOwnershipError(this.partition);
    const lost = replies.indexOf('changed');
    return lost === -1 ? replies.length : lost;
  }

  /**
   * The first round trip: the owner epoch, and per key its active pointer, its events' seen
   * scores and the stream the hint says is active; the pointers that moved off their hint
   * cost a second one. Single-key commands sent together, not a pipeline: during a slot
   * migration a cluster client re-sends a whole pipeline to the importing node, which answers
   * reads of keys not moved yet as missing; a single command is redirected only for its key.
   */
  private async readKeys(c: RedisClient, groups: KeyGroup[]): Promise<KeyRead[]> {
    const k = this.keys;
    const epoch = c.get(k.epoch);
    const reads = groups.map(async (g): Promise<KeyRead & { hinted: boolean }> => {
      const guess = this.activeIds.get(g.key);
      const [activeId, seenScores, guessedText] = await Promise.all([
        c.get(k.active(g.key)),
        c.zmscore(k.seen(g.key), ...g.batch.map((b) => b.event.message_id)),
        guess ? c.get(k.stream(guess)) : null,
      ]);
      const hinted = activeId === null || activeId === guess;
      const activeText = activeId !== null && hinted ? guessedText : null;
      return { activeId, activeText, seenScores, hinted };
    });
    const [ownerEpoch, snapshots] = await Promise.all([epoch, Promise.all(reads)]);
    this.ownEpoch(ownerEpoch);
    await this.readMovedStreams(c, snapshots);
    return snapshots;
  }

  /** Reads the active streams whose pointer moved away from the hint, in one round trip. */
  private async readMovedStreams(c: RedisClient, snapshots: Array<KeyRead & { hinted: boolean }>) {
    const moved = snapshots.filter((s) => !s.hinted);
    if (moved.length === 0) return;
    const texts = await c.mget(...moved.map((s) => this.keys.stream(s.activeId!)));
    moved.forEach((s, i) => (s.activeText = texts[i]));
  }

  private rememberActive(key: string, streamId: string | null): void {
    this.activeIds.delete(key);
    if (streamId === null) return;
    this.activeIds.set(key, streamId);
    if (this.activeIds.size > ACTIVE_ID_CACHE_SIZE) {
      this.activeIds.delete(this.activeIds.keys().next().value as string);
    }
  }

  async dueTimers(now: Micros, limit: number): Promise<DueTimer[]> {
    return this.pool.with(async (c) => {
      const [fire, expire] = await Promise.all([
        c.zrangebyscore(this.keys.fireTimers, '-inf', `(${now}`, 'WITHSCORES', 'LIMIT', 0, limit),
        c.zrangebyscore(this.keys.expireTimers, '-inf', `(${now}`, 'WITHSCORES', 'LIMIT', 0, limit),
      ]);
      const due: DueTimer[] = [];
      for (let i = 0; i < fire.length; i += 2)
        due.push({ kind: 'fired', streamId: fire[i], due: Number(fire[i + 1]) });
      for (let i = 0; i < expire.length; i += 2) {
        due.push({ kind: 'expired', streamId: expire[i], due: Number(expire[i + 1]) });
      }
      return due.sort(compareDueTimers).slice(0, limit);
    });
  }

  async takeDue(timer: DueTimer, triggers: TriggerLookup): Promise<StreamRecord | null> {
    const [record] = await this.takeTimers([timer], triggers);
    return record;
  }

  /** Several timers: their reads share a round trip and their moves are sent together. */
  takeDueMany(timers: DueTimer[], triggers: TriggerLookup): Promise<Array<StreamRecord | null>> {
    return this.takeTimers(timers, triggers);
  }

  private async takeTimers(timers: DueTimer[], triggers: TriggerLookup): Promise<Array<StreamRecord | null>> {
    // undefined: not settled yet (its stream changed between the read and the move).
    const outcomes: Array<TakenStream | null | undefined> = timers.map(() => undefined);
    const what = timers.length === 1 ? `take ${timers[0].streamId}` : `take ${timers.length} timers`;
    await retryOnConflict(what, this.options.maxAttempts, async () => {
      const open = timers.flatMap((_, i) => (outcomes[i] === undefined ? [i] : []));
      const version = triggers.currentVersion;
      const settled = await this.pool.with((c) =>
        this.attemptTake(
          c,
          open.map((i) => timers[i]),
          version,
        ),
      );
      open.forEach((i, j) => {
        if (settled[j] === CONFLICT) this.options.onConflict?.('');
        else outcomes[i] = settled[j] as TakenStream | null;
      });
      return outcomes.includes(undefined) ? CONFLICT : undefined;
    });
    return outcomes.map((t) =>
      t ? takenStreamRecord(t.meta, decodeStreamEvents(t.events), triggers) : null,
    );
  }

  private async attemptTake(
    c: RedisClient,
    timers: DueTimer[],
    pipelineVersion?: number,
  ): Promise<Array<Attempt<TakenStream | null>>> {
    const [ownerEpoch, texts] = await Promise.all([
      c.get(this.keys.epoch),
      Promise.all(timers.map((timer) => c.get(this.keys.stream(timer.streamId)))),
    ]);
    const epoch = this.ownEpoch(ownerEpoch);
    return Promise.all(
      timers.map(async (timer, i) => {
        const take = timerTake(timer, texts[i], pipelineVersion);
        const reply = await scripts.takeDueTimer(c, this.keys, epoch, take.write);
        if (typeof reply === 'object') return { meta: take.next!, events: reply.taken };
        return reply === 'stale' ? null : this.settleWrite(reply, null);
      }),
    );
  }

  private async loadEvents(streamId: string) {
    const texts = await this.pool.with((c) => scripts.readStreamEvents(c, this.keys, streamId));
    return decodeStreamEvents(texts);
  }

  async emitted(streamIds: string[]): Promise<void> {
    if (streamIds.length) await this.pool.with((c) => c.srem(this.keys.pending, ...streamIds));
  }

  async pendingEmissions(triggers: TriggerLookup): Promise<StreamRecord[]> {
    const ids = await this.pool.with((c) => c.smembers(this.keys.pending));
    const records: StreamRecord[] = [];
    for (const id of ids) {
      const meta = await this.getStream(id);
      const record =
        meta && EMITTABLE_STATES.has(meta.state)
          ? takenStreamRecord(meta, await this.loadEvents(id), triggers)
          : null;
      if (record) records.push(record);
      else await this.emitted([id]);
    }
    return records;
  }

  /**
   * Applies `change` (the fields to set, given the clock hash as read) and the clock it
   * implies, which never goes backwards; written only while the hash is still as read.
   */
  private async updateClock(
    change: (hash: Record<string, string>) => Record<string, string>,
    sourceCount: number,
  ): Promise<Micros | null> {
    const k = this.keys;
    return retryOnConflict(
      'clock',
      this.options.maxAttempts,
      () =>
        this.pool.with(async (c) => {
          const [epoch, read] = await Promise.all([c.get(k.epoch), c.hgetall(k.clock)]);
          this.ownEpoch(epoch);
          const { updates, now } = nextClock(read, change(read), sourceCount);
          if (!Object.keys(updates).length) return now;
          return this.settleWrite(await scripts.setClock(c, k, this.ownEpoch(), { read, updates }), now);
        }),
      () => this.options.onConflict?.(''),
    );
  }

  recordWatermarks(marks: ReadonlyMap<number, Micros>, sourceCount: number): Promise<Micros | null> {
    return this.updateClock((hash): Record<string, string> => {
      const updates: Record<string, string> = {};
      for (const [source, watermark] of marks) {
        const old = hash[`w:${source}`];
        if (old === undefined || Number(old) < watermark) updates[`w:${source}`] = String(watermark);
      }
      return updates;
    }, sourceCount);
  }

  advanceClock(to: Micros, sourceCount: number): Promise<Micros | null> {
    return this.updateClock(
      (hash): Record<string, string> =>
        hash.floor !== undefined && Number(hash.floor) >= to ? {} : { floor: String(to) },
      sourceCount,
    );
  }

  async readClock(): Promise<Micros | null> {
    const now = await this.pool.with((c) => c.hget(this.keys.clock, 'now'));
    return now === null ? null : Number(now);
  }

  /** Records the last applied repartition offset with the state (fenced by the epoch). */
  async storeOffset(offset: string): Promise<void> {
    const epoch = this.ownEpoch();
    const reply = await this.pool.with((c) => scripts.storeOffset(c, this.keys, epoch, offset));
    this.settleWrite(reply, undefined);
  }

  /** Active streams (each has exactly one expire timer) and the oldest timer time, for metrics. */
  async timerStats(): Promise<{ active: number; oldestDue: Micros | null }> {
    return this.pool.with(async (c) => {
      const [active, fire, expire] = await Promise.all([
        c.zcard(this.keys.expireTimers),
        c.zrangebyscore(this.keys.fireTimers, '-inf', '+inf', 'WITHSCORES', 'LIMIT', 0, 1),
        c.zrangebyscore(this.keys.expireTimers, '-inf', '+inf', 'WITHSCORES', 'LIMIT', 0, 1),
      ]);
      const scores = [fire[1], expire[1]].filter((s) => s !== undefined).map(Number);
      return { active, oldestDue: scores.length ? Math.min(...scores) : null };
    });
  }

  async getStream(streamId: string): Promise<StreamMeta | null> {
    return this.pool.with((c) => readStreamMeta(c, this.keys, streamId));
  }

  async listStreams(filter?: { state?: StreamState }): Promise<StreamMeta[]> {
    const ids = await this.pool.with((c) => c.smembers(this.keys.ids));
    const out: StreamMeta[] = [];
    for (const id of ids) {
      const meta = await this.getStream(id);
      if (meta && (!filter?.state || meta.state === filter.state)) out.push(meta);
    }
    return out;
  }
}

/** A stream's events from their wire texts as stored: one per message id, the last stored. */
function decodeStreamEvents(texts: string[]) {
  return lastOfEachMessageId(texts.map(decodeEvent));
}

/** The repartition topic's partition count is part of the state layout: refuse a mismatch. */
export async function checkPartitionCount(
  redis: RedisClient,
  namespace: string,
  partitions: number,
): Promise<void> {
  const key = repartitionPartitionsKey(namespace);
  await redis.set(key, String(partitions), 'NX');
  const stored = Number(await redis.get(key));
  if (stored !== partitions) {
    throw new Error(
      `the repartition topic has ${partitions} partitions but Redis state under namespace "${namespace}" was ` +
        `built for ${stored}: changing the partition count is a migration (drain, then reset the namespace), ` +
        `not a configuration change`,
    );
  }
}

/**
 * What a due timer does to the stream as read: its move to firing/expiring (`next`), or, for
 * a stale timer (the stream moved on), the timer entries to drop so it is not seen again.
 */
function timerTake(
  timer: DueTimer,
  metaText: string | null,
  pipelineVersion?: number,
): { write: TimerTake; next: StreamMeta | null } {
  const meta = parseStreamMeta(metaText);
  const next = transitionForTimer(meta, timer, pipelineVersion);
  const base = { streamId: timer.streamId, streamKey: meta?.key ?? '', metaText };
  if (meta && next) {
    return {
      write: { ...base, nextMetaText: streamMetaText(next), dropFireTimer: true, dropExpireTimer: true },
      next,
    };
  }
  const left = meta !== null && meta.state !== 'active';
  const write = {
    ...base,
    nextMetaText: null,
    dropFireTimer: left || (timer.kind === 'fired' && meta?.fireAt !== timer.due),
    dropExpireTimer: left || (timer.kind === 'expired' && meta?.expireAt !== timer.due),
  };
  return { write, next: null };
}

/**
 * The clock fields to write for `updates` to the hash as read, with the partition clock they
 * imply (it never goes backwards); `now` is written only when it moves.
 */
function nextClock(
  read: Record<string, string>,
  updates: Record<string, string>,
  sourceCount: number,
): { updates: Record<string, string>; now: Micros | null } {
  const merged = { ...read, ...updates };
  const watermarks = new Map<number, Micros>();
  for (const [field, value] of Object.entries(merged)) {
    if (field.startsWith('w:')) watermarks.set(Number(field.slice(2)), Number(value));
  }
  const floor = merged.floor !== undefined ? Number(merged.floor) : null;
  const candidate = partitionClock(watermarks, floor, sourceCount);
  const previous = merged.now !== undefined ? Number(merged.now) : null;
  const now = candidate === null ? previous : previous === null ? candidate : Math.max(candidate, previous);
  const written = { ...updates };
  if (now !== null && String(now) !== read.now) written.now = String(now);
  return { updates: written, now };
}
