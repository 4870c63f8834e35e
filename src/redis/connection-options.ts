import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigurationError } from '../config/errors';
import { FileReader, passwordText, readEnvFile } from '../config/setting-files';

/**
 * What REDIS_URL and the REDIS_* variables say to connect to, and how: pure (files are read
 * through an injected reader), so the rules are tested without a server.
 *
 *   redis://[user[:password]@]host[:port][/db]           one Redis
 *   rediss://…                                           one Redis over TLS
 *   redis-cluster://[user[:password]@]host:port,host:port,…   a Redis Cluster (seed nodes)
 *   rediss-cluster://…                                   a Redis Cluster over TLS
 *
 * The password comes from REDIS_PASSWORD_FILE (preferred), REDIS_PASSWORD or the URL, one of
 * them; certificates from REDIS_TLS_CA_FILE, REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE.
 */

export const REDIS_URL_SCHEMES = ['redis', 'rediss', 'redis-cluster', 'rediss-cluster'] as const;

export type RedisTopology = 'single' | 'cluster';

export interface RedisAddress {
  host: string;
  port: number;
}

/** What the URL itself says. */
export interface RedisUrlParts {
  topology: RedisTopology;
  tls: boolean;
  addresses: RedisAddress[];
  username?: string;
  /** From the URL's user information; REDIS_PASSWORD(_FILE) is the better place. */
  password?: string;
  db: number;
}

export interface RedisTlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** The name to check the server's certificate against, when the URL names a host (not an IP). */
  servername?: string;
}

/** The URL with the environment's credentials and certificates: everything a client needs. */
export interface RedisConnectionSettings {
  topology: RedisTopology;
  addresses: RedisAddress[];
  db: number;
  username?: string;
  password?: string;
  /** Undefined without TLS; an empty object trusts the system's certificate authorities. */
  tls?: RedisTlsMaterial;
  /** Where the URL points, for messages: never the password. */
  target: string;
}

export type { FileReader };

const DEFAULT_PORT = 6379;
const SCHEME_PATTERN = /^([a-z-]+):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/;

