/**
 * The exec handler's children, for real: the environment they see (scrubbed of the worker's
 * connection strings and credentials), how `command` reaches them (argv or shell), and the
 * user they run as. The worker is this process, with the stack's connection variables set.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecFailure, execHandler } from '../../src/pipeline/handlers/exec';
import { makeEvent, recordingContext, testEnv } from '../fixtures/pipeline/handler-context';
import { readStackEnv } from '../support/stack';

/** What a production worker holds besides the stack's own connection strings. */
const WORKER_SECRETS: Record<string, string> = {
  KAFKA_SASL_PASSWORD: 'kafka-secret',
  WINCHESTER_API_TOKEN: 'api-secret',
  AWS_SECRET_ACCESS_KEY: 'aws-secret',
  DB_PASSWORD: 'db-secret',
  LC_TIME: 'C.UTF-8',
};
const CONNECTIONS = ['KAFKA_BROKERS', 'REDIS_URL', 'EVENT_STORE_URL', 'AMQP_URL', 'SCHEMA_REGISTRY_URL'];

let dir: string;
const added: string[] = [];

beforeAll(() => {
  // The worker's environment as `source .stack/env` gives it, when the runner of this test did not.
  const stack = readStackEnv();
  for (const [name, value] of Object.entries({ ...stack, ...WORKER_SECRETS })) {
    if (process.env[name] === undefined) {
      process.env[name] = value;
      added.push(name);
    }
  }
  for (const name of CONNECTIONS) expect(process.env[name]).toBeTruthy();
});
afterAll(() => {
  for (const name of added) delete process.env[name];
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'winchester-exec-env-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const events = [makeEvent('compute.instance.exists', 'e1', { instance_id: 'i1' })];

/** Runs one stream through the handler; the command's stdout comes back from the log line. */
async function runExec(params: Record<string, unknown>) {
  const recording = recordingContext();
  const handler = execHandler.create(params, recording.context);
  await handler.handleEvents(events, testEnv());
  let error: unknown;
  try {
    await handler.commit();
  } catch (e) {
    error = e;
  }
  const done = recording.lines.find((l) => l.msg === 'exec: command succeeded');
  return { error, stdout: done ? String(done.stdout) : undefined };
}

/** A child that prints its whole environment as JSON: no shell between it and the handler. */
const PRINT_ENV = [process.execPath, '-e', 'process.stdout.write(JSON.stringify(process.env))'];

async function childEnvironment(params: Record<string, unknown> = {}): Promise<Record<string, string>> {
  const { error, stdout } = await runExec({ command: PRINT_ENV, ...params });
  expect(error).toBeUndefined();
  return JSON.parse(stdout!) as Record<string, string>;
}

const RUN_IDENTITY = {
  WINCHESTER_STREAM_ID: '3.0f8e7a9c-stream',
  WINCHESTER_STREAM_NAME: 'test_trigger',
  WINCHESTER_STATE_SERIAL: '7',
  WINCHESTER_TRIGGER: 'test_trigger',
  WINCHESTER_STREAM_KIND: 'fired',
};

/** The worker's values of the names every child gets by default. */
function allowListed(): Record<string, string> {
  const names = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR'];
  return Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] =>
        entry[1] !== undefined && (names.includes(entry[0]) || entry[0].startsWith('LC_')),
    ),
  );
}

