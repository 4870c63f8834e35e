/**
 * Stand-ins for the matcher's stage 2 without Redis or Kafka: one repartition partition's
 * Redis, shared by every owner that claims it, with the fencing rules of RedisPartitionStore;
 * redlock-like leases; and a partition task wired to them.
 */
import { LostOwnershipError } from '../../../src/redis/errors';
import { ClockMode, isDue, KeyApplyResult } from '../../../src/streams/engine';
import { MemoryPartitionStore } from '../../../src/streams/memory-store';
import {
  compareDueTimers,
  DueTimer,
  StreamMeta,
  StreamRecord,
  StreamState,
} from '../../../src/streams/model';
import { PartitionProcessor } from '../../../src/streams/processor';
import { KeyBatchEntry, KeyGroup } from '../../../src/streams/store';
import { TriggerRuntime } from '../../../src/streams/trigger-runtime';
import { Micros, MICROS_PER_SECOND } from '../../../src/time/micros';
import { Lease, LeaseService, PartitionLease } from '../../../src/topology/partition-lease';
import { PartitionOutcomes } from '../../../src/topology/partition-outcomes';
import { PartitionTask, TaskStore } from '../../../src/topology/partition-task';
import { encodeRepartition } from '../../../src/topology/records';
import { RepartitionPayload } from '../../../src/topology/repartition-batch';
import { RoleEvents } from '../../../src/topology/role-events';
import { simpleTrigger, testEvent } from '../../support/simple-trigger';
import { fakeBatch, FakeBatch } from './fakes';

/** A paused operation: `reached` once a caller is held there, `release` lets it go on. */
export interface Gate {
  reached: Promise<void>;
  release(): void;
}

/**
 * One partition's Redis: stream state (the in-memory engine store, with Redis's non-destructive
 * timer reads), owner epoch and stored offset, and every write in order as `<owner> <what>`.
 */
export class FakePartitionRedis {
  epoch = 0;
  offset: string | null = null;
  readonly state: MemoryPartitionStore;
  readonly writes: string[] = [];
  private readonly gates = new Map<
    string,
    { countdown: number; reached: () => void; released: Promise<void> }
  >();

  constructor(readonly partition = 0) {
    this.state = new MemoryPartitionStore(partition);
  }

  /** A new owner's connection to this partition (it owns nothing until it claims). */
  owner(name: string): FencedStore {
    return new FencedStore(this, name);
  }

  /** Holds the `nth` next call of `operation`, by any owner, at its start (before its epoch check). */
  pauseAt(operation: string, nth = 1): Gate {
    let reached!: () => void;
    let release!: () => void;
    const gate: Gate = {
      reached: new Promise<void>((resolve) => (reached = resolve)),
      release: () => release(),
    };
    const released = new Promise<void>((resolve) => (release = resolve));
    this.gates.set(operation, { countdown: nth, reached, released });
    return gate;
  }

  async pass(operation: string): Promise<void> {
    const gate = this.gates.get(operation);
    if (!gate || --gate.countdown > 0) return;
    this.gates.delete(operation);
    gate.reached();
    await gate.released;
  }

  async streams(state?: StreamState): Promise<StreamMeta[]> {
    return this.state.listStreams(state ? { state } : undefined);
  }
}

/**
 * An owner's view of the partition, fenced as RedisPartitionStore's transactions are (WATCH
 * of the epoch … EXEC): a write lands whole before another owner's claim, or fails with
 * LostOwnershipError. Reads, and marking records emitted (a plain SREM), are not fenced.
 */
export class FencedStore implements TaskStore {
  private epoch: number | null = null;

  constructor(
    private readonly redis: FakePartitionRedis,
    readonly name: string,
  ) {}

  get partition(): number {
    return this.redis.partition;
  }

  get ownerEpoch(): string | null {
    return this.epoch === null ? null : String(this.epoch);
  }

  async claim(): Promise<string | null> {
    await this.redis.pass('claim');
    this.epoch = ++this.redis.epoch;
    this.redis.writes.push(`${this.name} claim`);
    return this.redis.offset;
  }

  /** The memory store writes synchronously once called: nothing interleaves after the check. */
  private async fenced<T>(what: string, write: () => Promise<T>): Promise<T> {
    await this.redis.pass(what);
    if (this.epoch === null || this.epoch !== this.redis.epoch) throw new LostOwnershipError(this.partition);
    const result = write();
    this.redis.writes.push(`${this.name} ${what}`);
    return result;
  }

