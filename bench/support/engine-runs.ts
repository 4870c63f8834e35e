/**
 * The measured runs of `npm run bench:engine`, on the real broker and Redis; `npm run
 * bench:latency` measures its peak with topologyRun. Rates are counted from the start of the
 * run (consumer-group joins included) to the last record out.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Kafka, Message, Producer } from 'kafkajs';
import { TopologySettings } from '../../src/config/topology-settings';
import { loadWinchesterConfig } from '../../src/config/winchester-config';
import { END_OF_TIME } from '../../src/streams/simulate';
import { LoadedTopology, loadTopology } from '../../src/topology/bundle';
import { startDistiller } from '../../src/topology/distiller-role';
import { advanceEventClock } from '../../src/topology/event-clock';
import { startMatcher } from '../../src/topology/matcher-role';
import { notificationKey } from '../../src/topology/records';
import { produceAll } from '../../src/topology/role-runner';
import { ensureTopicsOnce } from '../../src/topology/topics';
import { startWorker } from '../../src/topology/worker-role';
import { corpusNotification, notificationTime, repoRoot } from '../support';
import { FireLatencyProbe } from './fire-latency';
import { namespaceMemory, NamespaceMemory, usedMemory } from './redis-memory';
import { latencySummary, LatencySummary } from './stats';
import { createRedisClient } from '../../src/redis/client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);

async function until(done: () => boolean): Promise<void> {
  while (!done()) await sleep(20);
}

/** Notification lines keyed as the `produce` command keys them. */
const keyedLines = (lines: string[]): Message[] =>
  lines.map((value) => ({ key: notificationKey(value), value }));

async function createTopics(kafka: Kafka, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: topics.map((topic) => ({ topic, numPartitions: 3 })),
    waitForLeaders: true,
  });
  await admin.disconnect();
}

/** A consumer group that produces every record of `from` to `to` as it is (batches, chunks of 500). */
async function startBatchRelay(
  kafka: Kafka,
  producer: Producer,
  from: string,
  to: string,
  relayed: (n: number) => void,
) {
  const consumer = kafka.consumer({ groupId: `${from}.relay` });
  await consumer.connect();
  await consumer.subscribe({ topic: from, fromBeginning: true });
  await consumer.run({
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      for (let s = 0; s < batch.messages.length; s += 500) {
        const chunk = batch.messages.slice(s, s + 500);
        await producer.send({
          topic: to,
          acks: -1,
          messages: chunk.map((m) => ({ key: m.key, value: m.value })),
        });
        relayed(chunk.length);
        resolveOffset(chunk[chunk.length - 1].offset);
        await heartbeat();
      }
    },
  });
  return consumer;
}

/**
 * The baseline of the topology: a bare kafkajs relay chain with its hops (in → h1 → h2 → out,
 * 3 partitions each), the same bytes produced on with acks -1 and one request in flight.
 */
export async function relayChainRate(kafka: Kafka, prefix: string, lines: string[]): Promise<number> {
  const hops = ['in', 'h1', 'h2', 'out'].map((h) => `${prefix}.${h}`);
  await createTopics(kafka, hops);
  await produceAll(kafka, hops[0], keyedLines(lines));
  const producer = kafka.producer({ maxInFlightRequests: 1 });
  await producer.connect();
  let delivered = 0;
  const started = performance.now();
  const consumers = [];
  for (let i = 0; i < 3; i++) {
    const last = i === 2;
    consumers.push(
      await startBatchRelay(kafka, producer, hops[i], hops[i + 1], (n) => (delivered += last ? n : 0)),
    );
  }
  await until(() => delivered >= lines.length);
  const seconds = (performance.now() - started) / 1000;
  for (const c of consumers) await c.disconnect();
  await producer.disconnect();
  return lines.length / seconds;
}

/** The usage topology with its topics created. */
async function prepareTopology(kafka: Kafka, settings: TopologySettings): Promise<LoadedTopology> {
  await ensureTopicsOnce(kafka, settings);
  return loadTopology(join(repoRoot, 'topologies', 'openstack-usage'), loadWinchesterConfig(undefined, {}));
}

