import { relative } from 'node:path';
import { ConfigurationError } from '../config/errors';
import { createRedisClient, probeRedis, RedisClient, redisTarget } from '../redis/client';
import type { Logger } from '../util/logger';
import { ExclusiveLeases, LeaseEvent } from './exclusive-lease';
import type { RunGate } from './run-gate';
import type { WatchSpec } from './spec';

/**
 * The Redis side of `exclusive=True`: one connection and one ExclusiveLeases for the daemon,
 * opened when the first exclusive watch needs it (at start, or when a reload adds one).
 *
 * A watch's lease key is its znode, its file relative to the config directory and its
 * position in that file, so two watches of one znode are leased apart, and every host with the
 * same configuration (wherever its directory is) shares the lease of the same watch.
 */

export interface LeaseGatesOptions {
  redisUrl?: string;
  namespace: string;
  configDir: string;
  leaseMs?: number;
  log: Logger;
}

/** Redis could not be reached at start while an exclusive watch needs it. */
export class RedisUnreachableError extends Error {
  override readonly name = 'RedisUnreachableError';
}

export class LeaseGates {
  private redis?: RedisClient;
  private leases?: ExclusiveLeases;

  constructor(private readonly options: LeaseGatesOptions) {}

  /** Throws a ConfigurationError naming the watch's file and line when no Redis URL was given. */
  requireRedis(spec: WatchSpec): void {
    if (this.options.redisUrl) return;
    throw new ConfigurationError(
      `${spec.source.file}:${spec.source.line}: watch '${spec.description}' is exclusive=True, ` +
        'which takes a lease on Redis: set REDIS_URL or give --redis-url',
    );
  }

  /** Checks once that Redis answers (at start, when some watch is exclusive). */
  async probe(): Promise<void> {
    const url = this.options.redisUrl;
    if (!url) return;
    const problem = await probeRedis(url);
    if (problem) {
      throw new RedisUnreachableError(
        `cannot reach Redis at ${redisTarget(url)} (${problem}), which exclusive=True watches need: is REDIS_URL right?`,
      );
    }
  }

  gateFor(spec: WatchSpec, index: number): RunGate {
    this.requireRedis(spec);
    const file = relative(this.options.configDir, spec.source.file) || spec.source.file;
    return this.exclusiveLeases().gate(`${spec.znode}#${file}#${index}`);
  }

  async close(): Promise<void> {
    const redis = this.redis;
    this.redis = undefined;
    this.leases = undefined;
    if (!redis) return;
    await redis.quit().catch(() => redis.disconnect());
  }

  private exclusiveLeases(): ExclusiveLeases {
    if (!this.leases) {
      this.redis = createRedisClient(this.options.redisUrl!, { maxRetriesPerRequest: 3 });
      this.leases = new ExclusiveLeases(this.redis, {
        namespace: this.options.namespace,
        leaseMs: this.options.leaseMs,
        listener: (event) => this.report(event),
      });
    }
    return this.leases;
  }

  private report(event: LeaseEvent): void {
    const log = this.options.log;
    if (event.type === 'lost') log.warn({ lease: event.znode, reason: event.reason }, 'exclusive lease lost');
    else if (event.type === 'redisError') {
      log.warn(
        { lease: event.znode, operation: event.operation, error: event.error },
        'exclusive lease: Redis error',
      );
    } else if (event.type === 'waiting')
      log.info({ lease: event.znode }, 'exclusive lease held by another host: waiting');
    else log.debug({ lease: event.znode, waitedMs: event.waitedMs }, 'exclusive lease acquired');
  }
}
