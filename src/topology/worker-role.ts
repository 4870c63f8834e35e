import { randomUUID } from 'node:crypto';
import { CompressionTypes, Consumer, Kafka, Producer } from 'kafkajs';
import { DLQ_REASON, WinchesterMetrics } from '../metrics/metrics';
import { HandlerContext } from '../pipeline/handler';
import { FailedAttempts } from '../pipeline/retry';
import { StreamOutcome, StreamRun } from '../pipeline/stream-run';
import { createRedisClient, RedisClient } from '../redis/client';
import { RedisConnectionPool } from '../redis/connection-pool';
import { PartitionKeys } from '../redis/keys';
import {
  claimStream,
  finishStream,
  readFailedAttempts,
  readTombstone,
  renewClaim,
  scheduleRetry,
  StreamClaim,
} from '../redis/lifecycle';
import { DueRetry, findDueRetries, releaseRetry, retryRecord, takeRetry } from '../redis/retry-queue';
import { formatMicros, Micros } from '../time/micros';
import { StreamRecord } from '../streams/model';
import { Logger, roleLogger } from '../util/logger';
import { RecentSamples } from '../util/recent-samples';
import { BatchLoop, BatchPayload } from './batch-loop';
import { shortReason } from './records';
import { RoleEvents } from './role-events';
import { createProducer, createRoleConsumer, sendAll, startConsuming, stopConsuming } from './role-runner';
import { jsonSerializers, TopologySerializers } from './serialization';
import { TopologySettings } from '../config/topology-settings';
import {
  ClaimTiming,
  FinishOptions,
  StreamJob,
  StreamJobOptions,
  StreamLifecycle,
  WorkerOutcomes,
} from './stream-job';
import { tally } from '../util/tally';

// The completion record is the stream run's; re-exported for the role's callers.
export type { CompletionRecord } from '../pipeline/stream-run';
export type { WorkerOutcomes } from './stream-job';

/**
 * The pipelines and handlers to run (by topology version, with a `catalog`), the loop guard
 * (`maxHops`), claims and purging.
 */
export type WorkerOptions = StreamJobOptions;

export interface WorkerCounters {
  streamsCompleted: Map<string, number>;
  streamsErrored: Map<string, number>;
  duplicatesSkipped: number;
  commitFailures: number;
  newEvents: number;
  loopGuardDropped: number;
  /** Failed runs that will be tried again, streams whose retries ran out, retries produced again. */
  retriesScheduled: number;
  retriesExhausted: number;
  retriesEmitted: number;
  /** Recent pipeline (claim → transition) and handler durations, for in-process percentiles. */
  pipelineSeconds: RecentSamples;
  handlerSeconds: Map<string, RecentSamples>;
}

/** A claim is renewed every second while its stream runs; one held elsewhere is tried again every 250 ms. */
const CLAIM_TIMING = { renewEveryMs: 1000, claimRetryMs: 250 };

/** How often every worker looks for due retries (the back-off's resolution), and how many a turn takes per partition. */
const RETRY_POLL = { intervalMs: 250, perPartition: 100 };

/** The lifecycle scripts on Redis, and what closes their connections. */
export interface ClosableLifecycle extends StreamLifecycle {
  close(): Promise<void>;
}

/** The partitions' due retries (src/redis/retry-queue.ts), bound to a namespace. */
export interface RetryQueue {
  findDue(partitions: readonly number[], now: Micros, limit: number): Promise<DueRetry[]>;
  /** Leases a due retry to this worker until `leaseUntil`; false when not due or leased elsewhere. */
  take(retry: DueRetry, now: Micros, leaseUntil: Micros): Promise<boolean>;
  /** The stream record to run again; null when the stream no longer waits for this retry. */
  record(retry: DueRetry): Promise<StreamRecord | null>;
  release(retry: DueRetry, leaseUntil: Micros): Promise<boolean>;
}

/**
 * Worker role: consumes `streams`, claims each stream in Redis, runs its pipeline and moves
 * its state with a transition guarded by the record's state serial. Offsets are committed
 * after the transition; a duplicate or stale record is skipped and counted.
 */
