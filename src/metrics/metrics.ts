import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
  readonly commitFailures = this.counter(
    'winchester_handler_commit_failures_total',
    'Handler commits that threw',
    ['handler'],
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
    help: 'Records behind the end of each assigned partition',
    labelNames: ['topic', 'partition'],
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
  readonly redisSeconds = new Histogram({
    name: 'winchester_redis_transaction_duration_seconds',
    help: 'Round trip of one optimistic Redis transaction attempt (WATCH to EXEC) or pooled query',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });

  constructor(role: string) {
    this.registry.setDefaultLabels({ role });
    // winchester_process_cpu_seconds_total, winchester_nodejs_eventloop_lag_seconds, …
    collectDefaultMetrics({ register: this.registry, prefix: 'winchester_' });
  }

  private counter<L extends string>(name: string, help: string, labelNames: L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }
}
