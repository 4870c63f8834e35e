import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export const repoRoot = join(__dirname, '..', '..');

/** Runs scripts/stack.sh and returns its stdout. */
export function stackScript(action: 'start' | 'stop' | 'status'): string {
  return execFileSync('bash', [join(repoRoot, 'scripts', 'stack.sh'), action], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function stackRunning(): boolean {
  try {
    stackScript('status');
    return true;
  } catch {
    return false;
  }
}

/** The KAFKA_BROKERS / REDIS_URL the local stack last wrote to .stack/env. */
export function readStackEnv(): Record<string, string> {
  const file = join(process.env.WINCHESTER_STACK_DIR ?? join(repoRoot, '.stack'), 'env');
  if (!existsSync(file)) return {};
  const entries = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.match(/^([A-Z_]+)=(.*)$/))
    .filter((m): m is RegExpMatchArray => m !== null)
    .map((m) => [m[1], m[2]] as const);
  return Object.fromEntries(entries);
}