export async function startWorker(
  kafka: Kafka,
  redisUrl: string,
  settings: TopologySettings,
  options: WorkerOptions,
  metrics?: WinchesterMetrics,
  serializers: TopologySerializers = jsonSerializers,
): Promise<WorkerRole> {
  const lifecycle = new RedisStreamLifecycle(redisUrl, settings.namespace, metrics);
  const clients = {
    lifecycle,
    retries: lifecycle,
    producer: createProducer(kafka),
    consumer: createRoleConsumer(kafka, settings, 'worker', metrics),
  };
  return new WorkerRole(clients, settings, options, { metrics, serializers }).start();
}

/**
 * The worker role on the batch loop: one stream record per chunk (a chunk is one pipeline
 * run), its offset resolved once the stream is finished or skipped. The job produces its own
 * records (new events before the finish script, the completion record after it), so the loop
 * brings decoding and the DLQ, stop checks, offsets and heartbeats.
 */
export class WorkerRole {
  readonly counters: WorkerCounters = {
    streamsCompleted: new Map(),
    streamsErrored: new Map(),
    duplicatesSkipped: 0,
    commitFailures: 0,
    newEvents: 0,
    loopGuardDropped: 0,
    retriesScheduled: 0,
    retriesExhausted: 0,
    retriesEmitted: 0,
    pipelineSeconds: new RecentSamples(),
    handlerSeconds: new Map(),
  };
  readonly events = new RoleEvents<WorkerOutcomes>();
  readonly consumer: Consumer;
  readonly producer: Producer;
  private readonly lifecycle: ClosableLifecycle;
  private readonly loop: BatchLoop<StreamRecord>;
  private readonly job: StreamJob;
  /** Produces due retries again; absent when the role is given no retry queue (it then only runs records). */
  private readonly retryEmitter?: RetryEmitter;

  constructor(
    clients: { consumer: Consumer; producer: Producer; lifecycle: ClosableLifecycle; retries?: RetryQueue },
    private readonly settings: TopologySettings,
    options: WorkerOptions,
    hooks: {
      metrics?: WinchesterMetrics;
      serializers?: TopologySerializers;
      timing?: Partial<ClaimTiming> & { retryPollMs?: number };
    } = {},
  ) {
    this.consumer = clients.consumer;
    this.producer = clients.producer;
    this.lifecycle = clients.lifecycle;
    const log = roleLogger('worker');
    const dlqTopic = settings.topics.streamsDlq;
    recordWorkerOutcomes(this.events, { counters: this.counters, metrics: hooks.metrics, log, dlqTopic });
    const serializers = hooks.serializers ?? jsonSerializers;
    const pollMs = hooks.timing?.retryPollMs ?? RETRY_POLL.intervalMs;
    if (clients.retries)
      this.retryEmitter = this.retryEmitterOf(clients.retries, serializers, options, pollMs);
    const job = (this.job = new StreamJob(
      {
        lifecycle: this.lifecycle,
        producer: this.producer,
        serializers,
        events: this.events,
        context: this.handlerContext(log),
      },
      settings,
      options,
      { holder: randomUUID(), ...CLAIM_TIMING, ...hooks.timing },
    ));
    this.loop = new BatchLoop(job, {
      producer: this.producer,
      // The job sends its completion records itself: nothing reaches the loop's output.
      topics: { output: settings.topics.completed, dlq: dlqTopic },
      maxRecordBytes: settings.maxRecordBytes,
      chunkSize: 1,
      commitEachChunk: true,
    });
  }

  async start(): Promise<this> {
    await startConsuming(this, [this.settings.topics.streams], (payload) => this.eachBatch(payload));
    this.retryEmitter?.start();
    return this;
  }

  /** Bound, so callers may pass it around as a function. */
  readonly stop = async (): Promise<void> => {
    await this.retryEmitter?.stop();
    await stopConsuming(this);
    await this.lifecycle.close();
    // What handler kinds keep between runs (the zookeeper handler's session), once none runs:
    // those of every topology version a stream ran.
    for (const definition of this.job.handlersUsed) await definition.close?.();
  };

