/** Pure helpers of the benchmarks: percentiles, rounding, what a Redis key is for, event sizes. */
import { toCanonicalJson } from '../../src/events/event';
import type { LoadedTopology } from '../../src/topology/bundle';

/** The p-th percentile (nearest rank) of ascending `sorted`; NaN when there is none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
}

/** p50 and p99 of latency samples in milliseconds, in any order; NaN for none. */
export function latencySummary(samplesMs: readonly number[]): LatencySummary {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return { count: sorted.length, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
}

/** `value` with at most `digits` decimals, as a number (JSON keeps it short); null for NaN. */
export function rounded(value: number, digits = 0): number | null {
  if (!Number.isFinite(value)) return null;
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** a / b rounded to two decimals; null when either is missing or b is zero. */
export function ratio(a: number | undefined, b: number | undefined): number | null {
  if (a === undefined || b === undefined || b === 0) return null;
  return rounded(a / b, 2);
}

/**
 * What a key of the namespace holds, from its name: the first segment after the partition's
 * hash tag (`<ns>:{<ns>.p3}:e:<id>` → `e`, `…:t:fire` → `t:fire`), or after the namespace for
 * keys outside a partition (`<ns>:meta:…` → `meta`). Timer sets keep their second segment: each
 * is one key a partition, and fire and expire timers cost differently.
 */
export function redisKeyKind(key: string, namespace: string): string {
  const prefix = `${namespace}:`;
  if (!key.startsWith(prefix)) return 'other';
  let rest = key.slice(prefix.length);
  const tag = `{${namespace}.p`;
  if (rest.startsWith(tag)) {
    const close = rest.indexOf('}:');
    if (close < 0) return 'other';
    rest = rest.slice(close + 2);
  }
  const [first, second] = rest.split(':');
  return first === 't' && second !== undefined ? `t:${second}` : first;
}

export interface KeyKindMemory {
  keys: number;
  bytes: number;
}

/** Adds one key's MEMORY USAGE to the tally of its kind. */
export function tallyKeyMemory(
  tally: Map<string, KeyKindMemory>,
  key: string,
  namespace: string,
  bytes: number,
): void {
  const kind = redisKeyKind(key, namespace);
  const entry = tally.get(kind) ?? { keys: 0, bytes: 0 };
  entry.keys++;
  entry.bytes += bytes;
  tally.set(kind, entry);
}

/**
 * The mean size in bytes of the canonical event JSON (toCanonicalJson) of what the matcher
 * stores for these notifications: each distilled event once per trigger that takes it.
 */
export function canonicalEventBytes(topology: LoadedTopology, lines: string[]): number {
  let bytes = 0;
  let stored = 0;
  for (const line of lines) {
    const outcome = topology.distill(line);
    if (outcome.kind !== 'event') continue;
    const copies = topology.triggers.filter((t) => t.match(outcome.event) !== undefined).length;
    bytes += copies * Buffer.byteLength(toCanonicalJson(outcome.event));
    stored += copies;
  }
  return stored ? bytes / stored : NaN;
}
