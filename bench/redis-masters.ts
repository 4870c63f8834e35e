/**
 * Topology throughput with the stream state on one Redis against a Redis Cluster of three
 * masters (one replica each), in the same run on the same broker. Each measurement is the one
 * bench/engine.ts makes for its topology figure: the sample corpus (`--copies` times over)
 * produced to the input topic first, then the distiller and matcher roles in this process under
 * the event clock, timed from their start until every stream is on `streams` after
 * `clock advance --end` (less the 1.5 s of quiet that tells the end). Rounds alternate between
 * the two kinds of Redis, so a machine growing busier or quieter touches both alike.
 *
 *   node dist/bench/redis-masters.js [--copies 3] [--rounds 3] [--json]
 *
 * One Redis is REDIS_URL (the local stack's); the cluster is REDIS_CLUSTER_URL, else the one
 * scripts/redis-cluster.sh runs, started for the run when none is (and stopped after it).
 * Each round's topics, groups and keys are deleted after it.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Kafka } from 'kafkajs';
import { connectionSettings } from '../src/config/environment';
import { defaultTopologySettings, TopologySettings } from '../src/config/topology-settings';
import { loadWinchesterConfig } from '../src/config/winchester-config';
import { createKafka } from '../src/kafka/client';
import { registerCompressionCodecs } from '../src/kafka/codecs';
import { deleteNamespace, planNamespaceDeletion } from '../src/ops/namespace';
import { createRedisClient } from '../src/redis/client';
import { END_OF_TIME } from '../src/streams/simulate';
import { LoadedTopology, loadTopology } from '../src/topology/bundle';
import { startDistiller } from '../src/topology/distiller-role';
import { advanceEventClock } from '../src/topology/event-clock';
import { startMatcher } from '../src/topology/matcher-role';
import { notificationKey } from '../src/topology/records';
import { produceAll } from '../src/topology/role-runner';
import { ensureTopicsOnce } from '../src/topology/topics';
import { corpusCopies, parseCountOptions, repoRoot } from './support';
import { ensureStack, runBenchmark } from './support/run';
import { ratio, rounded } from './support/stats';

interface Options {
  copies: number;
  rounds: number;
  json: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);
const progress = (line: string) => process.stderr.write(`${line}\n`);
const QUIET_MS = 1500;

type Matcher = Awaited<ReturnType<typeof startMatcher>>;
const tasks = (m: Matcher) => [...m.owned.values()].map((t) => t.processor.stats);
const eventsApplied = (m: Matcher) => sum(tasks(m).map((s) => s.eventsApplied));
const streamsEmitted = (m: Matcher) => sum(tasks(m).map((s) => s.streamsFired + s.streamsExpired));

async function until(done: () => boolean): Promise<void> {
  while (!done()) await sleep(20);
}

/** Waits until `count` has stayed the same (and above zero) for QUIET_MS. */
async function quiet(count: () => number): Promise<void> {
  let [last, since] = [-1, performance.now()];
  for (;;) {
    const now = count();
    if (now !== last) [last, since] = [now, performance.now()];
    else if (now > 0 && performance.now() - since > QUIET_MS) return;
    await sleep(20);
  }
}

/** Notifications per second through the distiller and matcher with the stream state at `redisUrl`. */
async function topologyRate(
  kafka: Kafka,
  redisUrl: string,
  settings: TopologySettings,
  topology: LoadedTopology,
  lines: string[],
): Promise<number> {
  await ensureTopicsOnce(kafka, settings);
  await produceAll(
    kafka,
    settings.inputTopics[0],
    lines.map((value) => ({ key: notificationKey(value), value })),
  );
  const started = performance.now();
  const distiller = await startDistiller(kafka, settings, topology.distill);
  const matcher = await startMatcher(kafka, redisUrl, settings, topology.triggers);
  await until(() => distiller.counters.consumed >= lines.length);
  await until(() => matcher.counters.eventsConsumed >= distiller.counters.distilled);
  const matched = sum(matcher.counters.matched.values());
  await until(() => eventsApplied(matcher) >= matched);
  await advanceEventClock(kafka, settings.topics.repartition, END_OF_TIME);
  await quiet(() => streamsEmitted(matcher));
  const seconds = (performance.now() - started - QUIET_MS) / 1000;
  await distiller.stop();
  await matcher.stop();
  return lines.length / seconds;
}

