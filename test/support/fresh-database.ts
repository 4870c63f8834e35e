import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import pg from 'pg';

/**
 * A database of one test file's own on the PostgreSQL server EVENT_STORE_URL names (the
 * stack's, which the jest global setup provides): what one file stores never meets another
 * file's, nor an earlier run's. It starts empty (no schema); `drop` removes it, connections
 * still open on it included.
 */
export interface FreshDatabase {
  /** EVENT_STORE_URL with this database in its path: what openEventStore and the commands take. */
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Creates the database, named `t_<test file>_<random>` (or `t_<label>_<random>`). */
export async function freshDatabase(label?: string): Promise<FreshDatabase> {
  const server = process.env.EVENT_STORE_URL;
  if (!server) throw new Error('EVENT_STORE_URL is not set: the jest global setup provides it');
  const name = databaseName(label ?? basename(expect.getState().testPath ?? 'test', '.test.ts'));
  await onServer(server, `CREATE DATABASE "${name}"`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => onServer(server, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}

/** A lower-case identifier within PostgreSQL's 63 bytes, so it needs no more than quoting. */
function databaseName(label: string): string {
  const base = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 40);
  return `t_${base}_${randomBytes(4).toString('hex')}`;
}

/** One statement on the server's own database (CREATE/DROP DATABASE cannot run in the one they name). */
async function onServer(server: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: server });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
