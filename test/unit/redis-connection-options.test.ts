import { redisUrlFrom } from '../../src/config/environment';
import { ConfigurationError } from '../../src/config/errors';
import {
  describeRedisTarget,
  explainRedisFailure,
  FileReader,
  parseRedisUrl,
  redactRedisUrl,
  redisConnectionSettings,
  RedisConnectionSettings,
} from '../../src/redis/connection-options';

/** Files by path, as the settings would read them from disk; a missing one fails as fs does. */
function files(contents: Record<string, string>): FileReader & { reads: string[] } {
  const reads: string[] = [];
  const read = (path: string) => {
    reads.push(path);
    if (!(path in contents))
      throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' });
    return Buffer.from(contents[path]);
  };
  return Object.assign(read, { reads });
}

function failure(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected a ConfigurationError');
}

describe('REDIS_URL forms', () => {
  test('one Redis, with the default port, a database and a user', () => {
    expect(parseRedisUrl('redis://cache.example:6380/2')).toEqual({
      topology: 'single',
      tls: false,
      addresses: [{ host: 'cache.example', port: 6380 }],
      db: 2,
    });
    expect(parseRedisUrl('rediss://winchester@127.0.0.1')).toEqual({
      topology: 'single',
      tls: true,
      addresses: [{ host: '127.0.0.1', port: 6379 }],
      username: 'winchester',
      db: 0,
    });
  });

  test('a cluster: every seed node, over TLS or not', () => {
    const parts = parseRedisUrl('rediss-cluster://winchester@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002/');
    expect(parts).toMatchObject({ topology: 'cluster', tls: true, username: 'winchester', db: 0 });
    expect(parts.addresses).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
    expect(parseRedisUrl('redis-cluster://a:1').tls).toBe(false);
  });

  test('user information is percent-decoded; a password in the URL is taken but hidden', () => {
    const parts = parseRedisUrl('redis://app%40ops:p%3Ass@h:1');
    expect(parts).toMatchObject({ username: 'app@ops', password: 'p:ss' });
    expect(parseRedisUrl('redis://:only-a-password@h').username).toBeUndefined();
    expect(redactRedisUrl('rediss://app:s3cret@h:1/0')).toBe('rediss://app:***@h:1/0');
    expect(redactRedisUrl('rediss://app@h:1')).toBe('rediss://app@h:1');
  });

  test.each([
    [
      'http://user:s3cret@h:1',
      /is not a redis:\/\/, rediss:\/\/, redis-cluster:\/\/, rediss-cluster:\/\/ URL/,
    ],
    ['redis://h:1,h:2', /names 2 hosts: a Redis Cluster's URL starts with redis-cluster:\/\//],
    ['redis-cluster://h:1,h:2/3', /database 3, but a Redis Cluster has only database 0/],
    ['redis://h:99999', /port "99999", which is not a port number/],
    ['redis://h:1/zero', /path "\/zero" where a database number/],
    ['redis://h:1/0?family=6', /query parameters \("\?family=6"\), which are not supported/],
    ['redis://user:s3cret@', /names no host/],
    ['redis-cluster://h:1,,h:2', /has "" where host\[:port\] belongs/],
    ['redis://user:%E0%A4%A@h', /badly percent-encoded password/],
  ])('%s is refused with one line that hides the password', (url, says) => {
    const message = failure(() => parseRedisUrl(url));
    expect(message).toMatch(says);
    expect(message).not.toContain('s3cret');
  });

  test('a target names hosts and ports, marks a cluster and never carries credentials', () => {
    expect(describeRedisTarget(parseRedisUrl('redis://u:s3cret@h:1'))).toBe('h:1');
    expect(describeRedisTarget(parseRedisUrl('redis-cluster://u:s3cret@a:1,[::1]:2'))).toBe(
      'a:1,[::1]:2 (cluster)',
    );
  });

  test('redisUrlFrom accepts the four schemes and refuses the rest in one line', () => {
    for (const url of ['redis://h:1', 'rediss://h:1', 'redis-cluster://h:1,h:2', 'rediss-cluster://h:1']) {
      expect(redisUrlFrom({ REDIS_URL: url })).toBe(url);
    }
    expect(failure(() => redisUrlFrom({}))).toMatch(/^REDIS_URL is not set/);
    const message = failure(() => redisUrlFrom({ REDIS_URL: 'memcached://u:s3cret@h:1' }));
    expect(message).toMatch(/"memcached:\/\/u:\*\*\*@h:1" is not a redis:\/\//);
    expect(message).not.toContain('s3cret');
  });
});

describe('credentials and certificates from the environment', () => {
  const disk = files({
    '/run/secrets/redis.password': 's3cret\n',
    '/etc/redis/ca.pem': 'CA',
    '/etc/redis/client.pem': 'CERT',
    '/etc/redis/client.key': 'KEY',
    '/run/secrets/empty': '\n',
  });

  test('the password file is read once, without its final newline; REDIS_PASSWORD works too', () => {
    const read = files({ '/p': 's3cret\r\n' });
    const settings = redisConnectionSettings('redis://winchester@h:1', { REDIS_PASSWORD_FILE: '/p' }, read);
    expect(settings).toMatchObject({ username: 'winchester', password: 's3cret', target: 'h:1' });
    expect(read.reads).toEqual(['/p']);
    expect(redisConnectionSettings('redis://h:1', { REDIS_PASSWORD: 'pw' }, read).password).toBe('pw');
    expect(redisConnectionSettings('redis://u:inurl@h:1', {}, read).password).toBe('inurl');
    expect(redisConnectionSettings('redis://h:1', {}, read).password).toBeUndefined();
  });

  test.each([
    [
      { REDIS_PASSWORD: 'a', REDIS_PASSWORD_FILE: '/run/secrets/redis.password' },
      'redis://h:1',
      /given twice \(REDIS_PASSWORD and REDIS_PASSWORD_FILE\)/,
    ],
    [
      { REDIS_PASSWORD_FILE: '/run/secrets/redis.password' },
      'redis://u:s3cret@h:1',
      /given twice \(a password in REDIS_URL and REDIS_PASSWORD_FILE\)/,
    ],
    [
      { REDIS_PASSWORD_FILE: '/run/secrets/missing' },
      'redis://h:1',
      /^REDIS_PASSWORD_FILE: \/run\/secrets\/missing cannot be read \(ENOENT\)$/,
    ],
    [
      { REDIS_PASSWORD_FILE: '/run/secrets/empty' },
      'redis://h:1',
      /^REDIS_PASSWORD_FILE: \/run\/secrets\/empty is empty$/,
    ],
    [
      { REDIS_TLS_CA_FILE: '/etc/redis/ca.pem' },
      'redis://h:1',
      /REDIS_TLS_CA_FILE is set, but REDIS_URL does not use TLS: write rediss:\/\//,
    ],
    [{ REDIS_TLS_CERT_FILE: '/etc/redis/client.pem' }, 'rediss://h:1', /REDIS_TLS_KEY_FILE is not set/],
    [{ REDIS_TLS_KEY_FILE: '/etc/redis/client.key' }, 'rediss://h:1', /REDIS_TLS_CERT_FILE is not set/],
    [
      { REDIS_TLS_CA_FILE: '/etc/redis/other.pem' },
      'rediss://h:1',
      /^REDIS_TLS_CA_FILE: \/etc\/redis\/other.pem cannot be read \(ENOENT\)$/,
    ],
  ])('%j with %s fails at start in one line', (env, url, says) => {
    const message = failure(() => redisConnectionSettings(url, env, disk));
    expect(message).toMatch(says);
    expect(message).not.toContain('s3cret');
  });

  test('TLS material comes from the files; a host name is also the name checked in the certificate', () => {
    const env = {
      REDIS_TLS_CA_FILE: '/etc/redis/ca.pem',
      REDIS_TLS_CERT_FILE: '/etc/redis/client.pem',
      REDIS_TLS_KEY_FILE: '/etc/redis/client.key',
    };
    const single = redisConnectionSettings('rediss://redis.internal:6380', env, disk);
    expect(single.tls).toEqual({
      ca: Buffer.from('CA'),
      cert: Buffer.from('CERT'),
      key: Buffer.from('KEY'),
      servername: 'redis.internal',
    });
    expect(redisConnectionSettings('rediss://10.0.0.5', env, disk).tls).not.toHaveProperty('servername');
    const cluster = redisConnectionSettings('rediss-cluster://redis.internal:7000', env, disk);
    expect(cluster.tls).not.toHaveProperty('servername');
    expect(cluster.topology).toBe('cluster');
  });

  test('rediss:// without a CA file trusts the system authorities; redis:// has no TLS at all', () => {
    expect(redisConnectionSettings('rediss://10.0.0.5', {}, disk).tls).toEqual({});
    expect(redisConnectionSettings('redis://10.0.0.5', {}, disk).tls).toBeUndefined();
  });
});

describe('explaining a failed connection', () => {
  const base: RedisConnectionSettings = {
    topology: 'single',
    addresses: [{ host: '127.0.0.1', port: 6379 }],
    db: 0,
    target: '127.0.0.1:6379',
  };
  const withLogin = { ...base, username: 'winchester', password: 's3cret', tls: {} };

  test('authentication failures are the server answer, with what to check', () => {
    const wrong = explainRedisFailure(
      { message: 'WRONGPASS invalid username-password pair or user is disabled.' },
      withLogin,
    );
    expect(wrong).toEqual({
      message:
        'authentication failed for user winchester (WRONGPASS): check the password (REDIS_PASSWORD_FILE) and the user in REDIS_URL',
      everywhere: true,
    });
    const none = explainRedisFailure(
      { message: 'WRONGPASS invalid username-password pair' },
      { ...withLogin, password: undefined },
    );
    expect(none.message).toMatch(/no password is given: set REDIS_PASSWORD_FILE/);
    expect(explainRedisFailure({ message: 'NOAUTH Authentication required.' }, base).message).toBe(
      'authentication required (NOAUTH): no password is given: set REDIS_PASSWORD_FILE',
    );
    expect(
      explainRedisFailure(
        { message: "NOPERM this user has no permissions to run the 'cluster|info' command" },
        withLogin,
      ).message,
    ).toMatch(/^user winchester lacks a permission: NOPERM/);
  });

  test('TLS: an untrusted certificate, a plain client at a TLS port, a TLS client at a plain port', () => {
    const untrusted = explainRedisFailure(
      { message: 'self-signed certificate in certificate chain', code: 'SELF_SIGNED_CERT_IN_CHAIN' },
      withLogin,
    );
    expect(untrusted.message).toMatch(
      /^TLS handshake failed \(self-signed certificate in certificate chain\): .*REDIS_TLS_CA_FILE/,
    );
    expect(untrusted.everywhere).toBe(true);
    const plainAtTls = explainRedisFailure({ message: 'write ECONNRESET', code: 'ECONNRESET' }, base);
    expect(plainAtTls).toEqual({
      message: 'the server closed the connection (write ECONNRESET): does it expect TLS (rediss://)?',
      everywhere: true,
    });
    const tlsAtPlain = explainRedisFailure({ message: 'connect ETIMEDOUT', code: 'ETIMEDOUT' }, withLogin);
    expect(tlsAtPlain.message).toMatch(/no TLS handshake/);
    expect(tlsAtPlain.everywhere).toBe(false);
  });

  test('an unreachable node is just that: the next seed may answer', () => {
    expect(
      explainRedisFailure(
        { message: 'connect ECONNREFUSED 127.0.0.1:6379', code: 'ECONNREFUSED' },
        withLogin,
      ),
    ).toEqual({
      message: 'connect ECONNREFUSED 127.0.0.1:6379',
      everywhere: false,
    });
  });
});
