/**
 * Watch daemon benchmark: poke-to-action-start latency and memory per watch, on the local
 * stack's ZooKeeper (ZOOKEEPER_CONNECT; the stack is started when none is running).
 *
 *  1. baseline: the least a watcher can do, in this process: one ZooKeeper session, a one-shot
 *     watch per znode re-armed on each change, and the same action spawned for each change;
 *  2. `winchester watch` in its own process, on a directory of .twc files with one
 *     RegisterWatch per znode (QUEUE, run_on_load=False, pipe_stdin=True), the same action.
 *
 * Each side gets the same pokes: --rate updates a second for --seconds, to znodes picked at
 * random among --watches, each poke's data being its wall-clock send time in microseconds.
 * The action (`/bin/sh -c 'read sent; echo "$sent $(date +%s%6N)" >> LOG'`) writes that
 * time and its own start: the latency is from the poke's send to the action's shell reading
 * the clock, so it includes starting a shell and `date` on both sides. Memory per watch is the
 * daemon's resident set with --watches watches, less its resident set with one, over the
 * difference, each read from /proc after the start and a settle.
 *
 *   npm run bench:watch [-- --watches 1000 --rate 100 --seconds 30 --json]
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../src/util/free-port';
import { ZkSession } from '../src/zookeeper/session';
import { parseCountOptions, repoRoot } from './support';
import { ensureStack, runBenchmark } from './support/run';

interface Options {
  watches: number;
  rate: number;
  seconds: number;
  json: boolean;
}

const NUMERIC_OPTIONS: Record<string, keyof Omit<Options, 'json'>> = {
  '--watches': 'watches',
  '--rate': 'rate',
  '--seconds': 'seconds',
};

function parseOptions(argv: string[]): Options {
  const defaults = { watches: 1000, rate: 100, seconds: 30, json: false };
  return parseCountOptions<Options>(argv, defaults, NUMERIC_OPTIONS);
}

const progress = (message: string) => process.stderr.write(`${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Wall-clock microseconds, comparable with `date +%s%6N` in the action. */
const nowMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

/** The action both sides run: the poke's send time from stdin, and the shell's own clock. */
const actionScript = (log: string) => `read sent; echo "$sent $(date +%s%6N)" >> ${log}`;

interface Latencies {
  runs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** The log's (sent, started) pairs as latencies; pokes whose action never ran are counted apart. */
function latenciesOf(log: string, poked: number): Latencies & { missing: number } {
  const lines = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) : [];
  const times = lines
    .map((line) => line.split(' ').map(Number))
    .filter(([sent]) => sent > 0)
    .map(([sent, started]) => (started - sent) / 1000)
    .sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? NaN;
  return {
    runs: times.length,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: times.at(-1) ?? NaN,
    missing: poked - times.length,
  };
}

/** Pokes random znodes at `rate` a second for `seconds`, each with its send time; returns the count. */
async function pokeSchedule(session: ZkSession, znodes: string[], options: Options): Promise<number> {
  const total = options.rate * options.seconds;
  const started = performance.now();
  let random = 12345;
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / options.rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    random = (random * 1103515245 + 12345) % 2 ** 31;
    await session.poke(znodes[random % znodes.length], String(nowMicros()));
  }
  return total;
}

/** Every poke's action has had its chance: the log has stopped growing for two seconds. */
async function settled(log: string, expected: number): Promise<void> {
  let last = -1;
  for (let quiet = 0; quiet < 4;) {
    await sleep(500);
    const count = existsSync(log) ? readFileSync(log, 'utf8').split('\n').length - 1 : 0;
    quiet = count === last ? quiet + 1 : 0;
    last = count;
    if (count >= expected) return;
  }
}

