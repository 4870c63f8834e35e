import { FastifyInstance } from 'fastify';
import { BearerToken, bearerTokenOf, isLoopback, tokensByAccess } from '../../../src/api/access';
import { ApiOptions, buildApi } from '../../../src/api/server';
import { registerApi } from '../../../src/cli/api';
import { WinchesterMetrics } from '../../../src/metrics/metrics';
import { MemoryEventStore } from '../../../src/store/memory-store';
import { runInProcess } from '../../support/in-process-cli';

describe('tokens', () => {
  test('a token matches itself only: not a prefix, an extension, another case, or nothing', () => {
    const token = new BearerToken('s3cret');
    expect(token.matches('s3cret')).toBe(true);
    for (const wrong of ['s3cre', 's3crett', 'S3CRET', '', ' s3cret', undefined]) {
      expect(token.matches(wrong)).toBe(false);
    }
  });

  test('the bearer token of an Authorization header; the scheme in any case, nothing else counts', () => {
    expect(bearerTokenOf('Bearer abc')).toBe('abc');
    expect(bearerTokenOf('bearer abc')).toBe('abc');
    expect(bearerTokenOf('Bearer a b')).toBe('a b');
    for (const none of [undefined, '', 'Bearer', 'Bearer ', 'Basic YTpi', 'abc', 'Bearerabc']) {
      expect(bearerTokenOf(none)).toBeUndefined();
    }
  });

  test('the admin token defaults to the main one; /metrics has none unless given; empty is none', () => {
    const only = tokensByAccess({ query: 'q' });
    expect(only.admin?.matches('q')).toBe(true);
    expect(only.metrics).toBeUndefined();
    expect(only.open).toBeUndefined();
    const separate = tokensByAccess({ query: 'q', admin: 'a', metrics: 'm' });
    expect([separate.admin?.matches('a'), separate.admin?.matches('q')]).toEqual([true, false]);
    expect([separate.metrics?.matches('m'), separate.metrics?.matches('q')]).toEqual([true, false]);
    expect(tokensByAccess({ query: '', admin: '', metrics: '' })).toEqual({
      open: undefined,
      metrics: undefined,
      admin: undefined,
      query: undefined,
    });
  });
});

test('loopback addresses: 127.0.0.0/8, ::1 in its forms, IPv4-mapped, localhost; nothing else', () => {
  for (const host of [
    '127.0.0.1',
    '127.1.2.3',
    '::1',
    '[::1]',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.1',
    'localhost',
    'LOCALHOST',
  ]) {
    expect([host, isLoopback(host)]).toEqual([host, true]);
  }
  for (const host of [
    '0.0.0.0',
    '::',
    '10.0.0.1',
    '128.0.0.1',
    '::ffff:10.0.0.1',
    'api.example.com',
    'localhost.evil.com',
    '999.1.1.1',
    '',
  ]) {
    expect([host, isLoopback(host)]).toEqual([host, false]);
  }
});

