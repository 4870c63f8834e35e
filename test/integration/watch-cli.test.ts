/**
 * `winchester watch check`, `winchester watch poke` and the daemon's command line, on the
 * stack's ZooKeeper: what they print, their exit codes, and mistakes as one line (exit 2, no
 * stack trace). The daemon itself runs once as a process of its own, stopped by SIGTERM.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { registerWatch } from '../../src/cli/watch';
import { ZkSession } from '../../src/zookeeper/session';
import {
  finishedRuns,
  py,
  recordAction,
  removeDir,
  scratchDir,
  until,
  writeFile,
} from '../fixtures/watch-daemon/harness';
import { runInProcess } from '../support/in-process-cli';
import { repoRoot, zookeeperConnect } from '../support/stack';

const winchester = (...args: string[]) => runInProcess(registerWatch, args);
const base = `/winchester-test/watch-cli-${randomBytes(4).toString('hex')}`;
let writer: ZkSession;
let dir: string;

beforeAll(async () => {
  writer = await ZkSession.connect(zookeeperConnect());
  dir = scratchDir('cli');
});

afterAll(async () => {
  for (const path of [`${base}/daemon`, `${base}/deep/er/node`, `${base}/deep/er`, `${base}/deep`, base])
    await writer.remove(path).catch(() => undefined);
  await writer?.close();
  removeDir(dir);
});

/** A directory of watch files. */
function watchDir(name: string, files: Record<string, string>): string {
  const path = join(dir, name);
  mkdirSync(path);
  for (const [file, text] of Object.entries(files)) writeFile(join(path, file), text);
  return path;
}

/** One `winchester: ...` line on stderr, nothing on stdout. */
function expectOneLine(run: { stderr: string; stdout: string }, says: RegExp): void {
  const lines = run.stderr.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^winchester: /);
  expect(lines[0]).toMatch(says);
  expect(lines[0]).not.toMatch(/\bat .*\.ts:\d+/);
  expect(run.stdout).toBe('');
}

describe('watch check', () => {
  test('a good directory: a summary, exit 0', async () => {
    const good = watchDir('good', {
      'git.twc':
        "RegisterWatch(znode='/git/head', action=Exec('git pull'))\nRegisterWatch(znode='/a', action=Exec(['true']))\n",
    });
    const run = await winchester('watch', 'check', good);
    expect(run.code).toBe(0);
    expect(run.lines).toEqual([`${good}: ok, 2 watches in 1 file`]);
  });

  test('errors as file:line:column, exit 1', async () => {
    const bad = watchDir('bad', {
      'fn.twc': "def act():\n  pass\nRegisterWatch(znode='/x', action=act)\n",
      'ok.twc': "RegisterWatch(znode='/ok', action=Exec('true'))\n",
    });
    const run = await winchester('watch', 'check', bad);
    expect(run.code).toBe(1);
    expect(run.lines[0]).toMatch(new RegExp(`^${bad}/fn\\.twc:1:\\d+: `));
    expect(run.lines[run.lines.length - 1]).toBe(`${bad}: 1 error, 0 warnings`);
  });

  test('a missing directory is a usage mistake', async () => {
    const run = await winchester('watch', 'check', join(dir, 'nowhere'));
    expect(run.code).toBe(2);
    expectOneLine(run, /nowhere: no such directory/);
  });
});

describe('watch poke', () => {
  test('creates the node and its parents, then sets it: one line with the version', async () => {
    const path = `${base}/deep/er/node`;
    const zookeeper = zookeeperConnect();
    const first = await winchester('watch', 'poke', path, '--data', 'one', '--zookeeper', zookeeper);
    expect(first.code).toBe(0);
    expect(first.lines).toEqual([`${path}: version 0 (created)`]);
    const second = await winchester('watch', '--zookeeper', zookeeper, 'poke', path, '--data', 'two');
    expect(second.lines).toEqual([`${path}: version 1`]);
    expect(await writer.read(path)).toMatchObject({ exists: true, data: Buffer.from('two'), version: 1 });
  });

  test.each([
    [
      'a relative znode path',
      ['watch', 'poke', 'git/head', '--zookeeper', '127.0.0.1:1'],
      /must start with '\/'/,
    ],
    [
      'a bad connect string',
      ['watch', 'poke', '/x', '--zookeeper', 'host:port'],
      /connect string 'host:port'/,
    ],
    [
      'an unreachable ZooKeeper',
      ['watch', 'poke', '/x', '--zookeeper', '127.0.0.1:1'],
      /127\.0\.0\.1:1 refused/,
    ],
  ])('%s is one line, exit 2', async (_name, args, says) => {
    const run = await winchester(...args);
    expect(run.code).toBe(2);
    expectOneLine(run, says);
  });
});

