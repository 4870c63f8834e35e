import Redis, { Cluster, ClusterOptions, RedisOptions } from 'ioredis';
import { logger } from '../util/logger';
import {
  describeRedisTarget,
  explainRedisFailure,
  parseRedisUrl,
  redactRedisUrl,
  RedisAddress,
  RedisConnectionSettings,
  redisConnectionSettings,
} from './connection-options';

const REPEAT_QUIET_MS = 10000;

/** One Redis or a Redis Cluster: the stream state's commands are the same on both. */
export type RedisClient = Redis | Cluster;

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/**
 * How the cluster client rides out a failover or a slot migration. A command meeting MOVED
 * or ASK follows it (MOVED after 20 ms, so nodes still agreeing on a new master are not
 * ping-ponged between); TRYAGAIN (a multi-key command during a migration) and CLUSTERDOWN
 * (no master for a slot yet) are retried after a pause, and so is a command whose node
 * closed its connection, each after refreshing the slot map. 100 redirections at up to
 * half a second outlast a failover with Redis's default cluster-node-timeout (15 s) plus
 * the election. Reads go to masters only: a replica may not have our last write yet.
 */
const CLUSTER_RESILIENCE: ClusterOptions = {
  scaleReads: 'master',
  maxRedirections: 100,
  retryDelayOnMoved: 20,
  retryDelayOnFailover: 500,
  retryDelayOnClusterDown: 500,
  retryDelayOnTryAgain: 100,
  slotsRefreshTimeout: 2000,
  slotsRefreshInterval: 5000,
  enableOfflineQueue: true,
  enableReadyCheck: true,
};

const settingsCache = new Map<string, RedisConnectionSettings>();

/** The settings of a URL under the current REDIS_* variables, files read once per process. */
export function redisSettings(url: string, env: NodeJS.ProcessEnv = process.env): RedisConnectionSettings {
  const variables = Object.keys(env)
    .filter((name) => /^REDIS_(PASSWORD|TLS_)/.test(name))
    .sort()
    .map((name) => `${name}=${env[name]}`);
  const key = [url, ...variables].join('\n');
  let settings = settingsCache.get(key);
  if (!settings) {
    settings = redisConnectionSettings(url, env);
    settingsCache.set(key, settings);
  }
  return settings;
}

/** Credentials, certificates and database: what every connection to a node carries. */
function nodeOptions(settings: RedisConnectionSettings): RedisOptions {
  return {
    username: settings.username,
    password: settings.password,
    db: settings.db,
    ...(settings.tls ? { tls: { ...settings.tls } } : {}),
  };
}

function seeds(settings: RedisConnectionSettings): RedisAddress[] {
  return settings.addresses.map(({ host, port }) => ({ host, port }));
}

/** A Cluster for the settings; `options` are a single client's, placed where a cluster takes them. */
function createCluster(settings: RedisConnectionSettings, options: RedisOptions): Cluster {
  const { keyPrefix, enableOfflineQueue, lazyConnect, retryStrategy, enableReadyCheck, ...perNode } = options;
  const { host: _host, port: _port, db: _db, ...redisOptions } = { ...nodeOptions(settings), ...perNode };
  return new Cluster(seeds(settings), {
    ...CLUSTER_RESILIENCE,
    ...(keyPrefix !== undefined ? { keyPrefix } : {}),
    ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
    ...(enableReadyCheck !== undefined ? { enableReadyCheck } : {}),
    ...(lazyConnect !== undefined ? { lazyConnect } : {}),
    ...(retryStrategy ? { clusterRetryStrategy: retryStrategy } : {}),
    // With TLS the nodes' certificates are checked against the names given, not resolved IPs.
    ...(settings.tls ? { dnsLookup: (address: string, callback) => callback(null, address) } : {}),
    redisOptions,
  } satisfies ClusterOptions);
}

/**
 * ioredis attaches the failed command to its error, and when the login (HELLO or AUTH) fails,
 * every command waiting for the connection is rejected with that same error: its arguments hold
 * the password, which a logged `err` would print. The connection's error event comes first, so
 * the arguments are blanked there, before any caller sees the error.
 */
function hideCredentials(error: Error & { command?: { name?: string; args?: unknown[] } }): void {
  if (!error.command || !/^(auth|hello)$/i.test(error.command.name ?? '')) return;
  error.command.args = (error.command.args ?? []).map(() => '***');
}

/** Logs a client's connection errors once per message every 10 s, instead of on every retry. */
function logQuietly(client: RedisClient): void {
  const lastLogged = new Map<string, number>();
  const log = (error: Error) => {
    hideCredentials(error);
    const now = Date.now();
    if (now - (lastLogged.get(error.message) ?? 0) < REPEAT_QUIET_MS) return;
    lastLogged.set(error.message, now);
    logger.warn({ component: 'redis', error: error.message }, 'Redis connection error; reconnecting');
  };
  client.on('error', log);
  if (isCluster(client)) client.on('node error', log);
}

