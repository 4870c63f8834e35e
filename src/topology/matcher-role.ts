import { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import type { WinchesterEvent } from '../events/event';
import Redlock from 'redlock';
import { WinchesterMetrics } from '../metrics/metrics';
import { TimerTiming } from '../metrics/stage-latency';
import { reportTriggerDebugging, TriggerDebugReporting } from '../metrics/trigger-debug';
import { createRedisClient, RedisClient } from '../redis/client';
import { RedisConnectionPool } from '../redis/connection-pool';
import { checkPartitionCount, RedisPartitionStore, RedisStoreOptions } from '../redis/partition-store';
import { PartitionProcessor } from '../streams/processor';
import {
  TriggerCatalog,
  TriggerFallback,
  TriggerVersionLog,
  TriggerVersionSource,
} from '../streams/trigger-catalog';
import { TriggerRuntime } from '../streams/trigger-runtime';
import type { DueTimer } from '../streams/model';
import type { Micros } from '../time/micros';
import { Logger, roleLogger } from '../util/logger';
import { BatchLoop, SourceRecord } from './batch-loop';
import { EventRouter, EventRouterOutcomes, recordEventRouterOutcomes, RoutedEvent } from './event-router';
import { PartitionAssignment } from './partition-assignment';
import { PartitionLease } from './partition-lease';
import { PartitionCounters, PartitionOutcomes, recordPartitionOutcomes } from './partition-outcomes';
import { PartitionTask } from './partition-task';
import { deadLetter } from './records';
import { RoleEvents } from './role-events';
import { createProducer, createRoleConsumer, disconnectAll, sendAll } from './role-runner';
import { jsonSerializers, RecordDecoder, TopologySerializers } from './serialization';
import { TopologySettings } from '../config/topology-settings';
import { StreamEmitter } from './stream-emitter';
import { TimerLoop, TimerLoopOptions } from './timer-loop';
import { partitionCount } from './topics';

export interface MatcherCounters extends PartitionCounters {
  eventsConsumed: number;
  unmatched: number;
  matched: Map<string, number>;
  /** Definitions of a version this process could not load, stood in for by the current one's. */
  triggerFallbacks: number;
}

export interface MatcherRole {
  counters: MatcherCounters;
  /** The topology version stage 1 routes under (0: the role's own triggers). */
  readonly version: number;
  /** The task of each repartition partition this process has consumed and still holds. */
  owned: ReadonlyMap<number, PartitionTask>;
  consumer: Consumer;
  stop(): Promise<void>;
}

/**
 * Matcher role, one consumer group with two stages:
 *  1. `events` → every trigger's match → one repartition record per (event, trigger), keyed
 *     by stream key (and, under the event clock, watermark markers to every partition);
 *  2. repartition partition p → stream state in Redis (WATCH/MULTI, fenced by p's owner
 *     epoch), timers of p → `streams`: one PartitionTask per partition, driven by its
 *     batches and by the TimerLoop.
 * With `versions` (a role's topology follower, see triggersFollowing), a new topology version
 * takes effect without a restart or a rebalance: stage 1 routes with the current version's
 * triggers, stage 2 applies each event with the version it was routed under and runs each
 * stream with the version it was opened with. Without it, `triggers` are version 0, for good.
 */
export async function startMatcher(
  kafka: Kafka,
  redisUrl: string,
  settings: TopologySettings,
  triggers: TriggerRuntime[],
  metrics?: WinchesterMetrics,
  serializers: TopologySerializers = jsonSerializers,
  versions: TriggerVersionSource = new TriggerVersionLog(triggers),
): Promise<MatcherRole> {
  const log = roleLogger('matcher');
  const counters = newMatcherCounters();
  const recorders = { counters, metrics, log };
  const catalog = new TriggerCatalog(versions, { onFallback: (f) => recordTriggerFallback(f, recorders) });
  const partitions = await topicPartitions(kafka, settings);
  const redis = await connectRedis(redisUrl, settings, partitions.repartition, metrics);
  const clients = await connectKafka(kafka, settings, metrics);
  const { consumer } = clients;
  const stage1 = eventRouterLoop(settings, catalog, serializers, partitions.repartition, clients, recorders);

  const events = new RoleEvents<PartitionOutcomes>();
  recordPartitionOutcomes(events, recorders);
  const sourceCount = partitions.events;
  const assignment = new PartitionAssignment(
    partitionTasks({ settings, catalog, sourceCount, redis, clients, events, serializers, metrics }),
    events,
  );
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) =>
    assignment.assign(payload.memberAssignment[settings.topics.repartition] ?? []),
  );
  const debugReporting = followTriggerDebugging(versions, catalog, settings, recorders);

  const timers = new TimerLoop(() => assignment.tasks.values(), timerOptions(settings, metrics), events);
  await consumer.run({
    eachBatchAutoResolve: false,
    // Every partition of both stages at once: kafkajs fetches again only when a fetch's
    // batches are all handled, so a slow stage-2 batch must not hold stage 1's back.
    partitionsConsumedConcurrently: partitions.events + partitions.repartition,
    eachBatch: async (payload: EachBatchPayload) => {
      if (payload.batch.topic === settings.topics.events) return stage1.run(payload);
      const task = assignment.taskFor(payload.batch.partition);
      await task.process(payload);
      // Not awaited: the streams the batch made due fire while the next fetch goes on.
      timers.afterBatch(task);
    },
  });
  timers.start();

  const stop = () => stopMatcher({ timers, debugReporting, clients, assignment, redis });
  return {
    counters,
    get version() {
      return catalog.current.version;
    },
    owned: assignment.tasks,
    consumer,
    stop,
  };
}