  /** One consumed batch (kafkajs's `eachBatch`). */
  eachBatch(payload: BatchPayload): Promise<void> {
    return this.loop.run(payload);
  }

  /** Due retries go back to `streams` as the matcher's records do: keyed by stream id, GZIP. */
  private retryEmitterOf(
    queue: RetryQueue,
    serializers: TopologySerializers,
    options: WorkerOptions,
    intervalMs: number,
  ): RetryEmitter {
    const { settings } = this;
    const limit = { maxBytes: settings.maxRecordBytes, compression: CompressionTypes.GZIP };
    return new RetryEmitter(queue, this.events, {
      partitions: Array.from({ length: settings.partitions.repartition }, (_, p) => p),
      leaseMs: options.claimTtlMs,
      intervalMs,
      send: async (record) => {
        const message = { key: record.stream_id, value: await serializers.streams.encode(record) };
        await sendAll(this.producer, settings.topics.streams, [message], limit);
      },
    });
  }

  /** Handlers log as the worker, publish through its producer and live on the wall clock. */
  private handlerContext(log: Logger): HandlerContext {
    const sendLimit = { maxBytes: this.settings.maxRecordBytes };
    return {
      logger: log,
      dryRun: false,
      publish: (topic, messages) => sendAll(this.producer, topic, messages, sendLimit),
      now: () => Date.now() * 1000,
    };
  }
}

/**
 * The lifecycle scripts on Redis. Claims and tombstones are read on one client; renewing and
 * finishing go through a pool, for its round-trip timing (they are scripts, so need no WATCH).
 */
const claimOf = (record: StreamRecord, holder: string, ttlMs: number): StreamClaim => ({
  streamId: record.stream_id,
  serial: record.serial,
  holder,
  ttlMs,
});

class RedisStreamLifecycle implements ClosableLifecycle, RetryQueue {
  private readonly redis: RedisClient;
  private readonly pool: RedisConnectionPool;

  constructor(
    redisUrl: string,
    private readonly namespace: string,
    metrics?: WinchesterMetrics,
  ) {
    const onRoundTrip = metrics && ((seconds: number) => metrics.redisSeconds.observe(seconds));
    this.pool = new RedisConnectionPool(redisUrl, 4, {}, onRoundTrip);
    this.redis = createRedisClient(redisUrl, { maxRetriesPerRequest: 20 });
  }

  readTombstone(record: StreamRecord) {
    return readTombstone(this.redis, this.keys(record), record.stream_id);
  }

  claim(record: StreamRecord, holder: string, ttlMs: number) {
    return claimStream(this.redis, this.keys(record), claimOf(record, holder, ttlMs));
  }

  renew(record: StreamRecord, holder: string, ttlMs: number) {
    return this.pool.with((c) => renewClaim(c, this.keys(record), claimOf(record, holder, ttlMs)));
  }

  finish(record: StreamRecord, to: StreamOutcome, opts: FinishOptions) {
    const { stream_id, serial } = record;
    return this.pool.with((c) => finishStream(c, this.keys(record), stream_id, serial, to, opts));
  }

  readFailedAttempts(record: StreamRecord) {
    return readFailedAttempts(this.redis, this.keys(record), record.stream_id);
  }

  scheduleRetry(record: StreamRecord, failure: FailedAttempts) {
    const { stream_id, serial } = record;
    return this.pool.with((c) => scheduleRetry(c, this.keys(record), stream_id, serial, failure));
  }

  findDue(partitions: readonly number[], now: Micros, limit: number) {
    return findDueRetries(this.redis, this.namespace, partitions, now, limit);
  }

  take(retry: DueRetry, now: Micros, leaseUntil: Micros) {
    return takeRetry(this.redis, this.partitionKeys(retry), retry.streamId, { now, leaseUntil });
  }

  record(retry: DueRetry) {
    return this.pool.with((c) => retryRecord(c, this.partitionKeys(retry), retry.streamId));
  }

  release(retry: DueRetry, leaseUntil: Micros) {
    return releaseRetry(this.redis, this.partitionKeys(retry), retry.streamId, leaseUntil);
  }

