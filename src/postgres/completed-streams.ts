import { DistinguishedValues, distinguishedText } from '../streams/model';
import { MICROS_PER_SECOND, Micros } from '../time/micros';
import { CompletedStream, CompletedStreamArchive, CompletedStreamQuery } from '../store/completed-streams';
import { createPgPool, PgPool, PgPoolOptions } from './client';
import { isStorableText } from './event-query';
import {
  fromPgTimestamp as microsFromSql,
  pgTimestampBound,
  toPgTimestamp as sqlTimestamp,
} from './timestamps';

/**
 * Finished streams in PostgreSQL (table `completed_streams`, see migrations.ts): one row per
 * stream and serial, so a completion record delivered again is one row.
 */
export class PgCompletedStreams implements CompletedStreamArchive {
  /** On a pool someone else owns and ends; `open` makes one of its own. */
  constructor(
    private readonly pool: PgPool,
    private readonly ownsPool = false,
  ) {}

  /** With a pool of its own on the store at `url` (whose schema the caller has checked); `close` ends it. */
  static open(url: string, options: PgPoolOptions = {}): PgCompletedStreams {
    return new PgCompletedStreams(createPgPool(url, { max: 2, ...options }), true);
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }

  async recordCompletedStreams(streams: CompletedStream[]): Promise<number> {
    if (streams.length === 0) return 0;
    const result = await this.pool.query(INSERT_STREAMS, columnsOf(streams));
    return result.rowCount ?? 0;
  }

  async findCompletedStreams(query: CompletedStreamQuery): Promise<CompletedStream[]> {
    // Text PostgreSQL cannot hold equals nothing it holds (and would fail the query).
    if (!storableQuery(query)) return [];
    const { where, values } = whereClause(query);
    values.push(query.count);
    const result = await this.pool.query<StreamRow>(
      `SELECT record, completed_at FROM completed_streams WHERE ${where}
       ORDER BY stream_id COLLATE "C", serial LIMIT $${values.length}`,
      values,
    );
    return result.rows.map(streamOf);
  }

  /** Removes streams that completed before now − ttl (strictly, as events expire); returns how many. */
  async clearExpiredStreams(ttlSeconds: number, now: Micros = Date.now() * 1000): Promise<number> {
    const cutoff = now - ttlSeconds * MICROS_PER_SECOND;
    if (Number.isNaN(cutoff)) throw new RangeError('the expiry cutoff is not a time');
    // Stored times are whole microseconds: before a fractional cutoff means before its ceiling.
    const bound = pgTimestampBound(Math.ceil(cutoff));
    const result = await this.pool.query('DELETE FROM completed_streams WHERE completed_at < $1', [bound]);
    return result.rowCount ?? 0;
  }
}

interface StreamRow {
  record: Omit<CompletedStream, 'completed_at'>;
  completed_at: string;
}

const streamOf = (row: StreamRow): CompletedStream => ({
  ...row.record,
  completed_at: microsFromSql(row.completed_at),
});

const INSERT_STREAMS = `
INSERT INTO completed_streams
  (namespace, stream_id, serial, trigger, outcome, first_event, completed_at, distinguished, record)
SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::timestamp[],
                     $7::timestamp[], $8::jsonb[], $9::jsonb[])
ON CONFLICT (namespace, stream_id, serial) DO NOTHING`;

function columnsOf(streams: CompletedStream[]): unknown[][] {
  return [
    streams.map((s) => s.namespace),
    streams.map((s) => s.stream_id),
    streams.map((s) => s.serial),
    streams.map((s) => s.trigger),
    streams.map((s) => s.outcome),
    streams.map((s) => sqlTimestamp(s.first)),
    streams.map((s) => sqlTimestamp(s.completed_at)),
    streams.map((s) => JSON.stringify(distinguishedTexts(s.distinguished_by))),
    streams.map(({ completed_at: _, ...record }) => JSON.stringify(record)),
  ];
}

/** The distinguishing values as the text the `traits` filter compares, for a containment query. */
function distinguishedTexts(values: DistinguishedValues): Record<string, string> {
  // No prototype: a trait named __proto__ is a name like any other.
  const out = Object.create(null) as Record<string, string>;
  for (const name of Object.keys(values)) out[name] = distinguishedText(values, name)!;
  return out;
}

function whereClause(query: CompletedStreamQuery): { where: string; values: unknown[] } {
  const values: unknown[] = [query.namespace];
  const terms = ['namespace = $1'];
  const add = (term: (at: string) => string, value: unknown) => {
    values.push(value);
    terms.push(term(`$${values.length}`));
  };
  if (query.trigger !== undefined) add((at) => `trigger = ${at}`, query.trigger);
  if (query.outcome !== undefined) add((at) => `outcome = ${at}`, query.outcome);
  if (query.olderThan !== undefined) add((at) => `first_event < ${at}`, pgTimestampBound(query.olderThan));
  if (query.youngerThan !== undefined)
    add((at) => `first_event > ${at}`, pgTimestampBound(query.youngerThan));
  if (query.marker !== undefined) add((at) => `stream_id COLLATE "C" > ${at}`, query.marker);
  if (query.distinguished) add((at) => `distinguished @> ${at}::jsonb`, JSON.stringify(query.distinguished));
  return { where: terms.join(' AND '), values };
}

function storableQuery(query: CompletedStreamQuery): boolean {
  const texts = [
    query.namespace,
    query.trigger,
    query.marker,
    ...Object.entries(query.distinguished ?? {}).flat(),
  ];
  return texts.every((text) => text === undefined || isStorableText(text));
}
