import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './stack';
import { TestNamespace } from './namespace';

export const cliPath = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

/** Environment for role processes of a test namespace, under the event clock. */
export function eventClockRoleEnv(ns: TestNamespace): NodeJS.ProcessEnv {
  return {
    KAFKA_BROKERS: ns.settings.kafkaBrokers.join(','),
    REDIS_URL: ns.settings.redisUrl,
    WINCHESTER_NAMESPACE: ns.prefix,
    WINCHESTER_CLOCK: 'event',
  };
}

export function requireBuild(): void {
  if (!existsSync(cliPath))
    throw new Error(`${cliPath} is missing: run npm run build first (scripts/test.sh does)`);
}

/** Starts a `winchester <role>` process with the test's connections; its output goes to a log buffer. */
export function startRole(
  role: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): ChildProcess & { log: string[] } {
  const child = spawn(process.execPath, [cliPath, role, ...args], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }) as ChildProcess & { log: string[] };
  child.log = [];
  const keep = (chunk: Buffer) => {
    child.log.push(chunk.toString());
    if (child.log.length > 200) child.log.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return child;
}

export async function stopRole(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await exited;
}

export { groupLag } from '../../src/kafka/group-lag';