/** Seconds since the start, less the time spent measuring in between; named marks. */
class RunClock {
  private readonly started = performance.now();
  private excluded = 0;
  readonly phases: Record<string, number> = {};

  elapsed(): number {
    return (performance.now() - this.started - this.excluded) / 1000;
  }

  mark(phase: string, seconds = this.elapsed()): void {
    this.phases[phase] = Number(seconds.toFixed(2));
  }

  /** Runs a measurement that must not count towards the rate. */
  async aside<T>(measure: () => Promise<T>): Promise<T> {
    const from = performance.now();
    try {
      return await measure();
    } finally {
      this.excluded += performance.now() - from;
    }
  }
}

type Distiller = Awaited<ReturnType<typeof startDistiller>>;
type Matcher = Awaited<ReturnType<typeof startMatcher>>;

const eventsApplied = (m: Matcher) => sum([...m.owned.values()].map((t) => t.processor.stats.eventsApplied));
const streamsEmitted = (m: Matcher) =>
  sum([...m.owned.values()].map((t) => t.processor.stats.streamsFired + t.processor.stats.streamsExpired));

/** Waits until every notification is read, distilled, matched and applied; returns the events stored. */
async function ingested(distiller: Distiller, matcher: Matcher, notifications: number, clock: RunClock) {
  await until(() => distiller.counters.consumed > 0);
  clock.mark('firstRead');
  await until(() => distiller.counters.consumed >= notifications);
  clock.mark('distilled');
  await until(() => matcher.counters.eventsConsumed >= distiller.counters.distilled);
  clock.mark('matched');
  const matched = sum(matcher.counters.matched.values());
  await until(() => eventsApplied(matcher) >= matched);
  clock.mark('applied');
  return eventsApplied(matcher);
}

/** Waits until `count` has not moved for `quietMs` (and is above zero); returns it. */
async function settled(count: () => number, quietMs: number): Promise<number> {
  let last = -1;
  let since = performance.now();
  for (;;) {
    const now = count();
    if (now !== last) [last, since] = [now, performance.now()];
    else if (now > 0 && performance.now() - since > quietMs) return now;
    await sleep(20);
  }
}

export interface TopologyRun {
  topology: LoadedTopology;
  perSecond: number;
  streams: number;
  eventsStored: number;
  /** INFO used_memory growth while every stream was held active. */
  usedMemoryDelta: number;
  /** MEMORY USAGE of the namespace's keys at the same moment. */
  memory: NamespaceMemory;
  phases: Record<string, number>;
}

/**
 * The distiller and matcher roles on the usage topology under the event clock: produce the
 * lines, then time from the start until every stream is on `streams` after `clock advance --end`
 * (less the 1.5 s of quiet that tells the end, and less the memory measurement taken while every
 * stream is still active, before the clock advances).
 */
export async function topologyRun(
  kafka: Kafka,
  redisUrl: string,
  settings: TopologySettings,
  lines: string[],
): Promise<TopologyRun> {
  const topology = await prepareTopology(kafka, settings);
  await produceAll(kafka, settings.inputTopics[0], keyedLines(lines));
  const redis = createRedisClient(redisUrl);
  const memoryBefore = await usedMemory(redis);
  const clock = new RunClock();
  const distiller = await startDistiller(kafka, settings, topology.distill);
  const matcher = await startMatcher(kafka, redisUrl, settings, topology.triggers);
  const eventsStored = await ingested(distiller, matcher, lines.length, clock);
  const [usedMemoryDelta, memory] = await clock.aside(
    async () =>
      [(await usedMemory(redis)) - memoryBefore, await namespaceMemory(redis, settings.namespace)] as const,
  );
  await advanceEventClock(kafka, settings.topics.repartition, END_OF_TIME);
  const streams = await settled(() => streamsEmitted(matcher), 1500);
  const seconds = clock.elapsed() - 1.5;
  clock.mark('emitted', seconds);
  await distiller.stop();
  await matcher.stop();
  redis.disconnect();
  return {
    topology,
    perSecond: lines.length / seconds,
    streams,
    eventsStored,
    usedMemoryDelta,
    memory,
    phases: clock.phases,
  };
}

export interface WorkerRun {
  perSecond: number;
  handler: LatencySummary;
  pipeline: LatencySummary;
  newEvents: number;
}

