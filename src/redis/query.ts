import { WinchesterEvent } from '../events/event';
import { lastOfEachMessageId } from '../events/stored-event';
import { decodeEvent } from '../events/wire';
import type { FailedAttempts } from '../pipeline/retry';
import { Micros } from '../time/micros';
import { compareStreamOrder, distinguishedText, StreamMeta, StreamState } from '../streams/model';
import { RedisClient } from './client';
import { keysForStream, PartitionKeys, partitionOfStreamId, repartitionPartitionsKey } from './keys';
import { readFailedAttempts } from './lifecycle';
import { scripts } from './scripts';
import { parseStreamMeta } from './stream-meta';

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
  /** A stream that failed: its attempts, what failed last, and when it runs again (if it does). */
  failure?: FailedAttempts;
}

/** States in which a stream may have failed attempts to show. */
const FAILED_STATES = new Set<StreamState>(['error', 'expire_error', 'retry_fire', 'retry_expire']);

/** The stream's failed attempts joined to its metadata, when its state may have some. */
async function withFailure(redis: RedisClient, namespace: string, view: StreamView): Promise<StreamView> {
  if (!FAILED_STATES.has(view.state)) return view;
  const failure = await readFailedAttempts(redis, keysForStream(namespace, view.id), view.id);
  return failure ? { ...view, failure } : view;
}

export async function repartitionPartitions(redis: RedisClient, namespace: string): Promise<number> {
  const stored = await redis.get(repartitionPartitionsKey(namespace));
  return stored === null ? 0 : Number(stored);
}

function matchesQuery(meta: StreamMeta, query: StreamQuery): boolean {
  if (query.state && meta.state !== query.state) return false;
  if (query.trigger && meta.trigger !== query.trigger) return false;
  if (query.olderThan !== undefined && !(meta.first < query.olderThan)) return false;
  if (query.youngerThan !== undefined && !(meta.first > query.youngerThan)) return false;
  return (
    !query.distinguished ||
    Object.entries(query.distinguished).every(
      ([name, value]) => distinguishedText(meta.distinguished, name) === value,
    )
  );
}

/** Stream ids whose metadata one round of MGETs reads while listing. */
const LIST_PAGE = 200;

/** Lists streams across all partitions of a namespace, ordered by id, with marker pagination. */
export async function findStreams(
  redis: RedisClient,
  namespace: string,
  query: StreamQuery,
): Promise<StreamView[]> {
  const partitions = await repartitionPartitions(redis, namespace);
  const perPartition = await Promise.all(
    Array.from({ length: partitions }, (_, p) => redis.smembers(new PartitionKeys(namespace, p).ids)),
  );
  const ids = perPartition.flat().sort();
  const from = query.marker === undefined ? 0 : ids.findIndex((id) => id > query.marker!);
  const out: StreamView[] = [];
  for (let at = from < 0 ? ids.length : from; at < ids.length && out.length < query.count; at += LIST_PAGE) {
    const metas = await readStreamMetas(redis, namespace, ids.slice(at, at + LIST_PAGE));
    for (const meta of metas) {
      if (!meta || !matchesQuery(meta, query)) continue;
      const view = query.includeEvents
        ? { ...meta, events: await streamEvents(redis, namespace, meta.id) }
        : meta;
      out.push(await withFailure(redis, namespace, view));
      if (out.length >= query.count) break;
    }
  }
  return out;
}

/**
 * The metadata of streams of any partitions, in the order given (null: gone): one MGET per
 * partition, sent together, since a partition's keys share a hash slot and a Redis Cluster
 * refuses a multi-key command across slots.
 */
async function readStreamMetas(
  redis: RedisClient,
  namespace: string,
  ids: readonly string[],
): Promise<Array<StreamMeta | null>> {
  const byPartition = new Map<number, string[]>();
  for (const id of ids) {
    const p = partitionOfStreamId(id);
    const some = byPartition.get(p);
    if (some) some.push(id);
    else byPartition.set(p, [id]);
  }
  const texts = new Map<string, string | null>();
  await Promise.all(
    [...byPartition].map(async ([p, some]) => {
      const keys = new PartitionKeys(namespace, p);
      const found = await redis.mget(...some.map((id) => keys.stream(id)));
      some.forEach((id, i) => texts.set(id, found[i]));
    }),
  );
  return ids.map((id) => parseStreamMeta(texts.get(id)));
}

