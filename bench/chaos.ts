/**
 * Chaos harness: the real topology as separate processes (2 distillers, 2 matchers,
 * 2 workers) on the local broker and Redis, replaying a generated corpus under the event
 * clock while processes are SIGKILLed (and restarted) at intervals of at least twice the
 * consumer session timeout, Redis is restarted once and the Kafka broker once. At the end
 * it reconciles `streams`, `streams.completed`, the DLQs, Redis and the usage verdicts on
 * `events` against `simulate --pipelines` on the same corpus, prints the accounting, and
 * exits non-zero on any discrepancy.
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
import Redis from 'ioredis';
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
  restartRedis: boolean;
  restartKafka: boolean;
  settleTimeoutMs: number;
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

export async function chaos(opts: Options): Promise<boolean> {
  useLocalStackEnv(join(repo, '.stack', 'env'));
  await registerCompressionCodecs();
  const connection = connectionSettings();
  const kafka = createKafka(connection, 'chaos');
  const namespace = `chaos${Date.now().toString(36)}`;
  const runDir = mkdtempSync(join(tmpdir(), `winchester-${namespace}-`));
  mkdirSync(join(runDir, 'logs'));
  const settings: TopologySettings = defaultTopologySettings({
    namespace,
    clock: 'event',
    sessionTimeoutMs: opts.sessionTimeoutMs,
  });
  await ensureTopicsOnce(kafka, settings);

  const say = (text: string) =>
    process.stderr.write(`[chaos ${((Date.now() - t0) / 1000).toFixed(1)}s] ${text}\n`);
  const t0 = Date.now();
  const lines = corpus(opts.notifications, opts.seed);
  say(`${lines.length} notifications generated (seed ${opts.seed}); computing the reference with simulate…`);
  const expected = await reference(lines);
  say(`reference: ${expected.streams.length} streams, ${expected.verdictIds.size} usage verdicts`);

  // Every role process reads this config: short session timeout, no metrics port clashes.
  const configFile = writeRoleConfig(runDir, { sessionTimeoutMs: opts.sessionTimeoutMs });
  const env = {
    KAFKA_BROKERS: connection.kafkaBrokers.join(','),
    REDIS_URL: connection.redisUrl,
    WINCHESTER_NAMESPACE: namespace,
    WINCHESTER_CLOCK: 'event',
    KAFKAJS_NO_PARTITIONER_WARNING: '1',
  };
  const roles: Supervised[] = [];
  for (const role of ['distiller', 'matcher', 'worker']) {
    for (let i = 1; i <= 2; i++) {
      roles.push(
        new Supervised(
          `${role}-${i}`,
          [role, '-c', configFile, '-t', topologyDir],
          env,
          join(runDir, 'logs', `${role}-${i}.log`),
        ),
      );
    }
  }
  for (const r of roles) r.start();
  await sleep(3000);

  // Chaos while the corpus goes in: kills at ≥ 2× the session timeout, one Redis and one
  // Kafka restart among them, in a seeded order.
  const random = prng(opts.seed);
  const interval = 2 * opts.sessionTimeoutMs + 1000;
  const disruptions: string[] = [];
  for (let k = 0; k < opts.kills; k++) disruptions.push('kill');
  if (opts.restartRedis) disruptions.splice(Math.floor(random() * (disruptions.length + 1)), 0, 'redis');
  if (opts.restartKafka) disruptions.splice(Math.floor(random() * (disruptions.length + 1)), 0, 'kafka');
  const produceSeconds = Math.max(20, (disruptions.length * interval) / 1000);
  say(`producing over ${produceSeconds}s; disruptions every ${interval / 1000}s: ${disruptions.join(', ')}`);
  const events: string[] = [];
  let done = false;
  const producing = produceSlowly(kafka, settings.inputTopics[0], lines, produceSeconds, () => false).finally(
    () => (done = true),
  );
  for (const disruption of disruptions) {
    await sleep(interval);
    if (disruption === 'kill') {
      const victim = roles[Math.floor(random() * roles.length)];
      say(`SIGKILL ${victim.name}${done ? ' (input finished)' : ''}`);
      victim.kill();
      events.push(`kill ${victim.name}`);
    } else if (disruption === 'redis') {
      say('restarting Redis');
      await run('bash', [join(repo, 'scripts', 'redis.sh'), 'stop']);
      await run('bash', [join(repo, 'scripts', 'redis.sh'), 'start']);
      events.push('restart redis');
    } else {
      say('restarting the Kafka broker');
      await run('bash', [join(repo, 'scripts', 'kafka.sh'), 'stop']);
      await run('bash', [join(repo, 'scripts', 'kafka.sh'), 'start']);
      events.push('restart kafka');
    }
  }
  await producing;
  say('input produced; waiting for the distillers and matchers to take it all');
  const drained = await waitFor('input to be distilled and matched', opts.settleTimeoutMs, async () => {
    const inputLag = await lag(kafka, `${namespace}.distiller`, settings.inputTopics[0]);
    const eventsLag = await lag(kafka, `${namespace}.matcher`, settings.topics.events);
    return inputLag === 0 && eventsLag === 0;
  });
  // Same as `winchester clock advance --end`: past every expiration.
  await advanceEventClock(kafka, settings.topics.repartition, END_OF_TIME);
  say('event clock advanced to the end; waiting for every stream to complete');
  const redis = new Redis(connection.redisUrl);
  const unfinished = async () => {
    let left = 0;
    for (let p = 0; p < settings.partitions.repartition; p++)
      left += await redis.scard(new PartitionKeys(namespace, p).ids);
    return left;
  };
  let completedIds = new Set<string>();
  const settled = await waitFor('every stream to complete', opts.settleTimeoutMs, async () => {
    const behind =
      (await lag(kafka, `${namespace}.matcher`, settings.topics.repartition)) +
      (await lag(kafka, `${namespace}.matcher`, settings.topics.events)) +
      (await lag(kafka, `${namespace}.worker`, settings.topics.streams));
    return behind === 0 && (await unfinished()) === 0;
  });
  for (const r of roles) await r.stop();

  // Reconcile.
  const streamRecords = new Map<string, StreamRecord>();
  let streamCopies = 0;
  const decoders = topologyDecoders(connection.schemaRegistryUrl);
  await readAll(kafka, settings.topics.streams, async (m) => {
    const record = await decoders.streams.decode(m.value!);
    streamCopies++;
    streamRecords.set(record.stream_id, record);
  });
  const completions = new Map<string, Set<string>>();
  let completionCopies = 0;
  let notCompleted = 0;
  await readAll(kafka, settings.topics.completed, async (m) => {
    const c = await decoders.completions.decode(m.value!);
    completionCopies++;
    if (c.outcome !== 'completed') notCompleted++;
    const seen = completions.get(c.stream_id) ?? new Set<string>();
    seen.add(`${c.serial}/${c.outcome}`);
    completions.set(c.stream_id, seen);
  });
  completedIds = new Set(completions.keys());
  const verdictsByOriginal = new Map<string, Set<string>>();
  const verdictIds = new Set<string>();
  let verdictCopies = 0;
  // Events are JSON, or Avro when SCHEMA_REGISTRY_URL is set (the roles then write Avro).
  const serializer = await eventSerializer(connection.schemaRegistryUrl, settings.topics.events);
  await readAll(kafka, settings.topics.events, async (m) => {
    const event = await serializer.decode(m.value!);
    // Pipelines' new events carry their generation; recorded verdicts in the input do not.
    if (!VERDICTS.has(event.event_type) || !event.hops) return;
    verdictCopies++;
    verdictIds.add(event.message_id);
    const original = String(event.traits.original_message_id?.value);
    const ids = verdictsByOriginal.get(original) ?? new Set<string>();
    ids.add(event.message_id);
    verdictsByOriginal.set(original, ids);
  });
  const dlq: Record<string, number> = {};
  for (const topic of [
    settings.topics.notificationsDlq,
    settings.topics.eventsDlq,
    settings.topics.streamsDlq,
  ]) {
    dlq[topic] = await readAll(kafka, topic, () => undefined);
  }
  const left = await unfinished();
  redis.disconnect();

  const expectedIds = new Map<string, number>();
  for (const r of expected.streams) expectedIds.set(identity(r), (expectedIds.get(identity(r)) ?? 0) + 1);
  const actualIds = new Map<string, number>();
  for (const r of streamRecords.values()) actualIds.set(identity(r), (actualIds.get(identity(r)) ?? 0) + 1);
  const missing = [...expectedIds.keys()].filter((k) => !actualIds.has(k));
  const extra = [...actualIds.keys()].filter((k) => !expectedIds.has(k));
  const twice = [...actualIds.entries()].filter(
    ([k, n]) => n > (expectedIds.get(k) ?? 0) && expectedIds.has(k),
  );
  const notFinished = [...streamRecords.keys()].filter((id) => !completedIds.has(id));
  const conflicting = [...completions.values()].filter((s) => s.size > 1).length;
  const verdictSplit = [...verdictsByOriginal.values()].filter((s) => s.size > 1).length;
  const verdictMissing = [...expected.verdictIds].filter((id) => !verdictIds.has(id)).length;
  const verdictExtra = [...verdictIds].filter((id) => !expected.verdictIds.has(id)).length;
  const dlqTotal = Object.values(dlq).reduce((a, b) => a + b, 0);

  const rows: Array<[string, string | number, string | number, boolean]> = [
    ['notifications produced', lines.length, lines.length, true],
    ['streams (distinct identities)', expectedIds.size, actualIds.size, expectedIds.size === actualIds.size],
    ['  missing from the topology', 0, missing.length, missing.length === 0],
    ['  not in simulate', 0, extra.length, extra.length === 0],
    ['  emitted as two distinct streams', 0, twice.length, twice.length === 0],
    ['stream records on streams (copies)', '', streamCopies, true],
    ['streams without a completion', 0, notFinished.length, notFinished.length === 0],
    ['streams completed twice (differently)', 0, conflicting, conflicting === 0],
    ['completions not "completed"', 0, notCompleted, notCompleted === 0],
    ['completion records (copies)', '', completionCopies, true],
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
    ['verdict records on events (copies)', '', verdictCopies, true],
    ['DLQ records', expected.rejected, dlqTotal, dlqTotal === expected.rejected],
    ['settled in time', 'yes', drained && settled ? 'yes' : 'no', drained && settled],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  let out = `\nchaos run ${namespace} (${runDir})\n`;
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

if (require.main === module) {
  runBenchmark('chaos', async () => {
    const opts = options(process.argv.slice(2));
    ensureStack();
    return (await chaos(opts)) ? 0 : 1;
  });
}
