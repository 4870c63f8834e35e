/**
 * End-to-end benchmark on the real local broker and Redis (started when none is running):
 *  1. baseline: a bare kafkajs relay chain with the topology's hops
 *     (notifications → events → repartition → streams), consuming and producing the same bytes;
 *  2. the topology (distiller + matcher roles) on the same notifications, event clock,
 *     from the start to the last stream record on `streams`;
 *  3. Redis memory per stored event (streams held active): MEMORY USAGE of the namespace's keys,
 *     by kind of key, against the canonical JSON of the events stored;
 *  4. the worker with the usage pipeline: streams/s, and a bare relay of the same stream records;
 *  5. fire latency under the wall clock (fire_delay 0): produce → stream record, p50/p99, at a
 *     fixed rate;
 *  6. with --upstream, upstream Winchester's ingest rate on the same corpus and triggers.
 *
 *   node dist/bench/engine.js [--copies 3] [--upstream] [--upstream-limit 1000] [--keep] [--json]
 *
 * The runs' topics, groups and Redis keys are deleted at the end unless --keep.
 *
 * --json prints one JSON object on stdout and nothing else there; progress goes to stderr.
 */
import { connectionSettings } from '../src/config/environment';
import { defaultTopologySettings } from '../src/config/topology-settings';
import { createKafka } from '../src/kafka/client';
import { registerCompressionCodecs } from '../src/kafka/codecs';
import { corpusCopies, parseCountOptions } from './support';
import {
  fireLatencyAtRate,
  relayChainRate,
  streamsRelayRate,
  topologyRun,
  workerRun,
} from './support/engine-runs';
import { dropNamespaces } from './support/namespaces';
import { ensureStack, runBenchmark } from './support/run';
import { canonicalEventBytes, ratio, rounded } from './support/stats';
import { upstreamDatabase, upstreamIngest } from './support/upstream';

interface Options {
  copies: number;
  upstream: boolean;
  upstreamLimit: number;
  keep: boolean;
  json: boolean;
}

const FIRE_LATENCY = { rate: 50, count: 300 };

function parseOptions(argv: string[]): Options {
  const defaults: Options = { copies: 3, upstream: false, upstreamLimit: 1000, keep: false, json: false };
  return parseCountOptions<Options>(
    argv,
    defaults,
    { '--copies': 'copies', '--upstream-limit': 'upstreamLimit' },
    { '--upstream': 'upstream', '--keep': 'keep' },
  );
}

const progress = (line: string) => process.stderr.write(`${line}\n`);

type Figures = Record<string, unknown>;

/** Every run, one after the other on the same broker and Redis. */
async function measure(options: Options) {
  const database = options.upstream ? upstreamDatabase() : undefined;
  ensureStack();
  await registerCompressionCodecs();
  const connection = connectionSettings();
  const kafka = createKafka(connection, 'bench');
  const runId = `bench${Date.now()}`;
  const lines = corpusCopies(options.copies);
  progress(`${lines.length} notifications; relay chain…`);
  const relay = await relayChainRate(kafka, `${runId}.relay`, lines);
  progress('topology…');
  const settings = defaultTopologySettings({ namespace: `${runId}.topo`, clock: 'event' });
  const topo = await topologyRun(kafka, connection.redisUrl, settings, lines);
  progress('worker (usage pipeline) and a bare relay of its stream records…');
  const worker = await workerRun(kafka, connection.redisUrl, settings, topo.topology, topo.streams);
  const workerRelay = await streamsRelayRate(kafka, settings, topo.streams);
  progress(`fire latency at ${FIRE_LATENCY.rate}/s (wall clock)…`);
  const latencySettings = defaultTopologySettings({ namespace: `${runId}.lat`, clock: 'wall' });
  const { rate, count } = FIRE_LATENCY;
  const latency = await fireLatencyAtRate(kafka, connection.redisUrl, latencySettings, rate, count);
  if (database) progress(`upstream Winchester (${database}), first ${options.upstreamLimit} notifications…`);
  const upstream = database && upstreamIngest(options.upstreamLimit, database);
  const canonical = canonicalEventBytes(topo.topology, lines);
  if (!options.keep)
    await dropNamespaces(
      kafka,
      connection.redisUrl,
      ['relay', 'topo', 'lat'].map((s) => `${runId}.${s}`),
    );
  return { notifications: lines.length, relay, topo, canonical, worker, workerRelay, latency, upstream };
}

type Runs = Awaited<ReturnType<typeof measure>>;

