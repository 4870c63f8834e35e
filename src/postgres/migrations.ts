import { PgClient, PgPool, inTransaction } from './client';

/** One schema change, applied once, in version order. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * The event store's schema, as versioned migrations. Why this shape (docs/event-store.md):
 * - `events` is range-partitioned by `generated`, one partition a day, so TTL expiry drops
 *   whole partitions and trims only the one that straddles the cutoff.
 * - An event's traits are a jsonb object on its row, one key per trait made of its type's
 *   letter and its name (`i:memory_mb`, event-rows.ts), so a comparison reads the value in
 *   its own type (`(traits->>'i:memory_mb')::bigint`), exactly, and a page of events reads
 *   without a join. A GIN index (jsonb_path_ops) on that object finds the events with a
 *   given trait value, whatever its name, without knowing the names in advance; other
 *   comparisons are checked on the rows an indexed condition leaves. Version 1 kept a
 *   typed traits table with a B-tree per type beside the JSON: exact ranges from the
 *   index, but each trait was a row and an index entry, which cost twice the CPU of the
 *   rest of a write together.
 * - `project` and `has_text` hold what Panko's admin scope asks of an event (its text
 *   project_id; whether it has any text trait), so that scope is an indexed condition.
 * - Every text column is `COLLATE "C"`: strings compare by code point whatever the
 *   database's locale, as the in-memory driver compares them, and the indexes agree.
 * - A partitioned table cannot hold a unique index without the partition key, so
 *   `message_id` is unique per (message_id, generated) by index, and across days by the
 *   writer's check in the same statement (see record-events.ts).
 * - Events carry their type's name, not an id: `event_types` and `trait_types` are
 *   catalogues with the newest `generated` seen, so listings stay exact after expiry
 *   without scanning events, and expiry can prune them without orphaning an event.
 */
export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'events, traits and their catalogues',
    sql: `
CREATE TABLE event_types (
  name text COLLATE "C" PRIMARY KEY,
  last_generated timestamp(6) NOT NULL
);
CREATE TABLE trait_types (
  event_type text COLLATE "C" NOT NULL,
  type smallint NOT NULL CHECK (type BETWEEN 1 AND 4),
  name text COLLATE "C" NOT NULL,
  last_generated timestamp(6) NOT NULL,
  PRIMARY KEY (event_type, type, name)
);
CREATE TABLE events (
  id bigint GENERATED ALWAYS AS IDENTITY,
  generated timestamp(6) NOT NULL,
  message_id text COLLATE "C" NOT NULL,
  event_type text COLLATE "C" NOT NULL,
  project text COLLATE "C",
  has_text boolean NOT NULL,
  traits json NOT NULL,
  raw json,
  PRIMARY KEY (generated, id)
) PARTITION BY RANGE (generated);
CREATE UNIQUE INDEX events_message_id ON events (message_id, generated);
CREATE INDEX events_type_generated ON events (event_type, generated);
CREATE INDEX events_project_generated ON events (project, generated);
CREATE INDEX events_unowned_generated ON events (generated) WHERE project IS NULL AND has_text;
CREATE TABLE traits (
  generated timestamp(6) NOT NULL,
  event_id bigint NOT NULL,
  type smallint NOT NULL,
  name text COLLATE "C" NOT NULL,
  t_string text COLLATE "C",
  t_int bigint,
  t_float double precision,
  t_datetime timestamp(6)
) PARTITION BY RANGE (generated);
CREATE INDEX traits_string ON traits (name, t_string) INCLUDE (generated, event_id) WHERE type = 1;
CREATE INDEX traits_int ON traits (name, t_int) INCLUDE (generated, event_id) WHERE type = 2;
CREATE INDEX traits_float ON traits (name, t_float) INCLUDE (generated, event_id) WHERE type = 3;
CREATE INDEX traits_datetime ON traits (name, t_datetime) INCLUDE (generated, event_id) WHERE type = 4;
CREATE INDEX traits_generated ON traits USING brin (generated) WITH (pages_per_range = 32);
CREATE TABLE completed_streams (
  namespace text NOT NULL,
  stream_id text NOT NULL,
  serial integer NOT NULL,
  trigger text NOT NULL,
  outcome text NOT NULL,
  first_event timestamp(6) NOT NULL,
  completed_at timestamp(6) NOT NULL,
  distinguished jsonb NOT NULL,
  record jsonb NOT NULL,
  PRIMARY KEY (namespace, stream_id, serial)
);
CREATE INDEX completed_streams_completed_at ON completed_streams (completed_at);
CREATE INDEX completed_streams_distinguished ON completed_streams USING gin (distinguished jsonb_path_ops);
`,
  },
  {
    version: 2,
    name: 'traits as a typed jsonb object on the event row, found by a GIN index',
    sql: `
CREATE FUNCTION winchester_traits_object(traits json) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(jsonb_object_agg(left(x->>1, 1) || ':' || (x->>0), x->2), '{}'::jsonb)
    FROM json_array_elements(traits) x
$$;
ALTER TABLE events ALTER COLUMN traits TYPE jsonb USING winchester_traits_object(traits);
DROP FUNCTION winchester_traits_object(json);
DROP TABLE traits;
CREATE INDEX events_traits ON events USING gin (traits jsonb_path_ops);
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
