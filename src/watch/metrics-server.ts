import Fastify, { FastifyInstance } from 'fastify';
import { routeAccess, tokenCheck } from '../api/access';
import { WatchMetrics } from './watch-metrics';

export interface WatchMetricsServerOptions {
  metrics: WatchMetrics;
  /** Ready once the daemon has started with ZooKeeper connected. */
  ready: () => boolean;
  /**
   * The bearer token /metrics wants (WINCHESTER_METRICS_TOKEN), as on every role's metrics
   * port; without one /metrics is open. The health checks never want one: probes have none.
   */
  metricsToken?: string;
}

/** The watch daemon's /metrics and /healthz, not yet listening. */
export function buildWatchMetricsServer(options: WatchMetricsServerOptions): FastifyInstance {
  const { metrics, ready } = options;
  const app = Fastify({ logger: false });
  app.addHook('onRequest', tokenCheck({ metrics: options.metricsToken }));
  app.get('/metrics', routeAccess('metrics'), async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  app.get('/healthz/live', routeAccess('open'), async () => ({ status: 'ok' }));
  for (const path of ['/healthz', '/healthz/ready']) {
    app.get(path, routeAccess('open'), async (_request, reply) =>
      ready()
        ? { status: 'ok' }
        : reply.code(503).send({ status: 'unavailable', checks: { zookeeper: 'not connected' } }),
    );
  }
  return app;
}
