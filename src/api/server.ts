import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Kafka } from 'kafkajs';
import { toCanonicalJson } from '../events/event';
import { printableDistinguished } from '../streams/simulate';
import { WinchesterMetrics } from '../metrics/metrics';
import { FailedAttempts } from '../pipeline/retry';
import { RedisClient } from '../redis/client';
import { StreamLifecycleCode, StreamLifecycleError } from '../redis/errors';
import { resetStream } from '../redis/lifecycle';
import { findStreams, getStreamView, StreamQuery, StreamView } from '../redis/query';
import { StreamState } from '../streams/model';
import { CompletedStream, CompletedStreamArchive } from '../store/completed-streams';
import { EventStore } from '../store/model';
import { registerPankoApi } from './panko/routes';
import { formatMicros, parseIso8601 } from '../time/micros';
import { ApiTokens, routeAccess, tokenCheck } from './access';
import { answerFrameworkError, answerInternalError, clientErrorName, clientStatusOf } from './error-answers';
import { ApiLimits, DEFAULT_API_LIMITS, queryLengthCheck, serverLimitOptions } from './limits';
import { RateLimiter, RateLimitSettings } from './token-bucket';

export interface ApiOptions {
  metrics: WinchesterMetrics;
  /**
   * Without Redis, only /metrics and the health endpoints are served (role processes). One
   * client serves concurrent requests: resets are scripts, with no WATCH to share.
   */
  redis?: RedisClient;
  kafka?: Kafka;
  namespace: string;
  /** The main token: every route but /healthz…, /healthcheck and /metrics wants it. */
  bearerToken?: string;
  /** The token of stream retries and resets, instead of the main one. */
  adminToken?: string;
  /** The token of /metrics; without one, /metrics is open (as Prometheus scrapes usually are). */
  metricsToken?: string;
  /** Size limits and timeouts; each one not given is DEFAULT_API_LIMITS'. */
  limits?: Partial<ApiLimits>;
  /** Stream retries and resets per client and overall; none without it. */
  adminRateLimit?: RateLimitSettings;
  /** Whether the role behind this server has started (its server listens before it joins its group). */
  started?: () => boolean;
  /** With an event store, Panko's /v2 query API (and its versions document at /) is served from it. */
  eventStore?: EventStore;
  /**
   * /v2 honours X-Roles, X-User-Id and X-Project-Id (Panko's project scoping): only behind
   * something that sets them, such as Keystone's auth_token middleware. Without it, a request
   * that passes the bearer token sees every project's events, as an admin.
   */
  trustIdentityHeaders?: boolean;
  /** Finished streams the archiver kept: /v1/streams?state=completed reads them here, as Redis purges them. */
  completedStreams?: CompletedStreamArchive;
}

const STATES = new Set<StreamState>([
  'active',
  'firing',
  'expiring',
  'completed',
  'error',
  'expire_error',
  'retry_fire',
  'retry_expire',
]);

class BadRequest extends Error {}

/** How a refused stream change answers. */
const LIFECYCLE_STATUS: Record<StreamLifecycleCode, { status: number; error: string }> = {
  invalid_id: { status: 400, error: 'bad_request' },
  not_found: { status: 404, error: 'not_found' },
  wrong_state: { status: 409, error: 'conflict' },
  conflict: { status: 409, error: 'conflict' },
};

function view(stream: StreamView) {
  return {
    id: stream.id,
    name: stream.trigger,
    state: stream.state,
    serial: stream.serial,
    partition: stream.partition,
    first_event: formatMicros(stream.first),
    last_event: formatMicros(stream.last),
    expire_timestamp: formatMicros(stream.expireAt),
    fire_timestamp: stream.fireAt === null ? null : formatMicros(stream.fireAt),
    distinguishing_traits: printableDistinguished(stream.distinguished),
    event_count: stream.eventCount,
    ...(stream.failure ? { failure: failureView(stream.failure) } : {}),
    ...(stream.events ? { events: stream.events.map((e) => JSON.parse(toCanonicalJson(e)) as unknown) } : {}),
  };
}

/** A failed stream's attempts: what failed last, when, and when it runs again (null once they ran out). */
function failureView(failure: FailedAttempts) {
  return {
    attempts: failure.attempts,
    pipeline: failure.pipeline,
    handler: failure.handler,
    error: failure.error,
    first_failed_at: formatMicros(failure.first_failed_at),
    last_failed_at: formatMicros(failure.last_failed_at),
    next_retry_at: failure.retry_at === null ? null : formatMicros(failure.retry_at),
  };
}

/** Every parameter once: a repeated one (an array to fastify) is refused, not half-read. */
function singleValues(q: Record<string, string | string[] | undefined>): Record<string, string | undefined> {
  for (const [key, value] of Object.entries(q)) {
    if (Array.isArray(value)) throw new BadRequest(`${key} is given ${value.length} times: give it once`);
  }
  return q as Record<string, string | undefined>;
}

