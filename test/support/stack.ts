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

/** The KAFKA_BROKERS / REDIS_URL / EVENT_STORE_URL / ZOOKEEPER_CONNECT the local stack last wrote to .stack/env. */
export function readStackEnv(): Record<string, string> {
  return readStackEnvFile(join(process.env.WINCHESTER_STACK_DIR ?? join(repoRoot, '.stack'), 'env'));
}

/** The stack's ZooKeeper (ZOOKEEPER_CONNECT, which globalSetup fills in from .stack/env). */
export function zookeeperConnect(): string {
  const connect = process.env.ZOOKEEPER_CONNECT;
  if (!connect) {
    throw new Error(
      'ZOOKEEPER_CONNECT is not set and .stack/env names none: run `bash scripts/stack.sh start`',
    );
  }
  return connect;
}
