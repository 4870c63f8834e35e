import { Command } from 'commander';
import { buildApi } from '../api/server';
import { createRedisClient } from '../redis/client';
import { stopOnSignals } from '../topology/role-runner';
import { portNumber } from './errors';
import { listenOrExplain, RoleOptions, setUpRole, withRoleOptions } from './roles';

/** `winchester api`: the query/admin HTTP API, /metrics and /healthz on one port. */
export function registerApi(program: Command): void {
  withRoleOptions(program.command('api').description('serve the query/admin HTTP API, /metrics and /healthz'))
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port (0: any free port)', '8080')
    .option('--token <token>', 'require this bearer token', process.env.WINCHESTER_API_TOKEN)
    .action(async (opts: RoleOptions & { host: string; port: string; token?: string }) => {
      const port = portNumber('--port', opts.port);
      const setup = await setUpRole('api', opts, true);
      const redisUrl = setup.connected.connection.redisUrl;
      const redis = createRedisClient(redisUrl);
      const app = buildApi({
        metrics: setup.metrics,
        redis,
        kafka: setup.connected.kafka,
        namespace: setup.connected.settings.namespace,
        bearerToken: opts.token,
      });
      const address = await listenOrExplain(app, opts.host, port, '--port');
      process.stdout.write(`winchester api on ${address}\n`);
      stopOnSignals(async () => {
        await app.close();
        redis.disconnect();
      });
    });
}
