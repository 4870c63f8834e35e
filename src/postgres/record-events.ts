import { RecordResult, StoredEvent } from '../store/model';
import { PgPool } from './client';
import { EventRow, batchDocuments, eventRow } from './event-rows';
import { DailyPartitions } from './partitions';

/**
 * A batch of events in one statement: events not stored yet (no row with that message_id
 * on any day: the unique (message_id, generated) index and a probe of every day's
 * message_id index check that together), and the catalogues' newest `generated`, taken per
 * shape (event type and trait keys) of the events inserted. The batch arrives as JSON
 * (event-rows.ts), each event's traits already the row's jsonb object. Rows go in
 * message_id order and catalogue rows in key order, so concurrent writers lock in one order
 * and cannot deadlock. The probe is a subquery per event (with LIMIT, so it is not made a
 * join): it stays an index look-up even in a day the planner has no statistics for yet,
 * where `message_id = ANY(…)` was planned as a scan of the whole day.
 */
export const INSERT_BATCH = `
WITH batch AS MATERIALIZED (
  SELECT * FROM json_to_recordset($1::json)
    AS b(m text, e text, g timestamp, t jsonb, r json, p text, h boolean, s int)
), inserted AS (
  INSERT INTO events (generated, message_id, event_type, project, has_text, traits, raw)
  SELECT b.g, b.m, b.e, b.p, b.h, b.t, b.r FROM batch b
   WHERE (SELECT 1 FROM events e WHERE e.message_id = b.m LIMIT 1) IS NULL
   ORDER BY b.m
  ON CONFLICT (message_id, generated) DO NOTHING
  RETURNING generated, message_id, event_type
), shapes_inserted AS (
  SELECT b.s AS shape, min(i.event_type) AS event_type, max(i.generated) AS last_generated
    FROM inserted i JOIN batch b ON b.m = i.message_id GROUP BY b.s
), event_type_seen AS (
  INSERT INTO event_types AS c (name, last_generated)
  SELECT event_type, max(last_generated) FROM shapes_inserted GROUP BY event_type ORDER BY event_type
  ON CONFLICT (name) DO UPDATE SET last_generated = GREATEST(c.last_generated, EXCLUDED.last_generated)
), trait_type_seen AS (
  INSERT INTO trait_types AS c (event_type, type, name, last_generated)
  SELECT s.event_type, k.type, k.name, max(s.last_generated)
    FROM shapes_inserted s
    JOIN json_to_recordset($2::json) AS k(shape int, type smallint, name text) ON k.shape = s.shape
   GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (event_type, type, name) DO UPDATE
    SET last_generated = GREATEST(c.last_generated, EXCLUDED.last_generated)
)
SELECT message_id FROM inserted`;

type Outcome = 'stored' | 'duplicate' | { problem: string };

/** SQLSTATE classes that belong to the data of a row (data exception, program limit exceeded). */
const isPerEventError = (error: unknown) => /^(22|54)/.test(sqlState(error));
const isMissingPartition = (error: unknown) =>
  sqlState(error) === '23514' && /^no partition of relation/.test((error as Error).message);
const sqlState = (error: unknown) => (error as { code?: string }).code ?? '';

export class EventRecorder {
  constructor(
    private readonly pool: PgPool,
    private readonly partitions: DailyPartitions,
  ) {}

  /**
   * Panko's record_events, one outcome per event. An event the store cannot hold is an
   * `unknown_problem` with the reason and the rest are stored; a lost connection or a
   * server failure throws, and the caller retries the batch (redelivery counts as duplicates).
   */
  async record(events: StoredEvent[]): Promise<RecordResult[]> {
    const results: RecordResult[] = [];
    const rows: EventRow[] = [];
    const firstIndex = new Map<string, number>();
    events.forEach((event, index) => {
      const row = eventRow(event);
      if ('problem' in row) {
        results[index] = { message_id: event.message_id, outcome: 'unknown_problem', reason: row.problem };
      } else if (firstIndex.has(event.message_id)) {
        results[index] = { message_id: event.message_id, outcome: 'duplicate' };
      } else {
        firstIndex.set(event.message_id, index);
        rows.push(row);
      }
    });
    const outcomes = new Map<string, Outcome>();
    await this.insertIsolating(rows, outcomes);
    for (const [messageId, outcome] of outcomes) {
      results[firstIndex.get(messageId)!] =
        typeof outcome === 'string'
          ? { message_id: messageId, outcome }
          : { message_id: messageId, outcome: 'unknown_problem', reason: outcome.problem };
    }
    return results;
  }

  /**
   * Inserts the rows; when PostgreSQL refuses one of them (a value too long for an index,
   * say), halves the batch until the refused rows stand alone. Each statement is atomic
   * and idempotent, so halves that went in stay in.
   */
  private async insertIsolating(rows: EventRow[], outcomes: Map<string, Outcome>): Promise<void> {
    if (rows.length === 0) return;
    try {
      const stored = await this.insertOnce(rows);
      for (const { event } of rows)
        outcomes.set(event.message_id, stored.has(event.message_id) ? 'stored' : 'duplicate');
    } catch (error) {
      if (!isPerEventError(error)) throw error;
      if (rows.length === 1) {
        outcomes.set(rows[0].event.message_id, {
          problem: `PostgreSQL refused it: ${(error as Error).message}`,
        });
        return;
      }
      const half = Math.ceil(rows.length / 2);
      await this.insertIsolating(rows.slice(0, half), outcomes);
      await this.insertIsolating(rows.slice(half), outcomes);
    }
  }

  /** One statement; if a day's partition went away since we cached it (expiry), make it again once. */
  private async insertOnce(rows: EventRow[]): Promise<Set<string>> {
    const instants = rows.map((row) => row.event.generated);
    await this.partitions.ensure(instants);
    try {
      return await this.send(rows);
    } catch (error) {
      if (!isMissingPartition(error)) throw error;
      this.partitions.forget();
      await this.partitions.ensure(instants);
      return this.send(rows);
    }
  }

  private async send(rows: EventRow[]): Promise<Set<string>> {
    const result = await this.pool.query<{ message_id: string }>(INSERT_BATCH, batchDocuments(rows));
    return new Set(result.rows.map((row) => row.message_id));
  }
}
