/**
 * Per-stage fire latency as the roles export it: each role process's /metrics is scraped for
 * `winchester_stage_latency_seconds` (and the worker's `winchester_pipeline_duration_seconds`,
 * claim → completion, as stage `worker`), and percentiles are read off the difference of two
 * scrapes' buckets, interpolated within a bucket as Prometheus's histogram_quantile does.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { rounded } from './stats';

/** Cumulative bucket counts of one stage: upper bound (seconds, Infinity for +Inf) → count. */
export type StageBuckets = Map<number, number>;
/** Every stage's buckets, summed over the processes scraped. */
export type StageSnapshot = Map<string, StageBuckets>;

const STAGE_BUCKET = /^winchester_stage_latency_seconds_bucket\{([^}]*)\} (\S+)$/;
const PIPELINE_BUCKET = /^winchester_pipeline_duration_seconds_bucket\{([^}]*)\} (\S+)$/;

function label(labels: string, name: string): string | undefined {
  return new RegExp(`(?:^|,)${name}="([^"]*)"`).exec(labels)?.[1];
}

/** Adds one exposition's stage buckets into `into` (pipelines summed as stage `worker`). */
export function addExposition(into: StageSnapshot, text: string): StageSnapshot {
  for (const line of text.split('\n')) {
    const stageLine = STAGE_BUCKET.exec(line);
    const found = stageLine ?? PIPELINE_BUCKET.exec(line);
    if (!found) continue;
    const stage = stageLine ? label(found[1], 'stage') : 'worker';
    const le = label(found[1], 'le');
    if (stage === undefined || le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    let buckets = into.get(stage);
    if (!buckets) into.set(stage, (buckets = new Map()));
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(found[2]));
  }
  return into;
}

/**
 * The q-quantile (0…1) in seconds of the samples between two cumulative bucket sets,
 * interpolated linearly in its bucket; the highest finite bound when it falls in +Inf; NaN
 * when no sample fell between them.
 */
export function bucketQuantile(before: StageBuckets | undefined, after: StageBuckets, q: number): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((b) => (after.get(b) ?? 0) - (before?.get(b) ?? 0));
  const total = counts.at(-1) ?? 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i] >= rank && counts[i] > below) {
      if (bounds[i] === Infinity) return lower;
      return lower + ((bounds[i] - lower) * (rank - below)) / (counts[i] - below);
    }
    if (bounds[i] !== Infinity) lower = bounds[i];
    below = counts[i];
  }
  return lower;
}

export interface StageFigures {
  count: number;
  p50_ms: number | null;
  p99_ms: number | null;
}

/** Each stage's sample count, p50 and p99 (ms) between two snapshots. */
export function stageFigures(before: StageSnapshot, after: StageSnapshot): Record<string, StageFigures> {
  const figures: Record<string, StageFigures> = {};
  for (const [stage, buckets] of after) {
    const count = (buckets.get(Infinity) ?? 0) - (before.get(stage)?.get(Infinity) ?? 0);
    figures[stage] = {
      count,
      p50_ms: rounded(bucketQuantile(before.get(stage), buckets, 0.5) * 1000, 1),
      p99_ms: rounded(bucketQuantile(before.get(stage), buckets, 0.99) * 1000, 1),
    };
  }
  return figures;
}

/**
 * The TCP ports a process listens on, from /proc (the roles pick a free metrics port and log
 * it only at info level): its socket inodes matched against the kernel's listening sockets.
 */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const socket = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (socket) inodes.add(socket[1]);
    } catch {
      // closed while listing
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is fields[1] (addr:port in hex), st is fields[3] (0A: LISTEN), inode fields[9].
      if (fields[3] === '0A' && inodes.has(fields[9])) ports.push(parseInt(fields[1].split(':')[1], 16));
    }
  }
  return ports;
}

/** Scrapes every port's /metrics into one snapshot; a port that does not answer adds nothing. */
export async function scrapeStages(ports: readonly number[]): Promise<StageSnapshot> {
  const snapshot: StageSnapshot = new Map();
  for (const port of ports) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      if (response.ok) addExposition(snapshot, await response.text());
    } catch {
      // not a metrics server, or gone
    }
  }
  return snapshot;
}