describe('watch (the daemon): mistakes before it runs', () => {
  // No metrics server: the default port may belong to something else on this host.
  const zookeeper = () => ['--zookeeper', zookeeperConnect(), '--metrics-port', 'off'];

  test('a missing config directory', async () => {
    const run = await winchester('watch', '--config-dir', join(dir, 'absent'), ...zookeeper());
    expect(run.code).toBe(2);
    expectOneLine(run, /absent: cannot read the watch directory/);
  });

  test('no file that parses: every error, exit 2', async () => {
    const broken = watchDir('broken', { 'a.twc': 'RegisterWatch(\n', 'b.twc': 'Frobnicate()\n' });
    const run = await winchester('watch', '--config-dir', broken, ...zookeeper());
    expect(run.code).toBe(2);
    const lines = run.stderr.split('\n').filter(Boolean);
    expect(lines[0]).toBe(`winchester: ${broken}: no watch file could be loaded`);
    expect(lines.slice(1).map((line) => line.split(':')[0])).toEqual([`${broken}/a.twc`, `${broken}/b.twc`]);
  });

  test('an exclusive watch without Redis names its file and line', async () => {
    const exclusive = watchDir('exclusive', {
      'x.twc': "\nRegisterWatch(znode='/x', action=Exec('true'), exclusive=True)\n",
    });
    const saved = process.env.REDIS_URL;
    delete process.env.REDIS_URL;
    try {
      const run = await winchester('watch', '--config-dir', exclusive, ...zookeeper());
      expect(run.code).toBe(2);
      expectOneLine(run, new RegExp(`${exclusive}/x\\.twc:2: watch .* is exclusive=True.*REDIS_URL`));
    } finally {
      process.env.REDIS_URL = saved;
    }
  });

  test.each([
    [
      'an unreachable ZooKeeper',
      ['--zookeeper', '127.0.0.1:1', '--metrics-port', 'off'],
      /127\.0\.0\.1:1 refused/,
    ],
    ['a bad session timeout', ['--session-timeout', 'soon'], /--session-timeout "soon"/],
    ['a bad metrics port', ['--metrics-port', '99999'], /--metrics-port "99999"/],
  ])('%s is one line, exit 2', async (_name, args, says) => {
    const ok = watchDir(`ok-${randomBytes(2).toString('hex')}`, {
      'a.twc': "RegisterWatch(znode='/a', action=Exec('true'))\n",
    });
    // A later --zookeeper replaces the first.
    const run = await winchester('watch', '--config-dir', ok, '--zookeeper', zookeeperConnect(), ...args);
    expect(run.code).toBe(2);
    expectOneLine(run, says);
  });
});

/** `winchester watch ...` as a process of its own, from the source (no build needed). */
function startWatchProcess(args: string[]): ChildProcess & { output: string[] } {
  const entry = [
    "const { Command } = require('commander');",
    "const { registerWatch } = require('./src/cli/watch.ts');",
    "const { reportFor } = require('./src/cli/errors.ts');",
    "const program = new Command('winchester').exitOverride();",
    'registerWatch(program);',
    "program.parseAsync(process.argv.slice(1), { from: 'user' }).catch((error) => {",
    '  const report = reportFor(error);',
    "  process.stderr.write('winchester: ' + report.message + '\\n');",
    '  process.exit(report.exitCode);',
    '});',
  ].join('\n');
  const child = spawn(
    process.execPath,
    ['-r', join(repoRoot, 'test/support/swc-register.cjs'), '-e', entry, 'watch', ...args],
    { cwd: repoRoot, env: { ...process.env, LOG_FORMAT: 'json' }, stdio: ['ignore', 'pipe', 'pipe'] },
  ) as ChildProcess & { output: string[] };
  child.output = [];
  child.stderr!.on('data', (chunk: Buffer) =>
    child.output.push(...chunk.toString().split('\n').filter(Boolean)),
  );
  return child;
}

test('the daemon runs an action on a poke, serves /metrics and /healthz, and stops on SIGTERM', async () => {
  const path = `${base}/daemon`;
  const record = join(dir, 'daemon.log');
  const conf = watchDir('daemon', {
    'd.twc': `RegisterWatch(znode=${py(path)}, action=${recordAction(record)}, run_on_load=False)\n`,
  });
  const child = startWatchProcess([
    '--config-dir',
    conf,
    '--zookeeper',
    zookeeperConnect(),
    '--metrics-port',
    '0',
  ]);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await until(
      'the daemon to start',
      () => child.output.some((line) => line.includes('"msg":"watching"')),
      20_000,
    );
    const serving = child.output.map((line) => /"address":"([^"]+)"/.exec(line)?.[1]).find(Boolean)!;
    const poke = await winchester(
      'watch',
      'poke',
      path,
      '--data',
      'from the cli',
      '--zookeeper',
      zookeeperConnect(),
    );
    expect(poke.code).toBe(0);
    await until('the action', () => finishedRuns(record).length === 1);
    expect(finishedRuns(record)[0].content).toBe('from the cli');
    expect((await fetch(`${serving}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${serving}/metrics`)).text();
    expect(metrics).toMatch(/^winchester_watch_runs_total\{[^}]*outcome="succeeded"[^}]*role="watch"\} 1$/m);
    expect(metrics).toMatch(
      /^winchester_watch_zookeeper_session_state\{state="connected",role="watch"\} 1$/m,
    );
    const started = child.output.find((line) => line.includes('"msg":"action started"'));
    expect(JSON.parse(started!)).toMatchObject({
      role: 'watch',
      znode: path,
      childPid: finishedRuns(record)[0].pid,
    });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  } finally {
    child.kill('SIGKILL');
  }
});
