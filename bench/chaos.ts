/**
 * Chaos harness: the real topology as separate processes (2 distillers, 2 matchers,
 * 2 workers) on the local broker and Redis, replaying a generated corpus under the event
 * clock while processes are SIGKILLed (and restarted) at intervals of at least twice the
 * consumer session timeout, Redis is disrupted and the Kafka broker restarted once. At the end
 * it reconciles `streams`, `streams.completed`, the DLQs, Redis and the usage verdicts on
 * `events` against `simulate --pipelines` on the same corpus, prints the accounting, and
 * exits non-zero on any discrepancy.
 *
 * The Redis disruption: one Redis (redis://) is restarted. On a Redis Cluster
 * (redis-cluster://, the one scripts/redis-cluster.sh runs) there are two instead: a share of
 * slots, a live partition's among them, migrates to another master (`redis-cli --cluster
 * reshard`), and the master of a live partition is SIGKILLed, its replica takes over and the
 * node comes back as a replica (bench/redis-disruptions.ts).
 *
 *   node dist/bench/chaos.js [--notifications 100000] [--kills 6] [--seed 7]
 *                            [--session-timeout-ms 6000] [--no-redis-restart] [--no-kafka-restart]
 */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync } from 'node:fs';
import { repoRoot, writeRoleConfig } from './support';
import { ensureStack, runBenchmark } from './support/run';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { Kafka, Message } from 'kafkajs';
import { connectionSettings } from '../src/config/environment';
import { useLocalStackEnv } from '../src/config/stack-env';
import { loadWinchesterConfig } from '../src/config/winchester-config';
import { generateNotifications } from '../src/generate';
import { createKafka } from '../src/kafka/client';
import { registerCompressionCodecs } from '../src/kafka/codecs';
import { groupLag } from '../src/kafka/group-lag';
import { PipelineSimulation } from '../src/pipeline/offline';
import { advanceEventClock } from '../src/topology/event-clock';
import { notificationKey } from '../src/topology/records';
import { scanTopics } from '../src/ops/scan';
import { StreamRecord } from '../src/streams/model';
import { PartitionKeys } from '../src/redis/keys';
import { createRedisClient, isCluster, RedisClient } from '../src/redis/client';
import { parseRedisUrl } from '../src/redis/connection-options';
import { failOverPartitionMaster, LocalRedisCluster, reshardLivePartition } from './redis-disruptions';
import { END_OF_TIME, Simulation, streamSummary } from '../src/streams/simulate';
import { loadTopology } from '../src/topology/bundle';
import { topologyDecoders } from '../src/topology/serialization';
import { eventSerializer } from '../src/topology/serialization';
import { defaultTopologySettings, TopologySettings } from '../src/config/topology-settings';
import { ensureTopicsOnce } from '../src/topology/topics';
import { logger } from '../src/util/logger';

const repo = repoRoot;
const cli = join(repo, 'dist', 'src', 'cli', 'main.js');
const topologyDir = join(repo, 'topologies', 'openstack-usage');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const run = promisify(execFile);
const VERDICTS = new Set(['compute.instance.exists.verified', 'compute.instance.exists.failed']);

interface Options {
  notifications: number;
  kills: number;
  seed: string;
  sessionTimeoutMs: number;
  /** Disrupt Redis: restart one Redis; reshard and fail over a master of a cluster. */
  restartRedis: boolean;
  restartKafka: boolean;
  settleTimeoutMs: number;
  /** The Redis of the stream state; REDIS_URL (or the local stack's) unless given. */
  redisUrl?: string;
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      notifications: { type: 'string', default: '100000' },
      kills: { type: 'string', default: '6' },
      seed: { type: 'string', default: '7' },
      'session-timeout-ms': { type: 'string', default: '6000' },
      'no-redis-restart': { type: 'boolean', default: false },
      'no-kafka-restart': { type: 'boolean', default: false },
      'settle-timeout-s': { type: 'string', default: '240' },
    },
  });
  const sessionTimeoutMs = Number(values['session-timeout-ms']);
  if (!(sessionTimeoutMs >= 6000 && sessionTimeoutMs <= 10000)) {
    throw new Error('--session-timeout-ms is 6000 to 10000');
  }
  return {
    notifications: Number(values.notifications),
    kills: Number(values.kills),
    seed: values.seed!,
    sessionTimeoutMs,
    restartRedis: !values['no-redis-restart'],
    restartKafka: !values['no-kafka-restart'],
    settleTimeoutMs: Number(values['settle-timeout-s']) * 1000,
  };
}

