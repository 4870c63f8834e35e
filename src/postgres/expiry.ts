import { ExpiryReport } from '../store/model';
import { Micros } from '../time/micros';
import { PgPool, inTransaction } from './client';
import { DailyPartitions, listPartitions, lockPartitions } from './partitions';
import { pgTimestampBound } from './timestamps';

/**
 * TTL expiry. Without a limit, the days wholly before the cutoff are detached, counted and
 * dropped, and only the day that straddles the cutoff is trimmed row by row. With a limit,
 * the oldest events go row by row and partitions stay (the next unlimited run drops the
 * emptied days). Either way the cutoff is strict: an event generated at it stays.
 */
export async function clearExpired(
  pool: PgPool,
  partitions: DailyPartitions,
  cutoff: Micros,
  maxCount?: number,
): Promise<ExpiryReport> {
  if (maxCount !== undefined && (!Number.isInteger(maxCount) || maxCount < 0)) {
    throw new RangeError(`maxCount ${maxCount} is not a count`);
  }
  if (Number.isNaN(cutoff)) throw new RangeError('the expiry cutoff is not a time');
  // Stored times are whole microseconds: before a fractional cutoff means before its ceiling.
  const bound = pgTimestampBound(Math.ceil(cutoff));
  if (maxCount !== undefined) {
    const deleted = await deleteOldest(pool, bound, maxCount);
    if (deleted.count < maxCount) await pruneCatalogues(pool, bound);
    else await pruneCataloguesOf(pool, deleted, bound);
    return { events: deleted.count, partitionsDropped: 0 };
  }
  const dropped = await dropDaysBefore(pool, partitions, cutoff);
  const trimmed = await trimOlder(pool, bound);
  await pruneCatalogues(pool, bound);
  return { events: dropped.events + trimmed, partitionsDropped: dropped.days };
}

/** Nothing older than the cutoff is left, so a catalogue entry last seen before it names nothing. */
async function pruneCatalogues(pool: PgPool, bound: string): Promise<void> {
  await pool.query('DELETE FROM event_types WHERE last_generated < $1', [bound]);
  await pool.query('DELETE FROM trait_types WHERE last_generated < $1', [bound]);
}

/**
 * Drops the daily partitions that end at or before the cutoff. They are detached (and
 * renamed `expired_…`) in one short transaction, the only moment their parents are locked
 * against reads and writes; counting their events and unlinking their files happen after,
 * with no lock on the parents. Tables a previous run detached but did not drop go too.
 */
async function dropDaysBefore(
  pool: PgPool,
  partitions: DailyPartitions,
  cutoff: Micros,
): Promise<{ days: number; events: number }> {
  const detached = await inTransaction(pool, async (client) => {
    await lockPartitions(client);
    const expired = (await listPartitions(client)).filter((p) => p.to <= cutoff);
    for (const { events } of expired) {
      await client.query(`ALTER TABLE events DETACH PARTITION ${events}`);
      await client.query(`ALTER TABLE ${events} RENAME TO ${EXPIRED_PREFIX}${events}`);
    }
    return expired.map((p) => p.day);
  });
  partitions.forget(detached);
  return { days: detached.length, events: await dropExpiredTables(pool) };
}

const EXPIRED_PREFIX = 'expired_';

/**
 * Counts the events in the detached days and drops them; returns the count. Each table goes
 * under the partition lock, so two expiries never count or drop the same one. (Detached
 * `traits` days are schema version 1's, left by a run interrupted before the upgrade.)
 */
async function dropExpiredTables(pool: PgPool): Promise<number> {
  const tables = await pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c
      WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
        AND c.relname ~ '^${EXPIRED_PREFIX}(events|traits)_p[0-9]{8}$' ORDER BY 1`,
  );
  let events = 0;
  for (const { name } of tables.rows) {
    events += await inTransaction(pool, async (client) => {
      await lockPartitions(client);
      const present = await client.query<{ present: boolean }>(
        'SELECT to_regclass($1) IS NOT NULL AS present',
        [name],
      );
      if (!present.rows[0].present) return 0;
      const counted = name.startsWith(`${EXPIRED_PREFIX}events_`)
        ? Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${name}`)).rows[0].n)
        : 0;
      await client.query(`DROP TABLE ${name}`);
      return counted;
    });
  }
  return events;
}

interface Deleted {
  count: number;
  eventTypes: string[];
  /** The trait keys (`t:host`: type letter and name, as event-rows.ts makes them). */
  traitTypes: { event_type: string; key: string }[];
}

/** The trait key letters in dtype order: `TYPE_LETTERS[dtype]` in SQL (arrays count from 1; event-rows.ts). */
const TYPE_LETTERS = "ARRAY['t', 'i', 'f', 'd']";

/** Deletes what is older than the cutoff from the days left after the drops. */
async function trimOlder(pool: PgPool, bound: string): Promise<number> {
  const result = await pool.query<{ count: number }>(
    `WITH gone AS (DELETE FROM events WHERE generated < $1::timestamp RETURNING 1)
     SELECT count(*)::int AS count FROM gone`,
    [bound],
  );
  return result.rows[0].count;
}

/**
 * Deletes the oldest `limit` events before the cutoff, and says which event types and trait
 * keys they had.
 */
async function deleteOldest(pool: PgPool, bound: string, limit: number): Promise<Deleted> {
  const result = await pool.query<{
    count: number;
    event_types: string[] | null;
    trait_types: Deleted['traitTypes'] | null;
  }>(
    `WITH doomed AS MATERIALIZED (
       SELECT generated, id FROM events WHERE generated < $1::timestamp ORDER BY generated, message_id LIMIT $2
     ), gone AS (
       DELETE FROM events e USING doomed d WHERE e.generated = d.generated AND e.id = d.id
       RETURNING e.event_type, e.traits
     )
     SELECT (SELECT count(*)::int FROM gone) AS count,
            (SELECT array_agg(DISTINCT event_type) FROM gone) AS event_types,
            (SELECT json_agg(DISTINCT jsonb_build_object('event_type', g.event_type, 'key', k))
               FROM gone g CROSS JOIN LATERAL jsonb_object_keys(g.traits) k) AS trait_types`,
    [bound, limit],
  );
  const row = result.rows[0];
  return { count: row.count, eventTypes: row.event_types ?? [], traitTypes: row.trait_types ?? [] };
}

/**
 * After a limited run that left older events: drops the catalogue entries of what was
 * deleted that no remaining event has, so the listings stay exact.
 */
async function pruneCataloguesOf(pool: PgPool, deleted: Deleted, bound: string): Promise<void> {
  await pool.query(
    `DELETE FROM event_types c WHERE c.name = ANY($1::text[]) AND c.last_generated < $2::timestamp
        AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event_type = c.name)`,
    [deleted.eventTypes, bound],
  );
  const keys = deleted.traitTypes;
  await pool.query(
    `DELETE FROM trait_types c USING unnest($1::text[], $2::text[]) AS k(event_type, key)
      WHERE c.event_type = k.event_type AND (${TYPE_LETTERS})[c.type] || ':' || c.name = k.key
        AND c.last_generated < $3::timestamp
        AND NOT EXISTS (
          SELECT 1 FROM events e
           WHERE e.event_type = c.event_type AND e.generated < $3::timestamp AND e.traits ? k.key)`,
    [keys.map((k) => k.event_type), keys.map((k) => k.key), bound],
  );
}
