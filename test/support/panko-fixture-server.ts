import { buildApi } from '../../src/api/server';
import { WinchesterMetrics } from '../../src/metrics/metrics';
import { MemoryEventStore } from '../../src/store/memory-store';
import { gabbiFixtureEvents } from './panko-gabbi-fixture';

/**
 * A test entry point: the API with Panko's /v2 over an in-memory event store, identity headers
 * trusted (upstream's gabbi tests send X-Roles, X-User-Id, X-Project-Id), no Kafka or Redis.
 * Started by scripts/panko-gabbi.sh without a build:
 *
 *   node -r ./test/support/swc-register.cjs test/support/panko-fixture-server.ts [--with-data] [--port N]
 *
 * `--with-data` loads the three events of upstream's gabbi fixture. It prints
 * `panko fixture API on http://127.0.0.1:PORT` and serves until SIGTERM or SIGINT.
 */

/**
 * Upstream's gabbi fixture runs Panko's SQL driver, which reports `production_ready`, and
 * capabilities.yaml checks it. This server stands in for our production driver (PostgreSQL,
 * which reports it too); the in-memory store itself says false.
 */
class StandInStore extends MemoryEventStore {
  override readonly storageCapabilities = { storage: { production_ready: true } };
}

async function main(args: string[]): Promise<void> {
  const at = args.indexOf('--port');
  const port = at >= 0 ? Number(args[at + 1]) : 0;
  const store = new StandInStore();
  if (args.includes('--with-data')) await store.recordEvents(gabbiFixtureEvents());
  const app = buildApi({
    metrics: new WinchesterMetrics('api'),
    namespace: 'panko-fixture',
    eventStore: store,
    trustIdentityHeaders: true,
  });
  const address = await app.listen({ host: '127.0.0.1', port });
  process.stdout.write(`panko fixture API on ${address}\n`);
  const stop = () => void app.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