/** A seeded PRNG (mulberry32) for the kill schedule: the same seed kills in the same order. */
function prng(seed: string): () => number {
  let a = [...seed].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 2654435761), 0x9e3779b9) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The corpus: a day's evening and the next morning of a generated cloud, so every instance
 * alive at midnight gets its end-of-day .exists and usage streams fire.
 */
function corpus(count: number, seed: string): string[] {
  const hours = 8;
  const lines: string[] = [];
  for (const n of generateNotifications({
    seed,
    start: '2026-03-01T20:00:00Z',
    hours,
    rate: (count / (hours * 3600)) * 1.02,
  })) {
    lines.push(n.json);
    if (lines.length >= count) break;
  }
  return lines;
}

/** What simulate (with pipelines, dry run) makes of the corpus: the reference. */
async function reference(lines: string[]) {
  const config = loadWinchesterConfig(undefined, {});
  const topology = loadTopology(topologyDir, config);
  const streams: StreamRecord[] = [];
  const verdictIds = new Set<string>();
  const simulation = new Simulation(topology.triggers, 'event', (record) => {
    streams.push(record);
    offline.streamFinished(record);
  });
  const offline = new PipelineSimulation(
    simulation,
    {
      pipelines: topology.pipelines,
      handlers: topology.handlers,
      handlerTimeoutMs: 60_000,
      maxHops: config.maxPipelineHops,
      logger: logger.child({}, { level: 'silent' }),
    },
    (event) => {
      if (VERDICTS.has(event.event_type)) verdictIds.add(event.message_id);
    },
  );
  let rejected = 0;
  for (const line of lines) {
    const outcome = topology.distill(line);
    if (outcome.kind === 'event') await offline.push(outcome.event);
    else if (outcome.kind === 'error') rejected++;
  }
  await offline.advance(END_OF_TIME);
  return { streams, verdictIds, rejected };
}

/** A stream's identity: trigger, distinguishing values, kind and message ids in stream order. */
const identity = (record: StreamRecord) => JSON.stringify(streamSummary(record));

/** Keeps one role process running: restarts it whenever it exits unless told to stop. */
class Supervised {
  child?: ChildProcess;
  starts = 0;
  kills = 0;
  private stopping = false;

  constructor(
    readonly name: string,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly logFile: string,
  ) {}

  start(): void {
    this.starts++;
    const log = createWriteStream(this.logFile, { flags: 'a' });
    log.write(`--- start ${this.starts} at ${new Date().toISOString()}\n`);
    const child = spawn(process.execPath, [cli, ...this.args], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.once('exit', (code, signal) => {
      log.end(`--- exit code=${code} signal=${signal}\n`);
      if (this.child === child) this.child = undefined;
      // A crash (Kafka or Redis away, say) is restarted, as a service manager would.
      if (!this.stopping) setTimeout(() => this.child === undefined && !this.stopping && this.start(), 1000);
    });
    this.child = child;
  }

  kill(): void {
    if (!this.child) return;
    this.kills++;
    this.child.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

async function produceSlowly(
  kafka: Kafka,
  topic: string,
  lines: string[],
  seconds: number,
  stop: () => boolean,
) {
  const producer = kafka.producer({ maxInFlightRequests: 1, retry: { retries: 30 } });
  await producer.connect();
  const chunk = 250;
  const started = Date.now();
  for (let i = 0; i < lines.length && !stop(); i += chunk) {
    const messages: Message[] = lines
      .slice(i, i + chunk)
      .map((value) => ({ key: notificationKey(value), value }));
    // The broker may be restarting: keep trying this chunk (at-least-once, like any producer).
    for (;;) {
      try {
        await producer.send({ topic, acks: -1, messages });
        break;
      } catch (error) {
        process.stderr.write(`produce retry: ${(error as Error).message}\n`);
        await sleep(1000);
      }
    }
    const due = started + ((i + chunk) / lines.length) * seconds * 1000;
    if (due > Date.now()) await sleep(due - Date.now());
  }
  await producer.disconnect();
}

/** Records not yet consumed by a group on a topic (all partitions). */
async function lag(kafka: Kafka, groupId: string, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await groupLag(admin, groupId, [topic]);
  } finally {
    await admin.disconnect();
  }
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await check()) return true;
    } catch {
      // The broker or Redis may still be coming back.
    }
    await sleep(1000);
  }
  process.stderr.write(`timed out waiting for ${what}\n`);
  return false;
}

