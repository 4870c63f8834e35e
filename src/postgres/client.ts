import pg from 'pg';
import { logger } from '../util/logger';

/** PostgreSQL type OIDs whose default JavaScript conversion would lose information. */
const INT8_OID = 20;
const TIMESTAMP_OID = 1114;
const TIMESTAMPTZ_OID = 1184;

/**
 * Text, not Date, for timestamps: a Date keeps milliseconds and event times carry
 * microseconds. int8 arrives as text too; callers convert the columns they know.
 */
const exactTypes = {
  getTypeParser(oid: number, format?: string) {
    if (oid === TIMESTAMP_OID || oid === TIMESTAMPTZ_OID || oid === INT8_OID) return (text: string) => text;
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

export type PgPool = pg.Pool;
export type PgClient = pg.PoolClient;

export interface PgPoolOptions {
  max?: number;
  applicationName?: string;
  /** The PostgreSQL schema the store lives in (its `search_path`); the user's default when absent. */
  schema?: string;
}

/** Schema names we put on a command line: plain identifiers only, so no quoting is needed. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * A pool for the event store. Every session runs in UTC so timestamps read and written as
 * text mean the same instant; an idle connection's error is logged, not thrown.
 */
export function createPgPool(url: string, options: PgPoolOptions = {}): pg.Pool {
  // JIT compiling takes tens of milliseconds, and starting parallel workers about five (even
  // for a branch that a one-time filter then skips): the store's statements are shorter.
  let sessionOptions = '-c TimeZone=UTC -c jit=off -c max_parallel_workers_per_gather=0';
  if (options.schema !== undefined) {
    if (!SCHEMA_NAME.test(options.schema)) {
      throw new Error(`schema name ${JSON.stringify(options.schema)} is not a lower-case identifier`);
    }
    sessionOptions += ` -c search_path=${options.schema}`;
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 4,
    application_name: options.applicationName ?? 'winchester',
    types: exactTypes,
    options: sessionOptions,
    connectionTimeoutMillis: 10_000,
  });
  pool.on('error', (error) =>
    logger.warn({ component: 'postgres', error: error.message }, 'idle connection lost'),
  );
  return pool;
}

/** Where a PostgreSQL URL points, without its password. */
export function pgTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    return url;
  }
}

/** Connects once and runs `SELECT 1`, so an unreachable store is one clear error instead of a hang. */
export async function probePostgres(url: string, timeoutMs = 5000): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message || error.constructor.name : String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Runs `work` in one transaction on one pooled connection; rolls back when it throws. */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
