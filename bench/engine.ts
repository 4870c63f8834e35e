/**
 * End-to-end benchmark on the real local broker and Redis (started when none is running):
 *  1. baseline: a bare kafkajs relay chain with the topology's hops
 *     (notifications → events → repartition → streams), consuming and producing the same bytes;
 *  2. the topology (distiller + matcher roles) on the same notifications, event clock,
 *     from the first notification read to the last stream record on `streams`;
 *  3. Redis memory per stored event (streams held active);
 *  4. fire latency under the wall clock (fire_delay 0): produce → stream record, p50/p99,
 *     at a fixed rate.
 *  5. the worker with the usage pipeline: streams/s and handler latency;
 *  6. with --upstream, upstream Winchester's ingest rate on the same corpus and triggers.
 * Figures are printed as a table and as JSON (--json).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Kafka, Message } from 'kafkajs';
import Redis from 'ioredis';
import { connectionSettings } from '../src/config/environment';
import { loadWinchesterConfig } from '../src/config/winchester-config';
import { createKafka } from '../src/kafka/client';
import { registerCompressionCodecs } from '../src/kafka/codecs';
import { advanceEventClock } from '../src/topology/event-clock';
import { notificationKey } from '../src/topology/records';
import { END_OF_TIME } from '../src/streams/simulate';
import { loadTopology } from '../src/topology/bundle';
import { startDistiller } from '../src/topology/distiller-role';
import { startMatcher } from '../src/topology/matcher-role';
import { produceAll } from '../src/topology/role-runner';
import { startWorker } from '../src/topology/worker-role';
import { defaultTopologySettings, TopologySettings } from '../src/config/topology-settings';
import { ensureTopicsOnce } from '../src/topology/topics';
import { ensureStack, runBenchmark } from './support/run';

const repo = join(__dirname, '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The corpus, `copies` times over, each copy with its own message ids and instances. */
function notifications(copies: number): string[] {
  const lines = gunzipSync(readFileSync(join(repo, 'data', 'notifications-openstack-26h.jsonl.gz')))
    .toString('utf8')
    .split('\n')
    .filter(Boolean);
  const out: string[] = [];
  for (let c = 0; c < copies; c++) {
    for (const line of lines) {
      out.push(c === 0 ? line : line.replace(/("message_id": "|"instance_id": ")/g, `$1c${c}-`));
    }
  }
  return out;
}

/** Notification lines keyed as the `produce` command keys them. */
const keyedLines = (lines: string[]): Message[] =>
  lines.map((value) => ({ key: notificationKey(value), value }));

async function relayChain(kafka: Kafka, prefix: string, lines: string[]): Promise<number> {
  const hops = ['in', 'h1', 'h2', 'out'].map((h) => `${prefix}.${h}`);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: hops.map((topic) => ({ topic, numPartitions: 3 })),
    waitForLeaders: true,
  });
  await admin.disconnect();
  await produceAll(kafka, hops[0], keyedLines(lines));
  const producer = kafka.producer({ maxInFlightRequests: 1 });
  await producer.connect();
  let delivered = 0;
  const started = process.hrtime.bigint();
  const consumers = [];
  for (let i = 0; i < 3; i++) {
    const consumer = kafka.consumer({ groupId: `${prefix}.relay${i}` });
    await consumer.connect();
    await consumer.subscribe({ topic: hops[i], fromBeginning: true });
    await consumer.run({
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 3,
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        for (let s = 0; s < batch.messages.length; s += 500) {
          const chunk = batch.messages.slice(s, s + 500);
          if (i < 2) {
            await producer.send({
              topic: hops[i + 1],
              acks: -1,
              messages: chunk.map((m) => ({ key: m.key, value: m.value })),
            });
          } else {
            await producer.send({
              topic: hops[3],
              acks: -1,
              messages: chunk.map((m) => ({ key: m.key, value: m.value })),
            });
            delivered += chunk.length;
          }
          resolveOffset(chunk[chunk.length - 1].offset);
          await heartbeat();
        }
      },
    });
    consumers.push(consumer);
  }
  while (delivered < lines.length) await sleep(20);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  for (const c of consumers) await c.disconnect();
  await producer.disconnect();
  return lines.length / seconds;
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

