import { Command } from 'commander';
import { isLoopback } from '../api/access';
import { buildApi } from '../api/server';
import { DEFAULT_ADMIN_RATE_LIMIT } from '../api/token-bucket';
import { PgCompletedStreams } from '../postgres/completed-streams';
import { createRedisClient } from '../redis/client';
import { EventStore } from '../store/model';
import { stopOnSignals } from '../topology/role-runner';
import { portNumber, UsageError } from './errors';
import { eventStoreUrl, openEventStore } from './event-store';
import { listenOrExplain, RoleOptions, setUpRole, withRoleOptions } from './roles';

interface ApiCommandOptions extends RoleOptions {
  host?: string;
  port: string;
  token?: string;
  adminToken?: string;
  metricsToken?: string;
  events: boolean;
  trustIdentityHeaders: boolean;
}

const EVENTS_HELP =
  "also serve Panko's /v2 event query API (and its versions document at /) from the event store " +
  'at EVENT_STORE_URL, and completed streams on /v1/streams?state=completed from its archive';

const TRUST_HELP =
  'on /v2, honour X-Roles, X-User-Id and X-Project-Id as Panko does (admins see their project, or ' +
  'all with all_tenants; others the events of their user and project). Use it only behind ' +
  "Keystone's auth_token middleware or a proxy that sets these headers. Without it, the headers " +
  'are ignored and a request that passes --token sees every project, as an admin';

const HOST_HELP =
  'address to bind (default: API_HOST, else 127.0.0.1); an address other hosts can reach needs --token';

const ADMIN_TOKEN_HELP =
  'the bearer token of stream retries and resets (POST /v1/streams/{id}/retry|reset) ' +
  '(default: WINCHESTER_ADMIN_TOKEN, else --token)';

const METRICS_TOKEN_HELP =
  'the bearer token of /metrics (default: WINCHESTER_METRICS_TOKEN, else none: /metrics is open)';

/**
 * Reachable from other hosts, the API must want a token: without one, anyone who reaches the
 * port could read every stream and event, and reset streams.
 */
function checkExposure(host: string, source: string, token: string | undefined): void {
  if (token || isLoopback(host)) return;
  throw new UsageError(
    `${source} ${host} is not a loopback address: set --token (or WINCHESTER_API_TOKEN) to serve the API beyond this host`,
  );
}

/** The three tokens, each from its option, else its variable (an empty one is none). */
function tokensFrom(opts: ApiCommandOptions) {
  return {
    bearerToken: opts.token ?? process.env.WINCHESTER_API_TOKEN,
    adminToken: opts.adminToken ?? process.env.WINCHESTER_ADMIN_TOKEN,
    metricsToken: opts.metricsToken ?? process.env.WINCHESTER_METRICS_TOKEN,
  };
}

/** `winchester api`: the query/admin HTTP API, /metrics and /healthz on one port. */
export function registerApi(program: Command): void {
  withRoleOptions(program.command('api').description('serve the query/admin HTTP API, /metrics and /healthz'))
    // Defaults from the environment are read in the action: --help must not print a token.
    .option('--host <host>', HOST_HELP)
    .option('--port <port>', 'port (0: any free port)', '8080')
    .option('--token <token>', 'require this bearer token (default: WINCHESTER_API_TOKEN, else none)')
    .option('--admin-token <token>', ADMIN_TOKEN_HELP)
    .option('--metrics-token <token>', METRICS_TOKEN_HELP)
    .option('--events', EVENTS_HELP, false)
    .option('--trust-identity-headers', TRUST_HELP, false)
    .action(async (opts: ApiCommandOptions) => {
      const port = portNumber('--port', opts.port);
      if (opts.trustIdentityHeaders && !opts.events) {
        throw new UsageError('--trust-identity-headers applies to /v2, which only --events serves');
      }
      const host = opts.host ?? (process.env.API_HOST || '127.0.0.1');
      const tokens = tokensFrom(opts);
      checkExposure(host, opts.host === undefined ? 'API_HOST' : '--host', tokens.bearerToken);
      const storeUrl = opts.events ? eventStoreUrl() : undefined;
      const setup = await setUpRole('api', opts, true);
      const eventStore = storeUrl === undefined ? undefined : await openApiEventStore(storeUrl);
      const completedStreams = storeUrl === undefined ? undefined : PgCompletedStreams.open(storeUrl);
      const redisUrl = setup.connected.connection.redisUrl;
      const redis = createRedisClient(redisUrl);
      const app = buildApi({
        metrics: setup.metrics,
        redis,
        kafka: setup.connected.kafka,
        namespace: setup.connected.settings.namespace,
        ...tokens,
        adminRateLimit: DEFAULT_ADMIN_RATE_LIMIT,
        eventStore,
        completedStreams,
        trustIdentityHeaders: opts.trustIdentityHeaders,
      });
      const address = await listenOrExplain(app, host, port, '--port');
      process.stdout.write(`winchester api on ${address}\n`);
      stopOnSignals(async () => {
        await app.close();
        redis.disconnect();
        await eventStore?.close();
        await completedStreams?.close();
      });
    });
}

/**
 * The one place `api` opens the event store: reachable and at this build's schema (a reader
 * creates none; `winchester store upgrade` does).
 */
function openApiEventStore(url: string): Promise<EventStore> {
  return openEventStore(url, { createSchema: false, applicationName: 'winchester-api' });
}
