/**
 * Redis in the forms production runs it: a Redis Cluster, TLS with ACL users, and a cluster
 * with both, on real redis-server processes. The secure single Redis and the secure cluster
 * are private (scripts/redis.sh and scripts/redis-cluster.sh with STACK_SECURE=1 under a
 * temporary WINCHESTER_STACK_DIR), stopped in afterAll; the plain cluster is globalSetup's.
 * A command meeting a wrong password, an untrusted certificate authority, a client without
 * TLS or the wrong kind of Redis stops with one line that never shows a password.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect, promisify } from 'node:util';
import type Redis from 'ioredis';
import { LUA_COMMANDS } from '../../src/redis/commands';
import { createRedisClient, isCluster, probeRedis, RedisClient } from '../../src/redis/client';
import { RedisConnectionPool } from '../../src/redis/connection-pool';
import { readStackEnvFile } from '../../src/config/stack-env';
import { redisClusterUrl, repoRoot } from '../support/stack';

const stackDir = mkdtempSync(join(tmpdir(), 'winchester-redis-secure-'));
const scriptEnv = { ...process.env, WINCHESTER_STACK_DIR: stackDir, STACK_SECURE: '1' };

function script(name: 'redis.sh' | 'redis-cluster.sh', action: 'start' | 'stop' | 'env'): string {
  return execFileSync('bash', [join(repoRoot, 'scripts', name), action], {
    env: scriptEnv,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

let secureUrl = '';
let secureClusterUrl = '';
/** What `env` prints: REDIS_PASSWORD_FILE and REDIS_TLS_CA_FILE. */
let secureEnv: Record<string, string> = {};
let password = '';

beforeAll(() => {
  secureUrl = script('redis.sh', 'start');
  secureClusterUrl = script('redis-cluster.sh', 'start');
  const envFile = join(stackDir, 'redis.env');
  writeFileSync(envFile, script('redis.sh', 'env'));
  secureEnv = readStackEnvFile(envFile);
  password = readFileSync(secureEnv.REDIS_PASSWORD_FILE, 'utf8').trim();
}, 120000);

afterAll(() => {
  script('redis-cluster.sh', 'stop');
  script('redis.sh', 'stop');
  rmSync(stackDir, { recursive: true, force: true });
});

/**
 * Runs `create` with the given REDIS_* variables set: a client or a probe reads them, and
 * their files, when it is created (before its first await); the environment is then restored.
 */
function underVariables<T>(variables: Record<string, string>, create: () => T): T {
  const saved = { ...process.env };
  Object.assign(process.env, variables);
  try {
    return create();
  } finally {
    for (const name of Object.keys(variables)) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  }
}

function clientUnder(url: string, variables: Record<string, string> = {}): RedisClient {
  return underVariables(variables, () => createRedisClient(url, { maxRetriesPerRequest: 3 }));
}

function clientCertificate(): Record<string, string> {
  const certs = join(stackDir, 'certs');
  return { REDIS_TLS_CERT_FILE: join(certs, 'client.pem'), REDIS_TLS_KEY_FILE: join(certs, 'client.key') };
}

type WithRenewClaim = RedisClient & { renewClaim(key: string, value: string, ms: number): Promise<number> };

/** Keys matching the pattern on one server: a whole SCAN, since the server may hold many others. */
async function countKeys(node: Redis, pattern: string): Promise<number> {
  let [cursor, count] = ['0', 0];
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    [cursor, count] = [next, count + keys.length];
  } while (cursor !== '0');
  return count;
}

