import { PgClient, PgPool, inTransaction } from './client';

/** One schema change, applied once, in version order. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * The event store's schema, as versioned migrations. Why this shape (docs/event-store.md):
 * - `events` and `traits` are range-partitioned by `generated`, one partition a day, so
 *   TTL expiry drops whole partitions and trims only the one that straddles the cutoff.
 * - Traits live in one table with one typed column per trait type (Panko's four types)
 *   and a partial index per type on (name, value): a comparison is exact in its own type
 *   and any trait name is indexed without knowing it in advance. The event row also keeps
 *   its traits as typed JSON, so reading a page of events is one scan, not a join.
 * - A partitioned table cannot hold a unique index without the partition key, so
 *   `message_id` is unique per (message_id, generated) by index, and across days by the
 *   writer's check in the same statement (see recordEvents).
 * - `event_types` and `trait_types` are catalogues with the newest `generated` seen, so
 *   listings stay exact after expiry without scanning events.
 */
export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'events, traits and their catalogues',
    sql: `
CREATE TABLE event_types (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL UNIQUE,
  last_generated timestamp(6) NOT NULL
);
CREATE TABLE trait_types (
  event_type_id integer NOT NULL REFERENCES event_types (id),
  name text NOT NULL,
  type smallint NOT NULL,
  last_generated timestamp(6) NOT NULL,
  PRIMARY KEY (event_type_id, name, type)
);
CREATE TABLE events (
  id bigint GENERATED ALWAYS AS IDENTITY,
  message_id text NOT NULL,
  event_type_id integer NOT NULL,
  generated timestamp(6) NOT NULL,
  raw jsonb NOT NULL DEFAULT '{}',
  traits jsonb NOT NULL,
  PRIMARY KEY (generated, id)
) PARTITION BY RANGE (generated);
CREATE UNIQUE INDEX events_message_id ON events (message_id, generated);
CREATE INDEX events_type_generated ON events (event_type_id, generated);
CREATE TABLE traits (
  event_id bigint NOT NULL,
  generated timestamp(6) NOT NULL,
  name text NOT NULL,
  type smallint NOT NULL,
  t_string text,
  t_int bigint,
  t_float double precision,
  t_datetime timestamp(6),
  PRIMARY KEY (generated, event_id, name)
) PARTITION BY RANGE (generated);
CREATE INDEX traits_string ON traits (name, t_string) WHERE type = 1;
CREATE INDEX traits_int ON traits (name, t_int) WHERE type = 2;
CREATE INDEX traits_float ON traits (name, t_float) WHERE type = 3;
CREATE INDEX traits_datetime ON traits (name, t_datetime) WHERE type = 4;
CREATE TABLE completed_streams (
  stream_id text NOT NULL,
  namespace text NOT NULL,
  trigger text NOT NULL,
  kind text NOT NULL,
  outcome text NOT NULL,
  distinguished_by jsonb NOT NULL,
  message_ids text[] NOT NULL,
  first_event timestamp(6),
  last_event timestamp(6),
  completed_at timestamp(6) NOT NULL,
  record jsonb NOT NULL,
  PRIMARY KEY (completed_at, namespace, stream_id)
) PARTITION BY RANGE (completed_at);
CREATE UNIQUE INDEX completed_streams_id ON completed_streams (namespace, stream_id, completed_at);
`,
  },
];

const LEDGER = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

/** Any fixed number: every upgrader takes this advisory lock, so two never race. */
const UPGRADE_LOCK = 0x57_49_4e_43;

export interface UpgradeReport {
  from: number;
  to: number;
  applied: Migration[];
}

/** The newest version applied to the store, 0 for an empty database. */
export async function schemaVersion(pool: PgPool): Promise<number> {
  const exists = await pool.query<{ present: boolean }>(
    "SELECT to_regclass('schema_migrations') IS NOT NULL AS present",
  );
  if (!exists.rows[0].present) return 0;
  const result = await pool.query<{ version: number | null }>(
    'SELECT max(version) AS version FROM schema_migrations',
  );
  return result.rows[0].version ?? 0;
}

/** Applies the migrations the store lacks under one lock, in one transaction: all or none. */
export async function upgradeSchema(
  pool: PgPool,
  migrations: Migration[] = MIGRATIONS,
): Promise<UpgradeReport> {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [UPGRADE_LOCK]);
    await client.query(LEDGER);
    const from = await appliedVersion(client);
    const applied = migrations.filter((m) => m.version > from).sort((a, b) => a.version - b.version);
    for (const migration of applied) await apply(client, migration);
    return { from, to: applied.at(-1)?.version ?? from, applied };
  });
}

async function appliedVersion(client: PgClient): Promise<number> {
  const result = await client.query<{ version: number | null }>(
    'SELECT max(version) AS version FROM schema_migrations',
  );
  return result.rows[0].version ?? 0;
}

async function apply(client: PgClient, migration: Migration): Promise<void> {
  await client.query(migration.sql);
  await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
    migration.version,
    migration.name,
  ]);
}

/** The newest version this build knows. */
export const LATEST_SCHEMA_VERSION = Math.max(...MIGRATIONS.map((m) => m.version));
