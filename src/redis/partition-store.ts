import Redis, { ChainableCommander } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { decodeEvent, encodeEvent } from '../events/wire';
import {
  applyEventsToKey,
  ClockMode,
  KeyApplyResult,
  takenStreamRecord,
  transitionForTimer,
} from '../streams/engine';
import { compareDueTimers, DueTimer, StreamMeta, StreamRecord, StreamState } from '../streams/model';
import { KeyBatchEntry, KeyGroup, PartitionStore, partitionClock } from '../streams/store';
import { TriggerLookup, TriggerRuntime, VersionedTrigger } from '../streams/trigger-runtime';
import { Micros } from '../time/micros';
import { RedisConnectionPool } from './connection-pool';
import { LostOwnershipError, TransactionConflictError } from './errors';
import { PartitionKeys, repartitionPartitionsKey } from './keys';
import { Attempt, CONFLICT, retryOnConflict } from './retry';
import { scripts } from './scripts';
import { EMITTABLE_STATES, parseStreamMeta, readStreamMeta, streamMetaText } from './stream-meta';

/** A transaction's plan: the MULTI to run, and its result (or how to read it from EXEC's replies). */
type Planned<T> =
  { multi: ChainableCommander; result: T; fromExec?: (replies: unknown[]) => T } | { abort: T };

/** How many stream keys' active ids a store remembers to prefetch their stream (LRU by insertion). */
const ACTIVE_ID_CACHE_SIZE = 50_000;

export interface RedisStoreOptions {
  namespace: string;
  /** How long a message_id is remembered after it was seen (duplicates later than this are new events). */
  seenRetentionSeconds: number;
  maxAttempts: number;
  onConflict?: (trigger: string) => void;
}