/** The timer loop's settings; its gauges cost Redis reads, so only a process with metrics measures them. */
function timerOptions(settings: TopologySettings, metrics?: WinchesterMetrics): TimerLoopOptions {
  return {
    intervalMs: settings.timerIntervalMs,
    clock: settings.clock,
    measureGauges: metrics !== undefined,
  };
}

/**
 * debug_level statistics of the checks stage 1 (Match) and the stream engine (Fire) make, for
 * the current version's triggers: reporting moves to the new ones at each change.
 */
function followTriggerDebugging(
  versions: TriggerVersionSource,
  catalog: TriggerCatalog,
  settings: TopologySettings,
  { metrics, log }: { metrics?: WinchesterMetrics; log: Logger },
): TriggerDebugReporting {
  const report = () =>
    reportTriggerDebugging(catalog.current.triggers, { log, metrics, periodMs: settings.statisticsPeriodMs });
  let reporting = report();
  let stopped = false;
  versions.onChange((version) => {
    log.info(
      { version, triggers: catalog.current.triggers.map((t) => t.name) },
      'matching with a new topology version',
    );
    if (stopped) return;
    reporting.stop();
    reporting = report();
  });
  return {
    get debuggers() {
      return reporting.debuggers;
    },
    stop: () => {
      stopped = true;
      reporting.stop();
    },
  };
}

/** A version this process could not load: counted, and logged once per version. */
function recordTriggerFallback(
  fallback: TriggerFallback,
  { counters, metrics, log }: { counters: MatcherCounters; metrics?: WinchesterMetrics; log: Logger },
): void {
  counters.triggerFallbacks++;
  if (!fallback.first) return;
  if (fallback.reason === 'version unavailable') metrics?.topologyLoadFailures.inc();
  const { trigger, version, current, reason } = fallback;
  log.warn({ trigger, version, current, reason }, 'trigger definition of another version used instead');
}

/**
 * No timer turn starts; batches in flight finish (storing their offsets) before the tasks
 * close and release their leases; then the connections go.
 */
async function stopMatcher(parts: {
  timers: TimerLoop;
  debugReporting: TriggerDebugReporting;
  clients: MatcherKafka;
  assignment: PartitionAssignment;
  redis: MatcherRedis;
}): Promise<void> {
  const { timers, debugReporting, clients, assignment, redis } = parts;
  const timersStopped = timers.stop();
  debugReporting.stop();
  await clients.consumer.stop();
  await timersStopped;
  await disconnectAll(clients.consumer, clients.producer, clients.streamProducer);
  await assignment.closeAll();
  await redis.pool.close();
  redis.control.disconnect();
}

function newMatcherCounters(): MatcherCounters {
  return {
    eventsConsumed: 0,
    unmatched: 0,
    matched: new Map(),
    dlq: new Map(),
    lockRetries: new Map(),
    streamsTooLarge: 0,
    reemitted: 0,
    triggerFallbacks: 0,
  };
}

/** Partition counts of the stage-1 input (the event clock's sources) and of the repartition topic. */
async function topicPartitions(kafka: Kafka, settings: TopologySettings) {
  const admin = kafka.admin();
  await admin.connect();
  const events = await partitionCount(admin, settings.topics.events);
  const repartition = await partitionCount(admin, settings.topics.repartition);
  await admin.disconnect();
  return { events, repartition };
}

interface MatcherRedis {
  /** Plain commands: the partition-count check and the timer leases. */
  control: RedisClient;
  redlock: Redlock;
  /** Connections for the partition stores' reads and scripts (each use timed for redisSeconds). */
  pool: RedisConnectionPool;
}

/** Redis for stage 2, after checking the state was built for this repartition partition count. */
async function connectRedis(
  redisUrl: string,
  settings: TopologySettings,
  repartitionCount: number,
  metrics?: WinchesterMetrics,
): Promise<MatcherRedis> {
  const control = createRedisClient(redisUrl, { maxRetriesPerRequest: 20 });
  await checkPartitionCount(control, settings.namespace, repartitionCount);
  const redlock = new Redlock([control], { retryCount: 0 });
  redlock.on('error', () => undefined); // a lease held elsewhere is expected during rebalances
  const observe = metrics && ((seconds: number) => metrics.redisSeconds.observe(seconds));
  const pool = new RedisConnectionPool(redisUrl, settings.redisPoolSize, {}, observe);
  return { control, redlock, pool };
}

