import { Admin, Consumer, ConsumerRunConfig, EachBatchHandler, Kafka } from 'kafkajs';
import { Gauge } from 'prom-client';
import { logger } from '../util/logger';

type LagLabel = 'group' | 'topic' | 'partition';
type LagGauge = Gauge<LagLabel>;

interface PartitionState {
  /** The partition's high watermark: the offset the next record written will get. */
  end: bigint | null;
  /** The next offset this consumer will process (last resolved + 1). */
  position: bigint | null;
  series: Gauge.Internal<LagLabel>;
}

/**
 * Records behind the end of each partition this consumer owns. Fetched batches tell the
 * high watermark and resolved offsets tell the position; an admin fetch of end and committed
 * offsets fills in partitions that get no batches. Both only move forward between
 * rebalances, so a stale admin answer never hides progress seen in a batch.
 */
export class ConsumerLagTracker {
  private readonly topics = new Map<string, Map<number, PartitionState>>();

  /** `group` labels every series (members of several groups may own one topic's partitions). */
  constructor(
    private readonly gauge: LagGauge,
    private readonly group = '',
  ) {}

  /** A new assignment: revoked partitions lose their series, kept ones restart from the committed offset. */
  assign(assignment: Record<string, number[]>): void {
    for (const [topic, partitions] of this.topics) {
      const kept = new Set(assignment[topic] ?? []);
      for (const [partition, state] of partitions) {
        if (kept.has(partition)) {
          state.position = null;
        } else {
          this.gauge.remove(this.labels(topic, partition));
          partitions.delete(partition);
        }
      }
      if (partitions.size === 0) this.topics.delete(topic);
    }
    for (const [topic, partitions] of Object.entries(assignment)) {
      let states = this.topics.get(topic);
      for (const partition of partitions) {
        if (states?.has(partition)) continue;
        if (!states) this.topics.set(topic, (states = new Map()));
        const series = this.gauge.labels(this.labels(topic, partition));
        states.set(partition, { end: null, position: null, series });
      }
    }
  }

  /** Topics with assigned partitions. */
  assignedTopics(): string[] {
    return [...this.topics.keys()];
  }

  observeEnd(topic: string, partition: number, end: bigint): void {
    const state = this.topics.get(topic)?.get(partition);
    if (!state || (state.end !== null && end <= state.end)) return;
    state.end = end;
    this.update(state);
  }

  observePosition(topic: string, partition: number, position: bigint): void {
    const state = this.topics.get(topic)?.get(partition);
    if (!state || (state.position !== null && position <= state.position)) return;
    state.position = position;
    this.update(state);
  }

  /**
   * An admin answer for one topic: end offsets (high, low) and the group's committed offsets;
   * a partition with no commit yet starts at its low watermark (the roles read from the beginning).
   */
  applyOffsets(
    topic: string,
    ends: ReadonlyArray<{ partition: number; high: string; low: string }>,
    committed: ReadonlyArray<{ partition: number; offset: string }>,
  ): void {
    const commits = new Map(committed.map((c) => [c.partition, c.offset]));
    for (const { partition, high, low } of ends) {
      if (!this.topics.get(topic)?.has(partition)) continue;
      const commit = commits.get(partition);
      const position = commit === undefined || Number(commit) < 0 ? BigInt(low) : BigInt(commit);
      this.observePosition(topic, partition, position);
      this.observeEnd(topic, partition, BigInt(high));
    }
  }

  lag(topic: string, partition: number): number | undefined {
    const state = this.topics.get(topic)?.get(partition);
    return state?.end != null && state.position !== null ? lagOf(state.end, state.position) : undefined;
  }

  /** Forgets every partition and its series (the consumer stopped). */
  clear(): void {
    for (const [topic, partitions] of this.topics) {
      for (const partition of partitions.keys()) this.gauge.remove(this.labels(topic, partition));
    }
    this.topics.clear();
  }

  private labels(topic: string, partition: number) {
    return { group: this.group, topic, partition: String(partition) };
  }

  private update(state: PartitionState): void {
    if (state.end !== null && state.position !== null) state.series.set(lagOf(state.end, state.position));
  }
}

const lagOf = (end: bigint, position: bigint) => (end > position ? Number(end - position) : 0);

/**
 * Keeps `gauge` at this consumer's lag per owned partition: wraps `run` so every eachBatch
 * reports its high watermark and resolved offsets, follows rebalances, and every `refreshMs`
 * (and right after each rebalance) asks an admin client for end and committed offsets.
 */
