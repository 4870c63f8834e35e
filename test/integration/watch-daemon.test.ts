/**
 * The watch daemon (`winchester watch`) on the stack's real ZooKeeper, started in this process
 * with a scratch directory of .twc files whose actions (record.sh) write what they ran with.
 * Each test has a znode prefix of its own. Outages (expiry, connection loss) and Redis leases
 * are in watch-daemon-outages.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ZkSession } from '../../src/zookeeper/session';
import {
  finishedRuns,
  metricValue,
  py,
  recordAction,
  removeDir,
  scratchDir,
  sleep,
  startedRuns,
  startTestDaemon,
  TestDaemon,
  until,
  writeFile,
} from '../fixtures/watch-daemon/harness';
import { zookeeperConnect } from '../support/stack';

/** How long a run that must not happen is given to happen anyway. */
const QUIET_MS = 600;

const base = `/winchester-test/watch-daemon-${randomBytes(4).toString('hex')}`;
let writer: ZkSession;
let dir: string;
let configDir: string;
let running: TestDaemon[] = [];
let testIndex = 0;
let prefix = '';

const created = new Set<string>([base]);
const node = (name: string) => {
  created.add(prefix).add(`${prefix}/${name}`);
  return `${prefix}/${name}`;
};
const out = (name: string) => join(dir, `${name}.log`);

async function daemon(): Promise<TestDaemon> {
  const started = await startTestDaemon({ configDir, zookeeper: zookeeperConnect() });
  running.push(started);
  return started;
}

function twc(name: string, ...watches: string[]): string {
  const path = join(configDir, name);
  writeFile(path, watches.map((options) => `RegisterWatch(${options})\n`).join(''));
  return path;
}

beforeAll(async () => {
  writer = await ZkSession.connect(zookeeperConnect());
});

afterAll(async () => {
  await removeTree();
  await writer?.close();
});

beforeEach(() => {
  prefix = `${base}/t${++testIndex}`;
  dir = scratchDir('daemon');
  configDir = join(dir, 'conf');
  mkdirSync(configDir);
});

afterEach(async () => {
  for (const { daemon } of running) await daemon.stop();
  running = [];
  removeDir(dir);
});

/** Deletes every node the tests named, children before parents. */
async function removeTree(): Promise<void> {
  const paths = [...created].sort((a, b) => b.split('/').length - a.split('/').length);
  for (const path of paths) await writer.remove(path).catch(() => undefined);
}

test('run_on_load runs once at start with the content, in /, with the daemon environment, WATCH_ZNODE and WATCH_DESCRIPTION', async () => {
  await writer.poke(node('config'), 'initial');
  const envOut = out('env');
  // Unlike the exec handler's commands, actions inherit the daemon's environment (as Twitcher's did).
  process.env.WATCH_TEST_DAEMON_VARIABLE = 'inherited';
  twc(
    'load.twc',
    `znode=${py(node('config'))}, action=${recordAction(out('load'))}`,
    `znode=${py(node('config'))}, action=Exec(${py(`echo "$WATCH_ZNODE|$WATCH_DESCRIPTION|$(pwd)|$WATCH_TEST_DAEMON_VARIABLE" >> ${envOut}`)}), description='env'`,
    `znode=${py(node('config'))}, action=${recordAction(out('quiet'))}, run_on_load=False`,
  );
  await daemon();
  await until('the load runs', () => finishedRuns(out('load')).length === 1);
  await sleep(QUIET_MS);
  expect(finishedRuns(out('load')).map((run) => run.content)).toEqual(['initial']);
  expect(startedRuns(out('quiet'))).toBe(0);
  expect(readFileSync(envOut, 'utf8')).toBe(`${node('config')}|env|/|inherited\n`);
  delete process.env.WATCH_TEST_DAEMON_VARIABLE;

  await writer.poke(node('config'), 'second');
  await until('the update runs', () => finishedRuns(out('quiet')).length === 1);
  await until('the update runs', () => finishedRuns(out('load')).length === 2);
  expect(finishedRuns(out('load')).map((run) => run.content)).toEqual(['initial', 'second']);
  expect(finishedRuns(out('quiet')).map((run) => run.content)).toEqual(['second']);
});