async function readAll(
  kafka: Kafka,
  topic: string,
  visit: (m: { value: Buffer | null }) => void | Promise<void>,
) {
  const report = await scanTopics(kafka, [topic], { idleTimeoutMs: 30_000 }, (_t, _p, message) =>
    visit(message),
  );
  if (!report.complete) throw new Error(`could not read ${topic} to its end: ${report.notes.join('; ')}`);
  return report.recordsRead;
}

type Disruption = 'kill' | 'redis' | 'reshard' | 'failover' | 'kafka';

/** The kills, then each other disruption placed among them at random: a seeded order. */
function schedule(opts: Options, onCluster: boolean, random: () => number): Disruption[] {
  const disruptions: Disruption[] = Array.from({ length: opts.kills }, () => 'kill' as const);
  const others: Disruption[] = [];
  if (opts.restartRedis)
    others.push(...(onCluster ? (['reshard', 'failover'] as const) : (['redis'] as const)));
  if (opts.restartKafka) others.push('kafka');
  for (const other of others) disruptions.splice(Math.floor(random() * (disruptions.length + 1)), 0, other);
  return disruptions;
}

/** What the disruptions act on. */
interface Targets {
  roles: Supervised[];
  random: () => number;
  redis: RedisClient;
  /** The local cluster's script, when the stream state is on a cluster that is disrupted. */
  cluster?: LocalRedisCluster;
  partitions: PartitionKeys[];
}

async function restartService(script: 'redis.sh' | 'kafka.sh'): Promise<void> {
  await run('bash', [join(repo, 'scripts', script), 'stop']);
  await run('bash', [join(repo, 'scripts', script), 'start']);
}

/** Carries out one disruption and says what it did. */
async function disrupt(disruption: Disruption, targets: Targets): Promise<string> {
  const { redis, cluster, partitions } = targets;
  if (disruption === 'kill') {
    const victim = targets.roles[Math.floor(targets.random() * targets.roles.length)];
    victim.kill();
    return `kill ${victim.name}`;
  }
  if (disruption === 'redis') return restartService('redis.sh').then(() => 'restart redis');
  if (disruption === 'kafka') return restartService('kafka.sh').then(() => 'restart kafka');
  if (!isCluster(redis) || !cluster) throw new Error(`a ${disruption} needs a Redis Cluster`);
  return disruption === 'reshard'
    ? reshardLivePartition(redis, cluster, partitions)
    : failOverPartitionMaster(redis, cluster, partitions, targets.random);
}

/** What every step of a run uses: its options, namespace, topics, clients and progress lines. */
interface ChaosContext {
  opts: Options;
  kafka: Kafka;
  kafkaBrokers: string[];
  settings: TopologySettings;
  runDir: string;
  redisUrl: string;
  onCluster: boolean;
  schemaRegistryUrl?: string;
  say: (text: string) => void;
}

/**
 * Two processes of each role, started, logging to the run's logs/. They read a config of their
 * own: short session timeout, no metrics port clashes.
 */
function startRoles(ctx: ChaosContext): Supervised[] {
  const configFile = writeRoleConfig(ctx.runDir, { sessionTimeoutMs: ctx.opts.sessionTimeoutMs });
  const env = {
    KAFKA_BROKERS: ctx.kafkaBrokers.join(','),
    REDIS_URL: ctx.redisUrl,
    WINCHESTER_NAMESPACE: ctx.settings.namespace,
    WINCHESTER_CLOCK: 'event',
    KAFKAJS_NO_PARTITIONER_WARNING: '1',
  };
  const roles: Supervised[] = [];
  for (const role of ['distiller', 'matcher', 'worker']) {
    for (let i = 1; i <= 2; i++) {
      const log = join(ctx.runDir, 'logs', `${role}-${i}.log`);
      roles.push(new Supervised(`${role}-${i}`, [role, '-c', configFile, '-t', topologyDir], env, log));
    }
  }
  for (const r of roles) r.start();
  return roles;
}

/**
 * Chaos while the corpus goes in: the disruptions at ≥ 2× the session timeout, the input
 * produced evenly over as long. Returns what was done, in order.
 */
