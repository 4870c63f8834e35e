import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { readStackEnvFile } from '../../src/config/stack-env';
import { repoRoot } from '../support';

/**
 * The Kafka and Redis a benchmark runs against: KAFKA_BROKERS and REDIS_URL when the environment
 * gives both, else the local stack of scripts/stack.sh, started when it is not running (a fresh
 * machine) and stopped again by `release` — as the test suite does. The stack's PostgreSQL
 * and ZooKeeper become EVENT_STORE_URL and ZOOKEEPER_CONNECT too, unless the environment names them. WINCHESTER_KEEP_STACK keeps
 * a stack started here running, for faster reruns.
 */
export interface BenchStack {
  /** Stops the local stack if this process started it; safe to call more than once. */
  release(): void;
}

const stackDir = () => process.env.WINCHESTER_STACK_DIR ?? join(repoRoot, '.stack');

function stackScript(action: 'start' | 'stop' | 'status', progress: boolean): string {
  return execFileSync('bash', [join(repoRoot, 'scripts', 'stack.sh'), action], {
    encoding: 'utf8',
    // Starting may download the Kafka jars first: show its progress rather than sit silent.
    stdio: ['ignore', 'pipe', progress ? 'inherit' : 'pipe'],
  });
}

function stackRunning(): boolean {
  try {
    stackScript('status', false);
    return true;
  } catch {
    return false;
  }
}

function startStack(): void {
  process.stderr.write('no local Kafka + Redis running: starting them (bash scripts/stack.sh start)\n');
  try {
    stackScript('start', true);
  } catch {
    throw new Error(
      'could not start the local Kafka + Redis (output above); run `bash scripts/stack.sh start` ' +
        'to see why, or set KAFKA_BROKERS and REDIS_URL',
    );
  }
}

/**
 * Points KAFKA_BROKERS and REDIS_URL at the local stack, as .stack/env records them, and
 * EVENT_STORE_URL at its PostgreSQL unless the environment names one.
 */
function useStackEnv(): void {
  const env = readStackEnvFile(join(stackDir(), 'env'));
  if (!env.KAFKA_BROKERS || !env.REDIS_URL) {
    throw new Error(
      `${join(stackDir(), 'env')} names no KAFKA_BROKERS and REDIS_URL; run \`bash scripts/stack.sh start\``,
    );
  }
  process.env.KAFKA_BROKERS = env.KAFKA_BROKERS;
  process.env.REDIS_URL = env.REDIS_URL;
  if (!process.env.EVENT_STORE_URL && env.EVENT_STORE_URL) process.env.EVENT_STORE_URL = env.EVENT_STORE_URL;
  if (!process.env.ZOOKEEPER_CONNECT && env.ZOOKEEPER_CONNECT)
    process.env.ZOOKEEPER_CONNECT = env.ZOOKEEPER_CONNECT;
  if (!process.env.AMQP_URL && env.AMQP_URL) process.env.AMQP_URL = env.AMQP_URL;
}

/** Makes Kafka and Redis available to the benchmark (see BenchStack). */
export function acquireStack(): BenchStack {
  if (process.env.KAFKA_BROKERS && process.env.REDIS_URL) return { release: () => {} };
  const started = !stackRunning();
  if (started) startStack();
  useStackEnv();
  let stopped = !started || Boolean(process.env.WINCHESTER_KEEP_STACK);
  return {
    release() {
      if (stopped) return;
      stopped = true;
      process.stderr.write('stopping the local Kafka + Redis this run started\n');
      try {
        stackScript('stop', true);
      } catch {
        process.stderr.write('could not stop the local stack: run `bash scripts/stack.sh stop`\n');
      }
    },
  };
}