describe('the environment an exec command sees', () => {
  test('the allow-list and the run’s identity, and nothing of the worker’s connections or secrets', async () => {
    const env = await childEnvironment();
    for (const name of [...CONNECTIONS, ...Object.keys(WORKER_SECRETS).filter((n) => n !== 'LC_TIME')]) {
      expect(env).not.toHaveProperty(name);
    }
    expect(env).toEqual({ ...allowListed(), ...RUN_IDENTITY });
    expect(env.LC_TIME).toBe(process.env.LC_TIME);
  });

  test('env sets variables and inherit_env passes the worker’s on purpose', async () => {
    const env = await childEnvironment({
      env: { BILLING_URL: 'https://billing.example.com', RETRIES: 3 },
      inherit_env: ['REDIS_URL', 'DB_PASSWORD', 'NOT_SET_IN_THE_WORKER'],
    });
    expect(env).toMatchObject({
      BILLING_URL: 'https://billing.example.com',
      RETRIES: '3',
      REDIS_URL: process.env.REDIS_URL,
      DB_PASSWORD: 'db-secret',
      ...RUN_IDENTITY,
    });
    expect(env).not.toHaveProperty('NOT_SET_IN_THE_WORKER');
    expect(env).not.toHaveProperty('KAFKA_BROKERS');
    expect(env).not.toHaveProperty('AMQP_URL');
  });

  test('a shell command sees the same scrubbed environment', async () => {
    const { error, stdout } = await runExec({
      command:
        'cat >/dev/null; echo "[$REDIS_URL][$KAFKA_BROKERS][$AMQP_URL][$WINCHESTER_STREAM_KIND][$PATH]"',
    });
    expect(error).toBeUndefined();
    expect(stdout).toBe(`[][][][fired][${process.env.PATH}]\n`);
  });
});

describe('how the command reaches the child', () => {
  test('a list is argv: shell metacharacters are passed as they are, never interpreted', async () => {
    const marker = join(dir, 'marker');
    const args = [`$REDIS_URL; touch ${marker}`, '`id -u`', '$(id -u)', '*', 'a b', '> out', '&& echo x'];
    const { error, stdout } = await runExec({ command: ['printf', '[%s]\\n', ...args] });
    expect(error).toBeUndefined();
    expect(stdout).toBe(args.map((a) => `[${a}]\n`).join(''));
    expect(existsSync(marker)).toBe(false);
  });

  test('a string runs through /bin/sh -c: expansions, pipes, redirections and lists', async () => {
    const marker = join(dir, 'marker');
    const { error, stdout } = await runExec({
      command: `wc -c | tr -d ' ' > /dev/null && touch "${marker}"; echo "$((6 * 7)) $WINCHESTER_STATE_SERIAL" | tr 4 x`,
    });
    expect(error).toBeUndefined();
    expect(stdout).toBe('x2 7\n');
    expect(existsSync(marker)).toBe(true);
  });
});

const asRoot = process.geteuid?.() === 0 ? describe : describe.skip;

asRoot('running as another user (the worker is root)', () => {
  test('user: nobody drops uid, gid and supplementary groups; the account is nobody’s, the directory /', async () => {
    const { error, stdout } = await runExec({
      command: 'cat >/dev/null; echo "$(id -u) $(id -g) $(id -G) $HOME $USER $LOGNAME $(pwd)"',
      user: 'nobody',
    });
    expect(error).toBeUndefined();
    expect(stdout).toBe('65534 65534 65534 /nonexistent nobody nobody /\n');
  });

  test('user and group by number; group alone keeps the worker’s uid', async () => {
    const both = await runExec({
      command: 'cat >/dev/null; echo "$(id -u) $(id -g)"',
      user: 65534,
      group: 4343,
    });
    expect(both.stdout).toBe('65534 4343\n');
    const groupOnly = await runExec({
      command: 'cat >/dev/null; echo "$(id -u) $(id -g)"',
      group: 'nogroup',
    });
    expect(groupOnly.stdout).toBe('0 65534\n');
  });

  test('the dropped user cannot read what only root may', async () => {
    const secret = join(dir, 'secret');
    writeFileSync(secret, 'root only\n');
    chmodSync(secret, 0o600);
    chmodSync(dir, 0o755);
    const denied = await runExec({ command: ['cat', secret], user: 'nobody' });
    expect(denied.error).toBeInstanceOf(ExecFailure);
    expect((denied.error as ExecFailure).stderr).toMatch(/Permission denied/);
    const allowed = await runExec({ command: ['cat', secret] });
    expect(allowed.stdout).toBe(readFileSync(secret, 'utf8'));
  });
});
