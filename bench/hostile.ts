/**
 * Hostile-input benchmark on the real local broker (started when none is running): the distiller
 * role, in process, on
 *  (a) 20,000 clean notifications (the sample corpus, copied with fresh ids),
 *  (b) the same 20,000 with 10% hostile records mixed in: 2,000 drawn in turn from the cases of
 *      test/support/hostile.ts under 100 KB, and
 *  (c) the same as (b) plus one of each larger case (the 1,000,000-element arrays, 100,000-deep
 *      nesting, 100,000 keys, and the records around the 8 MiB record limit),
 * each timed from the role's start to its last record, with the process's RSS and heap before,
 * at peak and after. Figures, not assertions: a table, or JSON with --json.
 *
 *   npm run bench:hostile [-- --json --clean 20000]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Kafka, Message } from 'kafkajs';
import { connectionSettings } from '../src/config/environment';
import { loadEventDefinitions } from '../src/distiller';
import { createKafka } from '../src/kafka/client';
import { registerCompressionCodecs } from '../src/kafka/codecs';
import { startDistiller } from '../src/topology/distiller-role';
import { produceAll } from '../src/topology/role-runner';
import { defaultTopologySettings, TopologySettings } from '../src/config/topology-settings';
import { ensureTopicsOnce } from '../src/topology/topics';
import { hostileBytes, hostileNotifications, interleave } from './support/hostile';
import { ensureStack, runBenchmark } from './support/run';

const repo = join(__dirname, '..', '..');
const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const asJson = args.includes('--json');
const cleanCount = option('--clean', 20_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => void process.stderr.write(`${line}\n`);

/** A hostile case at or above this size counts as large: one copy of it joins the mix. */
const LARGE_BYTES = 100 * 1024;

/** `count` sample notifications, the corpus copied as often as needed with fresh ids. */
function cleanNotifications(count: number): string[] {
  const lines = gunzipSync(readFileSync(join(repo, 'data', 'notifications-openstack-26h.jsonl.gz')))
    .toString('utf8')
    .split('\n')
    .filter(Boolean);
  const out: string[] = [];
  for (let copy = 0; out.length < count; copy++) {
    for (const line of lines) {
      if (out.length >= count) break;
      out.push(line.replace(/("message_id": "|"instance_id": ")/g, `$1b${copy}-`));
    }
  }
  return out;
}

/** The clean notifications with hostile records spread evenly through them. */
function mixed(
  clean: string[],
  settings: TopologySettings,
  withLarge: boolean,
): { messages: Message[]; hostile: number } {
  const cases = hostileNotifications({ maxRecordBytes: settings.maxRecordBytes });
  const size = (value: Buffer | null) => value?.length ?? 0;
  const small = cases.filter((c) => size(hostileBytes(c)) < LARGE_BYTES);
  const large = cases.filter((c) => size(hostileBytes(c)) >= LARGE_BYTES);
  const hostile: Message[] = [];
  for (let i = 0; hostile.length < clean.length / 10; i++) {
    const c = small[i % small.length];
    hostile.push({ key: `${c.key}#${i}`, value: hostileBytes(c) });
  }
  if (withLarge) for (const c of large) hostile.push({ key: c.key, value: hostileBytes(c) });
  const messages = interleave<Message>(
    clean.map((value) => ({ key: null, value })),
    hostile,
  );
  return { messages, hostile: hostile.length };
}

const MB = 1024 * 1024;
const gc = (globalThis as { gc?: () => void }).gc;

interface RunFigures {
  run: string;
  records: number;
  hostile: number;
  megabytes: number;
  seconds: number;
  recordsPerSecond: number;
  megabytesPerSecond: number;
  distilled: number;
  dropped: number;
  dlq: Record<string, number>;
  rssMbBefore: number;
  rssMbPeak: number;
  rssMbAfter: number;
  heapMbBefore: number;
  heapMbPeak: number;
  heapMbAfter: number;
}

