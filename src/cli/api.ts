import { Command } from 'commander';
import { buildApi } from '../api/server';
import { PgCompletedStreams } from '../postgres/completed-streams';
import { createRedisClient } from '../redis/client';
import { EventStore } from '../store/model';
import { stopOnSignals } from '../topology/role-runner';
import { portNumber, UsageError } from './errors';
import { eventStoreUrl, openEventStore } from './event-store';
import { listenOrExplain, RoleOptions, setUpRole, withRoleOptions } from './roles';

interface ApiCommandOptions extends RoleOptions {
  host: string;
  port: string;
  token?: string;
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

/** `winchester api`: the query/admin HTTP API, /metrics and /healthz on one port. */
export function registerApi(program: Command): void {
  withRoleOptions(program.command('api').description('serve the query/admin HTTP API, /metrics and /healthz'))
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port (0: any free port)', '8080')
    .option('--token <token>', 'require this bearer token', process.env.WINCHESTER_API_TOKEN)
    .option('--events', EVENTS_HELP, false)
    .option('--trust-identity-headers', TRUST_HELP, false)
    .action(async (opts: ApiCommandOptions) => {
      const port = portNumber('--port', opts.port);
      if (opts.trustIdentityHeaders && !opts.events) {
        throw new UsageError('--trust-identity-headers applies to /v2, which only --events serves');
      }
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
        bearerToken: opts.token,
        eventStore,
        completedStreams,
        trustIdentityHeaders: opts.trustIdentityHeaders,
      });
      const address = await listenOrExplain(app, opts.host, port, '--port');
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
