import {
  badVariableName,
  childEnvironment,
  DEFAULT_PASSED_NAMES,
  passedByDefault,
} from '../../../src/process/environment';

/** A worker's environment as production gives it: locale and paths, and connection secrets. */
const WORKER_ENV: Record<string, string | undefined> = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: '/root',
  USER: 'root',
  LOGNAME: 'root',
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
  LC_TIME: 'en_GB.UTF-8',
  TZ: 'UTC',
  TMPDIR: '/var/tmp',
  KAFKA_BROKERS: 'kafka-1:9092',
  KAFKA_SASL_PASSWORD: 'kafka-secret',
  REDIS_URL: 'redis://:redis-secret@redis:6379',
  EVENT_STORE_URL: 'postgres://winchester:pg-secret@db/winchester',
  AMQP_URL: 'amqp://guest:guest@rabbit:5672',
  SCHEMA_REGISTRY_URL: 'https://user:pw@registry:8081',
  ZOOKEEPER_CONNECT: 'zk:2181',
  WINCHESTER_API_TOKEN: 'api-secret',
  GITHUB_TOKEN: 'ghp_x',
  AWS_ACCESS_KEY_ID: 'AKIA',
  AWS_SECRET_ACCESS_KEY: 'aws-secret',
  DB_PASSWORD: 'db-secret',
  HTTPS_PROXY: 'http://user:pw@proxy:3128',
  NODE_OPTIONS: '--require /opt/agent.js',
  UNSET_HERE: undefined,
};

describe('the default allow-list', () => {
  test('locale, time zone, paths and the account pass; connection strings and credentials do not', () => {
    expect(childEnvironment(WORKER_ENV)).toEqual({
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: '/root',
      USER: 'root',
      LOGNAME: 'root',
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
      LC_TIME: 'en_GB.UTF-8',
      TZ: 'UTC',
      TMPDIR: '/var/tmp',
    });
  });

  test('which names pass by default', () => {
    for (const name of [...DEFAULT_PASSED_NAMES, 'LC_CTYPE', 'LC_MESSAGES'])
      expect(passedByDefault(name)).toBe(true);
    for (const name of [
      'REDIS_URL',
      'KAFKA_BROKERS',
      'AMQP_URL',
      'AWS_REGION',
      'path',
      'LCX',
      'SHELL',
      'PWD',
    ]) {
      expect(passedByDefault(name)).toBe(false);
    }
  });

  test('nothing set in the parent: an empty environment', () => {
    expect(childEnvironment({})).toEqual({});
    expect(childEnvironment({ REDIS_URL: 'redis://x' }, { inherit: ['PATH'] })).toEqual({});
  });

  test('the parent environment is not changed', () => {
    const parent = { PATH: '/bin', REDIS_URL: 'r' };
    childEnvironment(parent, { set: { PATH: '/opt/bin' }, account: null });
    expect(parent).toEqual({ PATH: '/bin', REDIS_URL: 'r' });
  });
});

describe('inherit and set', () => {
  test('inherit passes the names given, when the parent has them', () => {
    const env = childEnvironment(WORKER_ENV, { inherit: ['REDIS_URL', 'NOT_SET_ANYWHERE', 'UNSET_HERE'] });
    expect(env.REDIS_URL).toBe('redis://:redis-secret@redis:6379');
    expect(env).not.toHaveProperty('NOT_SET_ANYWHERE');
    expect(env).not.toHaveProperty('UNSET_HERE');
    expect(env).not.toHaveProperty('KAFKA_BROKERS');
  });

  test('set wins over the defaults and over inherit', () => {
    const env = childEnvironment(WORKER_ENV, {
      inherit: ['AMQP_URL'],
      set: { PATH: '/opt/tools/bin', AMQP_URL: 'amqp://other', BILLING_URL: 'https://billing' },
    });
    expect(env).toMatchObject({
      PATH: '/opt/tools/bin',
      AMQP_URL: 'amqp://other',
      BILLING_URL: 'https://billing',
    });
  });
});

describe('running as another account', () => {
  test('HOME, USER and LOGNAME are the account’s, not the worker’s', () => {
    const env = childEnvironment(WORKER_ENV, { account: { name: 'nobody', home: '/nonexistent' } });
    expect(env).toMatchObject({
      HOME: '/nonexistent',
      USER: 'nobody',
      LOGNAME: 'nobody',
      PATH: WORKER_ENV.PATH,
    });
  });

  test('a uid passwd does not list, or an empty home: the worker’s values are dropped, not kept', () => {
    const unlisted = childEnvironment(WORKER_ENV, { account: null });
    for (const name of ['HOME', 'USER', 'LOGNAME']) expect(unlisted).not.toHaveProperty(name);
    expect(unlisted.LANG).toBe('C.UTF-8');
    const homeless = childEnvironment(WORKER_ENV, { account: { name: 'svc', home: '' } });
    expect(homeless).toMatchObject({ USER: 'svc', LOGNAME: 'svc' });
    expect(homeless).not.toHaveProperty('HOME');
  });

  test('inherit and set still win over the account', () => {
    const account = { name: 'nobody', home: '/nonexistent' };
    expect(childEnvironment(WORKER_ENV, { account, inherit: ['HOME'] }).HOME).toBe('/root');
    expect(childEnvironment(WORKER_ENV, { account, set: { HOME: '/srv/tool' } }).HOME).toBe('/srv/tool');
  });
});

describe('variable names', () => {
  test('= and NUL cannot be in a name; anything else can', () => {
    expect(badVariableName('')).toBe('an empty name');
    expect(badVariableName('A=B')).toBe('"A=B" contains "="');
    expect(badVariableName('A\0B')).toBe('"A\\0B" contains a NUL character');
    for (const name of ['A', '_x1', 'lower', 'with.dot', 'with-dash'])
      expect(badVariableName(name)).toBeUndefined();
  });
});
