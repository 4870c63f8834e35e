import { Counter, Gauge, Histogram, LabelValues, Registry, collectDefaultMetrics } from 'prom-client';
import { newDistillStats } from '../distiller/outcome';
import type { TopologySettings } from '../config/topology-settings';
import { triggerDebugger } from '../triggers/debug';
import { buildInfo } from './build-info';
import { LatencyStage, STAGE_BUCKETS, stageTimers } from './stage-latency';

/** DLQ reasons other than the distiller's error categories, as the roles label them. */
export const DLQ_REASON = {
  oversized: 'oversized',
  undecodableEvent: 'undecodable event',
  undecodableStreamRecord: 'undecodable stream record',
  /** The event store refused the event itself (not a failed call): writing it again cannot help. */
  storeRejected: 'rejected by the event store',
  undecodableCompletion: 'undecodable completion record',
} as const;

/** What initialiseLabels reads from a loaded topology bundle. */
/** What a topology tells of its label values: trigger objects (names, debug levels) and pipeline steps. */
interface KnownTopology {
  triggers: readonly ({ name: string } & object)[];
  pipelines: ReadonlyMap<string, readonly { name: string }[]>;
}

/** The criteria groups every trigger checks (TriggerDefinition's debug groups). */
const CRITERIA_GROUPS = ['Match', 'Fire'];

/** The roles that count each kind of occurrence; any other role (`all`) counts them all. */
type Component = 'distiller' | 'matcher' | 'worker' | 'archiver';
const COMPONENTS_OF_ROLE: Record<string, readonly Component[]> = {
  distiller: ['distiller'],
  matcher: ['matcher'],
  worker: ['worker'],
  archiver: ['archiver'],
  api: [],
  bridge: [],
};
const ALL_COMPONENTS: readonly Component[] = ['distiller', 'matcher', 'worker', 'archiver'];

/** The event store calls the archiver makes, as `winchester_archiver_store_errors_total` labels them. */
export const STORE_OPERATIONS = ['record', 'record_streams', 'expire'] as const;

/**
 * Every metric the roles export, on one registry per process with a default `role` label.
 * Names follow Prometheus conventions: `_total` counters, base units (`_seconds`, `_bytes`).
 */
export class WinchesterMetrics {
  readonly registry = new Registry();