/** The usage topology with default settings, and its topics created. */
async function prepareTopology(kafka: Kafka, settings: TopologySettings) {
  await ensureTopicsOnce(kafka, settings);
  return loadTopology(join(repo, 'topologies', 'openstack-usage'), loadWinchesterConfig(undefined, {}));
}

async function topologyRun(kafka: Kafka, redisUrl: string, settings: TopologySettings, lines: string[]) {
  const topology = await prepareTopology(kafka, settings);
  await produceAll(kafka, settings.inputTopics[0], keyedLines(lines));
  const redis = new Redis(redisUrl);
  const memoryBefore = await usedMemory(redis);
  const started = process.hrtime.bigint();
  const distiller = await startDistiller(kafka, settings, topology.distill);
  const matcher = await startMatcher(kafka, redisUrl, settings, topology.triggers);
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
  const phases: Record<string, number> = {};
  while (distiller.counters.consumed === 0) await sleep(5);
  phases.firstRead = elapsed();
  while (distiller.counters.consumed < lines.length) await sleep(20);
  phases.distilled = elapsed();
  while (matcher.counters.eventsConsumed < distiller.counters.distilled) await sleep(20);
  phases.matched = elapsed();
  const matched = [...matcher.counters.matched.values()].reduce((a, b) => a + b, 0);
  let applied = 0;
  while (applied < matched) {
    applied = [...matcher.owned.values()].reduce((n, st) => n + st.processor.stats.eventsApplied, 0);
    await sleep(20);
  }
  phases.applied = elapsed();
  const memoryHeld = await usedMemory(redis);
  await advanceEventClock(kafka, settings.topics.repartition, END_OF_TIME);
  const emitted = () =>
    [...matcher.owned.values()].reduce(
      (n, st) => n + st.processor.stats.streamsFired + st.processor.stats.streamsExpired,
      0,
    );
  let last = -1;
  let quiet = Date.now();
  for (;;) {
    const now = emitted();
    if (now !== last) {
      last = now;
      quiet = Date.now();
    } else if (now > 0 && Date.now() - quiet > 1500) break;
    await sleep(20);
  }
  const seconds = elapsed() - 1.5;
  phases.emitted = seconds;
  await distiller.stop();
  await matcher.stop();
  redis.disconnect();
  return {
    topology,
    notificationsPerSecond: lines.length / seconds,
    streams: last,
    eventsStored: applied,
    redisBytesPerEvent: (memoryHeld - memoryBefore) / applied,
    phases,
  };
}

/**
 * The worker on the streams the topology run left (fired/expired, in Redis and on `streams`),
 * with the topology's pipelines (usage audit): streams/s from start to the last completion
 * record, and handler latency. Baseline: a bare kafkajs relay of the same stream records
 * (consume `streams`, produce each to another topic) on the same broker.
 */
async function workerRun(
  kafka: Kafka,
  redisUrl: string,
  settings: TopologySettings,
  topology: Awaited<ReturnType<typeof prepareTopology>>,
  streams: number,
) {
  const started = process.hrtime.bigint();
  const worker = await startWorker(kafka, redisUrl, settings, {
    pipelines: topology.pipelines,
    handlers: topology.handlers,
    purgeCompletedStreams: true,
    handlerTimeoutMs: 60_000,
    claimTtlMs: 30_000,
    maxHops: 3,
  });
  const done = () =>
    [...worker.counters.streamsCompleted.values(), ...worker.counters.streamsErrored.values()].reduce(
      (a, b) => a + b,
      0,
    );
  while (done() < streams) await sleep(20);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await worker.stop();
  const handler = [...worker.counters.handlerSeconds.values()]
    .flatMap((s) => s.toArray())
    .sort((a, b) => a - b);
  const pipeline = worker.counters.pipelineSeconds.toArray().sort((a, b) => a - b);
  const pct = (list: number[], p: number) =>
    list[Math.min(list.length - 1, Math.floor((p / 100) * list.length))] * 1000;

  // Baseline: the same records through a bare consume → produce relay.
  const relayTopic = `${settings.namespace}.streams-relay`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: relayTopic, numPartitions: 3 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ maxInFlightRequests: 1 });
  await producer.connect();
  const consumer = kafka.consumer({ groupId: `${settings.namespace}.streams-relay` });
  await consumer.connect();
  await consumer.subscribe({ topic: settings.topics.streams, fromBeginning: true });
  let relayed = 0;
  const relayStarted = process.hrtime.bigint();
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
  while (relayed < streams) await sleep(20);
  const relaySeconds = Number(process.hrtime.bigint() - relayStarted) / 1e9;
  await consumer.disconnect();
  await producer.disconnect();
  return {
    streams,
    streamsPerSecond: streams / seconds,
    relayPerSecond: streams / relaySeconds,
    handlerP50Ms: pct(handler, 50),
    handlerP99Ms: pct(handler, 99),
    pipelineP99Ms: pct(pipeline, 99),
    newEvents: worker.counters.newEvents,
  };
}

