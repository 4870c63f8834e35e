/**
 * Event store benchmark: one run, one PostgreSQL (EVENT_STORE_URL; the local stack's, started
 * when none is running), one workload (bench/store-driver.ts), each part in a fresh database
 * that the run creates and drops:
 *  1. baseline: upstream Panko 10.0.0's record_events (one commit per event) on the first
 *     --upstream-events events, through scripts/vectors/panko_upstream.py;
 *  2. the archiver role, in process, on the first --archived events, produced first to a
 *     fresh namespace's `events` topic: from its start until all are stored, and from its
 *     first record read (the group join left out); both as ratios to (1);
 *  3. the driver, in the archiver's database filled to --events with recordEvents in batches
 *     of 5000: recordEvents alone in batches of 500 and 5000, bytes per stored event, p50/p99
 *     of filtered queries, and the expiry of one day.
 *
 *   npm run bench:store [-- --upstream-events 3000 --archived 200000 --events 1000000
 *                          --days 5 --queries 300 --chunk-size 500 --json]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, Message } from 'kafkajs';
import pg from 'pg';
import { connectionSettings, eventStoreUrlFrom } from '../src/config/environment';
import { defaultTopologySettings, TopologySettings } from '../src/config/topology-settings';
import { createKafka } from '../src/kafka/client';
import { registerCompressionCodecs } from '../src/kafka/codecs';
import { createPgPool } from '../src/postgres/client';
import { createDatabase, ScratchDatabase } from '../src/postgres/databases';
import { PgEventStore } from '../src/postgres/event-store';
import { upgradeSchema } from '../src/postgres/migrations';
import { startArchiver } from '../src/topology/archiver-role';
import { CHUNK_SIZE } from '../src/topology/batch-loop';
import { produceAll } from '../src/topology/role-runner';
import { ensureTopicsOnce } from '../src/topology/topics';
import { parseCountOptions, repoRoot } from './support';
import { ensureStack, runBenchmark } from './support/run';
import {
  expireFirstDay,
  latencies,
  Latency,
  loadEvents,
  NovaLikeEvents,
  storedSize,
  wireLine,
} from './store-driver';

interface Options {
  upstreamEvents: number;
  archived: number;
  events: number;
  days: number;
  queries: number;
  chunkSize: number;
  json: boolean;
}

const NUMERIC_OPTIONS: Record<string, keyof Omit<Options, 'json'>> = {
  '--upstream-events': 'upstreamEvents',
  '--archived': 'archived',
  '--events': 'events',
  '--days': 'days',
  '--queries': 'queries',
  '--chunk-size': 'chunkSize',
};

/** The last events of the workload, recorded alone in batches of 500 and 5000 (half each). */
const tailOf = (events: number) => Math.min(100_000, Math.floor(events / 10));

function parseOptions(argv: string[]): Options {
  const options = parseCountOptions<Options>(
    argv,
    {
      upstreamEvents: 3000,
      archived: 200_000,
      events: 1_000_000,
      days: 5,
      queries: 300,
      chunkSize: CHUNK_SIZE,
      json: false,
    },
    NUMERIC_OPTIONS,
  );
  if (options.upstreamEvents > options.archived) throw new Error('--upstream-events exceeds --archived');
  if (options.archived + tailOf(options.events) > options.events) {
    throw new Error(`--events must be at least --archived + ${tailOf(options.events)} (the timed tail)`);
  }
  return options;
}

/** A database of this run's own on the server of `server` (a postgres:// URL), dropped with `drop`. */
const freshDatabase = (server: string, label: string): Promise<ScratchDatabase> =>
  createDatabase(server, `bench_store_${label}_${randomBytes(4).toString('hex')}`);

/**
 * Runs a program and returns its stdout; its stderr goes to ours (progress, and why it failed).
 * A failure names `what` was being done.
 */
function output(what: string, file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    child.on('error', (error) => reject(new Error(`${what}: ${error.message}`)));
    child.on('close', (code) =>
      code === 0 ? resolve(text) : reject(new Error(`${what}: ${file} exited with ${code} (output above)`)),
    );
  });
}

interface Rate {
  events: number;
  seconds: number;
  perSecond: number;
}

