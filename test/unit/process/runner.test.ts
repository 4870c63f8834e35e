import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessResult, ProcessSpec, startProcess, succeeded } from '../../../src/process/runner';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'winchester-runner-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Alive and not a zombie waiting for its reaper (PID 1 here may take its time). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

async function waitForFile(path: string): Promise<void> {
  for (let i = 0; i < 200 && !existsSync(path); i++) await sleep(10);
  expect(existsSync(path)).toBe(true);
}

/** The runner passes no environment of its own: these tests give the child a PATH and nothing else. */
const start = (spec: Omit<ProcessSpec, 'env'> & { env?: ProcessSpec['env'] }) =>
  startProcess({ env: { PATH: process.env.PATH }, ...spec });
const run = (spec: Parameters<typeof start>[0]): Promise<ProcessResult> => start(spec).done;

describe('stdin, exit status and the command forms', () => {
  test('stdin is written and then closed', async () => {
    const text = await run({ command: 'cat', stdin: 'héllo\nworld' });
    expect(text).toMatchObject({ exitCode: 0, signal: null, stdoutTail: 'héllo\nworld' });
    const bytes = await run({ command: ['od', '-An', '-tx1'], stdin: Buffer.from([0, 255, 10]) });
    expect(bytes.stdoutTail.trim()).toBe('00 ff 0a');
  });

  test('no stdin: the child reads end of file at once', async () => {
    for (const stdin of [undefined, null]) {
      const result = await run({ command: 'wc -c', stdin });
      expect(result).toMatchObject({ exitCode: 0, stdoutTail: '0\n' });
    }
  });

  test('a child that exits without reading a large stdin still reports its own status', async () => {
    const result = await run({ command: 'exit 0', stdin: Buffer.alloc(4 * 1024 * 1024, 'x') });
    expect(result.error).toBeUndefined();
    expect(succeeded(result)).toBe(true);
  });

  test('exit codes, stderr, and what counts as success', async () => {
    const failed = await run({ command: 'echo oops >&2; exit 3' });
    expect(failed).toMatchObject({ exitCode: 3, signal: null, timedOut: false, killed: false });
    expect(failed.stderrTail).toBe('oops\n');
    expect(succeeded(failed)).toBe(false);
    const ok = await run({ command: ['true'] });
    expect(ok).toMatchObject({ exitCode: 0, stdoutTail: '', stderrTail: '' });
    expect(succeeded(ok)).toBe(true);
    expect(ok.durationMs).toBeGreaterThan(0);
    const signalled = await run({ command: 'kill -9 $$' });
    expect(signalled).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
    expect(succeeded(signalled)).toBe(false);
  });

  test('a string runs through the shell', async () => {
    const result = await run({
      command: 'echo "$((6 * 7))" | tr 4 x; echo "$GREETING"',
      env: { GREETING: 'hi' },
    });
    expect(result.stdoutTail).toBe('x2\nhi\n');
  });

  test('an argv list reaches the child exactly: no shell, no splitting, no expansion', async () => {
    const args = ['a b', `"double" 'single'`, '$HOME; echo no', '*', ''];
    const result = await run({ command: ['printf', '[%s]\n', ...args] });
    expect(result.stdoutTail).toBe(args.map((a) => `[${a}]\n`).join(''));
  });

  test('cwd and env', async () => {
    const result = await run({ command: 'pwd; echo "$A-$PATH"', cwd: dir, env: { A: 'x', PATH: '/bin' } });
    expect(result.stdoutTail).toBe(`${dir}\nx-/bin\n`);
  });

  test('the environment given is the whole environment: nothing of this process is inherited', async () => {
    process.env.RUNNER_TEST_SECRET = 'not for children';
    try {
      const given = await startProcess({
        command: ['/usr/bin/env'],
        env: { ONLY: 'this', SKIPPED: undefined },
      }).done;
      expect(given.stdoutTail).toBe('ONLY=this\n');
      // A JavaScript caller that gives no environment still passes nothing on.
      const none = await startProcess({ command: ['/usr/bin/env'] } as ProcessSpec).done;
      expect(none).toMatchObject({ exitCode: 0, stdoutTail: '' });
    } finally {
      delete process.env.RUNNER_TEST_SECRET;
    }
  });
});