/** The baseline: a one-shot watch per znode, re-armed on each change, and a spawn per change. */
async function bareWatcher(connect: string, znodes: string[], log: string): Promise<() => Promise<void>> {
  const session = await ZkSession.connect(connect);
  let stopped = false;
  const fire = (data: Buffer) => {
    const child = spawn('/bin/sh', ['-c', actionScript(log)], { stdio: ['pipe', 'ignore', 'ignore'] });
    child.stdin.end(data);
  };
  const watch = async (path: string, run: boolean): Promise<void> => {
    const read = await session.readWatched(path, () => {
      if (!stopped) watch(path, true).catch(() => undefined);
    });
    if (run && read.exists) fire(read.data);
  };
  await Promise.all(znodes.map((path) => watch(path, false)));
  return async () => {
    stopped = true;
    await session.close();
  };
}

function twcFiles(dir: string, znodes: string[], log: string): void {
  const perFile = 100;
  for (let f = 0; f * perFile < znodes.length; f++) {
    const watches = znodes.slice(f * perFile, (f + 1) * perFile).map(
      (znode) => `RegisterWatch(znode=${JSON.stringify(znode)}, run_on_load=False,
    action=Exec(['/bin/sh', '-c', ${JSON.stringify(actionScript(log))}]))\n`,
    );
    writeFileSync(join(dir, `watches-${String(f).padStart(4, '0')}.twc`), watches.join(''));
  }
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

interface Daemon {
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `winchester watch` on a directory, ready once /healthz/ready answers and `watches` are loaded. */
async function startDaemon(
  configDir: string,
  connect: string,
  watches: number,
  port: number,
): Promise<Daemon> {
  const child = spawn(
    process.execPath,
    [
      join(repoRoot, 'dist/src/cli/main.js'),
      'watch',
      '--config-dir',
      configDir,
      '--zookeeper',
      connect,
      '--metrics-port',
      String(port),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' } },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let tries = 0; ; tries++) {
    if (child.exitCode !== null) throw new Error(`winchester watch exited with ${child.exitCode} at start`);
    if (tries > 600) throw new Error('winchester watch was not ready within a minute');
    const loaded = await fetch(`http://127.0.0.1:${port}/metrics`)
      .then((r) => r.text())
      .then((text) => /^winchester_watch_watches(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1])
      .catch(() => undefined);
    const ready = await fetch(`http://127.0.0.1:${port}/healthz/ready`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ready && Number(loaded) >= watches) break;
    await sleep(100);
  }
  return {
    child,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function makeZnodes(session: ZkSession, prefix: string, count: number): Promise<string[]> {
  const znodes = Array.from({ length: count }, (_, i) => `${prefix}/n${String(i).padStart(5, '0')}`);
  for (let i = 0; i < znodes.length; i += 100)
    await Promise.all(znodes.slice(i, i + 100).map((z) => session.poke(z, '0')));
  return znodes;
}

interface Result {
  machine: string;
  options: Options;
  baseline: Latencies & { missing: number };
  daemon: Latencies & { missing: number };
  p50Ratio: number;
  p99Ratio: number;
  memory: { oneWatchBytes: number; allWatchesBytes: number; perWatchBytes: number };
}

async function measureBaseline(
  session: ZkSession,
  connect: string,
  run: string,
  work: string,
  options: Options,
) {
  const znodes = await makeZnodes(session, `/bench-watch-${run}/bare`, options.watches);
  const log = join(work, 'bare.log');
  const stop = await bareWatcher(connect, znodes, log);
  progress(`baseline: ${options.rate} pokes/s for ${options.seconds} s…`);
  const poked = await pokeSchedule(session, znodes, options);
  await settled(log, poked);
  await stop();
  return latenciesOf(log, poked);
}

async function measureDaemon(
  session: ZkSession,
  connect: string,
  run: string,
  work: string,
  options: Options,
) {
  const znodes = await makeZnodes(session, `/bench-watch-${run}/daemon`, options.watches);
  const log = join(work, 'daemon.log');
  const one = mkdtempSync(join(work, 'one-'));
  twcFiles(one, znodes.slice(0, 1), join(work, 'unused.log'));
  const single = await startDaemon(one, connect, 1, await freePort());
  await sleep(3000);
  const oneWatchBytes = rssBytes(single.child.pid!);
  await single.stop();
  const all = mkdtempSync(join(work, 'all-'));
  twcFiles(all, znodes, log);
  progress(`winchester watch with ${options.watches} watches…`);
  const daemon = await startDaemon(all, connect, options.watches, await freePort());
  await sleep(3000);
  const allWatchesBytes = rssBytes(daemon.child.pid!);
  progress(`winchester watch: ${options.rate} pokes/s for ${options.seconds} s…`);
  const poked = await pokeSchedule(session, znodes, options);
  await settled(log, poked);
  await daemon.stop();
  const perWatchBytes = (allWatchesBytes - oneWatchBytes) / (options.watches - 1 || 1);
  return { latencies: latenciesOf(log, poked), memory: { oneWatchBytes, allWatchesBytes, perWatchBytes } };
}

function table(r: Result): string {
  const row = (what: string, l: Latencies & { missing: number }) =>
    `${what.padEnd(44)} p50 ${l.p50Ms.toFixed(1).padStart(6)} ms, p99 ${l.p99Ms.toFixed(1).padStart(6)} ms, max ${l.maxMs.toFixed(1)} ms (${l.runs} runs, ${l.missing} pokes coalesced or lost)`;
  return [
    r.machine,
    `${r.options.watches} watched znodes, ${r.options.rate} pokes/s for ${r.options.seconds} s, poke → action's shell started:`,
    row('  baseline (bare watch + spawn)', r.baseline),
    row('  winchester watch', r.daemon),
    `  ratio to the baseline                      p50 ${r.p50Ratio.toFixed(2)}×, p99 ${r.p99Ratio.toFixed(2)}×`,
    `memory: resident ${(r.memory.oneWatchBytes / 2 ** 20).toFixed(1)} MiB with 1 watch, ${(r.memory.allWatchesBytes / 2 ** 20).toFixed(1)} MiB with ${r.options.watches}: ${(r.memory.perWatchBytes / 1024).toFixed(1)} KiB per watch`,
  ].join('\n');
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  ensureStack();
  const connect = process.env.ZOOKEEPER_CONNECT;
  if (!connect)
    throw new Error(
      'no ZOOKEEPER_CONNECT, and the local stack names none: run `bash scripts/stack.sh start`',
    );
  const machine = `${cpus().length} CPUs, Node.js ${process.version}, load average ${loadavg()[0].toFixed(2)} at the start`;
  const run = randomBytes(4).toString('hex');
  const work = mkdtempSync(join(tmpdir(), 'bench-watch-'));
  const session = await ZkSession.connect(connect);
  try {
    const baseline = await measureBaseline(session, connect, run, work, options);
    const { latencies: daemon, memory } = await measureDaemon(session, connect, run, work, options);
    const result: Result = {
      machine,
      options,
      baseline,
      daemon,
      p50Ratio: daemon.p50Ms / baseline.p50Ms,
      p99Ratio: daemon.p99Ms / baseline.p99Ms,
      memory,
    };
    process.stdout.write(`${options.json ? JSON.stringify(result) : table(result)}\n`);
  } finally {
    await removeTree(session, `/bench-watch-${run}`).catch(() => undefined);
    await session.close();
    rmSync(work, { recursive: true, force: true });
  }
}

/** Deletes the run's znodes, children first. */
async function removeTree(session: ZkSession, root: string): Promise<void> {
  for (const side of ['bare', 'daemon']) {
    for (let i = 0; ; i++) {
      const path = `${root}/${side}/n${String(i).padStart(5, '0')}`;
      if (!(await session.remove(path))) break;
    }
    await session.remove(`${root}/${side}`);
  }
  await session.remove(root);
}

runBenchmark('bench:watch', main);
