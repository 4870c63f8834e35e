import Redis from 'ioredis';
import { decodeEvent, encodeEvent } from '../events/wire';
import { RedisConnectionPool } from '../redis/connection-pool';
import { Micros } from '../time/micros';
import { applyEventsToKey, buildStreamRecord, ClockMode, KeyApplyResult, transitionForTimer } from './engine';
import { compareDueTimers, DueTimer, StreamMeta, StreamRecord, StreamState } from './model';
import { KeyBatchEntry, PartitionStore, partitionClock } from './store';
import { TriggerRuntime } from './trigger-runtime';
import { randomUUID } from 'node:crypto';

/** States whose stream record is (re-)produced to `streams` for the workers. */
export const EMITTABLE_STATES = new Set<StreamState>(['firing', 'expiring', 'retry_fire', 'retry_expire']);

export class LostOwnershipError extends Error {
  constructor(partition: number) {
    super(`partition ${partition} is now owned by another instance (owner epoch changed)`);
    this.name = 'LostOwnershipError';
  }
}

export class TransactionConflictError extends Error {
  constructor(what: string, attempts: number) {
    super(`${what}: gave up after ${attempts} conflicting attempts`);
    this.name = 'TransactionConflictError';
  }
}

/**
 * Key layout of one repartition partition. Every key carries the partition's hash tag, so
 * a stream, its key's active pointer, the partition's timers, clock, offset and owner epoch
 * can change in one MULTI/EXEC, also on Redis Cluster.
 */
export class PartitionKeys {
  readonly base: string;
  constructor(namespace: string, partition: number) {
    this.base = `${namespace}:{${namespace}.p${partition}}:`;
  }
  active = (key: string) => `${this.base}active:${key}`;
  stream = (id: string) => `${this.base}s:${id}`;
  events = (id: string) => `${this.base}e:${id}`;
  seen = (key: string) => `${this.base}seen:${key}`;
  get ids() {
    return `${this.base}ids`;
  }
  get fireTimers() {
    return `${this.base}t:fire`;
  }
  get expireTimers() {
    return `${this.base}t:expire`;
  }
  get pending() {
    return `${this.base}pending`;
  }
  get epoch() {
    return `${this.base}epoch`;
  }
  get offset() {
    return `${this.base}offset`;
  }
  get clock() {
    return `${this.base}clock`;
  }
  get lease() {
    return `${this.base}lease`;
  }
  claim = (id: string) => `${this.base}claim:${id}`;
  done = (id: string) => `${this.base}done:${id}`;
}

export interface RedisStoreOptions {
  namespace: string;
  /** How long a key's seen message_ids are kept after its last event: well beyond any expiration. */
  seenRetentionSeconds: number;
  maxAttempts: number;
  onConflict?: (trigger: string) => void;
}

/** Stream state of one repartition partition in Redis; writes are fenced by the owner epoch. */
export class RedisPartitionStore implements PartitionStore {
  readonly keys: PartitionKeys;
  private epoch: string | null = null;

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

  /** Runs fn inside WATCH(epoch + keys) ... EXEC, retrying conflicts; fn returns the MULTI or null to abort. */
  private async transaction<T>(
    what: string,
    watchKeys: string[],
    body: (c: Redis) => Promise<{ multi: ReturnType<Redis['multi']>; result: T } | { abort: T }>,
    trigger = '',
  ): Promise<T> {
    for (let attempt = 1; attempt <= this.options.maxAttempts; attempt++) {
      const outcome = await this.pool.with(async (c) => {
        await c.watch(this.keys.epoch, ...watchKeys);
        const epoch = await c.get(this.keys.epoch);
        if (this.epoch === null || epoch !== this.epoch) {
          await c.unwatch();
          throw new LostOwnershipError(this.partition);
        }
        const planned = await body(c);
        if ('abort' in planned) {
          await c.unwatch();
          return { done: true as const, value: planned.abort };
        }
        const exec = await planned.multi.exec();
        if (exec === null) return { done: false as const };
        const failed = exec.find(([error]) => error);
        if (failed) throw failed[0];
        return { done: true as const, value: planned.result };
      });
      if (outcome.done) return outcome.value as T;
      this.options.onConflict?.(trigger);
      await new Promise((r) => setTimeout(r, Math.min(50, attempt * 2 + Math.random() * 5)));
    }
    throw new TransactionConflictError(what, this.options.maxAttempts);
  }

