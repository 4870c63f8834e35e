import { RedisOptions } from 'ioredis';
import { createRedisClient, isCluster, RedisClient } from './client';

/**
 * Dedicated connections for optimistic transactions. WATCH belongs to a connection, and
 * ioredis multiplexes commands on one socket, so two concurrent WATCH/MULTI on one client
 * would interleave and break each other: each transaction borrows a connection of its own.
 * On a Redis Cluster each pooled connection is a cluster client of its own (one socket per
 * node), so the same holds per node.
 */
export class RedisConnectionPool {
  private readonly idle: RedisClient[] = [];
  private readonly waiters: Array<(c: RedisClient) => void> = [];
  private readonly all: RedisClient[] = [];

  constructor(
    private readonly url: string,
    private readonly size: number,
    private readonly options: RedisOptions = {},
    /** Told how long each `with` held its connection (a transaction attempt's round trips). */
    private readonly onRoundTrip?: (seconds: number) => void,
  ) {}

  async acquire(): Promise<RedisClient> {
    const ready = this.idle.pop();
    if (ready) return ready;
    if (this.all.length < this.size) {
      const connection = createRedisClient(this.url, { maxRetriesPerRequest: 20, ...this.options });
      this.all.push(connection);
      return connection;
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(connection: RedisClient): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(connection);
    else this.idle.push(connection);
  }

  async with<T>(fn: (connection: RedisClient) => Promise<T>): Promise<T> {
    const connection = await this.acquire();
    // Timed from acquisition, so waiting for a free connection is not counted as Redis time.
    const started = this.onRoundTrip ? process.hrtime.bigint() : 0n;
    try {
      return await fn(connection);
    } catch (error) {
      // A connection may be left with a WATCH pending; clear it before reuse.
      await unwatch(connection);
      throw error;
    } finally {
      this.onRoundTrip?.(Number(process.hrtime.bigint() - started) / 1e9);
      this.release(connection);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((c) => c.quit().catch(() => c.disconnect())));
    this.all.length = 0;
    this.idle.length = 0;
  }
}

/**
 * UNWATCH where a WATCH may be pending: the one connection, or every master's connection of a
 * cluster client (UNWATCH names no key, so the cluster client would send it to any node).
 */
async function unwatch(connection: RedisClient): Promise<void> {
  const nodes = isCluster(connection) ? connection.nodes('master') : [connection];
  await Promise.all(nodes.map((node) => node.unwatch().catch(() => undefined)));
}