  applyKey(
    trigger: TriggerRuntime,
    key: string,
    batch: KeyBatchEntry[],
    clock: ClockMode,
    now: Micros,
  ): Promise<KeyApplyResult> {
    return this.fenced('apply', () => this.redis.state.applyKey(trigger, key, batch, clock, now));
  }

  applyKeys(groups: KeyGroup[], clock: ClockMode, now: Micros): Promise<KeyApplyResult[]> {
    const { state } = this.redis;
    return this.fenced('apply', () =>
      Promise.all(groups.map((g) => state.applyKey(g.trigger, g.key, g.batch, clock, now))),
    );
  }

  /** As Redis's ZRANGEBYSCORE: reading due timers takes nothing away. */
  async dueTimers(now: Micros, limit: number): Promise<DueTimer[]> {
    await this.redis.pass('due');
    const due: DueTimer[] = [];
    for (const meta of await this.redis.streams('active')) {
      if (meta.fireAt !== null && isDue(meta.fireAt, now))
        due.push({ kind: 'fired', streamId: meta.id, due: meta.fireAt });
      if (isDue(meta.expireAt, now)) due.push({ kind: 'expired', streamId: meta.id, due: meta.expireAt });
    }
    return due.sort(compareDueTimers).slice(0, limit);
  }

  takeDue(timer: DueTimer, triggers: ReadonlyMap<string, TriggerRuntime>): Promise<StreamRecord | null> {
    return this.fenced('take', () => this.redis.state.takeDue(timer, triggers));
  }

  takeDueMany(
    timers: DueTimer[],
    triggers: ReadonlyMap<string, TriggerRuntime>,
  ): Promise<Array<StreamRecord | null>> {
    const { state } = this.redis;
    return this.fenced('take', () => Promise.all(timers.map((t) => state.takeDue(t, triggers))));
  }

  async emitted(streamIds: string[]): Promise<void> {
    await this.redis.state.emitted(streamIds);
  }

  pendingEmissions(triggers: ReadonlyMap<string, TriggerRuntime>): Promise<StreamRecord[]> {
    return this.redis.state.pendingEmissions(triggers);
  }

  recordWatermarks(marks: ReadonlyMap<number, Micros>, sourceCount: number): Promise<Micros | null> {
    return this.fenced('clock', () => this.redis.state.recordWatermarks(marks, sourceCount));
  }

  advanceClock(to: Micros, sourceCount: number): Promise<Micros | null> {
    return this.fenced('clock', () => this.redis.state.advanceClock(to, sourceCount));
  }

  readClock(sourceCount: number): Promise<Micros | null> {
    return this.redis.state.readClock(sourceCount);
  }

  storeOffset(offset: string): Promise<void> {
    return this.fenced(`offset ${offset}`, async () => void (this.redis.offset = offset));
  }

  async timerStats(): Promise<{ active: number; oldestDue: Micros | null }> {
    const active = await this.redis.streams('active');
    const times = active.flatMap((m) => (m.fireAt === null ? [m.expireAt] : [m.expireAt, m.fireAt]));
    return { active: active.length, oldestDue: times.length ? Math.min(...times) : null };
  }

  getStream(streamId: string): Promise<StreamMeta | null> {
    return this.redis.state.getStream(streamId);
  }

  listStreams(filter?: { state?: StreamState }): Promise<StreamMeta[]> {
    return this.redis.state.listStreams(filter);
  }
}

/** Redlock's rules in memory: one holder per resource until its lease lapses at `nowMs`. */
export class FakeLeases implements LeaseService {
  nowMs = 0;
  private readonly holders = new Map<string, { token: number; until: number }>();
  private tokens = 0;

  isHeld(resource: string): boolean {
    const holder = this.holders.get(resource);
    return holder !== undefined && holder.until > this.nowMs;
  }

  async acquire([resource]: string[], durationMs: number): Promise<Lease> {
    if (this.isHeld(resource)) throw new Error(`${resource} is held`);
    const token = ++this.tokens;
    this.holders.set(resource, { token, until: this.nowMs + durationMs });
    return this.lease(resource, token);
  }

