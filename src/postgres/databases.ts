import pg from 'pg';

/** How a new database orders text: the server's default, code point order, or ICU English. */
export type DatabaseCollation = 'default' | 'C' | 'icu-en';

const CREATE_OPTIONS: Record<DatabaseCollation, string> = {
  default: '',
  C: " TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'",
  'icu-en': " TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'",
};

/** A database created on a server for one run (tests, benchmarks); `drop` removes it, open connections too. */
export interface ScratchDatabase {
  /** The server's URL with this database in its path. */
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** One statement on the server's own database: CREATE/DROP DATABASE cannot run in the one they name. */
export async function onServer(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Creates database `name` (a lower-case identifier) on the server `serverUrl` points at. */
export async function createDatabase(
  serverUrl: string,
  name: string,
  collation: DatabaseCollation = 'default',
): Promise<ScratchDatabase> {
  await onServer(serverUrl, `CREATE DATABASE "${name}"${CREATE_OPTIONS[collation]}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => onServer(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}
