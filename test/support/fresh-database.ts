import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { createDatabase, ScratchDatabase } from '../../src/postgres/databases';

/**
 * A database of one test file's own on the PostgreSQL server EVENT_STORE_URL names (the
 * stack's, which the jest global setup provides): what one file stores never meets another
 * file's, nor an earlier run's. It starts empty (no schema); `drop` removes it, connections
 * still open on it included.
 */
export type FreshDatabase = ScratchDatabase;

/** Creates the database, named `t_<test file>_<random>` (or `t_<label>_<random>`). */
export async function freshDatabase(label?: string): Promise<FreshDatabase> {
  const server = process.env.EVENT_STORE_URL;
  if (!server) throw new Error('EVENT_STORE_URL is not set: the jest global setup provides it');
  return createDatabase(
    server,
    databaseName(label ?? basename(expect.getState().testPath ?? 'test', '.test.ts')),
  );
}

/** A lower-case identifier within PostgreSQL's 63 bytes, so it needs no more than quoting. */
function databaseName(label: string): string {
  const base = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 40);
  return `t_${base}_${randomBytes(4).toString('hex')}`;
}