  async close(): Promise<void> {
    await this.pool.close();
    this.redis.disconnect();
  }

  private keys(record: StreamRecord): PartitionKeys {
    return new PartitionKeys(this.namespace, record.partition);
  }

  private partitionKeys({ partition }: DueRetry): PartitionKeys {
    return new PartitionKeys(this.namespace, partition);
  }
}

export interface RetryEmitterOptions {
  partitions: readonly number[];
  /** How long a taken retry stays this worker's before another may take it (a dead worker's comes due again). */
  leaseMs: number;
  intervalMs: number;
  /** Produces a stream record to `streams` (acknowledged). */
  send(record: StreamRecord): Promise<void>;
}

/**
 * Every worker's look for due retries, every `intervalMs`: each one found is taken (leased),
 * its stream record rebuilt from Redis and produced to `streams` again, then released. The
 * worker of the record's partition runs it like any record; a duplicate (two workers, or a
 * lease that ran out) is a stale or already-claimed record there, never a second run.
 */
export class RetryEmitter {
  private timer?: NodeJS.Timeout;
  private turn?: Promise<void>;
  private stopped = false;
  private failing = false;

  constructor(
    private readonly queue: RetryQueue,
    private readonly events: RoleEvents<WorkerOutcomes>,
    private readonly options: RetryEmitterOptions,
  ) {}

  start(): void {
    this.stopped = false;
    this.timer ??= setInterval(() => {
      this.turn ??= this.emitDue().finally(() => (this.turn = undefined));
    }, this.options.intervalMs);
  }

  /** No turn starts after this; resolves once the turn in flight has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.turn;
  }

  /**
   * One turn. Never throws: a failure is reported (once, until a turn succeeds again: Redis
   * down would otherwise report four times a second), and the next turn tries again.
   */
  async emitDue(): Promise<void> {
    try {
      const now = Date.now() * 1000;
      const due = await this.queue.findDue(this.options.partitions, now, RETRY_POLL.perPartition);
      for (const retry of due) {
        if (this.stopped) return;
        await this.emit(retry, now);
      }
      this.failing = false;
    } catch (error) {
      if (!this.failing) this.events.emit('retryEmitFailed', { error });
      this.failing = true;
    }
  }

  private async emit(retry: DueRetry, now: Micros): Promise<void> {
    const leaseUntil = now + this.options.leaseMs * 1000;
    if (!(await this.queue.take(retry, now, leaseUntil))) return;
    const record = await this.queue.record(retry);
    if (record) await this.options.send(record);
    await this.queue.release(retry, leaseUntil);
    if (record) this.events.emit('retryEmitted', { record });
  }
}

interface WorkerRecorders {
  counters: WorkerCounters;
  metrics?: WinchesterMetrics;
  log: Logger;
  dlqTopic: string;
}