/** Stream state of one repartition partition in Redis; writes are fenced by the owner epoch. */
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

  /**
   * Runs body inside WATCH(epoch + keys) ... EXEC, retrying conflicts. The WATCH, the epoch
   * check and the reads `read` queues go to Redis in one round trip; body gets the read
   * results and returns the MULTI, or `abort` to end without writing.
   */
  private async transaction<T>(
    what: string,
    watchKeys: string[],
    body: (c: Redis, reads: unknown[]) => Promise<Planned<T>>,
    options: { trigger?: string; read?: (pipeline: ChainableCommander) => void; attempts?: number } = {},
  ): Promise<T> {
    return retryOnConflict(
      what,
      options.attempts ?? this.options.maxAttempts,
      () => this.pool.with((c) => this.attemptTransaction(c, watchKeys, body, options.read)),
      () => this.options.onConflict?.(options.trigger ?? ''),
    );
  }

  /** One attempt: WATCH and read, plan, EXEC; CONFLICT when a watched key changed. */
  private async attemptTransaction<T>(
    c: Redis,
    watchKeys: string[],
    body: (c: Redis, reads: unknown[]) => Promise<Planned<T>>,
    read?: (pipeline: ChainableCommander) => void,
  ): Promise<Attempt<T>> {
    const pipeline = c
      .pipeline()
      .watch(this.keys.epoch, ...watchKeys)
      .get(this.keys.epoch);
    read?.(pipeline);
    const replies = (await pipeline.exec()) ?? [];
    const failedRead = replies.find(([error]) => error);
    if (failedRead) throw failedRead[0];
    const epoch = replies[1]?.[1];
    if (this.epoch === null || epoch !== this.epoch) {
      await c.unwatch();
      throw new LostOwnershipError(this.partition);
    }
    const planned = await body(
      c,
      replies.slice(2).map(([, value]) => value),
    );
    if ('abort' in planned) {
      await c.unwatch();
      return planned.abort;
    }
    const exec = await planned.multi.exec();
    if (exec === null) return CONFLICT;
    const failed = exec.find(([error]) => error);
    if (failed) throw failed[0];
    return planned.fromExec ? planned.fromExec(exec.map(([, reply]) => reply)) : planned.result;
  }

  async applyKey(
    trigger: TriggerRuntime | VersionedTrigger,
    key: string,
    batch: KeyBatchEntry[],
    clock: ClockMode,
    now: Micros,
  ): Promise<KeyApplyResult> {
    const [result] = await this.applyGroup([{ trigger, key, batch }], clock, now, this.options.maxAttempts);
    return result;
  }

  /**
   * Several keys in one optimistic transaction: their WATCHes and reads share a round trip
   * and their writes one MULTI/EXEC, so a batch spread over N keys costs two round trips
   * rather than 2N.
   */
  applyKeys(groups: KeyGroup[], clock: ClockMode, now: Micros): Promise<KeyApplyResult[]> {
    return this.groupedOrEach(groups, (some, attempts) => this.applyGroup(some, clock, now, attempts));
  }

  private async applyGroup(
    groups: KeyGroup[],
    clock: ClockMode,
    now: Micros,
    attempts: number,
  ): Promise<KeyApplyResult[]> {
    const k = this.keys;
    // Each key's last known active stream is WATCHed and read in the first round trip; only
    // when another instance moved a pointer meanwhile does the body need a second one.
    let guesses: Array<string | undefined> = [];
    const results = await this.transaction(
      groups.length === 1
        ? `apply ${groups[0].trigger.name} ${groups[0].key}`
        : `apply ${groups.length} keys`,
      groups.flatMap((g) => [k.active(g.key), k.seen(g.key)]),
      async (c, reads) => {
        const snapshots = readKeySnapshots(groups, guesses, reads);
        await this.readMovedStreams(c, snapshots);
        const multi = c.multi();
        return { multi, result: groups.map((g, i) => this.planKey(multi, g, snapshots[i], clock, now)) };
      },
      {
        trigger: groups.length === 1 ? groups[0].trigger.name : undefined,
        attempts,
        read: (pipeline) => {
          guesses = groups.map((g) => this.activeIds.get(g.key));
          groups.forEach((g, i) => this.queueKeyReads(pipeline, g, guesses[i]));
        },
      },
    );
    groups.forEach((g, i) => this.rememberActive(g.key, results[i].activeId));
    return results;
  }

  /**
   * Runs `items` in one transaction, attempted once; on a conflict each item is redone in a
   * transaction of its own with the usual retries, so one contended item does not hold the
   * others back.
   */
  private async groupedOrEach<I, R>(
    items: I[],
    inTransaction: (items: I[], attempts: number) => Promise<R[]>,
  ): Promise<R[]> {
    if (items.length > 1) {
      try {
        return await inTransaction(items, 1);
      } catch (error) {
        if (!(error instanceof TransactionConflictError)) throw error;
      }
    }
    const each = await Promise.all(items.map((item) => inTransaction([item], this.options.maxAttempts)));
    return each.flat();
  }

  /** A key's reads for the first round trip: its active pointer, its seen scores and the hinted stream. */
  private queueKeyReads(pipeline: ChainableCommander, group: KeyGroup, guess: string | undefined): void {
    const k = this.keys;
    pipeline
      .get(k.active(group.key))
      .zmscore(k.seen(group.key), ...group.batch.map((b) => b.event.message_id));
    if (guess) pipeline.watch(k.stream(guess)).get(k.stream(guess));
  }

  /** Reads (and WATCHes) the active streams whose pointer moved away from the hint, in one round trip. */
  private async readMovedStreams(c: Redis, snapshots: KeyReadSnapshot[]): Promise<void> {
    const moved = snapshots.filter((s) => s.activeId !== null && s.activeRaw === undefined);
    if (moved.length === 0) return;
    const streamKeys = moved.map((s) => this.keys.stream(s.activeId!));
    const replies =
      (await c
        .pipeline()
        .watch(...streamKeys)
        .mget(...streamKeys)
        .exec()) ?? [];
    const failed = replies.find(([error]) => error);
    if (failed) throw failed[0];
    const raws = replies[1][1] as Array<string | null>;
    moved.forEach((s, i) => (s.activeRaw = raws[i]));
  }

  /** Applies one key's batch to its snapshot and queues the writes on the MULTI. */
  private planKey(
    multi: ChainableCommander,
    { trigger, key, batch }: KeyGroup,
    snapshot: KeyReadSnapshot,
    clock: ClockMode,
    now: Micros,
  ): KeyApplyResult {
    const k = this.keys;
    const ids = batch.map((b) => b.event.message_id);
    const active = parseStreamMeta(snapshot.activeRaw);
    const alreadySeen = new Set(ids.filter((_, i) => snapshot.seenScores[i] !== null));
    const applied = applyEventsToKey({ active, alreadySeen }, batch, trigger, {
      clock,
      now,
      partition: this.partition,
      key,
      // The id names its partition, so tools can find a stream's keys from its id alone.
      newStreamId: () => `${this.partition}.${randomUUID()}`,
    });
    const wireText = new Map<string, string>();
    for (const entry of batch) if (entry.wire !== undefined) wireText.set(entry.event.message_id, entry.wire);
    for (const change of applied.changes) {
      const id = change.meta.id;
      multi.set(k.stream(id), streamMetaText(change.meta));
      if (change.created) multi.sadd(k.ids, id);
      const fields: string[] = [];
      for (const event of change.added) {
        fields.push(event.message_id, wireText.get(event.message_id) ?? encodeEvent(event));
      }
      if (fields.length) multi.hset(k.events(id), ...fields);
      multi.zadd(k.expireTimers, change.meta.expireAt, id);
      if (change.meta.fireAt !== null) multi.zadd(k.fireTimers, change.meta.fireAt, id);
    }
    if (applied.activeId && applied.activeId !== snapshot.activeId)
      multi.set(k.active(key), applied.activeId);
    if (applied.newlySeen.length) {
      // Each id is remembered for the retention from when it was seen (a sorted set by
      // time), so a long-lived busy key keeps a bounded window, not every id it ever took.
      const seenAt = Date.now();
      const members: Array<number | string> = [];
      for (const id of applied.newlySeen) members.push(seenAt, id);
      multi.zadd(k.seen(key), ...members);
      multi.zremrangebyscore(k.seen(key), '-inf', seenAt - this.options.seenRetentionSeconds * 1000);
      multi.expire(k.seen(key), this.options.seenRetentionSeconds);
    }
    return applied;
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
    const [record] = await this.takeDueGroup([timer], triggers, this.options.maxAttempts);
    return record;
  }

  /** Several timers in one optimistic transaction (two round trips for the lot). */
  takeDueMany(timers: DueTimer[], triggers: TriggerLookup): Promise<Array<StreamRecord | null>> {
    return this.groupedOrEach(timers, (some, attempts) => this.takeDueGroup(some, triggers, attempts));
  }

  private async takeDueGroup(
    timers: DueTimer[],
    triggers: TriggerLookup,
    attempts: number,
  ): Promise<Array<StreamRecord | null>> {
    const k = this.keys;
    const taken = await this.transaction<Array<{ meta: StreamMeta; events: string[] } | null>>(
      timers.length === 1 ? `take ${timers[0].streamId}` : `take ${timers.length} timers`,
      timers.map((t) => k.stream(t.streamId)),
      async (c, reads) => {
        const multi = c.multi();
        const moved = timers.map((timer, i) =>
          this.planTake(multi, timer, parseStreamMeta(reads[i] as string | null), triggers.currentVersion),
        );
        // The events are read in the same EXEC: each record matches the state it moved. Their
        // HVALS go last, in timer order, so their replies are the EXEC's tail.
        const movedMetas = moved.filter((m): m is StreamMeta => m !== null);
        for (const meta of movedMetas) multi.hvals(k.events(meta.id));
        return {
          multi,
          result: [],
          fromExec: (replies) => {
            const events = replies.slice(replies.length - movedMetas.length) as string[][];
            let next = 0;
            return moved.map((meta) => (meta ? { meta, events: events[next++] } : null));
          },
        };
      },
      { read: (pipeline) => timers.forEach((t) => pipeline.get(k.stream(t.streamId))), attempts },
    );
    return taken.map((t) => t && takenStreamRecord(t.meta, t.events.map(decodeEvent), triggers));
  }

  /**
   * Queues one timer's transition on the MULTI and returns the stream's new state, or null
   * for a stale timer (the stream moved on: its entry is dropped so it is not seen again).
   */
  private planTake(
    multi: ChainableCommander,
    timer: DueTimer,
    meta: StreamMeta | null,
    pipelineVersion?: number,
  ): StreamMeta | null {
    const k = this.keys;
    const next = transitionForTimer(meta, timer, pipelineVersion);
    if (!meta || !next) {
      if (timer.kind === 'fired' && meta?.fireAt !== timer.due) multi.zrem(k.fireTimers, timer.streamId);
      if (timer.kind === 'expired' && meta?.expireAt !== timer.due)
        multi.zrem(k.expireTimers, timer.streamId);
      if (meta && meta.state !== 'active') {
        multi.zrem(k.fireTimers, timer.streamId);
        multi.zrem(k.expireTimers, timer.streamId);
      }
      return null;
    }
    multi.set(k.stream(next.id), streamMetaText(next));
    multi.zrem(k.fireTimers, next.id);
    multi.zrem(k.expireTimers, next.id);
    // Compare-and-delete at EXEC time: only drop the pointer if it still names this stream.
    scripts.queueCompareAndDeletePointer(multi, k, meta.key, next.id);
    multi.sadd(k.pending, next.id);
    return next;
  }

  private async loadEvents(streamId: string) {
    const raw = await this.pool.with((c) => c.hvals(this.keys.events(streamId)));
    return raw.map(decodeEvent);
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

  private async updateClock(
    change: (hash: Record<string, string>) => Record<string, string>,
    sourceCount: number,
  ) {
    const k = this.keys;
    return this.transaction<Micros | null>(
      'clock',
      [k.clock],
      async (c, [current]) => {
        const hash = current as Record<string, string>;
        const updates = change(hash);
        const merged = { ...hash, ...updates };
        const watermarks = new Map<number, Micros>();
        for (const [field, value] of Object.entries(merged)) {
          if (field.startsWith('w:')) watermarks.set(Number(field.slice(2)), Number(value));
        }
        const floor = merged.floor !== undefined ? Number(merged.floor) : null;
        const candidate = partitionClock(watermarks, floor, sourceCount);
        const previous = merged.now !== undefined ? Number(merged.now) : null;
        // The clock never goes backwards.
        const now =
          candidate === null ? previous : previous === null ? candidate : Math.max(candidate, previous);
        if (now !== null) updates.now = String(now);
        const multi = c.multi();
        if (Object.keys(updates).length) multi.hset(k.clock, updates);
        return { multi, result: now };
      },
      { read: (pipeline) => pipeline.hgetall(k.clock) },
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
    await this.transaction('offset', [], async (c) => ({
      multi: c.multi().set(this.keys.offset, offset),
      result: undefined,
    }));
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

/** What the first round trip read for one key (activeRaw undefined: the pointer moved off the hint). */
interface KeyReadSnapshot {
  activeId: string | null;
  activeRaw: string | null | undefined;
  seenScores: Array<string | null>;
}

/** Splits the first round trip's replies (queued by queueKeyReads, in group order) per key. */
function readKeySnapshots(
  groups: readonly KeyGroup[],
  guesses: ReadonlyArray<string | undefined>,
  reads: unknown[],
): KeyReadSnapshot[] {
  let at = 0;
  return groups.map((_, i) => {
    const activeId = reads[at++] as string | null;
    const seenScores = reads[at++] as Array<string | null>;
    let guessedRaw: string | null | undefined;
    if (guesses[i]) {
      at++; // the WATCH of the hinted stream
      guessedRaw = reads[at++] as string | null;
    }
    const activeRaw = activeId === null ? null : activeId === guesses[i] ? guessedRaw : undefined;
    return { activeId, activeRaw, seenScores };
  });
}

/** The repartition topic's partition count is part of the state layout: refuse a mismatch. */
export async function checkPartitionCount(
  redis: Redis,
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