async function produceUnderChaos(
  ctx: ChaosContext,
  lines: string[],
  disruptions: Disruption[],
  targets: Targets,
): Promise<string[]> {
  const interval = 2 * ctx.opts.sessionTimeoutMs + 1000;
  const produceSeconds = Math.max(20, (disruptions.length * interval) / 1000);
  ctx.say(
    `producing over ${produceSeconds}s; disruptions every ${interval / 1000}s: ${disruptions.join(', ')}`,
  );
  const events: string[] = [];
  let done = false;
  const producing = produceSlowly(
    ctx.kafka,
    ctx.settings.inputTopics[0],
    lines,
    produceSeconds,
    () => false,
  ).finally(() => (done = true));
  for (const disruption of disruptions) {
    await sleep(interval);
    if (disruption !== 'kill') ctx.say(`${disruption}${done ? ' (input finished)' : ''}…`);
    const what = await disrupt(disruption, targets);
    ctx.say(`${what}${done ? ' (input finished)' : ''}`);
    events.push(what);
  }
  await producing;
  return events;
}

/**
 * Waits until the input is distilled and matched, advances the event clock past every
 * expiration, and waits until every stream has completed; false when either took too long.
 */
async function settle(ctx: ChaosContext, unfinished: () => Promise<number>): Promise<boolean> {
  const { kafka, settings, opts } = ctx;
  const group = (role: string) => `${settings.namespace}.${role}`;
  ctx.say('input produced; waiting for the distillers and matchers to take it all');
  const drained = await waitFor('input to be distilled and matched', opts.settleTimeoutMs, async () => {
    const inputLag = await lag(kafka, group('distiller'), settings.inputTopics[0]);
    const eventsLag = await lag(kafka, group('matcher'), settings.topics.events);
    return inputLag === 0 && eventsLag === 0;
  });
  // Same as `winchester clock advance --end`: past every expiration.
  await advanceEventClock(kafka, settings.topics.repartition, END_OF_TIME);
  ctx.say('event clock advanced to the end; waiting for every stream to complete');
  const settled = await waitFor('every stream to complete', opts.settleTimeoutMs, async () => {
    const behind =
      (await lag(kafka, group('matcher'), settings.topics.repartition)) +
      (await lag(kafka, group('matcher'), settings.topics.events)) +
      (await lag(kafka, group('worker'), settings.topics.streams));
    return behind === 0 && (await unfinished()) === 0;
  });
  return drained && settled;
}

/** What the topology wrote: its streams, their completions, the usage verdicts and the DLQs. */
interface Outcome {
  streamRecords: Map<string, StreamRecord>;
  streamCopies: number;
  /** Per stream id, its distinct `serial/outcome` completions. */
  completions: Map<string, Set<string>>;
  completionCopies: number;
  notCompleted: number;
  /** Per original .exists message id, the verdict ids the pipelines gave it. */
  verdictsByOriginal: Map<string, Set<string>>;
  verdictIds: Set<string>;
  verdictCopies: number;
  dlqTotal: number;
}

async function readStreams(ctx: ChaosContext, outcome: Outcome): Promise<void> {
  const decoders = topologyDecoders(ctx.schemaRegistryUrl);
  await readAll(ctx.kafka, ctx.settings.topics.streams, async (m) => {
    const record = await decoders.streams.decode(m.value!);
    outcome.streamCopies++;
    outcome.streamRecords.set(record.stream_id, record);
  });
  await readAll(ctx.kafka, ctx.settings.topics.completed, async (m) => {
    const c = await decoders.completions.decode(m.value!);
    outcome.completionCopies++;
    if (c.outcome !== 'completed') outcome.notCompleted++;
    const seen = outcome.completions.get(c.stream_id) ?? new Set<string>();
    seen.add(`${c.serial}/${c.outcome}`);
    outcome.completions.set(c.stream_id, seen);
  });
}

async function readVerdicts(ctx: ChaosContext, outcome: Outcome): Promise<void> {
  // Events are JSON, or Avro when SCHEMA_REGISTRY_URL is set (the roles then write Avro).
  const serializer = await eventSerializer(ctx.schemaRegistryUrl, ctx.settings.topics.events);
  await readAll(ctx.kafka, ctx.settings.topics.events, async (m) => {
    const event = await serializer.decode(m.value!);
    // Pipelines' new events carry their generation; recorded verdicts in the input do not.
    if (!VERDICTS.has(event.event_type) || !event.hops) return;
    outcome.verdictCopies++;
    outcome.verdictIds.add(event.message_id);
    const original = String(event.traits.original_message_id?.value);
    const ids = outcome.verdictsByOriginal.get(original) ?? new Set<string>();
    ids.add(event.message_id);
    outcome.verdictsByOriginal.set(original, ids);
  });
}