/** Upstream Panko's record_events on these wire-form events, in a fresh database. */
async function upstreamBaseline(server: string, lines: string[]): Promise<Rate> {
  const venvScript = join(repoRoot, 'scripts', 'vectors', 'panko-venv.sh');
  const venv = (await output("making upstream Panko's virtualenv", 'bash', [venvScript])).trim();
  const dir = mkdtempSync(join(tmpdir(), 'bench-store-'));
  const file = join(dir, 'events.jsonl');
  writeFileSync(file, `${lines.join('\n')}\n`);
  const db = await freshDatabase(server, 'upstream');
  try {
    const script = join(repoRoot, 'scripts', 'vectors', 'panko_upstream.py');
    const args = [script, 'record', '--url', db.url, '--events', file];
    const out = await output('running upstream Panko', join(venv, 'bin', 'python'), args);
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as { events: number; seconds: number };
    const stored = await countRows(db.url, 'event');
    if (stored !== lines.length) throw new Error(`upstream Panko stored ${stored} of ${lines.length} events`);
    return { events: result.events, seconds: result.seconds, perSecond: result.events / result.seconds };
  } finally {
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function countRows(url: string, table: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    return Number(result.rows[0].n);
  } finally {
    await client.end();
  }
}

/** The events on the namespace's `events` topic, keyed by instance as the distiller keys them. */
async function produceEvents(kafka: Kafka, settings: TopologySettings, messages: Message[]): Promise<number> {
  await ensureTopicsOnce(kafka, settings);
  const started = performance.now();
  await produceAll(kafka, settings.topics.events, messages);
  return (performance.now() - started) / 1000;
}

async function deleteNamespaceTopics(kafka: Kafka, namespace: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(`${namespace}.`));
    if (topics.length) await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
}

/**
 * CPU seconds used so far by the server processes serving `database`, when PostgreSQL runs on
 * this machine (Linux: /proc); undefined when none is found. Clock ticks are 1/100 s.
 */
function backendCpuSeconds(database: string): number | undefined {
  let seconds: number | undefined;
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!command.startsWith('postgres: ') || !command.includes(` ${database} `)) continue;
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      seconds = (seconds ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // The process ended meanwhile, or this is not Linux.
    }
  }
  return seconds;
}