async function latencyRun(
  kafka: Kafka,
  redisUrl: string,
  settings: TopologySettings,
  rate: number,
  count: number,
) {
  const topology = await prepareTopology(kafka, settings);
  const template = JSON.parse(
    gunzipSync(readFileSync(join(repo, 'data', 'notifications-openstack-26h.jsonl.gz')))
      .toString('utf8')
      .split('\n')
      .find((l) => l.includes('"event_type": "compute.instance.exists"'))!,
  ) as Record<string, unknown> & { payload: Record<string, unknown> };
  const distiller = await startDistiller(kafka, settings, topology.distill);
  const matcher = await startMatcher(kafka, redisUrl, settings, topology.triggers);
  const sentAt = new Map<string, bigint>();
  const latencies: number[] = [];
  const consumer = kafka.consumer({ groupId: `${settings.namespace}.latency` });
  await consumer.connect();
  await consumer.subscribe({ topic: settings.topics.streams, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const record = JSON.parse(message.value!.toString()) as { events: Array<{ message_id: string }> };
      for (const e of record.events) {
        const t = sentAt.get(e.message_id);
        if (t !== undefined) latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    },
  });
  await sleep(3000); // let the groups settle before timing
  const producer = kafka.producer({ maxInFlightRequests: 1 });
  await producer.connect();
  for (let i = 0; i < count; i++) {
    const now = new Date().toISOString().replace('T', ' ').replace('Z', '');
    const id = `lat-${settings.namespace}-${i}`;
    const n = {
      ...template,
      message_id: id,
      timestamp: now,
      payload: { ...template.payload, instance_id: `lat-instance-${i}`, audit_period_beginning: now },
    };
    sentAt.set(id, process.hrtime.bigint());
    await producer.send({
      topic: settings.inputTopics[0],
      acks: -1,
      messages: [{ key: `lat-${i}`, value: JSON.stringify(n) }],
    });
    await sleep(1000 / rate);
  }
  const deadline = Date.now() + 15000;
  while (latencies.length < count && Date.now() < deadline) await sleep(50);
  await producer.disconnect();
  await consumer.disconnect();
  await distiller.stop();
  await matcher.stop();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  return { rate, measured: latencies.length, p50Ms: pct(50), p99Ms: pct(99) };
}

/**
 * Upstream Winchester's ingest rate on the same corpus and triggers (--upstream; needs
 * Python 3 and PyPI the first time, for its virtualenv and upstream's sources). Upstream
 * manages tens of notifications a second, so it reads only the first `limit` notifications.
 */