/** Writes keys over many slots, runs a Lua command (EVALSHA) and a WATCH/MULTI, and cleans up. */
async function exercise(client: RedisClient, prefix: string): Promise<{ mastersWithKeys: number }> {
  const keys = Array.from({ length: 24 }, (_, i) => `${prefix}:{${prefix}.p${i}}:s`);
  for (const key of keys) await client.set(key, 'held', 'PX', 60000);
  expect(await Promise.all(keys.map((key) => client.get(key)))).toEqual(keys.map(() => 'held'));
  client.defineCommand('renewClaim', LUA_COMMANDS.renewClaim);
  expect(await (client as WithRenewClaim).renewClaim(keys[0], 'held', 30000)).toBe(1);
  await client.watch(keys[1]);
  expect(await client.multi().set(keys[1], 'changed').exec()).toEqual([[null, 'OK']]);
  const nodes = isCluster(client) ? client.nodes('master') : [client];
  const perNode = await Promise.all(nodes.map((node) => countKeys(node, `${prefix}:*`)));
  expect(perNode.reduce((a, b) => a + b, 0)).toBe(keys.length);
  for (const key of keys) await client.unlink(key);
  return { mastersWithKeys: perNode.filter((count) => count > 0).length };
}

const prefix = (name: string) => `redis-connect-${name}-${process.pid}`;

describe('a Redis Cluster', () => {
  const url = redisClusterUrl();
  (url ? test : test.skip)(
    'redis-cluster:// gets a cluster client that spreads keys over the three masters',
    async () => {
      expect(url).toMatch(/^redis-cluster:\/\/(127\.0\.0\.1:\d+,){5}127\.0\.0\.1:\d+$/);
      expect(await probeRedis(url!)).toBeUndefined();
      const client = clientUnder(url!);
      try {
        expect(isCluster(client)).toBe(true);
        expect(await exercise(client, prefix('cluster'))).toEqual({ mastersWithKeys: 3 });
      } finally {
        client.disconnect();
      }
    },
  );
});

describe('the connection pool on a Redis Cluster', () => {
  const url = redisClusterUrl();
  (url ? test : test.skip)(
    'a failed transaction leaves no WATCH behind on the node that holds its key',
    async () => {
      const pool = new RedisConnectionPool(url!, 1);
      const other = clientUnder(url!);
      // Keys of several slots: UNWATCH sent to one node at random would miss most of them.
      const keys = [1, 2, 3, 4, 5, 6, 7, 8].map((p) => `${prefix('pool')}:{${prefix('pool')}.p${p}}:s`);
      try {
        for (const key of keys) {
          await other.set(key, '0');
          const watchThenFail = pool.with(async (connection) => {
            await connection.watch(key);
            throw new Error('the caller gave up between WATCH and MULTI');
          });
          await expect(watchThenFail).rejects.toThrow('gave up');
          await other.set(key, '1');
          // The same (only) pooled connection: a WATCH left pending would abort this EXEC.
          expect(await pool.with((connection) => connection.multi().set(key, '2').exec())).toEqual([
            [null, 'OK'],
          ]);
        }
      } finally {
        for (const key of keys) await other.unlink(key);
        other.disconnect();
        await pool.close();
      }
    },
  );
});

