import { MICROS_PER_DAY, Micros } from '../time/micros';
import { PgClient, PgPool, inTransaction } from './client';
import { dayOf, dayText, fromPgTimestamp } from './timestamps';

/**
 * The daily partitions of `events` (`events_pYYYYMMDD`, each [day, next day)). Writers create the days they need on demand; creators and
 * droppers serialise on one advisory lock per schema, and a creator that finds the day
 * already made (by another process, or concurrently) is content.
 */

/** Partition DDL locks the parent tables: give up rather than queue behind a long transaction. */
const DDL_LOCK_TIMEOUT = "SET LOCAL lock_timeout = '10s'";
const PARTITION_LOCK = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.event_partitions'))";

export interface DayPartition {
  day: number;
  events: string;
  from: Micros;
  to: Micros;
}

const partitionName = (day: number) => `events_p${dayText(day).replaceAll('-', '')}`;

/** Takes the partition lock for this transaction, with a bounded wait for DDL locks. */
export async function lockPartitions(client: PgClient): Promise<void> {
  await client.query(DDL_LOCK_TIMEOUT);
  await client.query(PARTITION_LOCK);
}

export class DailyPartitions {
  /** Days known to exist; a day another process dropped is found out by the insert failing. */
  private readonly known = new Set<number>();

  constructor(private readonly pool: PgPool) {}

  /** Creates the partitions of these instants' days that this process has not seen yet. */
  async ensure(instants: Iterable<Micros>): Promise<void> {
    const missing = new Set<number>();
    for (const t of instants) {
      const day = dayOf(t);
      if (!this.known.has(day)) missing.add(day);
    }
    if (missing.size === 0) return;
    const days = [...missing].sort((a, b) => a - b);
    try {
      await this.create(days);
    } catch (error) {
      // A creator that does not take our lock raced us to the same table: it exists now.
      if (!isAlreadyThere(error)) throw error;
      await this.create(days);
    }
    for (const day of days) this.known.add(day);
  }

  private async create(days: number[]): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await lockPartitions(client);
      for (const day of days) await createDay(client, day);
    });
  }

  /** Forgets what exists, after a partition was found missing or was dropped. */
  forget(days?: Iterable<number>): void {
    if (days === undefined) this.known.clear();
    else for (const day of days) this.known.delete(day);
  }
}

/** duplicate_table, or the catalogue's unique index when two CREATEs race. */
const isAlreadyThere = (error: unknown) =>
  ['42P07', '23505'].includes((error as { code?: string }).code ?? '');

/**
 * A day's table, made apart and then attached: ATTACH PARTITION locks the parent in SHARE
 * UPDATE EXCLUSIVE mode, so reads and writes go on (CREATE TABLE … PARTITION OF would lock
 * them out). The parent's indexes are built on the empty table as it is attached.
 */
async function createDay(client: PgClient, day: number): Promise<void> {
  const name = partitionName(day);
  const exists = await client.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [
    name,
  ]);
  if (exists.rows[0].present) return;
  await client.query(`CREATE TABLE ${name} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
  await client.query(
    `ALTER TABLE events ATTACH PARTITION ${name} FOR VALUES FROM ('${dayText(day)}') TO ('${dayText(day + 1)}')`,
  );
}

const BOUNDS = /FROM \('([^']+)'\) TO \('([^']+)'\)/;

/** The daily partitions that exist, oldest first. */
export async function listPartitions(client: PgClient | PgPool): Promise<DayPartition[]> {
  const result = await client.query<{ name: string; bound: string }>(
    `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'events'::regclass`,
  );
  const partitions: DayPartition[] = [];
  for (const { name, bound } of result.rows) {
    const m = BOUNDS.exec(bound);
    if (!m) continue;
    const from = fromPgTimestamp(m[1]);
    const day = dayOf(from);
    if (from !== day * MICROS_PER_DAY || name !== partitionName(day)) continue;
    partitions.push({ day, events: name, from, to: fromPgTimestamp(m[2]) });
  }
  return partitions.sort((a, b) => a.day - b.day);
}