async function run(
  kafka: Kafka,
  name: string,
  namespace: string,
  build: (s: TopologySettings) => { messages: Message[]; hostile: number },
): Promise<RunFigures> {
  const settings = defaultTopologySettings({ namespace });
  await ensureTopicsOnce(kafka, settings);
  const { messages, hostile } = build(settings);
  const bytes = messages.reduce(
    (n, m) => n + (m.value === null ? 0 : Buffer.byteLength(m.value as Buffer | string)),
    0,
  );
  log(`${name}: producing ${messages.length} records (${(bytes / MB).toFixed(1)} MB)…`);
  await produceAll(kafka, settings.inputTopics[0], messages);

  const distiller = loadEventDefinitions(
    join(repo, 'topologies', 'openstack-usage', 'event_definitions.yaml'),
  );
  gc?.();
  const before = process.memoryUsage();
  let peakRss = before.rss;
  let peakHeap = before.heapUsed;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  }, 50);
  log(`${name}: distilling…`);
  const started = process.hrtime.bigint();
  const role = await startDistiller(kafka, settings, (text) => distiller.outcome(text));
  while (role.counters.consumed < messages.length) await sleep(5);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(sampler);
  const counters = { ...role.counters, dlq: Object.fromEntries(role.counters.dlq) };
  await role.stop();
  gc?.();
  const after = process.memoryUsage();
  return {
    run: name,
    records: messages.length,
    hostile,
    megabytes: bytes / MB,
    seconds,
    recordsPerSecond: messages.length / seconds,
    megabytesPerSecond: bytes / MB / seconds,
    distilled: counters.distilled,
    dropped: counters.dropped,
    dlq: counters.dlq,
    rssMbBefore: before.rss / MB,
    rssMbPeak: peakRss / MB,
    rssMbAfter: after.rss / MB,
    heapMbBefore: before.heapUsed / MB,
    heapMbPeak: peakHeap / MB,
    heapMbAfter: after.heapUsed / MB,
  };
}

async function main() {
  ensureStack();
  await registerCompressionCodecs();
  const connection = connectionSettings();
  const kafka = createKafka(connection, 'bench-hostile');
  const runId = `hostile${Date.now()}`;
  const clean = cleanNotifications(cleanCount);
  const plain = (values: string[]) => () => ({
    messages: values.map((value) => ({ key: null, value })),
    hostile: 0,
  });
  // A short run first, so neither measured run pays for the JIT's warm-up alone.
  await run(kafka, 'warm-up', `${runId}.warm`, plain(clean.slice(0, 2000)));
  const figures = [
    await run(kafka, 'clean', `${runId}.clean`, plain(clean)),
    await run(kafka, '+10% hostile', `${runId}.mixed`, (s) => mixed(clean, s, false)),
    await run(kafka, '+10% hostile, large too', `${runId}.large`, (s) => mixed(clean, s, true)),
  ];
  const result = {
    node: process.version,
    gcExposed: gc !== undefined,
    runs: figures,
    /** Records/s and MB/s of each hostile run as a percentage of the clean run's. */
    relative: figures.slice(1).map((f) => ({
      run: f.run,
      recordsPerSecondPercent: (f.recordsPerSecond / figures[0].recordsPerSecond) * 100,
      megabytesPerSecondPercent: (f.megabytesPerSecond / figures[0].megabytesPerSecond) * 100,
    })),
  };
  if (asJson) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const f1 = (x: number) => x.toFixed(1);
  const rows = [
    [
      'run',
      'records',
      'hostile',
      'MB',
      's',
      'records/s',
      'MB/s',
      'events',
      'dropped',
      'DLQ',
      'RSS MB before/peak/after',
      'heap MB before/peak/after',
    ],
    ...figures.map((f) => [
      f.run,
      String(f.records),
      String(f.hostile),
      f1(f.megabytes),
      f.seconds.toFixed(2),
      f.recordsPerSecond.toFixed(0),
      f1(f.megabytesPerSecond),
      String(f.distilled),
      String(f.dropped),
      String(Object.values(f.dlq).reduce((a, b) => a + b, 0)),
      `${f1(f.rssMbBefore)} / ${f1(f.rssMbPeak)} / ${f1(f.rssMbAfter)}`,
      `${f1(f.heapMbBefore)} / ${f1(f.heapMbPeak)} / ${f1(f.heapMbAfter)}`,
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) process.stdout.write(`${r.map((cell, i) => cell.padEnd(widths[i])).join('  ')}\n`);
  process.stdout.write('\n');
  for (const f of figures.slice(1))
    process.stdout.write(`DLQ by reason (${f.run}): ${JSON.stringify(f.dlq)}\n`);
  for (const r of result.relative) {
    process.stdout.write(
      `${r.run}: ${f1(r.recordsPerSecondPercent)}% of the clean run's records/s, ` +
        `${f1(r.megabytesPerSecondPercent)}% of its MB/s\n`,
    );
  }
  if (!gc) process.stdout.write('(run with node --expose-gc for settled heap figures)\n');
}

runBenchmark('bench:hostile', main);
