import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createDatabase, ScratchDatabase } from '../../src/postgres/databases';
import { repoRoot } from './stack';

/**
 * Upstream Panko 10.0.0 as a reference to compare with: its virtualenv (built from PyPI by
 * scripts/vectors/panko-venv.sh on first use, cached afterwards), a database of its own, its
 * record_events and its /v2 API, all through scripts/vectors/panko_upstream.py.
 */

const VECTORS = join(repoRoot, 'scripts', 'vectors');
const SCRIPT = join(VECTORS, 'panko_upstream.py');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const tail = (text: string, lines = 30) => text.trimEnd().split('\n').slice(-lines).join('\n');

/**
 * The python of upstream Panko's virtualenv. A failure to build it (first use without PyPI,
 * or no python3) is an error that says so: the comparison is never skipped.
 */
export async function upstreamPankoPython(): Promise<string> {
  const result = await run('bash', [join(VECTORS, 'panko-venv.sh')]);
  if (result.code !== 0) {
    throw new Error(
      `upstream Panko's virtualenv could not be built (scripts/vectors/panko-venv.sh exited ` +
        `with ${result.code}; its first run installs pinned packages from PyPI, so it needs ` +
        `network access to pypi.org and python3 3.11):\n${tail(result.stderr)}`,
    );
  }
  return join(result.stdout.trim(), 'bin', 'python');
}

export type UpstreamDatabase = ScratchDatabase;

/**
 * An empty database for upstream Panko on the server EVENT_STORE_URL names, in C collation:
 * Panko compares and orders text in the database's collation, our store by code point, so the
 * two agree only there.
 */
export async function upstreamDatabase(): Promise<UpstreamDatabase> {
  const server = process.env.EVENT_STORE_URL;
  if (!server) throw new Error('EVENT_STORE_URL is not set: the jest global setup provides it');
  return createDatabase(server, `t_panko_upstream_${randomBytes(4).toString('hex')}`, 'C');
}

/**
 * Upstream's record_events on a file of wire-form events (one JSON object a line); every event
 * must be stored (Panko silently drops some kinds of bad event).
 */
export async function recordUpstream(python: string, url: string, eventsFile: string): Promise<void> {
  const result = await run(python, [SCRIPT, 'record', '--url', url, '--events', eventsFile]);
  if (result.code !== 0) {
    throw new Error(`panko_upstream.py record exited with ${result.code}:\n${tail(result.stderr)}`);
  }
  if (result.stderr.includes('events stored')) {
    throw new Error(`upstream Panko did not store every event:\n${tail(result.stderr)}`);
  }
}

export interface UpstreamApi {
  /** `http://127.0.0.1:PORT` */
  base: string;
  stop(): Promise<void>;
}

const LISTENING = /^panko upstream API on (http:\/\/\S+?)\/?$/m;

/** Upstream's /v2 API (panko+noauth: identity from X-Roles, X-User-Id, X-Project-Id) on a free port. */
export function startUpstreamApi(python: string, url: string, timeoutMs = 60_000): Promise<UpstreamApi> {
  const child = spawn(python, [SCRIPT, 'serve', '--url', url, '--port', '0'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  // Should this process end without stopping it (a test run cut short), the server goes too.
  const orphaned = () => child.kill('SIGKILL');
  process.once('exit', orphaned);
  child.once('exit', () => process.removeListener('exit', orphaned));
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`upstream Panko's API did not start: ${why}\n${tail(stderr)}`));
    };
    const timer = setTimeout(() => fail(`no "listening" line within ${timeoutMs} ms`), timeoutMs);
    child.on('error', (error) => fail(error.message));
    const exitedEarly = (code: number | null, signal: string | null) => fail(`it exited (${signal ?? code})`);
    child.on('exit', exitedEarly);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      const match = LISTENING.exec(stdout);
      if (!match) return;
      clearTimeout(timer);
      child.removeListener('exit', exitedEarly);
      resolve({ base: match[1], stop: () => stopChild(child) });
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}