test('pipe_stdin=False runs exactly once per update, with empty stdin', async () => {
  await writer.poke(node('plain'), 'zero');
  twc('plain.twc', `znode=${py(node('plain'))}, action=${recordAction(out('plain'))}, pipe_stdin=False`);
  const { daemon: watch } = await daemon();
  await until('the load run', () => finishedRuns(out('plain')).length === 1);
  for (const [index, data] of ['one', 'two', 'three'].entries()) {
    await writer.poke(node('plain'), data);
    await until(`update ${data}`, () => finishedRuns(out('plain')).length === index + 2);
  }
  await sleep(QUIET_MS);
  expect(finishedRuns(out('plain')).map((run) => run.content)).toEqual(['', '', '', '']);
  expect(startedRuns(out('plain'))).toBe(4);
  const labels = { watch: `${configDir}/plain.twc-1`, outcome: 'succeeded' };
  expect(await metricValue(watch, 'winchester_watch_runs_total', labels)).toBe(4);
  expect(await metricValue(watch, 'winchester_watch_updates_total')).toBe(4);
});

test('QUEUE: three updates during one run give exactly one more run, with the last content', async () => {
  twc(
    'queue.twc',
    `znode=${py(node('queue'))}, action=${recordAction(out('queue'), 1.5)}, run_on_load=False`,
  );
  const { daemon: watch, lines } = await daemon();
  await writer.poke(node('queue'), 'first');
  await until('the first run to start', () => startedRuns(out('queue')) === 1);
  for (const data of ['a', 'b', 'c']) {
    await writer.poke(node('queue'), data);
    await sleep(100);
  }
  await until('two runs', () => finishedRuns(out('queue')).length === 2, 8_000);
  await sleep(QUIET_MS);
  const runs = finishedRuns(out('queue'));
  expect(runs.map((run) => run.content)).toEqual(['first', 'c']);
  expect(runs[1].start).toBeGreaterThanOrEqual(runs[0].end);
  expect(await metricValue(watch, 'winchester_watch_coalesced_total')).toBe(2);
  const finished = lines.filter((line) => line.msg === 'action finished');
  expect(finished.map((line) => [line.coalesced, line.znode])).toEqual([
    [2, node('queue')],
    [0, node('queue')],
  ]);
  expect(finished[0].childPid).toBe(runs[0].pid);
});

test('DISCARD: updates during a run are ignored and the watch stays', async () => {
  twc(
    'discard.twc',
    `znode=${py(node('discard'))}, action=${recordAction(out('discard'), 1)}, run_on_load=False, run_mode=DISCARD`,
  );
  const { daemon: watch } = await daemon();
  await writer.poke(node('discard'), 'first');
  await until('the first run to start', () => startedRuns(out('discard')) === 1);
  await writer.poke(node('discard'), 'x');
  await sleep(100);
  await writer.poke(node('discard'), 'y');
  await until('the first run to end', () => finishedRuns(out('discard')).length === 1, 5_000);
  await sleep(QUIET_MS);
  expect(startedRuns(out('discard'))).toBe(1);
  await writer.poke(node('discard'), 'after');
  await until('the next update to run', () => finishedRuns(out('discard')).length === 2, 5_000);
  expect(finishedRuns(out('discard')).map((run) => run.content)).toEqual(['first', 'after']);
  expect(await metricValue(watch, 'winchester_watch_discarded_total')).toBe(2);
});

test('PARALLEL: a process per update, running at once', async () => {
  twc(
    'parallel.twc',
    `znode=${py(node('parallel'))}, action=${recordAction(out('parallel'), 1)}, run_on_load=False, run_mode=PARALLEL`,
  );
  await daemon();
  for (const data of ['a', 'b', 'c']) {
    await writer.poke(node('parallel'), data);
    await until(
      `the run of ${data} to start`,
      () => startedRuns(out('parallel')) === data.charCodeAt(0) - 96,
    );
  }
  await until('three runs', () => finishedRuns(out('parallel')).length === 3, 5_000);
  const runs = finishedRuns(out('parallel'));
  expect(runs.map((run) => run.content).sort()).toEqual(['a', 'b', 'c']);
  expect(new Set(runs.map((run) => run.pid)).size).toBe(3);
  // All three ran together: the last started before the first ended.
  expect(Math.max(...runs.map((run) => run.start))).toBeLessThan(Math.min(...runs.map((run) => run.end)));
});

