import { TraitType } from '../events/event';
import {
  DTYPE,
  EventFilter,
  EventStore,
  ExpiryReport,
  InvalidMarkerError,
  NamedTrait,
  Pagination,
  RecordResult,
  StoredEvent,
  TraitDescription,
} from '../store/model';
import { MICROS_PER_SECOND, Micros } from '../time/micros';
import { PgPool, PgPoolOptions, createPgPool, pgTarget, probePostgres } from './client';
import { DEFAULT_CANDIDATES, MARKER_QUERY, MarkerPosition, eventQuery, isStorableText } from './event-query';
import { TraitsObject, traitFromJson, traitsFromObject } from './event-rows';
import { clearExpired } from './expiry';
import { LATEST_SCHEMA_VERSION, schemaVersion } from './migrations';
import { DailyPartitions } from './partitions';
import { fromPgTimestamp } from './timestamps';
import { EventRecorder } from './record-events';

const TYPE_OF_DTYPE = Object.fromEntries(Object.entries(DTYPE).map(([type, code]) => [code, type])) as Record<
  number,
  TraitType
>;

interface EventRow {
  message_id: string;
  event_type: string;
  generated: string;
  traits: TraitsObject;
  raw: unknown;
}

export interface PgEventStoreOptions {
  /**
   * How many events a trait filter may match and still be answered from the traits index
   * (event-query.ts); above it, events are read in order and checked row by row.
   */
  indexedFilterLimit?: number;
}

/**
 * The event store in PostgreSQL (schema: migrations.ts, docs/event-store.md). The store
 * owns its pool: `close()` ends it.
 */
export class PgEventStore implements EventStore {
  readonly storageCapabilities = { storage: { production_ready: true } };
  private readonly partitions: DailyPartitions;
  private readonly recorder: EventRecorder;
  private readonly indexedFilterLimit: number;

  constructor(
    private readonly pool: PgPool,
    options: PgEventStoreOptions = {},
  ) {
    this.partitions = new DailyPartitions(pool);
    this.recorder = new EventRecorder(pool, this.partitions);
    this.indexedFilterLimit = options.indexedFilterLimit ?? DEFAULT_CANDIDATES;
  }

  /**
   * Connects to the store at `url` and checks that its schema is the one this build
   * knows: an unreachable server, an empty database or an older schema is a clear error.
   */
  static async open(url: string, options: PgPoolOptions & PgEventStoreOptions = {}): Promise<PgEventStore> {
    const unreachable = await probePostgres(url);
    if (unreachable) throw new Error(`cannot reach the event store at ${pgTarget(url)}: ${unreachable}`);
    const pool = createPgPool(url, options);
    try {
      await checkSchema(pool, url);
    } catch (error) {
      await pool.end();
      throw error;
    }
    return new PgEventStore(pool, options);
  }

  recordEvents(events: StoredEvent[]): Promise<RecordResult[]> {
    return this.recorder.record(events);
  }

  async getEvents(filter: EventFilter, page: Pagination = {}): Promise<StoredEvent[]> {
    const marker = page.marker ? await this.markerPosition(page.marker) : undefined;
    const { sql, values } = eventQuery(filter, page, marker, this.indexedFilterLimit);
    const result = await this.pool.query<EventRow>(sql, values);
    return result.rows.map((row) => ({
      message_id: row.message_id,
      event_type: row.event_type,
      generated: fromPgTimestamp(row.generated),
      traits: traitsFromObject(row.traits),
      raw: row.raw,
    }));
  }

  async getEventTypes(): Promise<string[]> {
    const result = await this.pool.query<{ name: string }>('SELECT name FROM event_types ORDER BY name');
    return result.rows.map((row) => row.name);
  }

  async getTraitTypes(eventType: string): Promise<TraitDescription[]> {
    if (!isStorableText(eventType)) return [];
    const result = await this.pool.query<{ name: string; type: number }>(
      'SELECT name, type FROM trait_types WHERE event_type = $1 ORDER BY type, name',
      [eventType],
    );
    return result.rows.map((row) => ({ name: row.name, type: TYPE_OF_DTYPE[row.type] }));
  }

  /** Every trait of the type's events, by type then name, then in event order (from the rows' traits). */
  async getTraits(eventType: string, traitName?: string): Promise<NamedTrait[]> {
    if (!isStorableText(eventType) || (traitName !== undefined && !isStorableText(traitName))) return [];
    const values: string[] = [eventType];
    if (traitName !== undefined) values.push(traitName);
    const result = await this.pool.query<{ type: TraitType; name: string; value: string | number }>(
      `SELECT (ARRAY['text', 'int', 'float', 'datetime'])[strpos('tifd', left(x.key, 1))] AS type, substr(x.key, 3) AS name, x.value
         FROM events e CROSS JOIN LATERAL jsonb_each(e.traits) AS x
        WHERE e.event_type = $1 ${traitName === undefined ? '' : 'AND substr(x.key, 3) = $2'}
        ORDER BY strpos('tifd', left(x.key, 1)), substr(x.key, 3) COLLATE "C", e.generated, e.message_id`,
      values,
    );
    return result.rows.map(({ type, name, value }) => ({ name, trait: traitFromJson(type, value) }));
  }

  clearExpiredData(
    ttlSeconds: number,
    maxCount?: number,
    now: Micros = Date.now() * 1000,
  ): Promise<ExpiryReport> {
    return clearExpired(this.pool, this.partitions, now - ttlSeconds * MICROS_PER_SECOND, maxCount);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async markerPosition(marker: string): Promise<MarkerPosition> {
    if (!isStorableText(marker)) throw new InvalidMarkerError(marker);
    const result = await this.pool.query<MarkerPosition>(MARKER_QUERY, [marker]);
    if (result.rows.length === 0) throw new InvalidMarkerError(marker);
    return result.rows[0];
  }
}

async function checkSchema(pool: PgPool, url: string): Promise<void> {
  const version = await schemaVersion(pool);
  const where = `the event store at ${pgTarget(url)}`;
  if (version === 0) throw new Error(`${where} has no schema yet: run winchester store upgrade`);
  if (version < LATEST_SCHEMA_VERSION) {
    throw new Error(
      `${where} has schema version ${version}, this build needs ${LATEST_SCHEMA_VERSION}: run winchester store upgrade`,
    );
  }
  if (version > LATEST_SCHEMA_VERSION) {
    throw new Error(
      `${where} has schema version ${version}, newer than this build knows (${LATEST_SCHEMA_VERSION}): upgrade winchester`,
    );
  }
}