/** Deletes a round's topics, consumer groups and Redis keys, as `namespace delete --force` does. */
async function dropNamespace(kafka: Kafka, redisUrl: string, settings: TopologySettings): Promise<void> {
  const redis = createRedisClient(redisUrl);
  try {
    await deleteNamespace(kafka, redis, await planNamespaceDeletion(kafka, redis, settings), { force: true });
  } finally {
    redis.disconnect();
  }
}

/** The cluster to measure, and whether this run started it (then it stops it again). */
function clusterUrl(): { url: string; started: boolean } {
  if (process.env.REDIS_CLUSTER_URL) return { url: process.env.REDIS_CLUSTER_URL, started: false };
  const script = (action: string) =>
    execFileSync('bash', [join(repoRoot, 'scripts', 'redis-cluster.sh'), action], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
  try {
    return { url: script('status'), started: false };
  } catch {
    progress('no local Redis Cluster running: starting one (scripts/redis-cluster.sh start)');
    return { url: script('start'), started: true };
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function measure(options: Options) {
  ensureStack();
  await registerCompressionCodecs();
  const connection = connectionSettings();
  const kafka = createKafka(connection, 'bench');
  const cluster = clusterUrl();
  const targets = { single: connection.redisUrl, cluster: cluster.url };
  const topology = loadTopology(
    join(repoRoot, 'topologies', 'openstack-usage'),
    loadWinchesterConfig(undefined, {}),
  );
  const lines = corpusCopies(options.copies);
  const rates: Record<keyof typeof targets, number[]> = { single: [], cluster: [] };
  const runId = `bench${Date.now()}`;
  try {
    for (let round = 1; round <= options.rounds; round++) {
      // Alternate which goes first, so neither always meets the other's leftovers.
      const order = round % 2 ? (['single', 'cluster'] as const) : (['cluster', 'single'] as const);
      for (const kind of order) {
        const settings = defaultTopologySettings({ namespace: `${runId}.${kind}${round}`, clock: 'event' });
        const rate = await topologyRate(kafka, targets[kind], settings, topology, lines);
        progress(`round ${round}, ${kind}: ${rounded(rate)} notifications/s`);
        rates[kind].push(rate);
        await dropNamespace(kafka, targets[kind], settings);
      }
    }
  } finally {
    if (cluster.started) execFileSync('bash', [join(repoRoot, 'scripts', 'redis-cluster.sh'), 'stop']);
  }
  return { notifications: lines.length, rates };
}

function figures({ notifications, rates }: Awaited<ReturnType<typeof measure>>) {
  const single = median(rates.single);
  const cluster = median(rates.cluster);
  return {
    notifications,
    rounds: rates.single.length,
    single_redis_per_s: rates.single.map((r) => rounded(r)),
    cluster_3_masters_per_s: rates.cluster.map((r) => rounded(r)),
    single_redis_median_per_s: rounded(single),
    cluster_3_masters_median_per_s: rounded(cluster),
    cluster_vs_single: ratio(cluster, single),
  };
}

function table(f: ReturnType<typeof figures>): string {
  return [
    `topology, ${f.notifications} notifications, ${f.rounds} rounds each (medians):`,
    `  one Redis           ${f.single_redis_median_per_s}/s  (${f.single_redis_per_s.join(', ')})`,
    `  cluster, 3 masters  ${f.cluster_3_masters_median_per_s}/s  (${f.cluster_3_masters_per_s.join(', ')})`,
    `  cluster / one Redis ${f.cluster_vs_single}×`,
    '',
  ].join('\n');
}

if (require.main === module) {
  runBenchmark('redis-masters', async () => {
    const options = parseCountOptions<Options>(
      process.argv.slice(2),
      { copies: 3, rounds: 3, json: false },
      { '--copies': 'copies', '--rounds': 'rounds' },
    );
    const result = figures(await measure(options));
    process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : table(result));
  });
}
