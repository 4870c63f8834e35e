import { DistinguishedValues, distinguishedText, StreamKind } from '../streams/model';
import { MICROS_PER_SECOND, Micros } from '../time/micros';

/**
 * Finished streams, kept after Redis purges them: what `/v1/streams?state=completed` and
 * `winchester streams list --state completed` read. A worker's completion record (the
 * `streams.completed` topic) plus its namespace and when it was published.
 */
export interface CompletedStream {
  namespace: string;
  stream_id: string;
  trigger: string;
  kind: StreamKind;
  pipeline: string | null;
  serial: number;
  outcome: 'completed' | 'error' | 'expire_error';
  message_ids: string[];
  new_event_ids: string[];
  error?: string;
  distinguished_by: DistinguishedValues;
  first: Micros;
  last: Micros;
  completed_at: Micros;
}

/** The /v1/streams filters that apply to finished streams; ordered by stream id after `marker`. */
export interface CompletedStreamQuery {
  namespace: string;
  trigger?: string;
  outcome?: CompletedStream['outcome'];
  /** Distinguishing values that must all equal, compared as text. */
  distinguished?: Record<string, string>;
  /** Streams whose first event is older / younger than this time. */
  olderThan?: Micros;
  youngerThan?: Micros;
  count: number;
  marker?: string;
}

export interface CompletedStreamArchive {
  /** Idempotent: a stream recorded again at the same serial is one entry. Returns how many were new. */
  recordCompletedStreams(streams: CompletedStream[]): Promise<number>;
  findCompletedStreams(query: CompletedStreamQuery): Promise<CompletedStream[]>;
  /** Removes streams that completed before now − ttl (strictly); returns how many. */
  clearExpiredStreams(ttlSeconds: number, now?: Micros): Promise<number>;
}

export function matchesCompletedQuery(stream: CompletedStream, query: CompletedStreamQuery): boolean {
  if (stream.namespace !== query.namespace) return false;
  if (query.trigger !== undefined && stream.trigger !== query.trigger) return false;
  if (query.outcome !== undefined && stream.outcome !== query.outcome) return false;
  if (query.olderThan !== undefined && !(stream.first < query.olderThan)) return false;
  if (query.youngerThan !== undefined && !(stream.first > query.youngerThan)) return false;
  if (query.marker !== undefined && !(stream.stream_id > query.marker)) return false;
  return Object.entries(query.distinguished ?? {}).every(
    ([name, value]) => distinguishedText(stream.distinguished_by, name) === value,
  );
}

/** Finished streams in memory, for simulate and unit tests. */
export class MemoryCompletedStreams implements CompletedStreamArchive {
  private readonly streams = new Map<string, CompletedStream>();

  async recordCompletedStreams(streams: CompletedStream[]): Promise<number> {
    let added = 0;
    for (const stream of streams) {
      const key = `${stream.namespace}\u0000${stream.stream_id}\u0000${stream.serial}`;
      if (this.streams.has(key)) continue;
      this.streams.set(key, stream);
      added++;
    }
    return added;
  }

  async clearExpiredStreams(ttlSeconds: number, now: Micros = Date.now() * 1000): Promise<number> {
    const cutoff = now - ttlSeconds * MICROS_PER_SECOND;
    let removed = 0;
    for (const [key, stream] of this.streams) {
      if (stream.completed_at < cutoff && this.streams.delete(key)) removed++;
    }
    return removed;
  }

  async findCompletedStreams(query: CompletedStreamQuery): Promise<CompletedStream[]> {
    return [...this.streams.values()]
      .filter((stream) => matchesCompletedQuery(stream, query))
      .sort((a, b) => (a.stream_id < b.stream_id ? -1 : a.stream_id > b.stream_id ? 1 : a.serial - b.serial))
      .slice(0, query.count);
  }
}