function upstreamIngest(limit: number): { perSecond: number; notifications: number } {
  let out: string;
  try {
    out = execFileSync(
      'bash',
      [
        join(repo, 'scripts', 'vectors', 'upstream-winchester-ingest.sh'),
        'topologies/openstack-usage',
        'data/notifications-openstack-26h.jsonl.gz',
        String(limit),
      ],
      { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
  } catch {
    // Its own messages (a download, the virtualenv, Python) are already on stderr.
    throw new Error(
      'upstream Winchester did not run: scripts/vectors/upstream-winchester-ingest.sh failed (above)',
    );
  }
  return JSON.parse(out.trim().split('\n').at(-1)!) as { perSecond: number; notifications: number };
}

async function main() {
  const copies = Number(process.argv.find((a) => a.startsWith('--copies='))?.slice(9) ?? 3);
  ensureStack();
  await registerCompressionCodecs();
  const connection = connectionSettings();
  const kafka = createKafka(connection.kafkaBrokers, 'bench');
  const runId = `bench${Date.now()}`;
  const lines = notifications(copies);
  process.stderr.write(`${lines.length} notifications; relay chain…\n`);
  const relay = await relayChain(kafka, `${runId}.relay`, lines);
  process.stderr.write('topology…\n');
  const topoSettings = defaultTopologySettings({ namespace: `${runId}.topo`, clock: 'event' });
  const topo = await topologyRun(kafka, connection.redisUrl, topoSettings, lines);
  process.stderr.write('worker (usage pipeline)…\n');
  const worker = await workerRun(kafka, connection.redisUrl, topoSettings, topo.topology, topo.streams);
  process.stderr.write('fire latency (wall clock)…\n');
  const latency = await latencyRun(
    kafka,
    connection.redisUrl,
    defaultTopologySettings({ namespace: `${runId}.lat`, clock: 'wall' }),
    50,
    300,
  );
  const upstream = process.argv.includes('--upstream') ? upstreamIngest(1000) : undefined;
  const result = {
    notifications: lines.length,
    relayChainPerSecond: Math.round(relay),
    topologyPerSecond: Math.round(topo.notificationsPerSecond),
    topologyVsRelay: Number((topo.notificationsPerSecond / relay).toFixed(2)),
    ...(upstream && {
      upstreamWinchesterPerSecond: Number(upstream.perSecond.toFixed(1)),
      topologyVsUpstream: Math.round(topo.notificationsPerSecond / upstream.perSecond),
    }),
    streams: topo.streams,
    redisBytesPerStoredEvent: Math.round(topo.redisBytesPerEvent),
    topologyPhasesSeconds: Object.fromEntries(
      Object.entries(topo.phases).map(([phase, s]) => [phase, Number(s.toFixed(2))]),
    ),
    worker: {
      streams: worker.streams,
      streamsPerSecond: Math.round(worker.streamsPerSecond),
      bareRelayPerSecond: Math.round(worker.relayPerSecond),
      workerVsRelay: Number((worker.streamsPerSecond / worker.relayPerSecond).toFixed(2)),
      handlerP50Ms: Number(worker.handlerP50Ms.toFixed(2)),
      handlerP99Ms: Number(worker.handlerP99Ms.toFixed(2)),
      pipelineP99Ms: Number(worker.pipelineP99Ms.toFixed(2)),
      newEvents: worker.newEvents,
    },
    latency,
  };
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    process.stdout.write(
      `notifications                       ${result.notifications}\n` +
        `bare kafkajs relay chain (3 hops)   ${result.relayChainPerSecond}/s\n` +
        `topology notifications → streams    ${result.topologyPerSecond}/s  (${result.topologyVsRelay}× the relay chain)\n` +
        (upstream
          ? `upstream Winchester ingest           ${result.upstreamWinchesterPerSecond}/s on the first ${upstream.notifications} (topology ${result.topologyVsUpstream}× upstream)\n`
          : '') +
        `streams emitted                     ${result.streams}\n` +
        `topology phases (s since start)     ${JSON.stringify(result.topologyPhasesSeconds)}\n` +
        `Redis bytes per stored event        ${result.redisBytesPerStoredEvent}\n` +
        `worker, usage pipeline              ${result.worker.streamsPerSecond} streams/s  (${result.worker.workerVsRelay}× a bare relay of the same records, ${result.worker.bareRelayPerSecond}/s)\n` +
        `  handler p50 / p99                 ${result.worker.handlerP50Ms} ms / ${result.worker.handlerP99Ms} ms; pipeline p99 ${result.worker.pipelineP99Ms} ms; ${result.worker.newEvents} new events\n` +
        `fire latency at ${latency.rate}/s (wall, fire_delay 0): p50 ${latency.p50Ms.toFixed(1)} ms, p99 ${latency.p99Ms.toFixed(1)} ms (${latency.measured} samples)\n`,
    );
  }
}

runBenchmark('bench:engine', main);
