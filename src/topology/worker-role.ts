import { randomUUID } from 'node:crypto';
import { EachBatchPayload, Kafka, Message } from 'kafkajs';
import { createRedisClient } from '../redis/client';
import { EventSerializer, jsonEventSerializer } from './serialization';
import { HandlerContext, HandlerDefinition, PipelineEnv } from '../pipeline/handler';
import { PipelineStep, runPipeline } from '../pipeline/runner';
import { RedisConnectionPool } from '../redis/connection-pool';
import { PartitionKeys } from '../redis/keys';
import { claimStream, finishStream, readTombstone, renewClaim } from '../redis/lifecycle';
import { StreamRecord } from '../streams/model';
import { roleLogger } from '../util/logger';
import { RecentSamples } from '../util/recent-samples';
import { deadLetter, decodeStreamRecord, shortReason } from './records';
import { createRoleConsumer, createProducer, disconnectAll, sendAll } from './role-runner';
import { TopologySettings } from './settings';
import { WinchesterMetrics } from '../metrics/metrics';

export interface WorkerOptions {
  pipelines: ReadonlyMap<string, PipelineStep[]>;
  handlers: ReadonlyMap<string, HandlerDefinition>;
  purgeCompletedStreams: boolean;
  handlerTimeoutMs: number;
  claimTtlMs: number;
  /** Loop guard: new events more pipeline generations deep than this are not produced. */
  maxHops: number;
}

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

export interface CompletionRecord {
  stream_id: string;
  trigger: string;
  kind: StreamRecord['kind'];
  pipeline: string | null;
  serial: number;
  outcome: 'completed' | 'error' | 'expire_error';
  message_ids: string[];
  new_event_ids: string[];
  error?: string;
}

const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