export async function getStreamView(
  redis: RedisClient,
  namespace: string,
  id: string,
): Promise<StreamView | null> {
  const meta = parseStreamMeta(await redis.get(keysForStream(namespace, id).stream(id)));
  if (!meta) return null;
  return withFailure(redis, namespace, { ...meta, events: await streamEvents(redis, namespace, id) });
}

async function streamEvents(redis: RedisClient, namespace: string, id: string): Promise<WinchesterEvent[]> {
  const texts = await scripts.readStreamEvents(redis, keysForStream(namespace, id), id);
  return lastOfEachMessageId(texts.map(decodeEvent)).sort(compareStreamOrder);
}

/**
 * Whether a stream holds an event of this message id. Its events are stored compressed, so
 * this reads them all: a tracing tool's question, not the matcher's.
 */
async function streamHolds(
  redis: RedisClient,
  keys: PartitionKeys,
  streamId: string,
  messageId: string,
): Promise<boolean> {
  const texts = await scripts.readStreamEvents(redis, keys, streamId);
  return texts.some((text) => decodeEvent(text).message_id === messageId);
}

export interface LocatedStream {
  /** The partition whose seen-set for the stream key holds the message id. */
  seenIn: number | null;
  meta: StreamMeta | null;
  foundBy: 'active pointer' | 'stream scan' | null;
}

/** How many streams' metadata one MGET reads while scanning a partition. */
const SCAN_CHUNK = 500;

/**
 * Finds the stream of one trigger that holds a message id. The store keeps a seen-set per
 * stream key, so the key computed from the trigger definitions names the partition; the
 * key's active pointer is tried first, then every stream of the trigger (needed once the
 * stream left `active`, or when triggers.yaml changed the key).
 */
export async function locateStreamHolding(
  redis: RedisClient,
  namespace: string,
  trigger: string,
  key: string | null,
  messageId: string,
): Promise<LocatedStream> {
  const partitions = await repartitionPartitions(redis, namespace);
  const all = Array.from({ length: partitions }, (_, p) => p);
  const seenIn = key === null ? null : await partitionThatSaw(redis, namespace, all, key, messageId);
  const order = seenIn === null ? all : [seenIn, ...all.filter((p) => p !== seenIn)];
  if (key !== null) {
    for (const p of order) {
      const meta = await activeStreamHolding(redis, new PartitionKeys(namespace, p), key, messageId);
      if (meta) return { seenIn, meta, foundBy: 'active pointer' };
    }
  }
  for (const p of order) {
    const meta = await scanForStreamHolding(redis, new PartitionKeys(namespace, p), trigger, messageId);
    if (meta) return { seenIn, meta, foundBy: 'stream scan' };
  }
  return { seenIn, meta: null, foundBy: null };
}

async function partitionThatSaw(
  redis: RedisClient,
  namespace: string,
  partitions: number[],
  key: string,
  messageId: string,
): Promise<number | null> {
  for (const p of partitions) {
    if ((await redis.zscore(new PartitionKeys(namespace, p).seen(key), messageId)) !== null) return p;
  }
  return null;
}

async function activeStreamHolding(
  redis: RedisClient,
  keys: PartitionKeys,
  key: string,
  messageId: string,
): Promise<StreamMeta | null> {
  const active = await redis.get(keys.active(key));
  if (!active || !(await streamHolds(redis, keys, active, messageId))) return null;
  return parseStreamMeta(await redis.get(keys.stream(active)));
}

async function scanForStreamHolding(
  redis: RedisClient,
  keys: PartitionKeys,
  trigger: string,
  messageId: string,
): Promise<StreamMeta | null> {
  const ids = await redis.smembers(keys.ids);
  for (let i = 0; i < ids.length; i += SCAN_CHUNK) {
    const chunk = ids.slice(i, i + SCAN_CHUNK);
    const metas = (await redis.mget(...chunk.map((id) => keys.stream(id)))).map(parseStreamMeta);
    const candidates = metas.filter((m): m is StreamMeta => m !== null && m.trigger === trigger);
    if (!candidates.length) continue;
    // Single-key commands sent together, not a pipeline: one redirected during a slot
    // migration is redirected alone, rather than the whole pipeline.
    const held = await Promise.all(candidates.map((m) => streamHolds(redis, keys, m.id, messageId)));
    const hit = candidates.find((_, j) => held[j]);
    if (hit) return hit;
  }
  return null;
}
