import type { RedisClient } from './client';
import { StreamMeta, StreamState } from '../streams/model';
import { PartitionKeys } from './keys';

/** States whose stream record is (re-)produced to `streams` for the workers. */
export const EMITTABLE_STATES = new Set<StreamState>(['firing', 'expiring', 'retry_fire', 'retry_expire']);

/** What a stream's metadata key holds. */
export function streamMetaText(meta: StreamMeta): string {
  return JSON.stringify(meta);
}

/** A stream's metadata from its key's text (null for a missing key). */
export function parseStreamMeta(text: string | null | undefined): StreamMeta | null {
  return text ? (JSON.parse(text) as StreamMeta) : null;
}

export async function readStreamMeta(
  redis: RedisClient,
  keys: PartitionKeys,
  streamId: string,
): Promise<StreamMeta | null> {
  return parseStreamMeta(await redis.get(keys.stream(streamId)));
}

/** How a finished stream ended; kept after a purge so a redelivered record is recognised. */
export interface Tombstone {
  state: StreamState;
  serial: number;
  outcome: string;
  /** A stream whose last attempt failed: its `streams.errors` record, announced again with the outcome. */
  error_record?: string;
}

export function tombstoneText(tombstone: Tombstone): string {
  return JSON.stringify(tombstone);
}

export function parseTombstone(text: string | null): Tombstone | null {
  return text ? (JSON.parse(text) as Tombstone) : null;
}