async function readOutcome(ctx: ChaosContext): Promise<Outcome> {
  const outcome: Outcome = {
    streamRecords: new Map(),
    streamCopies: 0,
    completions: new Map(),
    completionCopies: 0,
    notCompleted: 0,
    verdictsByOriginal: new Map(),
    verdictIds: new Set(),
    verdictCopies: 0,
    dlqTotal: 0,
  };
  await readStreams(ctx, outcome);
  await readVerdicts(ctx, outcome);
  const { topics } = ctx.settings;
  for (const topic of [topics.notificationsDlq, topics.eventsDlq, topics.streamsDlq]) {
    outcome.dlqTotal += await readAll(ctx.kafka, topic, () => undefined);
  }
  return outcome;
}

type Reference = Awaited<ReturnType<typeof reference>>;
type Row = [string, string | number, string | number, boolean];

/** How many streams of each identity. */
function identities(records: Iterable<StreamRecord>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of records) counts.set(identity(r), (counts.get(identity(r)) ?? 0) + 1);
  return counts;
}

/** The accounting: a row per check (name, expected, actual, whether it holds). */
function accounting(
  notifications: number,
  expected: Reference,
  outcome: Outcome,
  left: number,
  inTime: boolean,
) {
  const expectedIds = identities(expected.streams);
  const actualIds = identities(outcome.streamRecords.values());
  const missing = [...expectedIds.keys()].filter((k) => !actualIds.has(k));
  const extra = [...actualIds.keys()].filter((k) => !expectedIds.has(k));
  const twice = [...actualIds.entries()].filter(
    ([k, n]) => n > (expectedIds.get(k) ?? 0) && expectedIds.has(k),
  );
  const notFinished = [...outcome.streamRecords.keys()].filter((id) => !outcome.completions.has(id));
  const conflicting = [...outcome.completions.values()].filter((s) => s.size > 1).length;
  const { verdictIds, verdictsByOriginal } = outcome;
  const verdictSplit = [...verdictsByOriginal.values()].filter((s) => s.size > 1).length;
  const verdictMissing = [...expected.verdictIds].filter((id) => !verdictIds.has(id)).length;
  const verdictExtra = [...verdictIds].filter((id) => !expected.verdictIds.has(id)).length;
  const rows: Row[] = [
    ['notifications produced', notifications, notifications, true],
    ['streams (distinct identities)', expectedIds.size, actualIds.size, expectedIds.size === actualIds.size],
    ['  missing from the topology', 0, missing.length, missing.length === 0],
    ['  not in simulate', 0, extra.length, extra.length === 0],
    ['  emitted as two distinct streams', 0, twice.length, twice.length === 0],
    ['stream records on streams (copies)', '', outcome.streamCopies, true],
    ['streams without a completion', 0, notFinished.length, notFinished.length === 0],
    ['streams completed twice (differently)', 0, conflicting, conflicting === 0],
    ['completions not "completed"', 0, outcome.notCompleted, outcome.notCompleted === 0],
    ['completion records (copies)', '', outcome.completionCopies, true],
    ['streams left in Redis', 0, left, left === 0],
    [
      'usage verdict ids',
      expected.verdictIds.size,
      verdictIds.size,
      verdictIds.size === expected.verdictIds.size,
    ],
    [
      '  verdict ids missing / extra',
      '0 / 0',
      `${verdictMissing} / ${verdictExtra}`,
      verdictMissing + verdictExtra === 0,
    ],
    ['  .exists with two verdict ids', 0, verdictSplit, verdictSplit === 0],
    ['verdict records on events (copies)', '', outcome.verdictCopies, true],
    ['DLQ records', expected.rejected, outcome.dlqTotal, outcome.dlqTotal === expected.rejected],
    ['settled in time', 'yes', inTime ? 'yes' : 'no', inTime],
  ];
  return { rows, missing, extra };
}

