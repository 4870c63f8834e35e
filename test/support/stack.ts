import { execFileSync } from 'node:child_process';
import { readStackEnvFile } from '../../src/config/stack-env';
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
  return readStackEnvFile(join(process.env.WINCHESTER_STACK_DIR ?? join(repoRoot, '.stack'), 'env'));
}