interface ArchiverFigures extends Rate {
  /** From the first record read to the last event stored: the group join left out. */
  steadyPerSecond: number;
  joinSeconds: number;
  chunks: number;
  /** Store calls' time summed over the partitions consumed concurrently. */
  storeCallSeconds: number;
  /** CPU time per event stored: this process (the archiver, kafkajs) and PostgreSQL's backends (when local). */
  cpuMicrosPerEvent: { archiver: number; postgres?: number };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The archiver on a fresh database, from start until `count` events are stored; the database stays. */
async function archiverIngest(
  kafka: Kafka,
  settings: TopologySettings,
  db: ScratchDatabase,
  count: number,
  chunkSize: number,
): Promise<ArchiverFigures> {
  const pool = createPgPool(db.url, { applicationName: 'winchester-archiver' });
  await upgradeSchema(pool);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const role = await startArchiver(kafka, settings, new PgEventStore(pool), { chunkSize });
  let firstRead: number | undefined;
  let chunks = 0;
  let storeCallSeconds = 0;
  role.events
    .on('consumed', () => (firstRead ??= performance.now()))
    .on('written', ({ seconds }) => {
      chunks++;
      storeCallSeconds += seconds;
    });
  let ended: number;
  let backendSeconds: number | undefined;
  try {
    await untilArchived(role.counters, count);
    ended = performance.now();
    backendSeconds = backendCpuSeconds(db.name); // before the pool's connections end
  } finally {
    await role.stop(); // ends the pool too
  }
  const cpu = process.cpuUsage(cpuBefore);
  const seconds = (ended - started) / 1000;
  const perEvent = (cpuSeconds: number) => (cpuSeconds * 1e6) / count;
  return {
    events: count,
    seconds,
    perSecond: count / seconds,
    steadyPerSecond: (count * 1000) / (ended - firstRead!),
    joinSeconds: (firstRead! - started) / 1000,
    chunks,
    storeCallSeconds,
    cpuMicrosPerEvent: {
      archiver: perEvent((cpu.user + cpu.system) / 1e6),
      postgres: backendSeconds === undefined ? undefined : perEvent(backendSeconds),
    },
  };
}

type Counters = Awaited<ReturnType<typeof startArchiver>>['counters'];

/** Waits until `count` events are stored; anything refused, duplicated or a minute without progress fails. */
async function untilArchived(counters: Counters, count: number): Promise<void> {
  let last = -1;
  let progressAt = performance.now();
  while (counters.stored < count) {
    const refused = [...counters.rejected.values()].reduce((a, b) => a + b, 0) + counters.duplicates;
    if (refused > 0) throw new Error(`the archiver refused or found duplicate ${refused} events`);
    if (counters.stored !== last) {
      last = counters.stored;
      progressAt = performance.now();
    } else if (performance.now() - progressAt > 60_000) {
      throw new Error(
        `the archiver stored ${counters.stored} of ${count} events and then nothing for a minute ` +
          `(${counters.storeErrors} store errors)`,
      );
    }
    await sleep(10);
  }
}

interface DriverFigures {
  fill: { events: number; perSecond: number };
  batch500PerSecond: number;
  batch5000PerSecond: number;
  storedEvents: number;
  bytesPerEvent: number;
  queries: { name: string; latency: Latency }[];
  expiry: { ms: number; events: number; partitionsDropped: number };
}

/** The driver on the archiver's database: filled to the whole workload, then its figures. */
async function driverFigures(url: string, workload: NovaLikeEvents, from: number, queries: number) {
  const pool = createPgPool(url, { max: 4 });
  const store = new PgEventStore(pool);
  try {
    const tail = tailOf(workload.total);
    const fillCount = workload.total - tail - from;
    progress(`filling to ${workload.total - tail} events with recordEvents, batches of 5000…`);
    const fill = { events: fillCount, perSecond: await loadEvents(store, workload, from, fillCount, 5000) };
    // Timed once autovacuum has nothing left to do, so it does not compete for the CPUs.
    await pool.query('VACUUM ANALYZE events');
    const half = Math.floor(tail / 2);
    const start = workload.total - tail;
    progress('recordEvents alone, batches of 500 and 5000…');
    const batch500PerSecond = await loadEvents(store, workload, start, half, 500);
    const batch5000PerSecond = await loadEvents(store, workload, start + half, tail - half, 5000);
    await pool.query('ANALYZE events');
    const size = await storedSize(pool);
    progress(`queries, ${queries} of each shape…`);
    const figures: DriverFigures['queries'] = [];
    for (const [name, query] of workload.queryShapes()) {
      figures.push({ name, latency: await latencies(queries, () => store.getEvents(...query())) });
    }
    const expiry = await expireFirstDay(store, workload);
    return {
      fill,
      batch500PerSecond,
      batch5000PerSecond,
      storedEvents: size.events,
      bytesPerEvent: size.bytesPerEvent,
      queries: figures,
      expiry: { ms: expiry.ms, events: expiry.events, partitionsDropped: expiry.partitionsDropped },
    } satisfies DriverFigures;
  } finally {
    await store.close();
  }
}

const progress = (message: string) => process.stderr.write(`${message}\n`);

/** What the figures were measured on. */
async function serverDescription(server: string): Promise<string> {
  const client = new pg.Client({ connectionString: server });
  await client.connect();
  try {
    const setting = async (name: string) =>
      (await client.query<{ v: string }>(`SELECT current_setting('${name}') AS v`)).rows[0].v;
    const version = (await setting('server_version')).split(' ')[0];
    return (
      `PostgreSQL ${version} (synchronous_commit ${await setting('synchronous_commit')}, ` +
      `shared_buffers ${await setting('shared_buffers')}), ${cpus().length} CPUs, Node.js ${process.version}, ` +
      `load average ${loadavg()[0].toFixed(2)} at the start`
    );
  } finally {
    await client.end();
  }
}

const grouped = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

interface Result {
  machine: string;
  upstream: Rate;
  produceSeconds: number;
  chunkSize: number;
  archiver: ArchiverFigures;
  archiverVsUpstream: number;
  archiverSteadyVsUpstream: number;
  driver: DriverFigures;
}

/** A figure's line: its label in a column of its own. */
const row = (label: string, value: string) => `${label.padEnd(56)} ${value}`;

function archiverRows(r: Result): string[] {
  const { archiver: ar } = r;
  const cpu = ar.cpuMicrosPerEvent;
  const postgresCpu = cpu.postgres === undefined ? '' : `, PostgreSQL backends ${cpu.postgres.toFixed(0)} µs`;
  return [
    row(
      'archiver, start → all stored',
      `${grouped(ar.perSecond)} events/s (${grouped(ar.events)} in ${ar.seconds.toFixed(1)} s): ` +
        `${r.archiverVsUpstream.toFixed(1)}× upstream`,
    ),
    row(
      'archiver, first record read → all stored',
      `${grouped(ar.steadyPerSecond)} events/s: ${r.archiverSteadyVsUpstream.toFixed(1)}× upstream ` +
        `(group join ${ar.joinSeconds.toFixed(1)} s)`,
    ),
    row(
      `  ${grouped(ar.chunks)} chunks of ≤ ${r.chunkSize}`,
      `store call mean ${((ar.storeCallSeconds / ar.chunks) * 1000).toFixed(0)} ms; CPU per event: ` +
        `archiver process ${cpu.archiver.toFixed(0)} µs${postgresCpu}`,
    ),
  ];
}

function table(r: Result): string {
  const { upstream: up, driver: dr } = r;
  const ms = (n: number) => `${n.toFixed(1).padStart(5)} ms`;
  const lines = [
    r.machine,
    row(
      'upstream Panko 10.0.0 record_events',
      `${grouped(up.perSecond, 1)} events/s (${grouped(up.events)} events in ${up.seconds.toFixed(1)} s)`,
    ),
    row('events produced to the topic in', `${r.produceSeconds.toFixed(1)} s`),
    ...archiverRows(r),
    row(
      'fill, recordEvents in batches of 5000',
      `${grouped(dr.fill.perSecond)} events/s (${grouped(dr.fill.events)})`,
    ),
    row('recordEvents alone, batches of 500', `${grouped(dr.batch500PerSecond)} events/s`),
    row('recordEvents alone, batches of 5000', `${grouped(dr.batch5000PerSecond)} events/s`),
    row('stored', `${grouped(dr.storedEvents)} events, ${grouped(dr.bytesPerEvent)} bytes per event`),
    'queries, limit 100:',
    ...dr.queries.map(({ name, latency }) =>
      row(`  ${name}`, `p50 ${ms(latency.p50Ms)}, p99 ${ms(latency.p99Ms)}`),
    ),
    row(
      'expire one day',
      `${dr.expiry.ms.toFixed(0)} ms (${grouped(dr.expiry.events)} events, ` +
        `${dr.expiry.partitionsDropped} partition${dr.expiry.partitionsDropped === 1 ? '' : 's'})`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  ensureStack();
  const server = eventStoreUrlFrom();
  await registerCompressionCodecs();
  const kafka = createKafka(connectionSettings(), 'bench-store');
  const workload = new NovaLikeEvents(options.events, options.days);
  const machine = await serverDescription(server);
  progress(`making ${grouped(options.archived)} events…`);
  const messages: Message[] = workload.events(0, options.archived).map((event) => ({
    key: event.traits.find((t) => t.name === 'instance_id')!.trait.value as string,
    value: wireLine(event),
  }));
  progress(`upstream Panko on the first ${grouped(options.upstreamEvents)}…`);
  const upstream = await upstreamBaseline(
    server,
    messages.slice(0, options.upstreamEvents).map((m) => m.value as string),
  );
  const settings = defaultTopologySettings({ namespace: `benchstore${Date.now()}` });
  const db = await freshDatabase(server, 'archiver');
  try {
    progress(`producing them to ${settings.topics.events}…`);
    const produceSeconds = await produceEvents(kafka, settings, messages);
    messages.length = 0;
    progress('the archiver…');
    const archiver = await archiverIngest(kafka, settings, db, options.archived, options.chunkSize);
    const driver = await driverFigures(db.url, workload, options.archived, options.queries);
    const result: Result = {
      machine,
      upstream,
      produceSeconds,
      chunkSize: options.chunkSize,
      archiver,
      archiverVsUpstream: archiver.perSecond / upstream.perSecond,
      archiverSteadyVsUpstream: archiver.steadyPerSecond / upstream.perSecond,
      driver,
    };
    process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : table(result));
  } finally {
    await db.drop();
    await deleteNamespaceTopics(kafka, settings.namespace);
  }
}

runBenchmark('bench:store', main);