/** The worker's counters, metrics and log lines, each fed by the outcomes it records. */
export function recordWorkerOutcomes(events: RoleEvents<WorkerOutcomes>, recorders: WorkerRecorders): void {
  const { counters, metrics, log, dlqTopic } = recorders;
  const about = (r: StreamRecord) => ({ trigger: r.trigger, stream_id: r.stream_id, serial: r.serial });
  events
    .on('undecodable', ({ source, error }) => {
      metrics?.dlqRecords.inc({ topic: dlqTopic, reason: DLQ_REASON.undecodableStreamRecord });
      const { topic, partition, message } = source;
      const where = { topic, partition, offset: message.offset };
      log.warn(
        { stream_id: message.key?.toString(), ...where, reason: shortReason(error) },
        'undecodable stream record sent to the DLQ',
      );
    })
    .on('reannounced', ({ record }) => {
      counters.duplicatesSkipped++;
      log.debug(about(record), 'stream already finished: completion announced again');
    })
    .on('skipped', ({ record, why }) => {
      counters.duplicatesSkipped++;
      metrics?.duplicateStreamRecords.inc();
      log.debug(
        about(record),
        why === 'not-runnable'
          ? 'duplicate or stale stream record skipped'
          : 'stream moved on while its pipeline ran: outcome dropped',
      );
    })
    .on('pipelineUndefined', ({ record, pipeline, version }) => {
      log.warn(
        { ...about(record), pipeline, pipeline_version: version },
        'the stream names a pipeline its topology version does not define: completed with nothing run',
      );
    })
    .on('ran', ({ run }) => recordRun(run, recorders))
    .on('heldBack', ({ record, event, hops }) => {
      counters.loopGuardDropped++;
      metrics?.loopGuardDropped.inc();
      log.error(
        { trigger: record.trigger, stream_id: record.stream_id, message_id: event.message_id, hops },
        'loop guard: new event not produced (too many pipeline generations)',
      );
    })
    .on('newEventsSent', ({ count }) => {
      counters.newEvents += count;
      metrics?.newEvents.inc(count);
    })
    .on('finished', (finished) => recordFinished(finished, recorders))
    .on('retryScheduled', (scheduled) => recordRetryScheduled(scheduled, recorders))
    .on('exhausted', ({ record, failure }) => {
      counters.retriesExhausted++;
      metrics?.pipelineRetriesExhausted.inc({ pipeline: record.pipeline ?? '(none)' });
      log.error(
        { ...about(record), pipeline: record.pipeline, attempts: failure.attempts, handler: failure.handler },
        'pipeline failed its last attempt: stream in error',
      );
    })
    .on('retryEmitted', ({ record }) => {
      counters.retriesEmitted++;
      log.debug(about(record), 'due retry produced to streams again');
    })
    .on('retryEmitFailed', ({ error }) => {
      log.warn({ reason: shortReason(error) }, 'producing due retries failed: trying again');
    });
}

function recordRetryScheduled(
  { record, failure, seconds }: WorkerOutcomes['retryScheduled'],
  { counters, metrics, log }: WorkerRecorders,
): void {
  const pipeline = record.pipeline ?? '(none)';
  counters.retriesScheduled++;
  counters.pipelineSeconds.push(seconds);
  metrics?.pipelineRetries.inc({ pipeline });
  metrics?.pipelineSeconds.observe({ pipeline }, seconds);
  log.warn(
    {
      trigger: record.trigger,
      stream_id: record.stream_id,
      pipeline: record.pipeline,
      pipeline_version: failure.pipeline_version,
      attempt: failure.attempts,
      handler: failure.handler,
      error: failure.error,
      retry_at: formatMicros(failure.retry_at!),
    },
    'pipeline failed: retry scheduled',
  );
}

/** Handler times and failed commits of a run, whether it completed or failed. */
function recordRun(run: StreamRun, { counters, metrics }: WorkerRecorders): void {
  for (const { handler, seconds } of run.handlerSeconds) {
    let samples = counters.handlerSeconds.get(handler);
    if (!samples) counters.handlerSeconds.set(handler, (samples = new RecentSamples()));
    samples.push(seconds);
    metrics?.handlerSeconds.observe({ handler }, seconds);
  }
  counters.commitFailures += run.commitFailures.length;
  for (const failure of run.commitFailures) metrics?.commitFailures.inc({ handler: failure.handler });
}

function recordFinished(
  { record, run, newEvents, seconds }: WorkerOutcomes['finished'],
  { counters, metrics, log }: WorkerRecorders,
): void {
  const logged = {
    trigger: record.trigger,
    stream_id: record.stream_id,
    kind: record.kind,
    pipeline: record.pipeline,
    pipeline_version: record.pipeline_version,
    events: record.events.length,
    new_events: newEvents,
    seconds,
  };
  if (run.outcome === 'completed') {
    tally(counters.streamsCompleted, record.trigger);
    metrics?.streamsCompleted.inc({ trigger: record.trigger });
    log.debug(logged, 'pipeline completed');
  } else {
    metrics?.streamsErrored.inc({ trigger: record.trigger });
    tally(counters.streamsErrored, record.trigger);
    log.warn({ ...logged, handler: run.failedHandler, error: run.error }, 'pipeline failed');
  }
  counters.pipelineSeconds.push(seconds);
  metrics?.pipelineSeconds.observe({ pipeline: record.pipeline ?? '(none)' }, seconds);
}