  private lease(resource: string, token: number): Lease {
    const mine = () => this.holders.get(resource)?.token === token && this.isHeld(resource);
    return {
      extend: async (durationMs) => {
        if (!mine()) throw new Error(`${resource}: lease lost`);
        this.holders.set(resource, { token, until: this.nowMs + durationMs });
        return this.lease(resource, token);
      },
      release: async () => void (mine() && this.holders.delete(resource)),
    };
  }
}

export const S = MICROS_PER_SECOND;
export const TRIGGER = simpleTrigger({ name: 't', expireAfterSeconds: 60 });

/** A repartition record of one event for TRIGGER: an `exists` fires its stream, others only join it. */
export function eventRecord(type: string, instance: string, seconds: number, messageId?: string): string {
  const event = testEvent(type, instance, seconds, messageId);
  return encodeRepartition({
    type: 'event',
    matched: { trigger: TRIGGER.name, ...TRIGGER.match(event)!, event },
  });
}

export const marker = (source: number, seconds: number) =>
  encodeRepartition({ type: 'marker', source, watermark: seconds * S });

export const clockAdvance = (seconds: number) => encodeRepartition({ type: 'advance', to: seconds * S });

export type FakeRepartitionBatch = FakeBatch & RepartitionPayload;

/** A repartition batch of `values` at offsets from `firstOffset` on. */
export function repartitionBatch(
  values: ReadonlyArray<string | null>,
  { partition = 0, firstOffset = 0 } = {},
): FakeRepartitionBatch {
  const payload = fakeBatch(values, { topic: 'repartition', partition, firstOffset });
  const firstOffsetOf = () => payload.batch.messages[0]?.offset ?? null;
  return { ...payload, batch: { ...payload.batch, firstOffset: firstOffsetOf } };
}

export interface TaskUnderTest {
  task: PartitionTask;
  store: FencedStore;
  events: RoleEvents<PartitionOutcomes>;
  /** Stream records this task's emitter produced, in order. */
  emitted: StreamRecord[];
  /** Offsets the task asked the consumer to seek to. */
  seeks: string[];
  /** Offsets of the records the task sent to the DLQ. */
  deadLetters: string[];
  /** Fenced-out stages, in order. */
  fencedOut: string[];
  /** Makes this task's next emission fail, as a produce Kafka does not acknowledge. */
  failNextEmit(error: Error): void;
}

export interface TaskSetup {
  clock?: ClockMode;
  sourceCount?: number;
  segmentSize?: number;
  leases?: FakeLeases;
  wallClock?: () => Micros;
  events?: RoleEvents<PartitionOutcomes>;
}

/** A partition task of owner `name` on `redis`, with TRIGGER, a recording emitter and fake leases. */
export function taskOn(redis: FakePartitionRedis, name: string, setup: TaskSetup = {}): TaskUnderTest {
  const store = redis.owner(name);
  const events = setup.events ?? new RoleEvents<PartitionOutcomes>();
  const emitted: StreamRecord[] = [];
  const seeks: string[] = [];
  const deadLetters: string[] = [];
  const fencedOut: string[] = [];
  let emitFailure: Error | undefined;
  const emit = async (records: StreamRecord[]) => {
    const failure = emitFailure;
    emitFailure = undefined;
    if (failure) throw failure;
    emitted.push(...records);
  };
  const processor = new PartitionProcessor(
    store,
    new Map([[TRIGGER.name, TRIGGER]]),
    setup.clock ?? 'wall',
    emit,
  );
  const lease = new PartitionLease(setup.leases ?? new FakeLeases(), `lease:${redis.partition}`);
  events.on('fencedOut', ({ partition, stage }) => {
    if (partition === redis.partition) fencedOut.push(stage);
  });
  const task = new PartitionTask(
    redis.partition,
    {
      store,
      processor,
      lease,
      events,
      deadLetter: async ({ message }) => void deadLetters.push(message.offset),
      seek: (offset) => void seeks.push(offset),
      wallClock: setup.wallClock,
    },
    { clock: setup.clock ?? 'wall', sourceCount: setup.sourceCount ?? 1, segmentSize: setup.segmentSize },
  );
  const failNextEmit = (error: Error) => void (emitFailure = error);
  return { task, store, events, emitted, seeks, deadLetters, fencedOut, failNextEmit };
}