interface MatcherKafka {
  /** Stage 1's repartition records and the events DLQ. */
  producer: Producer;
  /** Stream records have a producer of their own, so timers never queue behind stage 1's sends. */
  streamProducer: Producer;
  consumer: Consumer;
}

async function connectKafka(
  kafka: Kafka,
  settings: TopologySettings,
  metrics?: WinchesterMetrics,
): Promise<MatcherKafka> {
  const producer = createProducer(kafka);
  await producer.connect();
  const consumer = createRoleConsumer(kafka, settings, 'matcher', metrics);
  await consumer.connect();
  await consumer.subscribe({
    topics: [settings.topics.events, settings.topics.repartition],
    fromBeginning: true,
  });
  const streamProducer = createProducer(kafka);
  await streamProducer.connect();
  return { producer, streamProducer, consumer };
}

/** Stage 1: `events` → repartition records (and the events DLQ), on the shared batch loop. */
function eventRouterLoop(
  settings: TopologySettings,
  triggers: TriggerCatalog,
  { events: serializer }: { events: RecordDecoder<WinchesterEvent> },
  repartitionCount: number,
  clients: MatcherKafka,
  { counters, metrics, log }: { counters: MatcherCounters; metrics?: WinchesterMetrics; log: Logger },
): BatchLoop<RoutedEvent> {
  const routerEvents = new RoleEvents<EventRouterOutcomes>();
  recordEventRouterOutcomes(routerEvents, { counters, metrics, log, dlqTopic: settings.topics.eventsDlq });
  return new BatchLoop(new EventRouter(routerEvents, settings, triggers, serializer, repartitionCount), {
    producer: clients.producer,
    topics: { output: settings.topics.repartition, dlq: settings.topics.eventsDlq },
    maxRecordBytes: settings.maxRecordBytes,
  });
}

interface TaskParts {
  settings: TopologySettings;
  catalog: TriggerCatalog;
  sourceCount: number;
  redis: MatcherRedis;
  clients: MatcherKafka;
  events: RoleEvents<PartitionOutcomes>;
  serializers: TopologySerializers;
  metrics?: WinchesterMetrics;
}

/** A partition's store whose due-timer reads and acknowledged emissions are timed (TimerTiming). */
class TimedPartitionStore extends RedisPartitionStore {
  constructor(
    partition: number,
    pool: RedisConnectionPool,
    options: RedisStoreOptions,
    private readonly timing: TimerTiming,
  ) {
    super(partition, pool, options);
  }

  override async dueTimers(now: Micros, limit: number): Promise<DueTimer[]> {
    const due = await super.dueTimers(now, limit);
    this.timing.taken(due);
    return due;
  }

  override async emitted(streamIds: string[]): Promise<void> {
    this.timing.acknowledged(streamIds.length);
    await super.emitted(streamIds);
  }
}

/** Makes the task of a repartition partition: its Redis store, stream engine and timer lease. */
function partitionTasks(parts: TaskParts) {
  const { settings, catalog, sourceCount, redis, clients, events, serializers, metrics } = parts;
  const emitter = new StreamEmitter(
    clients.streamProducer,
    settings,
    events,
    serializers.streams,
    metrics?.stages,
  );
  const deadLetterRecord = async (source: SourceRecord, error: unknown) => {
    const record = deadLetter(source, (error as Error).message, {}, settings.maxRecordBytes);
    await sendAll(clients.producer, settings.topics.eventsDlq, [record]);
  };
  return (partition: number): PartitionTask => {
    const storeOptions: RedisStoreOptions = {
      namespace: settings.namespace,
      seenRetentionSeconds: settings.seenRetentionSeconds,
      maxAttempts: 50,
      onConflict: (trigger) => events.emit('lockRetry', { trigger }),
    };
    const timing = metrics && new TimerTiming(metrics.stages, settings.clock === 'wall');
    const store = timing
      ? new TimedPartitionStore(partition, redis.pool, storeOptions, timing)
      : new RedisPartitionStore(partition, redis.pool, storeOptions);
    const processor = new PartitionProcessor(
      store,
      catalog,
      settings.clock,
      emitter.emit,
      8,
      (trigger, field, by) => events.emit('applied', { trigger, field, by }),
    );
    const lease = new PartitionLease(redis.redlock, store.keys.lease);
    const seek = (offset: string) =>
      clients.consumer.seek({ topic: settings.topics.repartition, partition, offset });
    const deps = {
      store,
      processor,
      lease,
      events,
      deadLetter: deadLetterRecord,
      seek,
      latency: metrics?.stages,
    };
    return new PartitionTask(partition, deps, { clock: settings.clock, sourceCount });
  };
}
