import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { Consumer, Kafka, Producer } from 'kafkajs';
import { DLQ_REASON, WinchesterMetrics } from '../metrics/metrics';
import { HandlerContext, HandlerDefinition } from '../pipeline/handler';
import { StreamOutcome, StreamRun } from '../pipeline/stream-run';
import { createRedisClient } from '../redis/client';
import { RedisConnectionPool } from '../redis/connection-pool';
import { PartitionKeys } from '../redis/keys';
import { claimStream, finishStream, readTombstone, renewClaim, StreamClaim } from '../redis/lifecycle';
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

/** The pipelines and handlers to run, the loop guard (`maxHops`), claims and purging. */
export type WorkerOptions = StreamJobOptions;

export interface WorkerCounters {
  streamsCompleted: Map<string, number>;
  streamsErrored: Map<string, number>;
  duplicatesSkipped: number;
  commitFailures: number;
  newEvents: number;
  loopGuardDropped: number;
  /** Recent pipeline (claim → transition) and handler durations, for in-process percentiles. */
  pipelineSeconds: RecentSamples;
  handlerSeconds: Map<string, RecentSamples>;
}

/** A claim is renewed every second while its stream runs; one held elsewhere is tried again every 250 ms. */
const CLAIM_TIMING = { renewEveryMs: 1000, claimRetryMs: 250 };

/** The lifecycle scripts on Redis, and what closes their connections. */
export interface ClosableLifecycle extends StreamLifecycle {
  close(): Promise<void>;
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
  const clients = {
    lifecycle: new RedisStreamLifecycle(redisUrl, settings.namespace, metrics),
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
    pipelineSeconds: new RecentSamples(),
    handlerSeconds: new Map(),
  };
  readonly events = new RoleEvents<WorkerOutcomes>();
  readonly consumer: Consumer;
  readonly producer: Producer;
  private readonly lifecycle: ClosableLifecycle;
  private readonly loop: BatchLoop<StreamRecord>;
  private readonly handlers: ReadonlyMap<string, HandlerDefinition>;

  constructor(
    clients: { consumer: Consumer; producer: Producer; lifecycle: ClosableLifecycle },
    private readonly settings: TopologySettings,
    options: WorkerOptions,
    hooks: {
      metrics?: WinchesterMetrics;
      serializers?: TopologySerializers;
      timing?: Partial<ClaimTiming>;
    } = {},
  ) {
    this.consumer = clients.consumer;
    this.producer = clients.producer;
    this.lifecycle = clients.lifecycle;
    this.handlers = options.handlers;
    const log = roleLogger('worker');
    const dlqTopic = settings.topics.streamsDlq;
    recordWorkerOutcomes(this.events, { counters: this.counters, metrics: hooks.metrics, log, dlqTopic });
    const job = new StreamJob(
      {
        lifecycle: this.lifecycle,
        producer: this.producer,
        serializers: hooks.serializers ?? jsonSerializers,
        events: this.events,
        context: this.handlerContext(log),
      },
      settings,
      options,
      { holder: randomUUID(), ...CLAIM_TIMING, ...hooks.timing },
    );
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
    return this;
  }

  /** Bound, so callers may pass it around as a function. */
  readonly stop = async (): Promise<void> => {
    await stopConsuming(this);
    await this.lifecycle.close();
    // What handler kinds keep between runs (the zookeeper handler's session), once none runs.
    for (const definition of new Set(this.handlers.values())) await definition.close?.();
  };

  /** One consumed batch (kafkajs's `eachBatch`). */
  eachBatch(payload: BatchPayload): Promise<void> {
    return this.loop.run(payload);
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

class RedisStreamLifecycle implements ClosableLifecycle {
  private readonly redis: Redis;
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

  async close(): Promise<void> {
    await this.pool.close();
    this.redis.disconnect();
  }

  private keys(record: StreamRecord): PartitionKeys {
    return new PartitionKeys(this.namespace, record.partition);
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
    .on('finished', (finished) => recordFinished(finished, recorders));
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