describe('TLS and ACL users', () => {
  test('the secure scripts print a rediss URL with the user, and the files holding the rest', () => {
    expect(secureUrl).toMatch(/^rediss:\/\/winchester@127\.0\.0\.1:\d+$/);
    expect(secureClusterUrl).toMatch(
      /^rediss-cluster:\/\/winchester@(127\.0\.0\.1:\d+,){5}127\.0\.0\.1:\d+$/,
    );
    expect(secureEnv).toEqual({
      REDIS_PASSWORD_FILE: join(stackDir, 'secrets', 'redis.password'),
      REDIS_TLS_CA_FILE: join(stackDir, 'certs', 'ca.pem'),
    });
    expect(script('redis-cluster.sh', 'env')).toBe(script('redis.sh', 'env'));
  });

  test('the product user runs what the product needs over TLS, and no admin command', async () => {
    for (const variables of [secureEnv, { ...secureEnv, ...clientCertificate() }]) {
      const client = clientUnder(secureUrl, variables);
      try {
        expect(await client.call('ACL', 'WHOAMI')).toBe('winchester');
        expect(await exercise(client, prefix('single'))).toEqual({ mastersWithKeys: 1 });
        expect(await client.info('server')).toMatch(/redis_version/);
        await expect(client.config('GET', 'maxmemory-policy')).rejects.toThrow(/NOPERM/);
        await expect(client.flushall()).rejects.toThrow(/NOPERM/);
      } finally {
        client.disconnect();
      }
    }
  });

  test('a cluster over TLS with ACL users, with and without a client certificate', async () => {
    for (const variables of [secureEnv, { ...secureEnv, ...clientCertificate() }]) {
      expect(await probeRedisUnder(secureClusterUrl, variables)).toBeUndefined();
      const client = clientUnder(secureClusterUrl, variables);
      try {
        expect(isCluster(client)).toBe(true);
        expect(await exercise(client, prefix('secure-cluster'))).toEqual({ mastersWithKeys: 3 });
        const masters = isCluster(client) ? client.nodes('master') : [];
        expect(await Promise.all(masters.map((node) => node.call('ACL', 'WHOAMI')))).toEqual([
          'winchester',
          'winchester',
          'winchester',
        ]);
      } finally {
        client.disconnect();
      }
    }
  });

  test('a command waiting on a failed login is rejected with an error that does not hold the password', async () => {
    const wrong = 'not-the-password-5d1c';
    const client = clientUnder(secureUrl, {
      REDIS_TLS_CA_FILE: secureEnv.REDIS_TLS_CA_FILE,
      REDIS_PASSWORD: wrong,
    });
    try {
      const error = await client.get('anything').then(
        () => undefined,
        (rejected: Error) => rejected,
      );
      expect(error?.message).toMatch(/^WRONGPASS/);
      expect(inspect(error, { depth: 5 })).not.toContain(wrong);
      expect(JSON.stringify(error)).not.toContain(wrong);
    } finally {
      client.disconnect();
    }
  });

  test('no password, process argument or server log line of the stack carries a password', () => {
    const admin = readFileSync(join(stackDir, 'secrets', 'redis-admin.password'), 'utf8').trim();
    const instanceDirs = ['redis-secure', ...[1, 2, 3, 4, 5, 6].map((n) => `redis-cluster-secure/node-${n}`)];
    for (const dir of instanceDirs) {
      const pid = readFileSync(join(stackDir, dir, 'redis.pid'), 'utf8').trim();
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const log = readFileSync(join(stackDir, dir, 'redis.log'), 'utf8');
      const acl = readFileSync(join(stackDir, dir, 'users.acl'), 'utf8');
      for (const text of [argv, log, acl, secureUrl, secureClusterUrl]) {
        expect(text).not.toContain(password);
        expect(text).not.toContain(admin);
      }
    }
  });
});

function probeRedisUnder(url: string, variables: Record<string, string>): Promise<string | undefined> {
  return underVariables(variables, () => probeRedis(url));
}

/** `winchester streams list` in a process of its own (the source, compiled on load), as a user runs it. */
const STREAMS_CLI = [
  "const { Command } = require('commander');",
  "const { registerStreams } = require('./src/cli/streams.ts');",
  "const { reportFor } = require('./src/cli/errors.ts');",
  "const program = new Command('winchester').exitOverride();",
  'registerStreams(program);',
  "program.parseAsync(process.argv.slice(1), { from: 'user' }).catch((error) => {",
  '  const report = reportFor(error);',
  "  process.stderr.write('winchester: ' + report.message + '\\n');",
  '  process.exit(report.exitCode);',
  '});',
].join('\n');

async function streamsList(env: Record<string, string>): Promise<{ code: number; output: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^REDIS_/.test(name)));
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['-r', join(repoRoot, 'test/support/swc-register.cjs'), '-e', STREAMS_CLI, 'streams', 'list'],
      { cwd: repoRoot, env: { ...clean, LOG_LEVEL: 'debug', LOG_FORMAT: 'json', ...env } },
    );
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