test('timeout: SIGTERM to the action, then SIGKILL 5 s later when it traps TERM', async () => {
  const record = out('timeout');
  const stubborn = `trap 'echo term $(date +%s%N) >> ${record}' TERM; echo start $(date +%s%N) >> ${record}; while :; do sleep 0.05; done`;
  twc(
    'timeout.twc',
    `znode=${py(node('timeout'))}, action=Exec(${py(stubborn)}), run_on_load=False, timeout=0.3`,
  );
  const { daemon: watch, lines } = await daemon();
  await writer.poke(node('timeout'), 'go');
  await until('the run to end', () => lines.some((line) => line.msg === 'action failed'), 9_000);
  const finished = lines.find((line) => line.msg === 'action failed')!;
  expect(finished).toMatchObject({ outcome: 'timed_out', timedOut: true, killed: true, signal: 'SIGKILL' });
  expect(finished.durationMs).toBeGreaterThanOrEqual(5_300);
  expect(finished.durationMs).toBeLessThan(7_000);
  const marks = readFileSync(record, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(' '));
  expect(marks[0][0]).toBe('start');
  const term = marks.find(([what]) => what === 'term');
  expect(term).toBeDefined();
  const termAfterMs = (Number(term![1]) - Number(marks[0][1])) / 1e6;
  expect(termAfterMs).toBeGreaterThanOrEqual(250);
  expect(termAfterMs).toBeLessThan(1_500);
  expect(await metricValue(watch, 'winchester_watch_runs_total', { outcome: 'timed_out' })).toBe(1);
});

test('notify_signal reaches the running child when an update arrives (QUEUE)', async () => {
  const record = out('notify');
  const action = `trap 'echo usr1 >> ${record}' USR1; echo start >> ${record}; cat >/dev/null; i=0; while [ $i -lt 15 ]; do sleep 0.1; i=$((i+1)); done; echo end >> ${record}`;
  writeFile(
    join(configDir, 'notify.twc'),
    `import signal\nRegisterWatch(znode=${py(node('notify'))}, action=Exec(${py(action)}),\n` +
      '  run_on_load=False, notify_signal=signal.SIGUSR1)\n',
  );
  await daemon();
  await writer.poke(node('notify'), 'first');
  await until('the run to start', () => readLines(record).includes('start'));
  await writer.poke(node('notify'), 'second');
  await until('the signal', () => readLines(record).includes('usr1'), 3_000);
  await until('the queued run', () => readLines(record).filter((line) => line === 'end').length === 2, 6_000);
  expect(readLines(record)).toEqual(['start', 'usr1', 'end', 'start', 'end']);
});

function readLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

test("uid and gid: the action runs as nobody/nogroup, in '/'", async () => {
  const record = out('identity');
  twc(
    'identity.twc',
    `znode=${py(node('identity'))}, action=Exec(${py(`echo "$(id -u) $(id -g) $(pwd)" > ${record}`)}), uid='nobody', gid='nogroup'`,
  );
  await daemon();
  await until('the load run', () => readLines(record).length === 1);
  expect(readLines(record)).toEqual(['65534 65534 /']);
});

test('a znode missing at start, then created, deleted and created again: a run each, empty stdin when missing', async () => {
  twc('missing.twc', `znode=${py(node('later'))}, action=${recordAction(out('later'))}`);
  await daemon();
  await until('the load run', () => finishedRuns(out('later')).length === 1);
  const steps: Array<[string, () => Promise<unknown>]> = [
    ['made', () => writer.poke(node('later'), 'made')],
    ['', () => writer.remove(node('later'))],
    ['again', () => writer.poke(node('later'), 'again')],
  ];
  for (const [index, [, step]] of steps.entries()) {
    await step();
    await until(`step ${index}`, () => finishedRuns(out('later')).length === index + 2);
  }
  await sleep(QUIET_MS);
  expect(finishedRuns(out('later')).map((run) => run.content)).toEqual(['', 'made', '', 'again']);
});