/** The query parameters GET /v1/streams reads (the fuzz test sends each of them). */
export const STREAM_LIST_PARAMETERS = [
  'state',
  'name',
  'trigger',
  'older_than',
  'younger_than',
  'count',
  'marker',
  'include_events',
  'traits',
] as const;

function parseQuery(q: Record<string, string | undefined>): StreamQuery {
  const query: StreamQuery = { count: 20 };
  const known = new Set<string>(STREAM_LIST_PARAMETERS);
  if (q.state !== undefined) {
    if (!STATES.has(q.state as StreamState))
      throw new BadRequest(`state must be one of ${[...STATES].join(', ')}`);
    query.state = q.state as StreamState;
  }
  query.trigger = q.name ?? q.trigger;
  for (const [key, field] of [
    ['older_than', 'olderThan'],
    ['younger_than', 'youngerThan'],
  ] as const) {
    if (q[key] === undefined) continue;
    const t = parseIso8601(q[key]!);
    if (t === undefined) throw new BadRequest(`${key} must be an ISO-8601 datetime`);
    query[field] = t;
  }
  if (q.count !== undefined) {
    const n = Number(q.count);
    if (!Number.isInteger(n) || n < 1 || n > 1000)
      throw new BadRequest('count must be an integer from 1 to 1000');
    query.count = n;
  }
  query.marker = q.marker;
  if (q.include_events !== undefined) {
    if (!['true', 'false', '1', '0'].includes(q.include_events))
      throw new BadRequest('include_events must be true or false');
    query.includeEvents = q.include_events === 'true' || q.include_events === '1';
  }
  // Distinguishing traits: `traits=instance_id:abc,tenant_id:t1` or any other key=value.
  // No prototype: a trait may be called `__proto__`.
  const distinguished: Record<string, string> = Object.create(null) as Record<string, string>;
  if (q.traits) {
    for (const pair of q.traits.split(',')) {
      const at = pair.indexOf(':');
      if (at < 1) throw new BadRequest('traits must be name:value pairs separated by commas');
      distinguished[pair.slice(0, at)] = pair.slice(at + 1);
    }
  }
  for (const [key, value] of Object.entries(q))
    if (!known.has(key) && value !== undefined) distinguished[key] = value;
  if (Object.keys(distinguished).length) query.distinguished = distinguished;
  return query;
}

export function buildApi(options: ApiOptions): FastifyInstance {
  const limits = { ...DEFAULT_API_LIMITS, ...options.limits };
  const app = Fastify({
    logger: false,
    // Event types and message ids in /v2 paths may be long (Panko stores up to 255 characters).
    routerOptions: { maxParamLength: 4096 },
    frameworkErrors: answerFrameworkError,
    ...serverLimitOptions(limits),
  });
  answerErrorsAsJson(app);
  app.addHook('onRequest', queryLengthCheck(limits));
  app.addHook('onRequest', tokenCheck(tokensOf(options)));
  registerMetricsRoute(app, options.metrics);
  registerHealthRoutes(app, options);
  if (options.redis) {
    const limiter = options.adminRateLimit ? new RateLimiter(options.adminRateLimit) : undefined;
    registerStreamRoutes(app, { ...options, redis: options.redis, limiter });
  }
  if (options.eventStore) {
    registerPankoApi(app, {
      store: options.eventStore,
      trustIdentityHeaders: options.trustIdentityHeaders ?? false,
    });
  }
  return app;
}

const tokensOf = (options: ApiOptions): ApiTokens => ({
  query: options.bearerToken,
  admin: options.adminToken,
  metrics: options.metricsToken,
});

/**
 * Refusals answer `{error, message}`; anything else is a 500 with an id only (the error, with
 * its stack, goes to the log under that id).
 */
function answerErrorsAsJson(app: FastifyInstance): void {
  app.setErrorHandler((error: Error, request, reply) => {
    if (error instanceof BadRequest)
      return reply.code(400).send({ error: 'bad_request', message: error.message });
    const status = clientStatusOf(error);
    if (status === undefined) return answerInternalError(error, request, reply);
    return reply.code(status).send({ error: clientErrorName(status), message: error.message });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'not_found', message: `${request.method} ${request.url}` }),
  );
}

function registerMetricsRoute(app: FastifyInstance, metrics: WinchesterMetrics): void {
  app.get('/metrics', routeAccess('metrics'), async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

function registerHealthRoutes(app: FastifyInstance, options: ApiOptions): void {
  app.get('/healthz/live', routeAccess('open'), async () => ({ status: 'ok' }));
  for (const path of ['/healthz', '/healthz/ready']) {
    app.get(path, routeAccess('open'), async (_request, reply) => {
      const checks = await readiness(options);
      const ok = Object.values(checks).every((c) => c === 'ok');
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks });
    });
  }
}