function untrustedCa(): string {
  const key = join(stackDir, 'other-ca.key');
  const cert = join(stackDir, 'other-ca.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=other-ca',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    {
      stdio: 'ignore',
    },
  );
  return cert;
}

describe('a command meeting a Redis it cannot use', () => {
  test('stops with one line saying why, and never prints a password', async () => {
    const port = /:(\d+)$/.exec(secureUrl)![1];
    const clusterSeed = /@([^,]+),/.exec(secureClusterUrl)![1];
    const wrongFile = join(stackDir, 'wrong.password');
    writeFileSync(wrongFile, 'not-the-password-7f3a\n', { mode: 0o600 });
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      [
        'wrong password file',
        {
          REDIS_URL: secureUrl,
          REDIS_PASSWORD_FILE: wrongFile,
          REDIS_TLS_CA_FILE: secureEnv.REDIS_TLS_CA_FILE,
        },
        new RegExp(
          `^winchester: Redis at 127\\.0\\.0\\.1:${port}: authentication failed for user winchester \\(WRONGPASS\\)`,
        ),
      ],
      [
        'wrong password in the URL',
        {
          REDIS_URL: secureUrl.replace('winchester@', 'winchester:not-the-password-7f3a@'),
          REDIS_TLS_CA_FILE: secureEnv.REDIS_TLS_CA_FILE,
        },
        /authentication failed for user winchester \(WRONGPASS\)/,
      ],
      [
        'no password',
        { REDIS_URL: secureUrl, REDIS_TLS_CA_FILE: secureEnv.REDIS_TLS_CA_FILE },
        /no password is given: set REDIS_PASSWORD_FILE/,
      ],
      [
        'untrusted CA',
        {
          REDIS_URL: secureUrl,
          REDIS_PASSWORD_FILE: secureEnv.REDIS_PASSWORD_FILE,
          REDIS_TLS_CA_FILE: untrustedCa(),
        },
        /: TLS handshake failed \(.*certificate.*\): .*REDIS_TLS_CA_FILE/,
      ],
      [
        'no TLS',
        {
          REDIS_URL: secureUrl.replace('rediss:', 'redis:'),
          REDIS_PASSWORD_FILE: secureEnv.REDIS_PASSWORD_FILE,
        },
        /the server closed the connection \(.*\): does it expect TLS \(rediss:\/\/\)\?/,
      ],
      [
        'cluster URL at one Redis',
        { ...secureEnv, REDIS_URL: secureUrl.replace('rediss:', 'rediss-cluster:') },
        /is not a cluster node \(cluster support disabled\): give one Redis as redis:\/\//,
      ],
      [
        'one-Redis URL at a cluster node',
        { ...secureEnv, REDIS_URL: `rediss://winchester@${clusterSeed}` },
        /is a Redis Cluster node: give the cluster as redis-cluster:\/\//,
      ],
      [
        'TLS files with a redis:// URL',
        { ...secureEnv, REDIS_URL: secureUrl.replace('rediss:', 'redis:') },
        /^winchester: REDIS_TLS_CA_FILE is set, but REDIS_URL does not use TLS/,
      ],
    ];
    const outcomes = await Promise.all(cases.map(([, env]) => streamsList(env)));
    cases.forEach(([name, , says], i) => {
      const { code, output } = outcomes[i];
      const lines = output.split('\n').filter(Boolean);
      expect({ name, lines }).toEqual({ name, lines: [expect.stringMatching(says)] });
      expect({ name, code }).toEqual({ name, code: name.startsWith('TLS files') ? 2 : 1 });
      expect(output).not.toContain(password);
      expect(output).not.toContain('not-the-password-7f3a');
    });
    const fine = await streamsList({ ...secureEnv, REDIS_URL: secureUrl });
    expect(fine.code).toBe(0);
    expect(fine.output).not.toContain(password);
  });
});