/**
 * A client for REDIS_URL, one Redis or a Redis Cluster by its scheme, with the password and
 * certificates of the REDIS_* variables. Its connection errors are logged (once per message
 * every 10 s) instead of ioredis's "Unhandled error event" on every reconnection attempt;
 * ioredis keeps reconnecting and queued commands wait for it.
 */
export function createRedisClient(url: string, options: RedisOptions = {}): RedisClient {
  const settings = redisSettings(url);
  const client =
    settings.topology === 'cluster'
      ? createCluster(settings, options)
      : new Redis({ ...seeds(settings)[0], ...nodeOptions(settings), ...options });
  logQuietly(client);
  return client;
}

/** Where a Redis URL points, without its password. */
export function redisTarget(url: string): string {
  try {
    return describeRedisTarget(parseRedisUrl(url));
  } catch {
    return redactRedisUrl(url);
  }
}

interface NodeAnswer {
  clusterEnabled: boolean;
  clusterState?: string;
}

const CLUSTER_DISABLED = /cluster support disabled/i;

/** Connects to one node without retrying and asks CLUSTER INFO (which also proves the login). */
async function askNode(
  settings: RedisConnectionSettings,
  address: RedisAddress,
  timeoutMs: number,
): Promise<NodeAnswer> {
  const node = new Redis({
    ...address,
    ...nodeOptions(settings),
    db: 0,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    enableReadyCheck: false,
  });
  let firstError: Error | undefined;
  node.on('error', (error: Error) => (firstError ??= error));
  try {
    await node.connect();
    const info = String(await node.call('CLUSTER', 'INFO'));
    return { clusterEnabled: true, clusterState: /cluster_state:(\w+)/.exec(info)?.[1] };
  } catch (error) {
    if (error instanceof Error && CLUSTER_DISABLED.test(error.message)) return { clusterEnabled: false };
    throw firstError ?? error;
  } finally {
    node.disconnect();
  }
}

/** What is wrong with a node's answer for the kind of URL, if anything. */
function topologyMismatch(
  settings: RedisConnectionSettings,
  address: RedisAddress,
  answer: NodeAnswer,
): string | undefined {
  const where = `${address.host}:${address.port}`;
  if (settings.topology === 'single') {
    return answer.clusterEnabled
      ? `${where} is a Redis Cluster node: give the cluster as redis-cluster://host:port,host:port (rediss-cluster:// with TLS)`
      : undefined;
  }
  if (!answer.clusterEnabled) {
    return `${where} is not a cluster node (cluster support disabled): give one Redis as redis:// (rediss:// with TLS)`;
  }
  return answer.clusterState === 'ok'
    ? undefined
    : `the cluster is down (cluster_state:${answer.clusterState ?? 'unknown'} at ${where})`;
}

/** Connects a cluster client once, so a cluster whose announced addresses are out of reach shows. */
async function connectClusterOnce(settings: RedisConnectionSettings, timeoutMs: number): Promise<void> {
  const cluster = createCluster(settings, {
    lazyConnect: true,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
  });
  cluster.on('error', () => undefined);
  cluster.on('node error', () => undefined);
  try {
    await cluster.connect();
    await Promise.all(cluster.nodes('master').map((node) => node.ping()));
  } finally {
    cluster.disconnect();
  }
}

function failureOf(error: unknown): { message: string; code?: string } {
  if (error instanceof Error) return { message: error.message, code: (error as NodeJS.ErrnoException).code };
  return { message: String(error) };
}

/** Why a Redis cannot be used; `reachable` when a server answered (and refused, or is of the wrong kind). */
export interface RedisProblem {
  message: string;
  reachable: boolean;
}

/**
 * Connects once and asks, so an unusable Redis is one clear clause instead of a hang:
 * unreachable, authentication failed, TLS handshake failed, a cluster URL at a single Redis
 * (or the reverse), a cluster that is down. Undefined when all is well. The settings
 * themselves (URL, files) fail with a ConfigurationError.
 */
export async function diagnoseRedis(url: string, timeoutMs = 5000): Promise<RedisProblem | undefined> {
  const settings = redisSettings(url);
  let unreachable: string | undefined;
  for (const address of settings.addresses) {
    try {
      const mismatch = topologyMismatch(settings, address, await askNode(settings, address, timeoutMs));
      if (mismatch) return { message: mismatch, reachable: true };
      if (settings.topology === 'cluster') await connectClusterOnce(settings, timeoutMs);
      return undefined;
    } catch (error) {
      const explained = explainRedisFailure(failureOf(error), settings);
      if (explained.everywhere) return { message: explained.message, reachable: true };
      unreachable ??= explained.message;
    }
  }
  return unreachable === undefined ? undefined : { message: unreachable, reachable: false };
}

/** diagnoseRedis's clause alone: undefined when Redis answers as it should. */
export async function probeRedis(url: string, timeoutMs = 5000): Promise<string | undefined> {
  return (await diagnoseRedis(url, timeoutMs))?.message;
}
