import Redis, { Cluster, RedisOptions } from 'ioredis';
import { logger } from '../util/logger';

const REPEAT_QUIET_MS = 10000;

/** One Redis or a Redis Cluster: the stream state's commands are the same on both. */
export type RedisClient = Redis | Cluster;

/**
 * A Redis client whose connection errors are logged (once per message every 10 s) instead
 * of ioredis's "Unhandled error event" on every reconnection attempt; ioredis keeps
 * reconnecting and queued commands wait for it.
 */
export function createRedisClient(url: string, options: RedisOptions = {}): Redis {
  const client = new Redis(url, options);
  const lastLogged = new Map<string, number>();
  client.on('error', (error: Error) => {
    const now = Date.now();
    if (now - (lastLogged.get(error.message) ?? 0) < REPEAT_QUIET_MS) return;
    lastLogged.set(error.message, now);
    logger.warn({ component: 'redis', error: error.message }, 'Redis connection error; reconnecting');
  });
  return client;
}

/** Where a Redis URL points, without its password. */
export function redisTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 6379}`;
  } catch {
    return url;
  }
}

/** Connects once and PINGs, so an unreachable Redis is one clear error instead of a hang. */
export async function probeRedis(url: string, timeoutMs = 5000): Promise<string | undefined> {
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  let lastError: string | undefined;
  probe.on('error', (error: Error) => (lastError = error.message));
  try {
    await probe.connect();
    await probe.ping();
    return undefined;
  } catch (error) {
    return lastError ?? (error instanceof Error ? error.message : String(error));
  } finally {
    probe.disconnect();
  }
}