  async applyKey(
    trigger: TriggerRuntime,
    key: string,
    batch: KeyBatchEntry[],
    clock: ClockMode,
    now: Micros,
  ): Promise<KeyApplyResult> {
    const k = this.keys;
    return this.transaction(
      `apply ${trigger.name} ${key}`,
      [k.active(key), k.seen(key)],
      async (c) => {
        const activeId = await c.get(k.active(key));
        let active: StreamMeta | null = null;
        if (activeId) {
          await c.watch(k.stream(activeId));
          const raw = await c.get(k.stream(activeId));
          active = raw ? (JSON.parse(raw) as StreamMeta) : null;
        }
        const ids = batch.map((b) => b.event.message_id);
        const flags = (await c.smismember(k.seen(key), ...ids)) as number[];
        const alreadySeen = new Set(ids.filter((_, i) => flags[i] === 1));
        const result = applyEventsToKey({ active, alreadySeen }, batch, trigger, {
          clock,
          now,
          partition: this.partition,
          key,
          // The id names its partition, so tools can find a stream's keys from its id alone.
          newStreamId: () => `${this.partition}.${randomUUID()}`,
        });
        const multi = c.multi();
        for (const change of result.changes) {
          const id = change.meta.id;
          multi.set(k.stream(id), JSON.stringify(change.meta));
          if (change.created) multi.sadd(k.ids, id);
          const fields: string[] = [];
          for (const event of change.added) fields.push(event.message_id, encodeEvent(event));
          if (fields.length) multi.hset(k.events(id), ...fields);
          multi.zadd(k.expireTimers, change.meta.expireAt, id);
          if (change.meta.fireAt !== null) multi.zadd(k.fireTimers, change.meta.fireAt, id);
        }
        if (result.activeId && result.activeId !== activeId) multi.set(k.active(key), result.activeId);
        if (result.newlySeen.length) {
          multi.sadd(k.seen(key), ...result.newlySeen);
          multi.expire(k.seen(key), this.options.seenRetentionSeconds);
        }
        return { multi, result };
      },
      trigger.name,
    );
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

  async takeDue(
    timer: DueTimer,
    triggers: ReadonlyMap<string, TriggerRuntime>,
  ): Promise<StreamRecord | null> {
    const k = this.keys;
    const taken = await this.transaction<StreamMeta | null>(
      `take ${timer.streamId}`,
      [k.stream(timer.streamId)],
      async (c) => {
        const raw = await c.get(k.stream(timer.streamId));
        const meta = raw ? (JSON.parse(raw) as StreamMeta) : null;
        const next = transitionForTimer(meta, timer);
        const multi = c.multi();
        if (!meta || !next) {
          // Stale timer entry: the stream moved on; drop the entry so it is not seen again.
          if (timer.kind === 'fired' && meta?.fireAt !== timer.due) multi.zrem(k.fireTimers, timer.streamId);
          if (timer.kind === 'expired' && meta?.expireAt !== timer.due)
            multi.zrem(k.expireTimers, timer.streamId);
          if (meta && meta.state !== 'active') {
            multi.zrem(k.fireTimers, timer.streamId);
            multi.zrem(k.expireTimers, timer.streamId);
          }
          return { multi, result: null };
        }
        await c.watch(k.active(meta.key));
        const activeId = await c.get(k.active(meta.key));
        multi.set(k.stream(next.id), JSON.stringify(next));
        multi.zrem(k.fireTimers, next.id);
        multi.zrem(k.expireTimers, next.id);
        // Compare-and-delete: only drop the pointer if it still names this stream.
        if (activeId === next.id) multi.del(k.active(meta.key));
        multi.sadd(k.pending, next.id);
        return { multi, result: next };
      },
    );
    if (!taken) return null;
    const trigger = triggers.get(taken.trigger);
    if (!trigger) return null;
    return buildStreamRecord(taken, await this.loadEvents(taken.id), trigger);
  }

  private async loadEvents(streamId: string) {
    const raw = await this.pool.with((c) => c.hvals(this.keys.events(streamId)));
    return raw.map(decodeEvent);
  }

  async emitted(streamId: string): Promise<void> {
    await this.pool.with((c) => c.srem(this.keys.pending, streamId));
  }

  async pendingEmissions(triggers: ReadonlyMap<string, TriggerRuntime>): Promise<StreamRecord[]> {
    const ids = await this.pool.with((c) => c.smembers(this.keys.pending));
    const records: StreamRecord[] = [];
    for (const id of ids) {
      const meta = await this.getStream(id);
      const trigger = meta && triggers.get(meta.trigger);
      if (meta && trigger && EMITTABLE_STATES.has(meta.state)) {
        records.push(buildStreamRecord(meta, await this.loadEvents(id), trigger));
      } else {
        await this.emitted(id);
      }
    }
    return records;
  }

  private async updateClock(
    change: (hash: Record<string, string>) => Record<string, string>,
    sourceCount: number,
  ) {
    const k = this.keys;
    return this.transaction<Micros | null>('clock', [k.clock], async (c) => {
      const hash = await c.hgetall(k.clock);
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
    });
  }

  recordWatermark(source: number, watermark: Micros, sourceCount: number): Promise<Micros | null> {
    return this.updateClock((hash): Record<string, string> => {
      const old = hash[`w:${source}`];
      return old !== undefined && Number(old) >= watermark ? {} : { [`w:${source}`]: String(watermark) };
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
    const raw = await this.pool.with((c) => c.get(this.keys.stream(streamId)));
    return raw ? (JSON.parse(raw) as StreamMeta) : null;
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

/** The repartition topic's partition count is part of the state layout: refuse a mismatch. */
export async function checkPartitionCount(
  redis: Redis,
  namespace: string,
  partitions: number,
): Promise<void> {
  const key = `${namespace}:meta:repartition-partitions`;
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
