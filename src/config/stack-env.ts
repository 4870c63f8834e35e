import { existsSync, readFileSync } from 'node:fs';

/** The KEY=value lines scripts/stack.sh writes to `.stack/env` (KAFKA_BROKERS, REDIS_URL). */
export function readStackEnvFile(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  const entries = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => /^([A-Z_]+)=(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1], m[2]] as const);
  return Object.fromEntries(entries);
}

/** Takes KAFKA_BROKERS / REDIS_URL from the local stack unless the environment has them. */
export function useLocalStackEnv(file: string): void {
  if (process.env.KAFKA_BROKERS && process.env.REDIS_URL) return;
  for (const [key, value] of Object.entries(readStackEnvFile(file))) process.env[key] = value;
}