/** Prints the accounting on stdout; whether every check holds. */
function printAccounting(
  ctx: ChaosContext,
  events: string[],
  roles: Supervised[],
  { rows, missing, extra }: ReturnType<typeof accounting>,
): boolean {
  const width = Math.max(...rows.map((r) => r[0].length));
  let out = `\nchaos run ${ctx.settings.namespace} (${ctx.runDir})\n`;
  out += `disruptions: ${events.join(', ')}\n`;
  out += `process starts: ${roles.map((r) => `${r.name}×${r.starts}`).join(' ')}\n\n`;
  out += `${'check'.padEnd(width)}  ${'expected'.padStart(10)}  ${'actual'.padStart(10)}\n`;
  for (const [name, want, got, ok] of rows) {
    out += `${name.padEnd(width)}  ${String(want).padStart(10)}  ${String(got).padStart(10)}  ${ok ? 'ok' : 'MISMATCH'}\n`;
  }
  const ok = rows.every((r) => r[3]);
  for (const k of missing.slice(0, 5)) out += `missing: ${k.slice(0, 300)}\n`;
  for (const k of extra.slice(0, 5)) out += `extra:   ${k.slice(0, 300)}\n`;
  out += ok ? '\nPASS: nothing lost, nothing doubled\n' : '\nFAIL: discrepancies above\n';
  process.stdout.write(out);
  return ok;
}

/**
 * The run's connections, namespace, topics (created) and working directory, and the local
 * cluster's script when the stream state is on a cluster that is to be disrupted.
 */
async function openRun(opts: Options): Promise<{ ctx: ChaosContext; cluster?: LocalRedisCluster }> {
  useLocalStackEnv(join(repo, '.stack', 'env'));
  await registerCompressionCodecs();
  const connection = connectionSettings();
  const redisUrl = opts.redisUrl ?? connection.redisUrl;
  const onCluster = parseRedisUrl(redisUrl).topology === 'cluster';
  // Checked before anything starts: the disruptions need the cluster of scripts/redis-cluster.sh.
  const cluster = onCluster && opts.restartRedis ? await LocalRedisCluster.of(redisUrl) : undefined;
  const kafka = createKafka(connection, 'chaos');
  const namespace = `chaos${Date.now().toString(36)}`;
  const runDir = mkdtempSync(join(tmpdir(), `winchester-${namespace}-`));
  mkdirSync(join(runDir, 'logs'));
  const settings = defaultTopologySettings({
    namespace,
    clock: 'event',
    sessionTimeoutMs: opts.sessionTimeoutMs,
  });
  await ensureTopicsOnce(kafka, settings);
  const t0 = Date.now();
  const say = (text: string) =>
    process.stderr.write(`[chaos ${((Date.now() - t0) / 1000).toFixed(1)}s] ${text}\n`);
  const { kafkaBrokers, schemaRegistryUrl } = connection;
  const ctx = { opts, kafka, kafkaBrokers, settings, runDir, redisUrl, onCluster, schemaRegistryUrl, say };
  return { ctx, cluster };
}

export async function chaos(opts: Options): Promise<boolean> {
  const { ctx, cluster } = await openRun(opts);
  const { settings, say } = ctx;
  const lines = corpus(opts.notifications, opts.seed);
  say(`${lines.length} notifications generated (seed ${opts.seed}); computing the reference with simulate…`);
  const expected = await reference(lines);
  say(`reference: ${expected.streams.length} streams, ${expected.verdictIds.size} usage verdicts`);
  const roles = startRoles(ctx);
  await sleep(3000);

  // Kills, the Redis disruptions and a Kafka restart in an order the seed decides.
  const random = prng(opts.seed);
  const disruptions = schedule(opts, ctx.onCluster, random);
  const redis = createRedisClient(ctx.redisUrl);
  const partitions = Array.from(
    { length: settings.partitions.repartition },
    (_, p) => new PartitionKeys(settings.namespace, p),
  );
  const unfinished = async () => {
    let left = 0;
    for (const keys of partitions) left += await redis.scard(keys.ids);
    return left;
  };
  try {
    const targets = { roles, random, redis, cluster, partitions };
    const events = await produceUnderChaos(ctx, lines, disruptions, targets);
    const inTime = await settle(ctx, unfinished);
    for (const r of roles) await r.stop();
    const outcome = await readOutcome(ctx);
    const checks = accounting(lines.length, expected, outcome, await unfinished(), inTime);
    return printAccounting(ctx, events, roles, checks);
  } finally {
    // Also when the run fails half-way: no role process outlives it (a no-op after the stop above).
    for (const r of roles) await r.stop();
    redis.disconnect();
  }
}

if (require.main === module) {
  runBenchmark('chaos', async () => {
    const opts = options(process.argv.slice(2));
    ensureStack();
    return (await chaos(opts)) ? 0 : 1;
  });
}
