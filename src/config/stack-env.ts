import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The KEY=value lines scripts/stack.sh writes to `.stack/env` (KAFKA_BROKERS, REDIS_URL,
 * EVENT_STORE_URL, ZOOKEEPER_CONNECT, SCHEMA_REGISTRY_URL; in secure mode also the
 * credential and certificate variables, such as SCHEMA_REGISTRY_PASSWORD_FILE).
 */
export function readStackEnvFile(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  const entries = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => /^([A-Z_]+)=(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1], m[2]] as const);
  return Object.fromEntries(entries);
}

/**
 * The local stack's directory (`.stack/` of the checkout, as scripts/stack.sh makes it),
 * from a build (dist/src/config) or from the source (src/config); WINCHESTER_STACK_DIR
 * names another.
 */
export function localStackDir(): string {
  if (process.env.WINCHESTER_STACK_DIR) return process.env.WINCHESTER_STACK_DIR;
  const candidates = [join(__dirname, '..', '..', '..', '.stack'), join(__dirname, '..', '..', '.stack')];
  return candidates.find((dir) => existsSync(dir)) ?? candidates[0];
}

/** Takes KAFKA_BROKERS / REDIS_URL from the local stack unless the environment has them. */
export function useLocalStackEnv(file: string): void {
  if (process.env.KAFKA_BROKERS && process.env.REDIS_URL) return;
  for (const [key, value] of Object.entries(readStackEnvFile(file))) process.env[key] = value;
}

/**
 * The schema registry for a process on the local stack's Kafka: SCHEMA_REGISTRY_URL when the
 * environment sets it (set but empty: none, so records are JSON), else the stack's when
 * KAFKA_BROKERS is the stack's, else none.
 */
export function localStackRegistryUrl(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (env.SCHEMA_REGISTRY_URL !== undefined) return env.SCHEMA_REGISTRY_URL || undefined;
  const stack = readStackEnvFile(file);
  return env.KAFKA_BROKERS === stack.KAFKA_BROKERS ? stack.SCHEMA_REGISTRY_URL || undefined : undefined;
}

/**
 * The SCHEMA_REGISTRY_* variables to set for localStackRegistryUrl's choice: none when the
 * environment names its own registry (or none), else the stack's URL together with its
 * credentials and CA (a `--secure` stack's registry wants them).
 */
export function localStackRegistryEnv(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  if (env.SCHEMA_REGISTRY_URL !== undefined) return {};
  const stack = readStackEnvFile(file);
  if (env.KAFKA_BROKERS !== stack.KAFKA_BROKERS || !stack.SCHEMA_REGISTRY_URL) return {};
  return Object.fromEntries(Object.entries(stack).filter(([name]) => name.startsWith('SCHEMA_REGISTRY_')));
}
