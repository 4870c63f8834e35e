import { CompressionTypes, Consumer, EachBatchPayload, Kafka, Message, Producer } from 'kafkajs';
import { createRedisClient } from '../redis/client';
import Redlock, { Lock } from 'redlock';
import { EventSerializer, jsonEventSerializer } from './serialization';
import { RedisConnectionPool } from '../redis/connection-pool';
import { MatchedEvent, StreamRecord } from '../streams/model';
import { PartitionProcessor } from '../streams/processor';
import { LostOwnershipError } from '../redis/errors';
import { checkPartitionCount, RedisPartitionStore } from '../redis/partition-store';
import { TriggerRuntime } from '../streams/trigger-runtime';
import { Micros } from '../time/micros';
import { roleLogger } from '../util/logger';
import { BatchLoop } from './batch-loop';
import { EventRouter, EventRouterOutcomes, recordEventRouterOutcomes } from './event-router';
import { deadLetter, decodeRepartition, encodeStreamRecord } from './records';
import { RoleEvents } from './role-events';
import { createRoleConsumer, createProducer, disconnectAll, messageBytes, sendAll } from './role-runner';
import { TopologySettings } from './settings';
import { partitionCount } from './topics';
import { WinchesterMetrics } from '../metrics/metrics';
import { reportTriggerDebugging } from '../metrics/trigger-debug';
import { ProcessorStats } from '../streams/processor';

export interface MatcherCounters {
  eventsConsumed: number;
  unmatched: number;
  matched: Map<string, number>;
  dlq: Map<string, number>;
  lockRetries: Map<string, number>;
  streamsTooLarge: number;
  reemitted: number;
}

interface OwnedPartition {
  store: RedisPartitionStore;
  processor: PartitionProcessor;
  claimed: boolean;
  /** Records at or below this offset are already in Redis (applied before a crash). */
  appliedUpTo: bigint | null;
  clock: Micros | null;
  lease?: Lock;
  /** Serialises stage 2 and the timer loop on one partition. */
  exclusive: Promise<unknown>;
}

function runExclusive<T>(st: OwnedPartition, fn: () => Promise<T>): Promise<T> {
  const run = st.exclusive.then(fn, fn);
  st.exclusive = run.catch(() => undefined);
  return run;
}

export interface MatcherRole {
  counters: MatcherCounters;
  owned: ReadonlyMap<number, OwnedPartition>;
  consumer: Consumer;
  stop(): Promise<void>;
}

const bump = (map: Map<string, number>, key: string, by = 1) => map.set(key, (map.get(key) ?? 0) + by);
const nowMicros = () => Date.now() * 1000;

/**
 * Matcher role, one consumer group with two stages:
 *  1. `events` → every trigger's match → one repartition record per (event, trigger), keyed
 *     by stream key (and, under the event clock, watermark markers to every partition);
 *  2. repartition partition p → stream state in Redis (WATCH/MULTI, fenced by p's owner
 *     epoch), timers of p → `streams`.
 */