/** The URL with its password (if any) replaced by `***`, for error messages. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^([a-z-]+:\/\/)([^@/?#]*)@/i, (_match, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return `${scheme}${colon < 0 ? userinfo : `${userinfo.slice(0, colon)}:***`}@`;
  });
}

function urlError(url: string, problem: string): ConfigurationError {
  return new ConfigurationError(`REDIS_URL "${redactRedisUrl(url)}" ${problem}`);
}

function decode(url: string, text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw urlError(url, `has a badly percent-encoded ${what}`);
  }
}

function parseAddress(url: string, entry: string): RedisAddress {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d*))?$/.exec(entry);
  if (!match) throw urlError(url, `has "${entry}" where host[:port] belongs`);
  const host = match[1].replace(/^\[(.*)\]$/, '$1');
  const port = match[2] ? Number(match[2]) : DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw urlError(url, `has port "${match[2]}", which is not a port number (1-65535)`);
  }
  return { host, port };
}

function parseUserinfo(url: string, userinfo: string): Pick<RedisUrlParts, 'username' | 'password'> {
  const colon = userinfo.indexOf(':');
  const username = decode(url, colon < 0 ? userinfo : userinfo.slice(0, colon), 'user name');
  const password = colon < 0 ? undefined : decode(url, userinfo.slice(colon + 1), 'password');
  return { username: username || undefined, password: password || undefined };
}

function parseDatabase(url: string, path: string, topology: RedisTopology): number {
  if (path === '' || path === '/') return 0;
  if (!/^\/\d+$/.test(path)) throw urlError(url, `has path "${path}" where a database number (/0) belongs`);
  const db = Number(path.slice(1));
  if (topology === 'cluster' && db !== 0) {
    throw urlError(url, `names database ${db}, but a Redis Cluster has only database 0`);
  }
  return db;
}

/** Splits a Redis URL of one of the four schemes; a ConfigurationError (one line) otherwise. */
export function parseRedisUrl(url: string): RedisUrlParts {
  const match = SCHEME_PATTERN.exec(url);
  const scheme = match?.[1] ?? '';
  if (!match || !(REDIS_URL_SCHEMES as readonly string[]).includes(scheme)) {
    throw urlError(url, `is not a ${REDIS_URL_SCHEMES.map((s) => `${s}://`).join(', ')} URL`);
  }
  const [, , authority, path, query] = match;
  if (query) throw urlError(url, `has query parameters ("${query}"), which are not supported`);
  const topology: RedisTopology = scheme.endsWith('-cluster') ? 'cluster' : 'single';
  const at = authority.lastIndexOf('@');
  const hosts = authority.slice(at + 1);
  if (!hosts) throw urlError(url, 'names no host');
  const addresses = hosts.split(',').map((entry) => parseAddress(url, entry));
  if (topology === 'single' && addresses.length > 1) {
    throw urlError(
      url,
      `names ${addresses.length} hosts: a Redis Cluster's URL starts with ${scheme}-cluster://`,
    );
  }
  return {
    topology,
    tls: scheme.startsWith('rediss'),
    addresses,
    ...(at < 0 ? {} : parseUserinfo(url, authority.slice(0, at))),
    db: parseDatabase(url, path, topology),
  };
}

function formatAddress({ host, port }: RedisAddress): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** `host:port` of one Redis, `host:port,host:port (cluster)` of a cluster's seeds. */
export function describeRedisTarget(parts: Pick<RedisUrlParts, 'topology' | 'addresses'>): string {
  const addresses = parts.addresses.map(formatAddress).join(',');
  return parts.topology === 'cluster' ? `${addresses} (cluster)` : addresses;
}

function passwordFrom(
  parts: RedisUrlParts,
  env: NodeJS.ProcessEnv,
  readFile: FileReader,
): string | undefined {
  const given = [
    parts.password !== undefined && 'a password in REDIS_URL',
    env.REDIS_PASSWORD && 'REDIS_PASSWORD',
    env.REDIS_PASSWORD_FILE && 'REDIS_PASSWORD_FILE',
  ].filter((source): source is string => Boolean(source));
  if (given.length > 1) {
    throw new ConfigurationError(
      `Redis password given twice (${given.join(' and ')}): keep one, best REDIS_PASSWORD_FILE`,
    );
  }
  if (env.REDIS_PASSWORD) return env.REDIS_PASSWORD;
  const file = readEnvFile(env, 'REDIS_PASSWORD_FILE', readFile);
  if (file === undefined) return parts.password;
  return passwordText('REDIS_PASSWORD_FILE', env.REDIS_PASSWORD_FILE!, file);
}

const TLS_VARIABLES = ['REDIS_TLS_CA_FILE', 'REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE'] as const;

function tlsFrom(
  parts: RedisUrlParts,
  env: NodeJS.ProcessEnv,
  readFile: FileReader,
): RedisTlsMaterial | undefined {
  const set = TLS_VARIABLES.filter((name) => env[name]);
  if (!parts.tls) {
    if (set.length === 0) return undefined;
    throw new ConfigurationError(
      `${set.join(', ')} ${set.length > 1 ? 'are' : 'is'} set, but REDIS_URL does not use TLS: ` +
        `write rediss:// (or rediss-cluster://)`,
    );
  }
  if (Boolean(env.REDIS_TLS_CERT_FILE) !== Boolean(env.REDIS_TLS_KEY_FILE)) {
    const missing = env.REDIS_TLS_CERT_FILE ? 'REDIS_TLS_KEY_FILE' : 'REDIS_TLS_CERT_FILE';
    throw new ConfigurationError(
      `a client certificate needs REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE: ${missing} is not set`,
    );
  }
  const host = parts.addresses[0].host;
  const material: RedisTlsMaterial = {
    ca: readEnvFile(env, 'REDIS_TLS_CA_FILE', readFile),
    cert: readEnvFile(env, 'REDIS_TLS_CERT_FILE', readFile),
    key: readEnvFile(env, 'REDIS_TLS_KEY_FILE', readFile),
    // A cluster's nodes are reached at the addresses they announce, each checked on its own.
    servername: parts.topology === 'single' && isIP(host) === 0 ? host : undefined,
  };
  return Object.fromEntries(Object.entries(material).filter(([, value]) => value !== undefined));
}

/** REDIS_URL with the environment's password and certificates, read once here. */
export function redisConnectionSettings(
  url: string,
  env: NodeJS.ProcessEnv = process.env,
  readFile: FileReader = readFileSync,
): RedisConnectionSettings {
  const parts = parseRedisUrl(url);
  return {
    topology: parts.topology,
    addresses: parts.addresses,
    db: parts.db,
    username: parts.username,
    password: passwordFrom(parts, env, readFile),
    tls: tlsFrom(parts, env, readFile),
    target: describeRedisTarget(parts),
  };
}

/** A failed connection attempt, as a client reports it. */
export interface RedisFailure {
  message: string;
  code?: string;
}

/** Whether a failure is the server's answer (the same on every node), not a node being away. */
export interface ExplainedFailure {
  message: string;
  everywhere: boolean;
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|ERR_SSL|EPROTO/;

function explainAuthentication(message: string, settings: RedisConnectionSettings): string | undefined {
  const user = settings.username ?? 'default';
  const noPassword = 'no password is given: set REDIS_PASSWORD_FILE';
  if (/^WRONGPASS/.test(message)) {
    const hint =
      settings.password === undefined
        ? noPassword
        : 'check the password (REDIS_PASSWORD_FILE) and the user in REDIS_URL';
    return `authentication failed for user ${user} (WRONGPASS): ${hint}`;
  }
  if (/^NOAUTH/.test(message)) {
    return `authentication required (NOAUTH): ${settings.password === undefined ? noPassword : 'check the user in REDIS_URL'}`;
  }
  if (/^NOPERM/.test(message)) return `user ${user} lacks a permission: ${message}`;
  return undefined;
}

function explainTransport(
  { message, code = '' }: RedisFailure,
  settings: RedisConnectionSettings,
): string | undefined {
  if (TLS_CODES.test(code) || /certificate|wrong version number|SSL routines/i.test(message)) {
    const hint = settings.tls
      ? 'does the server speak TLS on this port, and is REDIS_TLS_CA_FILE its certificate authority?'
      : 'is REDIS_URL rediss://?';
    return `TLS handshake failed (${message}): ${hint}`;
  }
  // A TLS port drops a client that does not start a handshake.
  if (!settings.tls && (code === 'ECONNRESET' || /ECONNRESET|Connection is closed/.test(message))) {
    return `the server closed the connection (${message}): does it expect TLS (rediss://)?`;
  }
  return undefined;
}

/** One clear clause for a failed probe: authentication, TLS, or the node is not reachable. */
export function explainRedisFailure(
  failure: RedisFailure,
  settings: RedisConnectionSettings,
): ExplainedFailure {
  const answer = explainAuthentication(failure.message, settings) ?? explainTransport(failure, settings);
  if (answer) return { message: answer, everywhere: true };
  // A server that does not speak TLS never completes the handshake: it looks like a timeout.
  if (settings.tls && /ETIMEDOUT/.test(failure.message)) {
    return {
      message: `${failure.message}: no answer, or no TLS handshake (does the server speak TLS on this port?)`,
      everywhere: false,
    };
  }
  return { message: failure.message, everywhere: false };
}
