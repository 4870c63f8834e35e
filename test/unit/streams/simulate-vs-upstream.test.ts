/**
 * `winchester simulate --clock event --drain` against upstream Winchester. The vectors in
 * test/vectors/winchester/ are what upstream (trigger + pipeline manager on SQLite, under an
 * event clock) fired and expired over the fixture corpus, printed as `simulate` prints streams;
 * scripts/vectors/make-winchester-vectors.sh makes them. Two runs of upstream:
 *  - streams.jsonl: the worker's pass (fire, then expire) each time the clock moves and once at
 *    the drain. One stream differs on purpose (see DEVIATIONS);
 *  - streams-polling.jsonl: the clock also stops just after every due time, as a worker polling
 *    all along sees it. It must equal ours exactly.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadWinchesterConfig } from '../../../src/config/winchester-config';
import { END_OF_TIME, Simulation, streamSummary } from '../../../src/streams/simulate';
import { loadTopology } from '../../../src/topology/bundle';

const ROOT = join(__dirname, '..', '..', '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'upstream-winchester');
const VECTORS = join(ROOT, 'test', 'vectors', 'winchester');

interface Line {
  kind: 'fired' | 'expired';
  trigger: string;
  pipeline: string | null;
  distinguished_by: Record<string, unknown>;
  message_ids: string[];
}

/**
 * Where upstream's pass answers differently by design (docs/trigger-language.md, Deviations),
 * each one stream, named by a message it holds: the drain passes both times of cpu_confirm's
 * last host-c stream, whose fire time (an hour after the hot sample of 01:59) is after its expire
 * time (30 minutes after its last sample). Upstream's worker fires everything due before it
 * expires anything, so it fires; here timers run in due order, so it expires, as upstream's does
 * when the clock passes the two times one at a time.
 */
const DEVIATIONS = [
  {
    trigger: 'cpu_confirm',
    distinguished_by: { host: 'host-c' },
    holds: 'a232dd40-239a-4e1f-84d0-bd8004d83b13',
    ours: { kind: 'expired', pipeline: 'notify' },
    upstream: { kind: 'fired', pipeline: 'notify' },
  },
];

/** JSON with object keys sorted at every level, arrays kept in order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const readLines = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '');

/** The stream a line describes, whatever became of it: its trigger, key and members (as a set). */
const identity = (line: Line) =>
  canonical({ trigger: line.trigger, by: line.distinguished_by, members: [...line.message_ids].sort() });

/** What `simulate --clock event --drain` prints for the fixture corpus, one string per stream. */
async function simulate(): Promise<string[]> {
  const topology = loadTopology(FIXTURE, loadWinchesterConfig(undefined, {}));
  const printed: string[] = [];
  const simulation = new Simulation(topology.triggers, 'event', (record) =>
    printed.push(JSON.stringify(streamSummary(record))),
  );
  for (const line of readLines(join(FIXTURE, 'notifications.jsonl'))) {
    const outcome = topology.distill(line);
    if (outcome.kind === 'event') await simulation.push(outcome.event);
    else if (outcome.kind === 'error') throw new Error(`the fixture corpus must distill: ${outcome.reason}`);
  }
  await simulation.advance(END_OF_TIME);
  return printed;
}

describe('simulate --clock event --drain against upstream Winchester', () => {
  let ours: string[];
  beforeAll(async () => {
    ours = await simulate();
  });

  const parse = (lines: string[]) => lines.map((l) => JSON.parse(l) as Line);

  it('the vectors are not trivial: several triggers, many streams fired and expired', () => {
    const upstream = parse(readLines(join(VECTORS, 'streams.jsonl')));
    const count = (kind: string) => upstream.filter((l) => l.kind === kind).length;
    expect(count('fired')).toBeGreaterThanOrEqual(30);
    expect(count('expired')).toBeGreaterThanOrEqual(30);
    expect(new Set(upstream.map((l) => l.trigger)).size).toBeGreaterThanOrEqual(6);
  });

  it('prints exactly the streams of upstream with a polling worker, members in the same order', () => {
    const upstream = readLines(join(VECTORS, 'streams-polling.jsonl'));
    expect(ours.map((l) => canonical(JSON.parse(l))).sort()).toEqual(
      upstream.map((l) => canonical(JSON.parse(l))).sort(),
    );
    // The same, stream by stream, so a difference in order alone is reported as such.
    const order = new Map(parse(upstream).map((l) => [`${l.kind} ${identity(l)}`, l.message_ids]));
    for (const line of parse(ours))
      expect(line.message_ids).toEqual(order.get(`${line.kind} ${identity(line)}`));
  });

  it("prints the streams of upstream's pass per clock move, but for the documented deviations", () => {
    const upstream = parse(readLines(join(VECTORS, 'streams.jsonl')));
    const deviates = (line: Line, side: 'ours' | 'upstream') =>
      DEVIATIONS.some(
        (d) =>
          d.trigger === line.trigger &&
          canonical(d.distinguished_by) === canonical(line.distinguished_by) &&
          line.message_ids.includes(d.holds) &&
          d[side].kind === line.kind &&
          d[side].pipeline === line.pipeline,
      );
    const kept = (lines: Line[], side: 'ours' | 'upstream') =>
      lines
        .filter((l) => !deviates(l, side))
        .map(canonical)
        .sort();
    expect(kept(parse(ours), 'ours')).toEqual(kept(upstream, 'upstream'));
    // Each deviation is one stream, the same events on both sides, only its fate differs.
    for (const d of DEVIATIONS) {
      const mine = parse(ours).filter((l) => deviates(l, 'ours') && l.message_ids.includes(d.holds));
      const theirs = upstream.filter((l) => deviates(l, 'upstream') && l.message_ids.includes(d.holds));
      expect(mine).toHaveLength(1);
      expect(theirs).toHaveLength(1);
      expect(mine[0].message_ids).toEqual(theirs[0].message_ids);
    }
  });

  it('prints each line as the vectors do, byte for byte', () => {
    expect([...ours].sort()).toEqual(readLines(join(VECTORS, 'streams-polling.jsonl')));
  });
});