export async function startMatcher(
  kafka: Kafka,
  redisUrl: string,
  settings: TopologySettings,
  triggers: TriggerRuntime[],
  metrics?: WinchesterMetrics,
  serializer: EventSerializer = jsonEventSerializer,
): Promise<MatcherRole> {
  const log = roleLogger('matcher');
  // Produce requests stay within the record limit the topics are sized for.
  const sendLimit = { maxBytes: settings.maxRecordBytes };
  const triggerMap = new Map(triggers.map((t) => [t.name, t]));
  const counters: MatcherCounters = {
    eventsConsumed: 0,
    unmatched: 0,
    matched: new Map(),
    dlq: new Map(),
    lockRetries: new Map(),
    streamsTooLarge: 0,
    reemitted: 0,
  };
  const admin = kafka.admin();
  await admin.connect();
  const sourceCount = await partitionCount(admin, settings.topics.events);
  const repartitionCount = await partitionCount(admin, settings.topics.repartition);
  await admin.disconnect();

  const control = createRedisClient(redisUrl, { maxRetriesPerRequest: 20 });
  await checkPartitionCount(control, settings.namespace, repartitionCount);
  const redlock = new Redlock([control], { retryCount: 0 });
  redlock.on('error', () => undefined); // a lease held elsewhere is expected during rebalances
  const pool = new RedisConnectionPool(
    redisUrl,
    settings.redisPoolSize,
    {},
    metrics && ((seconds) => metrics.redisSeconds.observe(seconds)),
  );

  const producer: Producer = createProducer(kafka);
  await producer.connect();
  const consumer = createRoleConsumer(kafka, settings, 'matcher', metrics);
  await consumer.connect();
  await consumer.subscribe({
    topics: [settings.topics.events, settings.topics.repartition],
    fromBeginning: true,
  });

  const owned = new Map<number, OwnedPartition>();
  // Stream records have a producer of their own, so timers never queue behind stage 1's sends.
  const streamProducer: Producer = createProducer(kafka);
  await streamProducer.connect();
  const emit = async (records: StreamRecord[]) => {
    const messages: Message[] = [];
    const tooLarge: Message[] = [];
    for (const record of records) {
      log.debug(
        {
          trigger: record.trigger,
          stream_id: record.stream_id,
          serial: record.serial,
          events: record.events.length,
        },
        record.kind === 'fired' ? 'stream fired' : 'stream expired',
      );
      const message: Message = { key: record.stream_id, value: encodeStreamRecord(record) };
      if (messageBytes(message) <= settings.maxRecordBytes) {
        messages.push(message);
        continue;
      }
      // Too large for the topic even compressed: an error with a DLQ record, never a stuck partition.
      counters.streamsTooLarge++;
      metrics?.streamsTooLarge.inc();
      const { events, ...meta } = record;
      tooLarge.push({
        key: record.stream_id,
        value: JSON.stringify({
          ...meta,
          event_count: events.length,
          message_ids: events.map((e) => e.message_id),
        }),
        headers: { 'dlq.reason': 'stream record too large', 'dlq.bytes': String(messageBytes(message)) },
      });
    }
    await sendAll(streamProducer, settings.topics.streamsDlq, tooLarge, sendLimit);
    await sendAll(streamProducer, settings.topics.streams, messages, {
      ...sendLimit,
      compression: CompressionTypes.GZIP,
    });
  };
  const recordStat = (trigger: string, field: keyof ProcessorStats, by: number) => {
    if (!metrics) return;
    const metric = {
      streamsOpened: metrics.streamsOpened,
      streamsFired: metrics.streamsFired,
      streamsExpired: metrics.streamsExpired,
      duplicatesIgnored: metrics.duplicateEvents,
      eventsApplied: undefined,
    }[field];
    metric?.inc({ trigger }, by);
  };
  const ownedPartition = (p: number): OwnedPartition => {
    let st = owned.get(p);
    if (!st) {
      const store = new RedisPartitionStore(p, pool, {
        namespace: settings.namespace,
        seenRetentionSeconds: settings.seenRetentionSeconds,
        maxAttempts: 50,
        onConflict: (trigger) => {
          bump(counters.lockRetries, trigger);
          metrics?.lockRetries.inc({ trigger });
        },
      });
      st = {
        store,
        processor: new PartitionProcessor(store, triggerMap, settings.clock, emit, 8, recordStat),
        claimed: false,
        appliedUpTo: null,
        clock: null,
        exclusive: Promise.resolve(),
      };
      owned.set(p, st);
    }
    return st;
  };

  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const assigned = new Set(payload.memberAssignment[settings.topics.repartition] ?? []);
    for (const [p, st] of owned) {
      if (!assigned.has(p)) {
        owned.delete(p);
        st.lease?.release().catch(() => undefined);
      } else {
        // Another instance may have owned it in between: claim again (new epoch, stored offset).
        st.claimed = false;
      }
    }
    log.info({ repartition: [...assigned] }, 'assignment');
  });

  const claim = async (p: number, st: OwnedPartition) => {
    const stored = await st.store.claim();
    st.claimed = true;
    st.appliedUpTo = stored === null ? null : BigInt(stored);
    st.clock = settings.clock === 'event' ? await st.store.readClock() : null;
    counters.reemitted += await st.processor.reemitPending();
    log.info({ partition: p, epoch: st.store.ownerEpoch, appliedUpTo: stored }, 'claimed partition');
  };

  // debug_level statistics of the checks stage 1 (Match) and the stream engine (Fire) make.
  const debugReporting = reportTriggerDebugging(triggers, {
    log,
    metrics,
    periodMs: settings.statisticsPeriodMs,
  });

  const routerEvents = new RoleEvents<EventRouterOutcomes>();
  recordEventRouterOutcomes(routerEvents, { counters, metrics, log, dlqTopic: settings.topics.eventsDlq });
  const stage1 = new BatchLoop(
    new EventRouter(routerEvents, settings, triggers, serializer, repartitionCount),
    {
      producer,
      topics: { output: settings.topics.repartition, dlq: settings.topics.eventsDlq },
      maxRecordBytes: settings.maxRecordBytes,
    },
  );

  const stage2 = async (payload: EachBatchPayload) => {
    const st = ownedPartition(payload.batch.partition);
    await runExclusive(st, () => applyRepartitionBatch(st, payload));
  };

  const applyRepartitionBatch = async (
    st: OwnedPartition,
    { batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload,
  ) => {
    const p = batch.partition;
    try {
      if (!st.claimed) {
        await claim(p, st);
        const first = BigInt(batch.firstOffset() ?? '0');
        if (st.appliedUpTo !== null && st.appliedUpTo + 1n < first) {
          // Redis is behind the committed offset (e.g. lost its last second of AOF): replay from Redis's.
          consumer.seek({ topic: batch.topic, partition: p, offset: String(st.appliedUpTo + 1n) });
          return;
        }
        if (settings.clock === 'event' && st.clock !== null) await st.processor.runTimers(st.clock);
      }
      let segment: MatchedEvent[] = [];
      // Consecutive clock records are coalesced: one clock update and one timer run for a
      // run of markers is the same as one per marker, since no event falls between them.
      const marks = new Map<number, Micros>();
      let floor: Micros | null = null;
      let lastOffset: string | null = null;
      const applySegment = async () => {
        if (segment.length === 0) return;
        const now = settings.clock === 'wall' ? nowMicros() : (st.clock ?? segment[0].event.timestamp);
        await st.processor.apply(segment, now);
        segment = [];
      };
      const applyClock = async () => {
        if (marks.size === 0 && floor === null) return;
        if (marks.size) st.clock = await st.store.recordWatermarks(marks, sourceCount);
        if (floor !== null) st.clock = await st.store.advanceClock(floor, sourceCount);
        marks.clear();
        floor = null;
        if (st.clock !== null) await st.processor.runTimers(st.clock);
      };
      const flush = async () => {
        await applySegment();
        await applyClock();
        if (lastOffset !== null) {
          await st.store.storeOffset(lastOffset);
          resolveOffset(lastOffset);
          await heartbeat();
        }
      };
      for (const message of batch.messages) {
        if (!isRunning() || isStale()) break;
        const offset = BigInt(message.offset);
        if (st.appliedUpTo !== null && offset <= st.appliedUpTo) {
          resolveOffset(message.offset);
          continue;
        }
        let record;
        try {
          record = decodeRepartition(message.value);
        } catch (error) {
          await sendAll(producer, settings.topics.eventsDlq, [
            deadLetter(
              { topic: batch.topic, partition: p, message },
              (error as Error).message,
              {},
              settings.maxRecordBytes,
            ),
          ]);
          bump(counters.dlq, 'undecodable repartition record');
          lastOffset = message.offset;
          continue;
        }
        if (record.type === 'event') {
          // Events after a clock move see the timers that move ran.
          await applyClock();
          segment.push(record.matched);
        } else if (settings.clock === 'event') {
          await applySegment();
          if (record.type === 'marker') {
            marks.set(record.source, Math.max(record.watermark, marks.get(record.source) ?? -Infinity));
          } else {
            floor = Math.max(record.to, floor ?? -Infinity);
          }
        }
        lastOffset = message.offset;
        if (segment.length >= 1000) await flush();
      }
      await flush();
    } catch (error) {
      if (error instanceof LostOwnershipError) {
        // Fenced out: another instance owns p now; leave the batch unresolved for it.
        st.claimed = false;
        log.warn({ partition: p }, error.message);
        return;
      }
      throw error;
    }
  };

  await consumer.run({
    eachBatchAutoResolve: false,
    // Every partition of both stages at once: kafkajs fetches again only when a fetch's
    // batches are all handled, so a slow stage-2 batch must not hold stage 1's back.
    partitionsConsumedConcurrently: sourceCount + repartitionCount,
    eachBatch: async (payload) => {
      if (payload.batch.topic === settings.topics.events) await stage1.run(payload);
      else await stage2(payload);
    },
  });

  // The owner of each partition drives its timers (wall clock) under a redlock lease, and
  // re-emits records never acknowledged or reset for retry (both clocks).
  let ticks = 0;
  // Gauges and re-emission of unacknowledged or reset records run every ~5 s.
  const slowEvery = Math.max(1, Math.round(5000 / settings.timerIntervalMs));
  const updateGauges = async () => {
    let active = 0;
    let lag = 0;
    for (const st of owned.values()) {
      if (!st.claimed) continue;
      const stats = await st.store.timerStats();
      active += stats.active;
      const now = settings.clock === 'wall' ? nowMicros() : st.clock;
      if (stats.oldestDue !== null && now !== null && stats.oldestDue < now) {
        lag = Math.max(lag, (now - stats.oldestDue) / 1e6);
      }
    }
    metrics?.activeStreams.set(active);
    metrics?.timerLag.set(lag);
  };
  let timersRunning = false;
  const timerLoop = setInterval(() => {
    if (timersRunning) return;
    timersRunning = true;
    ticks++;
    (async () => {
      if (metrics && ticks % slowEvery === 0) await updateGauges();
      for (const [p, st] of owned) {
        if (!st.claimed) continue;
        try {
          st.lease = st.lease
            ? await st.lease.extend(5000)
            : await redlock.acquire([st.store.keys.lease], 5000);
        } catch {
          st.lease = undefined;
          continue;
        }
        try {
          await runExclusive(st, async () => {
            if (!st.claimed) return;
            if (settings.clock === 'wall') await st.processor.runTimers(nowMicros());
            if (ticks % slowEvery === 0) {
              const again = await st.processor.reemitPending();
              counters.reemitted += again;
              metrics?.reemitted.inc(again);
            }
          });
        } catch (error) {
          if (error instanceof LostOwnershipError) st.claimed = false;
          else log.error({ err: error, partition: p }, 'timer run failed');
        }
      }
    })()
      .catch((error: unknown) => log.error({ err: error }, 'timer loop failed'))
      .finally(() => (timersRunning = false));
  }, settings.timerIntervalMs);

  return {
    counters,
    owned,
    consumer,
    stop: async () => {
      clearInterval(timerLoop);
      debugReporting.stop();
      await consumer.stop();
      await disconnectAll(consumer, producer, streamProducer);
      for (const st of owned.values()) await st.lease?.release().catch(() => undefined);
      await pool.close();
      control.disconnect();
    },
  };
}