class StalePartitionError extends Error {
  constructor() {
    super('the streams partition was reassigned while the pipeline ran');
  }
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
  serializer: EventSerializer = jsonEventSerializer,
) {
  const log = roleLogger('worker');
  // Produce requests stay within the record limit the topics are sized for.
  const sendLimit = { maxBytes: settings.maxRecordBytes };
  const holder = randomUUID();
  const counters: WorkerCounters = {
    streamsCompleted: new Map(),
    streamsErrored: new Map(),
    duplicatesSkipped: 0,
    commitFailures: 0,
    newEvents: 0,
    loopGuardDropped: 0,
    pipelineSeconds: new RecentSamples(),
    handlerSeconds: new Map(),
  };
  // Finishing and renewing are scripts (no WATCH): the pool is here for its round-trip timing.
  const pool = new RedisConnectionPool(
    redisUrl,
    4,
    {},
    metrics && ((seconds) => metrics.redisSeconds.observe(seconds)),
  );
  const redis = createRedisClient(redisUrl, { maxRetriesPerRequest: 20 });
  const producer = createProducer(kafka);
  await producer.connect();
  const consumer = createRoleConsumer(kafka, settings, 'worker', metrics);
  await consumer.connect();
  await consumer.subscribe({ topics: [settings.topics.streams], fromBeginning: true });
  const context: HandlerContext = {
    logger: log,
    dryRun: false,
    publish: (topic, messages) => sendAll(producer, topic, messages, sendLimit),
    now: () => Date.now() * 1000,
  };
  const publishCompletion = (c: CompletionRecord) =>
    sendAll(producer, settings.topics.completed, [{ key: c.stream_id, value: JSON.stringify(c) }], sendLimit);

  const handleRecord = async (record: StreamRecord, payload: EachBatchPayload): Promise<'done' | 'stale'> => {
    const keys = new PartitionKeys(settings.namespace, record.partition);
    const tombstone = await readTombstone(redis, keys, record.stream_id);
    if (tombstone && tombstone.serial === record.serial + 1) {
      // Finished before a crash kept its offset from being committed: re-announce, run nothing.
      await publishCompletion(JSON.parse(tombstone.outcome) as CompletionRecord);
      counters.duplicatesSkipped++;
      log.debug(
        { trigger: record.trigger, stream_id: record.stream_id, serial: record.serial },
        'stream already finished: completion announced again',
      );
      return 'done';
    }
    for (;;) {
      const claim = await claimStream(
        redis,
        keys,
        record.stream_id,
        record.serial,
        holder,
        options.claimTtlMs,
      );
      if (claim === 'claimed') break;
      if (claim === 'not-runnable') {
        counters.duplicatesSkipped++;
        metrics?.duplicateStreamRecords.inc();
        log.debug(
          { trigger: record.trigger, stream_id: record.stream_id, serial: record.serial },
          'duplicate or stale stream record skipped',
        );
        return 'done';
      }
      // A live claim elsewhere: that worker finishes it, or its claim lapses and we take over.
      if (payload.isStale() || !payload.isRunning()) return 'stale';
      await payload.heartbeat();
      await new Promise((r) => setTimeout(r, 250));
    }
    const keepAlive = setInterval(() => {
      payload.heartbeat().catch(() => undefined);
      pool
        .with((c) => renewClaim(c, keys, record.stream_id, record.serial, holder, options.claimTtlMs))
        .catch(() => undefined);
    }, 1000);
    const started = process.hrtime.bigint();
    try {
      const steps = record.pipeline ? options.pipelines.get(record.pipeline) : undefined;
      const env: PipelineEnv = {
        stream_id: record.stream_id,
        stream_name: record.trigger,
        state_serial: record.serial,
        trigger: record.trigger,
        kind: record.kind,
      };
      const run = steps
        ? await runPipeline(steps, options.handlers, record.events, env, context, {
            handlerTimeoutMs: options.handlerTimeoutMs,
            beforeEachHandler: async () => {
              if (payload.isStale()) throw new StalePartitionError();
            },
          })
        : { ok: true, newEvents: [], commitFailures: [], handlerSeconds: [] };
      if (!run.ok && run.error instanceof StalePartitionError) return 'stale';
      for (const { handler, seconds } of run.handlerSeconds) {
        let samples = counters.handlerSeconds.get(handler);
        if (!samples) counters.handlerSeconds.set(handler, (samples = new RecentSamples()));
        samples.push(seconds);
        metrics?.handlerSeconds.observe({ handler }, seconds);
      }
      counters.commitFailures += run.commitFailures.length;
      for (const failure of run.commitFailures) metrics?.commitFailures.inc({ handler: failure.handler });
      const hops = Math.max(0, ...record.events.map((e) => e.hops ?? 0)) + 1;
      const fresh: Message[] = [];
      for (const event of run.newEvents) {
        if (hops > options.maxHops) {
          counters.loopGuardDropped++;
          metrics?.loopGuardDropped.inc();
          log.error(
            { trigger: record.trigger, stream_id: record.stream_id, message_id: event.message_id, hops },
            'loop guard: new event not produced (too many pipeline generations)',
          );
          continue;
        }
        fresh.push({ key: event.message_id, value: await serializer.encode({ ...event, hops }) });
      }
      await sendAll(producer, settings.topics.events, fresh, sendLimit);
      counters.newEvents += fresh.length;
      metrics?.newEvents.inc(fresh.length);
      const outcome = run.ok ? 'completed' : record.kind === 'expired' ? 'expire_error' : 'error';
      const completion: CompletionRecord = {
        stream_id: record.stream_id,
        trigger: record.trigger,
        kind: record.kind,
        pipeline: record.pipeline,
        serial: record.serial,
        outcome,
        message_ids: record.events.map((e) => e.message_id),
        new_event_ids: run.newEvents.map((e) => e.message_id),
        ...(run.ok ? {} : { error: `${run.failedHandler}: ${run.error?.message}` }),
      };
      const finished = await pool.with((c) =>
        finishStream(c, keys, record.stream_id, record.serial, outcome, {
          purge: options.purgeCompletedStreams,
          tombstoneSeconds: settings.seenRetentionSeconds,
          outcome: JSON.stringify(completion),
        }),
      );
      if (finished === 'stale') {
        counters.duplicatesSkipped++;
        metrics?.duplicateStreamRecords.inc();
        log.debug(
          { trigger: record.trigger, stream_id: record.stream_id, serial: record.serial },
          'stream moved on while its pipeline ran: outcome dropped',
        );
        return 'done';
      }
      await publishCompletion(completion);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const logged = {
        trigger: record.trigger,
        stream_id: record.stream_id,
        kind: record.kind,
        pipeline: record.pipeline,
        events: record.events.length,
        new_events: fresh.length,
        seconds,
      };
      if (run.ok) {
        bump(counters.streamsCompleted, record.trigger);
        metrics?.streamsCompleted.inc({ trigger: record.trigger });
        log.debug(logged, 'pipeline completed');
      } else {
        metrics?.streamsErrored.inc({ trigger: record.trigger });
        bump(counters.streamsErrored, record.trigger);
        log.warn({ ...logged, handler: run.failedHandler, error: completion.error }, 'pipeline failed');
      }
      counters.pipelineSeconds.push(seconds);
      metrics?.pipelineSeconds.observe({ pipeline: record.pipeline ?? '(none)' }, seconds);
      return 'done';
    } finally {
      clearInterval(keepAlive);
    }
  };

  await consumer.run({
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 3,
    eachBatch: async (payload) => {
      for (const message of payload.batch.messages) {
        if (!payload.isRunning() || payload.isStale()) return;
        let record: StreamRecord;
        try {
          record = decodeStreamRecord(message.value!);
        } catch (error) {
          // With its source in the headers, so `dlq redrive` can put it back once mended.
          await sendAll(producer, settings.topics.streamsDlq, [
            deadLetter(
              { topic: payload.batch.topic, partition: payload.batch.partition, message },
              `undecodable stream record: ${(error as Error).message}`,
              {},
              settings.maxRecordBytes,
            ),
          ]);
          metrics?.dlqRecords.inc({ topic: settings.topics.streamsDlq, reason: 'undecodable stream record' });
          log.warn(
            {
              stream_id: message.key?.toString(),
              topic: payload.batch.topic,
              partition: payload.batch.partition,
              offset: message.offset,
              reason: shortReason(error),
            },
            'undecodable stream record sent to the DLQ',
          );
          payload.resolveOffset(message.offset);
          continue;
        }
        if ((await handleRecord(record, payload)) === 'stale') return;
        payload.resolveOffset(message.offset);
        await payload.commitOffsetsIfNecessary();
        await payload.heartbeat();
      }
    },
  });

  return {
    counters,
    consumer,
    stop: async () => {
      await consumer.stop();
      await disconnectAll(consumer, producer);
      await pool.close();
      redis.disconnect();
    },
  };
}
