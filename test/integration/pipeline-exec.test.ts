import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toCanonicalJson } from '../../src/events/event';
import { ExecFailure, execHandler } from '../../src/pipeline/handlers/exec';
import { makeEvent, recordingContext, testEnv } from '../fixtures/pipeline/handler-context';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'winchester-exec-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const events = [
  makeEvent('compute.instance.create.end', 'c1', { instance_id: 'i1', memory_mb: 512 }),
  makeEvent('compute.instance.exists', 'e1', { instance_id: 'i1' }),
];

async function runExec(params: Record<string, unknown>, opts: { dryRun?: boolean; rollback?: boolean } = {}) {
  const recording = recordingContext({ dryRun: opts.dryRun });
  const handler = execHandler.create(params, recording.context);
  expect(await handler.handleEvents(events, testEnv({ note: 'from an earlier handler' }))).toBe(events);
  if (opts.rollback) await handler.rollback();
  const started = Date.now();
  let error: unknown;
  try {
    await handler.commit();
  } catch (e) {
    error = e;
  }
  return { ...recording, error, seconds: (Date.now() - started) / 1000 };
}

/** A node one-liner as an argv list. */
const node = (script: string) => [process.execPath, '-e', script];

/** Running, not a zombie: an orphan's reaper (PID 1 here) may take its time. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

describe('exec handler with real child processes', () => {
  test('argv list: the stream arrives on stdin as JSON, the run identity in the environment', async () => {
    const out = join(dir, 'out.json');
    const script =
      "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{require('fs').writeFileSync(process.argv[1]," +
      'JSON.stringify({stdin:s,env:Object.fromEntries(Object.entries(process.env).filter(([k])=>' +
      "k.startsWith('WINCHESTER_')||k==='EXTRA'))}))})";
    const { error, lines } = await runExec({ command: [...node(script), out], env: { EXTRA: 42 } });
    expect(error).toBeUndefined();
    const seen = JSON.parse(readFileSync(out, 'utf8')) as { stdin: string; env: Record<string, string> };
    expect(seen.stdin).toBe(
      `{"env":${JSON.stringify(testEnv({ note: 'from an earlier handler' }))},` +
        `"events":[${events.map(toCanonicalJson).join(',')}]}`,
    );
    expect(seen.env).toEqual({
      EXTRA: '42',
      WINCHESTER_STREAM_ID: '3.0f8e7a9c-stream',
      WINCHESTER_STREAM_NAME: 'test_trigger',
      WINCHESTER_STATE_SERIAL: '7',
      WINCHESTER_TRIGGER: 'test_trigger',
      WINCHESTER_STREAM_KIND: 'fired',
    });
    expect(lines.find((l) => l.msg === 'exec: command succeeded')).toMatchObject({ exit_code: 0 });
  });

  test('shell string with event_types: only the selected events are sent', async () => {
    const out = join(dir, 'events.json');
    const { error } = await runExec({ command: `cat > "${out}"; echo done`, event_types: ['*.exists'] });
    expect(error).toBeUndefined();
    const doc = JSON.parse(readFileSync(out, 'utf8')) as { events: Array<{ message_id: string }> };
    expect(doc.events.map((e) => e.message_id)).toEqual(['e1']);
  });

  test('no selected events, no run', async () => {
    const marker = join(dir, 'ran');
    const { error } = await runExec({ command: `touch "${marker}"`, event_types: 'nothing.*' });
    expect(error).toBeUndefined();
    expect(existsSync(marker)).toBe(false);
  });

  test('a non-zero exit is a failure carrying the status and the end of stderr', async () => {
    const { error } = await runExec({ command: 'cat >/dev/null; echo "bad input" >&2; exit 3' });
    expect(error).toBeInstanceOf(ExecFailure);
    expect((error as ExecFailure).message).toBe(
      'exec: cat >/dev/null; echo "bad input" >&2; exit 3 exited with status 3: bad input',
    );
    expect((error as ExecFailure).exitCode).toBe(3);
  });

  test('death by a signal is a failure', async () => {
    const { error } = await runExec({ command: 'kill -9 $$' });
    expect((error as ExecFailure).message).toBe('exec: kill -9 $$ was killed by SIGKILL');
    expect((error as ExecFailure).signal).toBe('SIGKILL');
  });

  test('a command that cannot start is a failure', async () => {
    const { error } = await runExec({ command: [join(dir, 'no-such-command')] });
    expect(error).toBeInstanceOf(ExecFailure);
    expect((error as Error).message).toContain('cannot run');
    expect((error as Error).message).toContain('ENOENT');
  });

  test('a command that does not read its input still succeeds on exit 0', async () => {
    const big = Array.from({ length: 2000 }, (_, i) => makeEvent('x.y', `m${i}`, { pad: 'p'.repeat(500) }));
    const recording = recordingContext();
    const handler = execHandler.create({ command: 'exit 0' }, recording.context);
    await handler.handleEvents(big, testEnv());
    await expect(handler.commit()).resolves.toBeUndefined();
  });

  test('timeout: SIGTERM to the whole process group, a shell’s children included', async () => {
    const pidFile = join(dir, 'pid');
    const { error, seconds } = await runExec({
      command: `cat >/dev/null; sleep 30 & echo $! > "${pidFile}"; wait`,
      timeout: 0.5,
    });
    expect(error).toBeInstanceOf(ExecFailure);
    expect((error as Error).message).toMatch(/timed out after 0\.5 s \(stopped by SIGTERM\)$/);
    expect(seconds).toBeLessThan(3);
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    await new Promise((r) => setTimeout(r, 100));
    expect(running(grandchild)).toBe(false);
  });

  test('timeout: a command ignoring SIGTERM gets SIGKILL kill_after seconds later', async () => {
    const { error, seconds } = await runExec({
      command: "trap '' TERM; cat >/dev/null; sleep 30",
      timeout: 0.3,
      kill_after: 0.7,
    });
    expect((error as Error).message).toMatch(/timed out after 0\.3 s \(stopped by SIGKILL\)$/);
    expect(seconds).toBeGreaterThanOrEqual(0.95);
    expect(seconds).toBeLessThan(4);
  });

  test('timeout: SIGKILL comes 5 s after SIGTERM by default', async () => {
    const { error, seconds } = await runExec({
      command: "trap '' TERM; cat >/dev/null; sleep 30",
      timeout: 0.2,
    });
    expect((error as Error).message).toMatch(/stopped by SIGKILL\)$/);
    expect(seconds).toBeGreaterThanOrEqual(5.15);
    expect(seconds).toBeLessThan(8);
  });

  test('a dry run and a rolled-back run do not run the command', async () => {
    const marker = join(dir, 'ran');
    const dry = await runExec({ command: `touch "${marker}"` }, { dryRun: true });
    expect(dry.error).toBeUndefined();
    expect(dry.lines.map((l) => l.msg)).toContain(
      `exec (dry run): would run touch "${marker}" with 2 events on stdin`,
    );
    await runExec({ command: `touch "${marker}"` }, { rollback: true });
    expect(existsSync(marker)).toBe(false);
  });
});
