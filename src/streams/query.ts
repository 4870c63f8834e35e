import Redis from 'ioredis';
import { WinchesterEvent } from '../events/event';
import { decodeEvent } from '../events/wire';
import { Micros } from '../time/micros';
import { compareStreamOrder, StreamMeta, StreamState } from './model';
import { PartitionKeys } from './redis-store';
import { keysForStream } from './lifecycle';

/** Upstream's find_streams filters. */
export interface StreamQuery {
  state?: StreamState;
  trigger?: string;
  /** Distinguishing trait values that must all equal (compared as text). */
  distinguished?: Record<string, string>;
  /** Streams whose first event is older / younger than this time. */
  olderThan?: Micros;
  youngerThan?: Micros;
  /** Page size and the last id of the previous page. */
  count: number;
  marker?: string;
  includeEvents?: boolean;
}

export interface StreamView extends StreamMeta {
  events?: WinchesterEvent[];
}

export async function repartitionPartitions(redis: Redis, namespace: string): Promise<number> {
  const stored = await redis.get(`${namespace}:meta:repartition-partitions`);
  return stored === null ? 0 : Number(stored);
}

function distinguishedText(meta: StreamMeta, name: string): string | undefined {
  const value = meta.distinguished[name];
  if (!value) return undefined;
  return 'begin' in value ? String(value.begin) : String(value.value);
}

/** Lists streams across all partitions of a namespace, ordered by id, with marker pagination. */
export async function findStreams(
  redis: Redis,
  namespace: string,
  query: StreamQuery,
): Promise<StreamView[]> {
  const partitions = await repartitionPartitions(redis, namespace);
  const ids: string[] = [];
  for (let p = 0; p < partitions; p++)
    ids.push(...(await redis.smembers(new PartitionKeys(namespace, p).ids)));
  ids.sort();
  const out: StreamView[] = [];
  for (const id of ids) {
    if (query.marker !== undefined && id <= query.marker) continue;
    const keys = keysForStream(namespace, id);
    const raw = await redis.get(keys.stream(id));
    if (!raw) continue;
    const meta = JSON.parse(raw) as StreamMeta;
    if (query.state && meta.state !== query.state) continue;
    if (query.trigger && meta.trigger !== query.trigger) continue;
    if (query.olderThan !== undefined && !(meta.first < query.olderThan)) continue;
    if (query.youngerThan !== undefined && !(meta.first > query.youngerThan)) continue;
    if (
      query.distinguished &&
      Object.entries(query.distinguished).some(([name, value]) => distinguishedText(meta, name) !== value)
    ) {
      continue;
    }
    out.push(query.includeEvents ? { ...meta, events: await streamEvents(redis, namespace, id) } : meta);
    if (out.length >= query.count) break;
  }
  return out;
}

export async function getStreamView(redis: Redis, namespace: string, id: string): Promise<StreamView | null> {
  const keys = keysForStream(namespace, id);
  const raw = await redis.get(keys.stream(id));
  if (!raw) return null;
  return { ...(JSON.parse(raw) as StreamMeta), events: await streamEvents(redis, namespace, id) };
}

async function streamEvents(redis: Redis, namespace: string, id: string): Promise<WinchesterEvent[]> {
  const raw = await redis.hvals(keysForStream(namespace, id).events(id));
  return raw.map(decodeEvent).sort(compareStreamOrder);
}
