import { FastifyInstance } from 'fastify';
import { buildWatchMetricsServer } from '../../../src/watch/metrics-server';
import { WatchMetrics } from '../../../src/watch/watch-metrics';

/** The watch daemon's metrics port, asked in-process (no socket): who gets what, with and without a token. */

const servers: FastifyInstance[] = [];
afterAll(() => Promise.all(servers.map((app) => app.close())));

function server(metricsToken: string | undefined, ready = true): FastifyInstance {
  const app = buildWatchMetricsServer({ metrics: new WatchMetrics(), ready: () => ready, metricsToken });
  servers.push(app);
  return app;
}

const get = (app: FastifyInstance, url: string, token?: string) =>
  app.inject({
    method: 'GET',
    url,
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });

describe("the watch daemon's /metrics and /healthz", () => {
  test('with WINCHESTER_METRICS_TOKEN, /metrics wants it as a bearer token', async () => {
    const app = server('metrics-secret');
    const missing = await get(app, '/metrics');
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer');
    expect(missing.body).not.toContain('winchester_watch');
    expect((await get(app, '/metrics', 'wrong')).statusCode).toBe(401);
    const scraped = await get(app, '/metrics', 'metrics-secret');
    expect(scraped.statusCode).toBe(200);
    expect(scraped.body).toMatch(/^# HELP winchester_watch_runs_total /m);
  });

  test('the health checks never want a token; readiness follows the daemon', async () => {
    const app = server('metrics-secret');
    for (const path of ['/healthz', '/healthz/ready', '/healthz/live']) {
      expect((await get(app, path)).statusCode).toBe(200);
    }
    const starting = server('metrics-secret', false);
    expect((await get(starting, '/healthz/ready')).statusCode).toBe(503);
    expect((await get(starting, '/healthz/live')).statusCode).toBe(200);
  });

  test('without a token /metrics is open, as Prometheus scrapes usually are', async () => {
    const app = server(undefined);
    expect((await get(app, '/metrics')).statusCode).toBe(200);
    expect((await get(server(''), '/metrics')).statusCode).toBe(200);
  });
});