/** Per dependency this process has: 'ok', or why not. */
async function readiness(options: ApiOptions): Promise<Record<string, string>> {
  const checks: Record<string, string> = {};
  if (options.started) checks.role = options.started() ? 'ok' : 'starting';
  if (options.redis) {
    checks.redis = await options.redis.ping().then(
      () => 'ok',
      (e: Error) => e.message,
    );
  }
  if (options.kafka) checks.kafka = await kafkaReachable(options.kafka);
  return checks;
}

async function kafkaReachable(kafka: Kafka): Promise<string> {
  const admin = kafka.admin();
  return admin
    .connect()
    .then(() => admin.describeCluster())
    .then(
      () => 'ok',
      (e: Error) => e.message,
    )
    .finally(() => admin.disconnect());
}

const STREAM_ID = /^\d+\.[0-9a-f-]{36}$/;

function streamIdOf(request: FastifyRequest): string {
  const { id } = request.params as { id: string };
  if (!STREAM_ID.test(id)) throw new BadRequest('a stream id is <partition>.<uuid>');
  return id;
}

/** A finished stream from the archive, in the shape of a live one; what only Redis knew is null. */
function completedView(stream: CompletedStream) {
  return {
    id: stream.stream_id,
    name: stream.trigger,
    state: 'completed',
    serial: stream.serial,
    partition: null,
    first_event: formatMicros(stream.first),
    last_event: formatMicros(stream.last),
    expire_timestamp: null,
    fire_timestamp: null,
    distinguishing_traits: printableDistinguished(stream.distinguished_by),
    event_count: stream.message_ids.length,
    kind: stream.kind,
    completed_at: formatMicros(stream.completed_at),
    message_ids: stream.message_ids,
  };
}

async function findCompleted(archive: CompletedStreamArchive, namespace: string, query: StreamQuery) {
  const { trigger, distinguished, olderThan, youngerThan, count, marker } = query;
  const found = await archive.findCompletedStreams({
    namespace,
    outcome: 'completed',
    ...{ trigger, distinguished, olderThan, youngerThan, count, marker },
  });
  return {
    streams: found.map(completedView),
    next_marker: found.length === count ? found[found.length - 1].stream_id : null,
  };
}

/** Refuses (429, Retry-After) what goes beyond the limiter's rates. */
function rateLimited(limiter: RateLimiter) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const decision = limiter.take(request.ip);
    if (decision.allowed) return;
    const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
    const whose = decision.limit === 'client' ? 'from this client' : 'from all clients together';
    await reply
      .code(429)
      .header('retry-after', String(seconds))
      .send({
        error: 'too_many_requests',
        message: `too many stream retries ${whose}: retry in ${seconds} s`,
      });
  };
}

interface StreamRoutesOptions {
  redis: RedisClient;
  namespace: string;
  completedStreams?: CompletedStreamArchive;
  limiter?: RateLimiter;
}

function registerStreamRoutes(app: FastifyInstance, options: StreamRoutesOptions): void {
  const { redis, namespace, completedStreams: archive, limiter } = options;
  app.get('/v1/streams', async (request) => {
    const query = parseQuery(singleValues(request.query as Record<string, string | string[] | undefined>));
    // Completed streams are purged from Redis; the archiver keeps them in the event store.
    if (query.state === 'completed' && archive) return findCompleted(archive, namespace, query);
    const streams = await findStreams(redis, namespace, query);
    return {
      streams: streams.map(view),
      next_marker: streams.length === query.count ? streams[streams.length - 1].id : null,
    };
  });
  app.get('/v1/streams/:id', async (request, reply) => {
    const id = streamIdOf(request);
    const stream = await getStreamView(redis, namespace, id);
    if (!stream) return reply.code(404).send({ error: 'not_found', message: `stream ${id} not found` });
    return view(stream);
  });
  // `retry` is the operator's word for it (`streams retry`); `reset` is kept as it was.
  const retry = async (request: FastifyRequest, reply: FastifyReply) => {
    const id = streamIdOf(request);
    try {
      return view(await resetStream(redis, namespace, id));
    } catch (error) {
      if (!(error instanceof StreamLifecycleError)) throw error;
      const { status, error: kind } = LIFECYCLE_STATUS[error.code];
      return reply.code(status).send({ error: kind, code: error.code, message: error.message });
    }
  };
  const admin = { ...routeAccess('admin'), ...(limiter ? { onRequest: rateLimited(limiter) } : {}) };
  app.post('/v1/streams/:id/reset', admin, retry);
  app.post('/v1/streams/:id/retry', admin, retry);
}