  readonly notificationsConsumed = this.counter(
    'winchester_notifications_consumed_total',
    'Notifications read from the input topics',
  );
  readonly notificationsDistilled = this.counter(
    'winchester_notifications_distilled_total',
    'Notifications turned into events',
  );
  readonly notificationsDropped = this.counter(
    'winchester_notifications_dropped_total',
    'Notifications dropped by the distiller (no definition, no traits)',
    ['reason'],
  );
  readonly dlqRecords = this.counter('winchester_dlq_records_total', 'Records sent to a dead-letter topic', [
    'topic',
    'reason',
  ]);
  readonly eventsConsumed = this.counter(
    'winchester_matcher_events_consumed_total',
    'Events read by the matcher',
  );
  readonly eventsUnmatched = this.counter(
    'winchester_matcher_events_unmatched_total',
    'Events no trigger matched',
  );
  readonly eventsMatched = this.counter(
    'winchester_trigger_events_matched_total',
    'Events a trigger matched',
    ['trigger'],
  );
  readonly triggerChecks = this.counter(
    'winchester_trigger_criteria_checks_total',
    'Criteria checks by group: Match (one per criterion tried) and Fire (debug_level 1 and 2)',
    ['trigger', 'group'],
  );
  readonly triggerChecksPassed = this.counter(
    'winchester_trigger_criteria_passed_total',
    'Criteria checks that passed, by group (debug_level 1 and 2)',
    ['trigger', 'group'],
  );
  readonly triggerMismatches = this.counter(
    'winchester_trigger_mismatches_total',
    'Why criteria checks failed, by group and reason (debug_level 2)',
    ['trigger', 'group', 'reason'],
  );
  readonly triggerDebugCounts = this.counter(
    'winchester_trigger_debug_counts_total',
    'Named debugger counters such as "Expiration errors" (debug_level 1 and 2)',
    ['trigger', 'name'],
  );
  readonly streamsOpened = this.counter('winchester_streams_opened_total', 'Streams opened', ['trigger']);
  readonly streamsFired = this.counter('winchester_streams_fired_total', 'Streams fired', ['trigger']);
  readonly streamsExpired = this.counter('winchester_streams_expired_total', 'Streams expired', ['trigger']);
  readonly streamsCompleted = this.counter(
    'winchester_streams_completed_total',
    'Streams whose pipeline completed',
    ['trigger'],
  );
  readonly streamsErrored = this.counter(
    'winchester_streams_errored_total',
    'Streams whose pipeline failed',
    ['trigger'],
  );
  readonly streamsTooLarge = this.counter(
    'winchester_streams_too_large_total',
    'Stream records too large for the streams topic',
  );
  readonly lockRetries = this.counter(
    'winchester_lock_retries_total',
    'Optimistic transactions retried after a conflict',
    ['trigger'],
  );
  readonly duplicateEvents = this.counter(
    'winchester_duplicate_events_total',
    'Events ignored because their message_id was already taken',
    ['trigger'],
  );
  readonly duplicateStreamRecords = this.counter(
    'winchester_worker_duplicate_records_total',
    'Stream records skipped as duplicate or stale',
  );
  readonly reemitted = this.counter(
    'winchester_stream_records_reemitted_total',
    'Stream records produced again (unacknowledged or reset)',
  );
  readonly newEvents = this.counter(
    'winchester_pipeline_new_events_total',
    'New events produced by pipelines',
  );
  readonly loopGuardDropped = this.counter(
    'winchester_pipeline_loop_guard_dropped_total',
    'New events not produced: too many pipeline generations',
  );
  readonly pipelineRetries = this.counter(
    'winchester_pipeline_retries_total',
    'Failed pipeline runs scheduled to be tried again (pipelines with a retry policy)',
    ['pipeline'],
  );
  readonly pipelineRetriesExhausted = this.counter(
    'winchester_pipeline_retries_exhausted_total',
    'Streams whose last allowed attempt failed: in error, with a record on streams.errors',
    ['pipeline'],
  );
  readonly commitFailures = this.counter(
    'winchester_handler_commit_failures_total',
    'Handler commits that threw',
    ['handler'],
  );
  readonly archivedEvents = this.counter(
    'winchester_archiver_events_stored_total',
    'Events the archiver wrote to the event store',
  );
  readonly archiverDuplicates = this.counter(
    'winchester_archiver_duplicate_events_total',
    'Events the event store already had (delivered again, or sent twice)',
  );
  readonly archiverStoreErrors = this.counter(
    'winchester_archiver_store_errors_total',
    'Event store calls that failed (writes are retried, expiry runs again later)',
    ['operation'],
  );
  readonly expiredEvents = this.counter(
    'winchester_archiver_events_expired_total',
    'Events removed from the event store by event_ttl',
  );
  readonly bridgeMessages = this.counter(
    'winchester_bridge_messages_total',
    'RabbitMQ messages the bridge acknowledged, by outcome: produced to the input topic, or dead_lettered',
    ['outcome'],
  );
  readonly bridgeBytes = this.counter(
    'winchester_bridge_bytes_total',
    'Bytes of the RabbitMQ messages the bridge received (as delivered, before any decompression)',
  );
  readonly bridgeRedelivered = this.counter(
    'winchester_bridge_redelivered_total',
    'Messages RabbitMQ delivered again (the bridge had them unacknowledged when a channel closed)',
  );
  readonly bridgeReconnects = this.counter(
    'winchester_bridge_reconnects_total',
    'Reconnections to RabbitMQ, and Kafka sends the bridge retried, by side',
    ['side'],
  );
  readonly bridgeUnacked = new Gauge({
    name: 'winchester_bridge_unacked_messages',
    help: 'Messages received from RabbitMQ and not yet acknowledged (at most bridge.prefetch)',
    registers: [this.registry],
  });
  readonly topologyVersion = new Gauge({
    name: 'winchester_topology_version',
    help: 'The topology version this process runs (0: its own -t bundle, nothing applied)',
    registers: [this.registry],
  });
  readonly topologyLoadFailures = this.counter(
    'winchester_topology_load_failures_total',
    'Topology versions this process could not load (it keeps running the version it had)',
  );
  readonly activeStreams = new Gauge({
    name: 'winchester_active_streams',
    help: 'Active streams in the partitions this process owns',
    registers: [this.registry],
  });
  readonly timerLag = new Gauge({
    name: 'winchester_timer_lag_seconds',
    help: 'Now minus the oldest due timer not yet run (0 when none is due)',
    registers: [this.registry],
  });
  readonly consumerLag = new Gauge({
    name: 'winchester_consumer_lag',
    help: 'Records behind the end of each partition the consumer group member owns',
    labelNames: ['group', 'topic', 'partition'],
    registers: [this.registry],
  });
  readonly handlerSeconds = new Histogram({
    name: 'winchester_handler_duration_seconds',
    help: 'handleEvents duration',
    labelNames: ['handler'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly pipelineSeconds = new Histogram({
    name: 'winchester_pipeline_duration_seconds',
    help: 'Whole pipeline run, claim to transition',
    labelNames: ['pipeline'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly archiverBatchSeconds = new Histogram({
    name: 'winchester_archiver_batch_duration_seconds',
    help: 'One chunk of events written to the event store in one call (calls that succeeded)',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  readonly redisSeconds = new Histogram({
    name: 'winchester_redis_transaction_duration_seconds',
    help: 'Round trip of one optimistic Redis write attempt (its reads and scripts) or pooled query',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });

  readonly stageSeconds: Histogram<'stage'> = new Histogram({
    name: 'winchester_stage_latency_seconds',
    help: 'Time spent in each stage between a notification and its fired stream record, and the whole way',
    labelNames: ['stage'],
    buckets: STAGE_BUCKETS,
    registers: [this.registry],
    // The stages hold their samples until a scrape (or a full buffer): hand them over first.
    collect: () => {
      for (const timer of Object.values(this.stages)) timer.flush();
    },
  });
  /** Where the roles record stage latencies (see stage-latency.ts). */
  readonly stages = stageTimers((stage) => this.stageSeconds.labels(stage));

  constructor(readonly role: string) {
    labelForRole(this.registry, role);
  }

  /**
   * Puts a 0 in every series whose labels are known from the topology before anything
   * happens, for the occurrences this role counts: a dashboard's `rate(a) + rate(b)` and an
   * alert's `increase(...) > 0` then see the first occurrence instead of a series appearing.
   */
  initialiseLabels(topology: KnownTopology, settings: Pick<TopologySettings, 'topics'>): this {
    const components = COMPONENTS_OF_ROLE[this.role] ?? ALL_COMPONENTS;
    if (components.includes('distiller')) this.initialiseDistiller(settings.topics);
    if (components.includes('matcher')) this.initialiseMatcher(topology, settings.topics);
    if (components.includes('worker')) this.initialiseWorker(topology, settings.topics);
    if (components.includes('archiver')) this.initialiseArchiver(settings.topics);
    return this;
  }

  private initialiseArchiver(topics: TopologySettings['topics']): void {
    zero(
      this.archiverStoreErrors,
      STORE_OPERATIONS.map((operation) => ({ operation })),
    );
    const reasons = [DLQ_REASON.undecodableEvent, DLQ_REASON.undecodableCompletion, DLQ_REASON.storeRejected];
    zero(
      this.dlqRecords,
      reasons.map((reason) => ({ topic: topics.archiverDlq, reason })),
    );
  }

  private initialiseDistiller(topics: TopologySettings['topics']): void {
    const stats = newDistillStats();
    zero(
      this.notificationsDropped,
      Object.keys(stats.dropped).map((reason) => ({ reason })),
    );
    this.zeroStages(['distill']);
    const reasons = [...Object.keys(stats.errors), DLQ_REASON.oversized];
    zero(
      this.dlqRecords,
      reasons.map((reason) => ({ topic: topics.notificationsDlq, reason })),
    );
  }

  private initialiseMatcher(topology: KnownTopology, topics: TopologySettings['topics']): void {
    const triggers = topology.triggers.map(({ name }) => ({ trigger: name }));
    const perTrigger = [
      this.eventsMatched,
      this.streamsOpened,
      this.streamsFired,
      this.streamsExpired,
      this.lockRetries,
      this.duplicateEvents,
    ];
    for (const counter of perTrigger) zero(counter, triggers);
    // Criteria checks are counted for triggers with debug_level 1 or 2 only.
    const checks = topology.triggers
      .filter((trigger) => triggerDebugger(trigger)?.enabled)
      .flatMap(({ name }) => CRITERIA_GROUPS.map((group) => ({ trigger: name, group })));
    zero(this.triggerChecks, checks);
    zero(this.triggerChecksPassed, checks);
    zero(this.dlqRecords, [{ topic: topics.eventsDlq, reason: DLQ_REASON.undecodableEvent }]);
    this.zeroStages(['events_hop', 'repartition_hop', 'redis_apply', 'timer_wait', 'emit', 'end_to_end']);
  }

  /** The stages this role times have a series from the start, as the counters do. */
  private zeroStages(stages: LatencyStage[]): void {
    for (const stage of stages) this.stageSeconds.zero({ stage });
  }

  private initialiseWorker(topology: KnownTopology, topics: TopologySettings['topics']): void {
    const triggers = topology.triggers.map(({ name }) => ({ trigger: name }));
    zero(this.streamsCompleted, triggers);
    zero(this.streamsErrored, triggers);
    const handlers = new Set([...topology.pipelines.values()].flat().map((step) => step.name));
    zero(
      this.commitFailures,
      [...handlers].map((handler) => ({ handler })),
    );
    const pipelines = [...topology.pipelines.keys()].map((pipeline) => ({ pipeline }));
    zero(this.pipelineRetries, pipelines);
    zero(this.pipelineRetriesExhausted, pipelines);
    zero(this.dlqRecords, [{ topic: topics.streamsDlq, reason: DLQ_REASON.undecodableStreamRecord }]);
  }

  private counter<L extends string>(name: string, help: string, labelNames: L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }
}

/** Adding 0 creates a series without changing one that already counts. */
function zero<L extends string>(counter: Counter<L>, labelSets: ReadonlyArray<LabelValues<L>>): void {
  for (const labels of labelSets) counter.inc(labels, 0);
}

/**
 * What every process's metrics carry: the `role` label on every series,
 * `winchester_build_info`, and (unless left out, as when several share a process)
 * the process and Node.js metrics.
 */
export function labelForRole(
  registry: Registry,
  role: string,
  options: { processMetrics?: boolean } = {},
): void {
  registry.setDefaultLabels({ role });
  new Gauge({
    name: 'winchester_build_info',
    help: 'Always 1; the labels tell the package version, source revision and Node.js version',
    labelNames: ['version', 'revision', 'node_version'],
    registers: [registry],
  }).set(buildInfo(), 1);
  if (options.processMetrics ?? true) collectNodeMetrics(registry);
}

/**
 * prom-client's process and Node.js metrics under their standard names (process_cpu_seconds_total,
 * nodejs_eventloop_lag_seconds, …), so common dashboards and rules apply. Its *_total gauges
 * (nodejs_active_handles_total, …) go: only counters may end in _total, and each is the sum
 * of the labelled gauge beside it (`sum without (type) (nodejs_active_handles)`).
 */
function collectNodeMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const metric of registry.getMetricsAsArray()) {
    // The typings declare an enum; the registered objects hold 'counter', 'gauge', …
    const { name, type } = metric as unknown as { name: string; type: string };
    if (type !== 'counter' && name.endsWith('_total')) registry.removeSingleMetric(name);
  }
}