export function trackConsumerLag(
  kafka: Kafka,
  consumer: Consumer,
  groupId: string,
  gauge: LagGauge,
  refreshMs = 5000,
): ConsumerLagTracker {
  const tracker = new ConsumerLagTracker(gauge, groupId);
  const refresher = new LagRefresher(kafka, groupId, tracker, refreshMs);
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    tracker.assign(payload.memberAssignment);
    refresher.joined();
  });
  // A crash stops and disconnects the consumer before kafkajs restarts it; the next join resumes.
  const halt = () => refresher.halt();
  consumer.on(consumer.events.STOP, halt);
  consumer.on(consumer.events.DISCONNECT, halt);
  trackBatches(consumer, tracker);
  return tracker;
}

/** Feeds the tracker from an admin client: at each join and every `refreshMs` while in the group. */
class LagRefresher {
  private admin: Admin | null = null;
  private timer: NodeJS.Timeout | undefined;
  private refreshing = false;
  // Bumped on halt: an admin fetch that outlives its consumer's run changes nothing.
  private generation = 0;
  private readonly log: typeof logger;

  constructor(
    private readonly kafka: Kafka,
    private readonly groupId: string,
    private readonly tracker: ConsumerLagTracker,
    private readonly refreshMs: number,
  ) {
    this.log = logger.child({ component: 'consumer-lag', group: groupId });
  }

  /** The consumer joined its group: fetch now, and periodically from then on. */
  joined(): void {
    if (!this.timer) {
      this.timer = setInterval(() => void this.refresh(), this.refreshMs);
      this.timer.unref();
    }
    void this.refresh();
  }

  /** The consumer stopped: no more fetches, its series go, and so does the admin client. */
  halt(): void {
    this.generation++;
    clearInterval(this.timer);
    this.timer = undefined;
    this.tracker.clear();
    const closing = this.admin;
    this.admin = null;
    closing?.disconnect().catch(() => undefined);
  }

  private async refresh(): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      await this.fetchOffsets(this.generation);
    } catch (error) {
      this.log.debug({ err: error }, 'consumer lag fetch failed; next period tries again');
    } finally {
      this.refreshing = false;
    }
  }

  /** `started`: the generation the fetch began in. */
  private async fetchOffsets(started: number): Promise<void> {
    if (!this.admin) {
      const fresh = this.kafka.admin();
      await fresh.connect();
      if (started !== this.generation) {
        await fresh.disconnect();
        return;
      }
      this.admin = fresh;
    }
    const topics = this.tracker.assignedTopics();
    if (topics.length === 0) return;
    const committed = await this.admin.fetchOffsets({ groupId: this.groupId, topics });
    for (const topic of topics) {
      const ends = await this.admin.fetchTopicOffsets(topic);
      if (started !== this.generation) return;
      this.tracker.applyOffsets(topic, ends, committed.find((c) => c.topic === topic)?.partitions ?? []);
    }
  }
}

/** Wraps `consumer.run` so that every eachBatch reports its high watermark and resolved offsets. */
function trackBatches(consumer: Consumer, tracker: ConsumerLagTracker): void {
  const run = consumer.run;
  consumer.run = (config?: ConsumerRunConfig) => {
    const eachBatch = config?.eachBatch;
    if (!eachBatch) return run(config);
    const autoResolve = config.eachBatchAutoResolve ?? true;
    return run({ ...config, eachBatch: trackedEachBatch(eachBatch, autoResolve, tracker) });
  };
}

function trackedEachBatch(
  eachBatch: EachBatchHandler,
  autoResolve: boolean,
  tracker: ConsumerLagTracker,
): EachBatchHandler {
  return async (payload) => {
    const { topic, partition } = payload.batch;
    tracker.observeEnd(topic, partition, BigInt(payload.batch.highWatermark));
    const first = payload.batch.firstOffset();
    if (first !== null) tracker.observePosition(topic, partition, BigInt(first));
    const resolveOffset = (offset: string) => {
      payload.resolveOffset(offset);
      tracker.observePosition(topic, partition, BigInt(offset) + 1n);
    };
    await eachBatch({ ...payload, resolveOffset });
    const last = payload.batch.messages.at(-1);
    if (autoResolve && last && payload.isRunning() && !payload.isStale()) {
      tracker.observePosition(topic, partition, BigInt(last.offset) + 1n);
    }
  };
}