test('on_failure: Retry then STOP_WATCHING, STOP_WATCHING, and a retry that succeeds', async () => {
  const flaky = join(dir, 'flaky-count');
  const failTwice = `n=$(cat ${flaky} 2>/dev/null || echo 0); echo $((n+1)) > ${flaky}; echo run >> ${out('flaky')}; [ "$n" -ge 2 ]`;
  twc(
    'failing.twc',
    `znode=${py(node('f'))}, action=${recordAction(out('retry'), 0, 3)}, run_on_load=False, on_failure=Retry(2, backoff=0.1, then=STOP_WATCHING)`,
    `znode=${py(node('f'))}, action=${recordAction(out('stop'), 0, 1)}, run_on_load=False, on_failure=STOP_WATCHING`,
    `znode=${py(node('f'))}, action=Exec(${py(failTwice)}), run_on_load=False, on_failure=Retry(3, backoff=0.1)`,
  );
  const { daemon: watch } = await daemon();
  await writer.poke(node('f'), 'one');
  await until('three tries', () => finishedRuns(out('retry')).length === 3, 5_000);
  await until('the flaky action to succeed', () => readLines(out('flaky')).length === 3, 5_000);
  await until('two watches stopped', () => watch.watches().filter((w) => !w.watching).length === 2);
  await writer.poke(node('f'), 'two');
  await until('the flaky watch to run again', () => readLines(out('flaky')).length === 4, 5_000);
  await sleep(QUIET_MS);
  expect(finishedRuns(out('retry')).map((run) => run.content)).toEqual(['one', 'one', 'one']);
  expect(finishedRuns(out('stop')).map((run) => run.content)).toEqual(['one']);
  expect(watch.watches().map((w) => w.watching)).toEqual([false, false, true]);
  expect(
    await metricValue(watch, 'winchester_watch_retries_total', { watch: `${configDir}/failing.twc-1` }),
  ).toBe(2);
  expect(await metricValue(watch, 'winchester_watch_watches', { state: 'stopped' })).toBe(2);
});

test('hot reload: a new file is live within a second, a broken one keeps its watches, a removed one stops them', async () => {
  await writer.poke(node('a'), 'A');
  await writer.poke(node('b'), 'B');
  const fileA = twc('a.twc', `znode=${py(node('a'))}, action=${recordAction(out('a'))}`);
  const { daemon: watch, lines } = await daemon();
  await until('a loaded', () => finishedRuns(out('a')).length === 1);

  const added = Date.now();
  const fileB = twc('sub-b.twc', `znode=${py(node('b'))}, action=${recordAction(out('b'))}`);
  await until('b loaded', () => finishedRuns(out('b')).length === 1, 2_000);
  expect(Date.now() - added).toBeLessThan(1_000);

  // The same watch, moved down a line: kept, no second run_on_load run.
  writeFile(fileA, `# moved\nRegisterWatch(znode=${py(node('a'))}, action=${recordAction(out('a'))})\n`);
  writeFile(fileB, `RegisterWatch(znode=${py(node('b'))},\n  action=Exec(['true'])\n  run_mode=QUEUE)\n`);
  await until(
    'the broken file reported',
    () => lines.some((line) => String(line.msg).startsWith(`${fileB}:3:`)),
    2_000,
  );
  await sleep(QUIET_MS);
  expect(finishedRuns(out('a'))).toHaveLength(1);
  await writer.poke(node('b'), 'B2');
  await until("b's old watch to run", () => finishedRuns(out('b')).length === 2);
  expect(await metricValue(watch, 'winchester_watch_config_reloads_total', { outcome: 'failed' })).toBe(1);

  const removed = Date.now();
  unlinkSync(fileB);
  await until('b removed', () => watch.watches().every((w) => w.file !== fileB), 2_000);
  expect(Date.now() - removed).toBeLessThan(1_000);
  await writer.poke(node('b'), 'B3');
  await writer.poke(node('a'), 'A2');
  await until('a to run', () => finishedRuns(out('a')).length === 2);
  await sleep(QUIET_MS);
  expect(finishedRuns(out('b')).map((run) => run.content)).toEqual(['B', 'B2']);
  expect(finishedRuns(out('a')).map((run) => run.content)).toEqual(['A', 'A2']);
});