/**
 * A worker with the topology's pipelines (usage audit) on the `streams` records a topology run
 * left: streams/s from its start to the last completion, handler and pipeline (claim →
 * transition) latency.
 */
export async function workerRun(
  kafka: Kafka,
  redisUrl: string,
  settings: TopologySettings,
  topology: LoadedTopology,
  streams: number,
): Promise<WorkerRun> {
  const started = performance.now();
  const worker = await startWorker(kafka, redisUrl, settings, {
    pipelines: topology.pipelines,
    handlers: topology.handlers,
    purgeCompletedStreams: true,
    handlerTimeoutMs: 60_000,
    claimTtlMs: 30_000,
    maxHops: 3,
  });
  const { counters } = worker;
  await until(
    () => sum(counters.streamsCompleted.values()) + sum(counters.streamsErrored.values()) >= streams,
  );
  const seconds = (performance.now() - started) / 1000;
  await worker.stop();
  const ms = (samples: number[]) => samples.map((s) => s * 1000);
  return {
    perSecond: streams / seconds,
    handler: latencySummary(ms([...counters.handlerSeconds.values()].flatMap((s) => s.toArray()))),
    pipeline: latencySummary(ms(counters.pipelineSeconds.toArray())),
    newEvents: counters.newEvents,
  };
}

/** The worker's baseline: the same `streams` records through a bare consume → produce relay, one send a record. */
export async function streamsRelayRate(
  kafka: Kafka,
  settings: TopologySettings,
  streams: number,
): Promise<number> {
  const relayTopic = `${settings.namespace}.streams-relay`;
  await createTopics(kafka, [relayTopic]);
  const producer = kafka.producer({ maxInFlightRequests: 1 });
  await producer.connect();
  const consumer = kafka.consumer({ groupId: relayTopic });
  await consumer.connect();
  await consumer.subscribe({ topic: settings.topics.streams, fromBeginning: true });
  let relayed = 0;
  const started = performance.now();
  await consumer.run({
    partitionsConsumedConcurrently: 3,
    eachMessage: async ({ message }) => {
      await producer.send({
        topic: relayTopic,
        acks: -1,
        messages: [{ key: message.key, value: message.value }],
      });
      relayed++;
    },
  });
  await until(() => relayed >= streams);
  const seconds = (performance.now() - started) / 1000;
  await consumer.disconnect();
  await producer.disconnect();
  return streams / seconds;
}

/**
 * Fire latency under the wall clock (fire_delay 0) at a fixed rate: `count` end-of-day
 * `.exists` notifications, each for an instance of its own (so each fires its stream at once),
 * one every 1/rate s; produce → its stream record on `streams`.
 */
export async function fireLatencyAtRate(
  kafka: Kafka,
  redisUrl: string,
  settings: TopologySettings,
  rate: number,
  count: number,
): Promise<LatencySummary> {
  const topology = await prepareTopology(kafka, settings);
  const template = corpusNotification('compute.instance.exists');
  const distiller = await startDistiller(kafka, settings, topology.distill);
  const matcher = await startMatcher(kafka, redisUrl, settings, topology.triggers);
  const probe = await FireLatencyProbe.start(kafka, settings.topics.streams, `${settings.namespace}.latency`);
  await sleep(3000); // let the groups settle before timing
  const producer = kafka.producer({ maxInFlightRequests: 1 });
  await producer.connect();
  for (let i = 0; i < count; i++) {
    const now = notificationTime();
    const id = `lat-${settings.namespace}-${i}`;
    const payload = { ...template.payload, instance_id: `lat-instance-${i}`, audit_period_beginning: now };
    probe.sending(id);
    const value = JSON.stringify({ ...template, message_id: id, timestamp: now, payload });
    await producer.send({ topic: settings.inputTopics[0], acks: -1, messages: [{ key: `lat-${i}`, value }] });
    await sleep(1000 / rate);
  }
  const deadline = Date.now() + 15_000;
  while (probe.pending < count && Date.now() < deadline) await sleep(50);
  await producer.disconnect();
  await probe.stop();
  await distiller.stop();
  await matcher.stop();
  return latencySummary(probe.take());
}