describe('which routes want which token', () => {
  const apps: FastifyInstance[] = [];
  afterAll(() => Promise.all(apps.map((app) => app.close())));
  const app = (options: Partial<ApiOptions>) => {
    const built = buildApi({
      metrics: new WinchesterMetrics('api'),
      namespace: 'access-test',
      eventStore: new MemoryEventStore(),
      ...options,
    });
    apps.push(built);
    return built;
  };
  const status = async (instance: FastifyInstance, method: 'GET' | 'POST', url: string, token?: string) => {
    const headers = token === undefined ? {} : { authorization: `Bearer ${token}` };
    const response = await instance.inject({ method, url, headers });
    return response.statusCode;
  };

  test('a refusal is a 401 with a JSON error and WWW-Authenticate: Bearer', async () => {
    const response = await app({ bearerToken: 'q' }).inject({ url: '/v2/events' });
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.json()).toEqual({ error: 'unauthorized', message: 'a valid bearer token is required' });
  });

  test('main token only: queries and unknown paths want it, /metrics and health checks do not', async () => {
    const api = app({ bearerToken: 'q' });
    for (const url of ['/v2/events', '/v2/capabilities', '/', '/no/such/path']) {
      expect([url, await status(api, 'GET', url)]).toEqual([url, 401]);
      expect([url, await status(api, 'GET', url, 'wrong')]).toEqual([url, 401]);
    }
    expect(await status(api, 'GET', '/v2/events', 'q')).toBe(200);
    expect(await status(api, 'GET', '/no/such/path', 'q')).toBe(404);
    for (const url of ['/metrics', '/healthz', '/healthz/live', '/healthz/ready', '/healthcheck']) {
      expect([url, await status(api, 'GET', url)]).toEqual([url, 200]);
    }
    // A path that only starts like a health check is no health check.
    expect(await status(api, 'GET', '/healthzz')).toBe(401);
  });

  test('a metrics token guards /metrics alone, and only it opens /metrics', async () => {
    const api = app({ bearerToken: 'q', metricsToken: 'm' });
    expect(await status(api, 'GET', '/metrics')).toBe(401);
    expect(await status(api, 'GET', '/metrics', 'q')).toBe(401);
    expect(await status(api, 'GET', '/metrics', 'm')).toBe(200);
    expect(await status(api, 'GET', '/v2/events', 'm')).toBe(401);
    expect(await status(api, 'GET', '/healthz')).toBe(200);
    const metricsOnly = app({ metricsToken: 'm' });
    expect(await status(metricsOnly, 'GET', '/metrics')).toBe(401);
    expect(await status(metricsOnly, 'GET', '/v2/events')).toBe(200);
  });

  test('an empty token is no token', async () => {
    const api = app({ bearerToken: '', metricsToken: '' });
    expect(await status(api, 'GET', '/v2/events')).toBe(200);
    expect(await status(api, 'GET', '/metrics')).toBe(200);
  });
});

describe('winchester api refuses to serve beyond loopback without a token', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const name of ['API_HOST', 'WINCHESTER_API_TOKEN']) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  test('--host or API_HOST elsewhere, no token: one line, exit 2, before anything connects', async () => {
    delete process.env.WINCHESTER_API_TOKEN;
    const flag = await runInProcess(registerApi, ['api', '-t', 'topologies/none', '--host', '0.0.0.0']);
    expect([flag.code, flag.stderr]).toEqual([
      2,
      'winchester: --host 0.0.0.0 is not a loopback address: set --token (or WINCHESTER_API_TOKEN) to serve the API beyond this host\n',
    ]);
    process.env.API_HOST = '::';
    const env = await runInProcess(registerApi, ['api', '-t', 'topologies/none']);
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/^winchester: API_HOST :: is not a loopback address/);
    // An empty token is none.
    const empty = await runInProcess(registerApi, ['api', '-t', 'topologies/none', '--token', '']);
    expect(empty.stderr).toMatch(/^winchester: API_HOST :: is not a loopback address/);
  });

  test('with a token, or on loopback, the check passes (and the missing bundle is what stops it)', async () => {
    process.env.API_HOST = '0.0.0.0';
    process.env.WINCHESTER_API_TOKEN = 't';
    const withToken = await runInProcess(registerApi, ['api', '-t', 'topologies/none']);
    expect(withToken.stderr).not.toMatch(/loopback/);
    expect(withToken.stderr).toMatch(/topologies\/none/);
    delete process.env.WINCHESTER_API_TOKEN;
    const loopback = await runInProcess(registerApi, ['api', '-t', 'topologies/none', '--host', '::1']);
    expect(loopback.stderr).not.toMatch(/loopback/);
    expect(loopback.stderr).toMatch(/topologies\/none/);
  });

  test('--help shows where the tokens come from, never a token', async () => {
    process.env.WINCHESTER_API_TOKEN = 'do-not-print-me';
    const help = await runInProcess(registerApi, ['api', '--help']);
    expect(help.stdout).toContain('--admin-token');
    expect(help.stdout).toContain('WINCHESTER_METRICS_TOKEN');
    expect(help.stdout + help.stderr).not.toContain('do-not-print-me');
  });
});
