import Redis from 'ioredis';
import { namespaceKeyPattern } from '../../src/redis/keys';
import { KeyKindMemory, tallyKeyMemory } from './stats';

/** Redis's own count of the memory it uses (INFO memory `used_memory`), in bytes. */
export async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

export interface NamespaceMemory {
  keys: number;
  bytes: number;
  /** By what a key holds (see redisKeyKind): key count and MEMORY USAGE bytes. */
  byKind: Record<string, KeyKindMemory>;
}

/**
 * MEMORY USAGE of every key of the namespace (SCAN MATCH `<ns>:*`), exact (SAMPLES 0: every
 * element of a hash or set is counted), summed and split by what the keys hold. Run on a
 * single Redis: the benchmarks' state lives on one.
 */
export async function namespaceMemory(redis: Redis, namespace: string): Promise<NamespaceMemory> {
  const tally = new Map<string, KeyKindMemory>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', namespaceKeyPattern(namespace), 'COUNT', 1000);
    cursor = next;
    const sizes = await memoryUsage(redis, keys);
    keys.forEach((key, i) => tallyKeyMemory(tally, key, namespace, sizes[i]));
  } while (cursor !== '0');
  const kinds = [...tally.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  return {
    keys: kinds.reduce((n, [, k]) => n + k.keys, 0),
    bytes: kinds.reduce((n, [, k]) => n + k.bytes, 0),
    byKind: Object.fromEntries(kinds),
  };
}

/** MEMORY USAGE of each key, pipelined; 0 for a key gone since the SCAN. */
async function memoryUsage(redis: Redis, keys: string[]): Promise<number[]> {
  if (keys.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
  const replies = (await pipeline.exec()) ?? [];
  return replies.map(([error, bytes]) => {
    if (error) throw error;
    return Number(bytes ?? 0);
  });
}