/** Redis memory per stored event, in all and by kind of key, against the canonical event JSON. */
function redisFigures({ topo, canonical }: Runs): Figures {
  const perEvent = (bytes: number) => rounded(bytes / topo.eventsStored);
  const byKind = Object.entries(topo.memory.byKind).map(([kind, m]) => [
    kind,
    { keys: m.keys, bytes_per_event: perEvent(m.bytes) },
  ]);
  return {
    redis_bytes_per_event: perEvent(topo.memory.bytes),
    canonical_event_bytes: rounded(canonical),
    redis_vs_canonical: ratio(topo.memory.bytes / topo.eventsStored, canonical),
    redis_used_memory_per_event: perEvent(topo.usedMemoryDelta),
    redis_bytes_per_event_by_key: Object.fromEntries(byKind),
  };
}

/** The figures as one flat JSON object (snake_case, rates per second, latencies in ms). */
function figures(runs: Runs): Figures {
  const { relay, topo, worker, workerRelay, latency, upstream } = runs;
  return {
    notifications: runs.notifications,
    relay_per_s: rounded(relay),
    topology_per_s: rounded(topo.perSecond),
    topology_vs_relay: ratio(topo.perSecond, relay),
    topology_phases_s: topo.phases,
    streams: topo.streams,
    events_stored: topo.eventsStored,
    ...redisFigures(runs),
    worker_per_s: rounded(worker.perSecond),
    worker_relay_per_s: rounded(workerRelay),
    worker_vs_relay: ratio(worker.perSecond, workerRelay),
    worker_handler_p50_ms: rounded(worker.handler.p50Ms, 2),
    worker_handler_p99_ms: rounded(worker.handler.p99Ms, 2),
    worker_pipeline_p99_ms: rounded(worker.pipeline.p99Ms, 2),
    worker_new_events: worker.newEvents,
    fire_latency_rate_per_s: FIRE_LATENCY.rate,
    fire_latency_samples: latency.count,
    fire_latency_p50_ms: rounded(latency.p50Ms, 1),
    fire_latency_p99_ms: rounded(latency.p99Ms, 1),
    ...(upstream && {
      upstream_per_s: upstream.perSecond,
      upstream_notifications: upstream.notifications,
      upstream_database: upstream.database,
      vs_upstream: rounded(topo.perSecond / upstream.perSecond),
    }),
  };
}

/** The figures for a person: one line each. */
function table(f: Figures): string {
  const kinds = Object.entries(f.redis_bytes_per_event_by_key as Record<string, { bytes_per_event: number }>)
    .map(([kind, m]) => `${kind} ${m.bytes_per_event}`)
    .join(', ');
  const rows: Array<[string, string]> = [
    ['notifications', `${f.notifications}`],
    ['bare kafkajs relay chain (3 hops)', `${f.relay_per_s}/s`],
    ['topology notifications → streams', `${f.topology_per_s}/s (${f.topology_vs_relay}× the relay chain)`],
    ['topology phases (s since start)', JSON.stringify(f.topology_phases_s)],
    ['streams emitted; events stored', `${f.streams}; ${f.events_stored}`],
    [
      'Redis bytes per stored event',
      `${f.redis_bytes_per_event} (${f.redis_vs_canonical}× the canonical JSON, ${f.canonical_event_bytes} bytes); used_memory ${f.redis_used_memory_per_event}`,
    ],
    ['  by kind of key', kinds],
    [
      'worker, usage pipeline',
      `${f.worker_per_s} streams/s (${f.worker_vs_relay}× a bare relay of the same records, ${f.worker_relay_per_s}/s)`,
    ],
    [
      '  handler p50 / p99; pipeline p99',
      `${f.worker_handler_p50_ms} / ${f.worker_handler_p99_ms} ms; ${f.worker_pipeline_p99_ms} ms; ${f.worker_new_events} new events`,
    ],
    [
      `fire latency at ${f.fire_latency_rate_per_s}/s (wall clock)`,
      `p50 ${f.fire_latency_p50_ms} ms, p99 ${f.fire_latency_p99_ms} ms (${f.fire_latency_samples} samples)`,
    ],
  ];
  if (f.upstream_per_s !== undefined) {
    const what = `${f.upstream_per_s}/s on the first ${f.upstream_notifications}, ${f.upstream_database}`;
    rows.push(['upstream Winchester 0.56 ingest', `${what} (topology ${f.vs_upstream}× upstream)`]);
  }
  return rows.map(([what, value]) => `${what.padEnd(38)} ${value}\n`).join('');
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const result = figures(await measure(options));
  process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : table(result));
}

runBenchmark('bench:engine', main);