describe('timeout, escalation and signals reach the whole process group', () => {
  test('timeout: SIGTERM, and a background grandchild gets it too', async () => {
    const log = join(dir, 'grandchild.log');
    // The grandchild records its SIGTERM; the shell waits for it so the record is made.
    const grandchild = `trap "echo term > ${log}; exit 0" TERM; while :; do sleep 0.05; done`;
    const started = Date.now();
    const result = await run({
      command: `sh -c '${grandchild}' & p=$!; trap 'wait $p; exit 7' TERM; wait`,
      timeoutMs: 300,
      killAfterMs: 4000,
    });
    expect(result).toMatchObject({ timedOut: true, killed: false, exitCode: 7, signal: null });
    expect(succeeded(result)).toBe(false);
    expect(readFileSync(log, 'utf8')).toBe('term\n');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('timeout: what the child started has until the SIGKILL deadline to clean up', async () => {
    const log = join(dir, 'grandchild.log');
    const grandchild = `trap "sleep 0.3; echo cleaned > ${log}; exit 0" TERM; while :; do sleep 0.05; done`;
    const started = Date.now();
    // The shell itself dies of the SIGTERM at once; its child takes 0.3 s more.
    const result = await run({ command: `sh -c '${grandchild}' & wait`, timeoutMs: 200, killAfterMs: 3000 });
    const elapsed = Date.now() - started;
    expect(result).toMatchObject({ timedOut: true, killed: false, exitCode: null, signal: 'SIGTERM' });
    expect(readFileSync(log, 'utf8')).toBe('cleaned\n');
    expect(elapsed).toBeGreaterThanOrEqual(480);
    expect(elapsed).toBeLessThan(2500);
  });

  test('timeout: a grandchild ignoring SIGTERM is killed at the deadline though the child is gone', async () => {
    const pidFile = join(dir, 'pid');
    const started = Date.now();
    const result = await run({
      command: `(trap '' TERM; exec sleep 30) & echo $! > ${pidFile}; wait`,
      timeoutMs: 200,
      killAfterMs: 400,
    });
    const elapsed = Date.now() - started;
    expect(result).toMatchObject({ timedOut: true, killed: true, signal: 'SIGTERM' });
    expect(elapsed).toBeGreaterThanOrEqual(580);
    expect(elapsed).toBeLessThan(2500);
    await sleep(50);
    expect(running(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
  });

  test('timeout: a child that ignores SIGTERM is killed killAfterMs later', async () => {
    const started = Date.now();
    const result = await run({ command: "trap '' TERM; sleep 30", timeoutMs: 200, killAfterMs: 300 });
    const elapsed = Date.now() - started;
    expect(result).toMatchObject({ timedOut: true, killed: true, exitCode: null, signal: 'SIGKILL' });
    expect(elapsed).toBeGreaterThanOrEqual(480);
    expect(elapsed).toBeLessThan(2000);
  });

  test('the whole group goes: a background sleep does not outlive a timed-out shell', async () => {
    const pidFile = join(dir, 'pid');
    const result = await run({ command: `sleep 30 & echo $! > ${pidFile}; wait`, timeoutMs: 200 });
    expect(result).toMatchObject({ timedOut: true, signal: 'SIGTERM' });
    const sleeper = Number(readFileSync(pidFile, 'utf8'));
    await sleep(50);
    expect(running(sleeper)).toBe(false);
  });

  test('signal() reaches the child and its children', async () => {
    const ready = join(dir, 'ready');
    const log = join(dir, 'log');
    const child = start({
      // Each one installs its trap before the ready file exists; the child then waits for both.
      command:
        `trap 'echo child >> ${log}; wait; exit 0' USR1; ` +
        `sh -c 'trap "echo grandchild >> ${log}; exit 0" USR1; touch ${ready}; while :; do sleep 0.05; done' & ` +
        'wait',
    });
    expect(child.pid).toEqual(expect.any(Number));
    await waitForFile(ready);
    child.signal('SIGUSR1');
    const result = await child.done;
    expect(result).toMatchObject({ exitCode: 0, timedOut: false });
    expect(readFileSync(log, 'utf8').split('\n').sort()).toEqual(['', 'child', 'grandchild']);
    child.signal('SIGTERM'); // after exit: ignored, no throw
  });

  test('an abort signal stops the child like a timeout', async () => {
    const abort = new AbortController();
    const child = start({ command: ['sleep', '30'], abortSignal: abort.signal, killAfterMs: 1000 });
    setTimeout(() => abort.abort(), 100);
    const result = await child.done;
    expect(result).toMatchObject({ aborted: true, timedOut: false, killed: false, signal: 'SIGTERM' });
    expect(succeeded(result)).toBe(false);
  });
});

describe('identity', () => {
  test('uid alone runs as that user with its primary group and no supplementary groups', async () => {
    const result = await run({ command: 'id -u; id -g; id -G', uid: 'nobody', cwd: '/' });
    expect(result.stdoutTail).toBe('65534\n65534\n65534\n');
  });

  test('uid and gid as names, numbers and numeric strings', async () => {
    const asNames = await run({ command: 'id -u; id -g', uid: 'nobody', gid: 'root', cwd: '/' });
    expect(asNames.stdoutTail).toBe('65534\n0\n');
    const groupOnly = await run({ command: 'id -u; id -g', gid: 'nogroup', cwd: '/' });
    expect(groupOnly.stdoutTail).toBe('0\n65534\n');
    const unlisted = await run({ command: 'id -u; id -g', uid: 4242, gid: '4343', cwd: '/' });
    expect(unlisted.stdoutTail).toBe('4242\n4343\n');
  });

  test('an unknown user or group, or an unlisted uid without a gid, is an error, not a throw', async () => {
    const user = start({ command: 'true', uid: 'no-such-user-here' });
    expect(user.pid).toBeUndefined();
    expect((await user.done).error).toBe('no user named "no-such-user-here" in /etc/passwd');
    expect((await run({ command: 'true', gid: 'no-such-group' })).error).toBe(
      'no group named "no-such-group" in /etc/group',
    );
    expect((await run({ command: 'true', uid: 4242 })).error).toMatch(
      /uid 4242 has no entry in \/etc\/passwd/,
    );
  });
});

describe('output and pipes', () => {
  test('stdout and stderr keep only their most recent bytes', async () => {
    const result = await run({
      command: "head -c 100000 /dev/zero | tr '\\0' a; echo END; head -c 50000 /dev/zero | tr '\\0' b >&2",
      outputTailBytes: 1000,
    });
    expect(result.stdoutTail).toHaveLength(1000);
    expect(result.stdoutTail).toBe('a'.repeat(996) + 'END\n');
    expect(result.stderrTail).toBe('b'.repeat(1000));
  });

  test('a tail never starts inside a UTF-8 character', async () => {
    const result = await run({ command: ['printf', 'ééé'], outputTailBytes: 5 });
    expect(result.stdoutTail).toBe('éé');
  });

  test('a grandchild still holding stdout does not hang done', async () => {
    const started = Date.now();
    const result = await run({ command: 'sleep 30 & echo $!', pipeDrainMs: 200 });
    const sleeper = Number(result.stdoutTail.trim());
    try {
      expect(result).toMatchObject({ exitCode: 0, timedOut: false });
      expect(Date.now() - started).toBeLessThan(1500);
      // Not stopped by us: only a timeout or a signal ends what a command leaves behind.
      expect(running(sleeper)).toBe(true);
    } finally {
      process.kill(sleeper, 'SIGKILL');
    }
  });
});

describe('commands that cannot start', () => {
  test('ENOENT and EACCES are errors in the result', async () => {
    const missing = start({ command: [join(dir, 'missing')], stdin: 'ignored' });
    const result = await missing.done;
    expect(result).toMatchObject({ exitCode: null, signal: null, timedOut: false });
    expect(result.error).toContain('ENOENT');
    expect(succeeded(result)).toBe(false);
    missing.signal('SIGTERM');
    const script = join(dir, 'not-executable');
    writeFileSync(script, '#!/bin/sh\necho hi\n');
    chmodSync(script, 0o644);
    const denied = await run({ command: [script] });
    expect(denied.error).toContain('EACCES');
  });

  test('a bad spec is an error in the result', async () => {
    expect((await run({ command: '  ' })).error).toBe('the command is empty');
    expect((await run({ command: [] })).error).toBe('the argv list is empty');
    expect((await run({ command: 'true', timeoutMs: 0 })).error).toMatch(/^timeoutMs must be/);
    const abort = new AbortController();
    abort.abort();
    expect((await run({ command: 'true', abortSignal: abort.signal })).error).toBe(
      'aborted before it started',
    );
  });
});