test('stop() waits for a running action to finish (within the grace)', async () => {
  twc('slow.twc', `znode=${py(node('slow'))}, action=${recordAction(out('slow'), 1)}, run_on_load=False`);
  const started = await daemon();
  await writer.poke(node('slow'), 'finish me');
  await until('the run to start', () => startedRuns(out('slow')) === 1);
  const stopping = Date.now();
  await started.daemon.stop();
  expect(Date.now() - stopping).toBeGreaterThanOrEqual(700);
  expect(finishedRuns(out('slow')).map((run) => run.content)).toEqual(['finish me']);
  expect(started.daemon.ready()).toBe(false);
});

describe('start', () => {
  test('a file that fails to parse is logged with file:line and skipped; the others run', async () => {
    await writer.poke(node('good'), 'ok');
    const bad = join(configDir, 'bad.twc');
    writeFile(bad, `RegisterWatch(znode='/x', action=lambda: None)\n`);
    twc('good.twc', `znode=${py(node('good'))}, action=${recordAction(out('good'))}`);
    const { daemon: watch, lines } = await daemon();
    await until('the good watch to run', () => finishedRuns(out('good')).length === 1);
    expect(watch.watches().map((w) => w.file)).toEqual([join(configDir, 'good.twc')]);
    const error = lines.find((line) => line.level === 50);
    expect(error?.msg).toMatch(new RegExp(`^${bad}:1:\\d+: `));
    expect(error).toMatchObject({ file: bad, line: 1 });
  });

  test('no file parsed and errors: refuses to start with every error', async () => {
    writeFile(join(configDir, 'one.twc'), 'RegisterWatch(\n');
    writeFile(join(configDir, 'two.twc'), "RegisterWatch(znode='relative', action=Exec('true'))\n");
    const failure = await startTestDaemon({ configDir, zookeeper: zookeeperConnect() }).then(
      () => new Error('started'),
      (error: Error) => error,
    );
    const [first, ...errors] = failure.message.split('\n');
    expect(first).toBe(`${configDir}: no watch file could be loaded`);
    expect(errors).toEqual([
      expect.stringMatching(new RegExp(`^${configDir}/one.twc:\\d+:\\d+: `)),
      expect.stringMatching(new RegExp(`^${configDir}/two.twc:1:\\d+: `)),
    ]);
  });

  test('an empty directory starts with no watches; a missing one is an error', async () => {
    const { daemon: watch } = await daemon();
    expect(watch.watches()).toEqual([]);
    await expect(
      startTestDaemon({ configDir: join(dir, 'nowhere'), zookeeper: zookeeperConnect() }),
    ).rejects.toThrow(/nowhere: cannot read the watch directory/);
  });

  test('an exclusive watch without Redis is a start error naming its file and line', async () => {
    const file = twc('ex.twc', `znode=${py(node('ex'))}, action=Exec('true'), exclusive=True`);
    await expect(
      startTestDaemon({ configDir, zookeeper: zookeeperConnect(), redisUrl: undefined }),
    ).rejects.toThrow(`${file}:1: watch '${file}-1' is exclusive=True`);
  });

  test('ZooKeeper not answering is an error that names it', async () => {
    twc('a.twc', `znode=${py(node('a'))}, action=Exec('true')`);
    await expect(
      startTestDaemon({ configDir, zookeeper: '127.0.0.1:1', connectTimeoutMs: 500 }),
    ).rejects.toThrow(/could not open a ZooKeeper session with 127\.0\.0\.1:1/);
  });
});
