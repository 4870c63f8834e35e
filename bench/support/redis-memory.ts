import Redis from 'ioredis';
import { isCluster, RedisClient } from '../../src/redis/client';
import { namespaceKeyPattern } from '../../src/redis/keys';
import { KeyKindMemory, tallyKeyMemory } from './stats';

/** The servers holding the data: a cluster's masters, or the one Redis. */
function dataNodes(redis: RedisClient): Redis[] {
  return isCluster(redis) ? redis.nodes('master') : [redis];
}

/** Redis's own count of the memory it uses (INFO memory `used_memory`, summed over masters), in bytes. */
export async function usedMemory(redis: RedisClient): Promise<number> {
  const infos = await Promise.all(dataNodes(redis).map((node) => node.info('memory')));
  return infos.reduce((sum, info) => sum + Number(/used_memory:(\d+)/.exec(info)![1]), 0);
}

export interface NamespaceMemory {
  keys: number;
  bytes: number;
  /** By what a key holds (see redisKeyKind): key count and MEMORY USAGE bytes. */
  byKind: Record<string, KeyKindMemory>;
}

/**
 * MEMORY USAGE of every key of the namespace (SCAN MATCH `<ns>:*` on every master), exact
 * (SAMPLES 0: every element of a hash or set is counted), summed and split by what the keys hold.
 */
export async function namespaceMemory(redis: RedisClient, namespace: string): Promise<NamespaceMemory> {
  const tally = new Map<string, KeyKindMemory>();
  for (const node of dataNodes(redis)) await tallyNode(node, namespace, tally);
  const kinds = [...tally.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  return {
    keys: kinds.reduce((n, [, k]) => n + k.keys, 0),
    bytes: kinds.reduce((n, [, k]) => n + k.bytes, 0),
    byKind: Object.fromEntries(kinds),
  };
}

async function tallyNode(node: Redis, namespace: string, tally: Map<string, KeyKindMemory>): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', namespaceKeyPattern(namespace), 'COUNT', 1000);
    cursor = next;
    const sizes = await memoryUsage(node, keys);
    keys.forEach((key, i) => tallyKeyMemory(tally, key, namespace, sizes[i]));
  } while (cursor !== '0');
}

/** MEMORY USAGE of each key (all on this node), pipelined; 0 for a key gone since the SCAN. */
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
