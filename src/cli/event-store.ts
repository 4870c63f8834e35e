import { eventStoreUrlFrom } from '../config/environment';
import { createPgPool, pgTarget, PgPool, probePostgres } from '../postgres/client';
import { PgEventStore } from '../postgres/event-store';
import { schemaVersion, upgradeSchema, UpgradeReport } from '../postgres/migrations';
import { EventStore } from '../store/model';
import { CommandFailure } from './errors';

/**
 * The event store as commands reach it: EVENT_STORE_URL checked (a usage error when unset or
 * not a postgres:// URL), then PostgreSQL reached (one line when it does not answer), then
 * the schema this build reads.
 */

const LOCAL_STACK_HINT = '(bash scripts/stack.sh start runs a local one and prints its address)';

/** EVENT_STORE_URL, checked before anything connects. */
export const eventStoreUrl = (env: NodeJS.ProcessEnv = process.env): string => eventStoreUrlFrom(env);

/** Fails with one line when PostgreSQL at `url` does not answer. */
export async function requireEventStore(url: string): Promise<void> {
  const problem = await probePostgres(url);
  if (problem) {
    throw new CommandFailure(
      `cannot reach the event store at ${pgTarget(url)} (${problem}): is PostgreSQL running, ` +
        `and is EVENT_STORE_URL right? ${LOCAL_STACK_HINT}`,
    );
  }
}

/** Runs `work` with a pool of its own on the store's database, closed afterwards. */
export async function withPool<T>(url: string, work: (pool: PgPool) => Promise<T>): Promise<T> {
  const pool = createPgPool(url, { max: 1, applicationName: 'winchester-cli' });
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}

/** `winchester store upgrade`: the migrations this database lacks, under the upgraders' lock. */
export async function upgradeEventStore(url: string): Promise<UpgradeReport> {
  await requireEventStore(url);
  return withPool(url, upgradeSchema);
}

/** Creates the schema in an empty database: what a writer starting on a new database wants. */
async function createSchemaIfEmpty(url: string): Promise<void> {
  await withPool(url, async (pool) => {
    if ((await schemaVersion(pool)) === 0) await upgradeSchema(pool);
  });
}

/**
 * The event store at `url`, reachable and at this build's schema. `createSchema` creates the
 * schema in an empty database; a database at an older version is upgraded only by
 * `winchester store upgrade`, an operator's decision, or by `upgrade` (`winchester dev`, whose
 * database is the local stack's own).
 */
export async function openEventStore(
  url: string,
  options: { createSchema?: boolean; upgrade?: boolean; applicationName?: string } = {},
): Promise<EventStore> {
  await requireEventStore(url);
  if (options.upgrade) await withPool(url, upgradeSchema);
  else if (options.createSchema) await createSchemaIfEmpty(url);
  try {
    return await PgEventStore.open(url, { applicationName: options.applicationName ?? 'winchester' });
  } catch (error) {
    // The driver's reasons (no schema, an older or newer one) are written for the user.
    throw new CommandFailure((error as Error).message);
  }
}
