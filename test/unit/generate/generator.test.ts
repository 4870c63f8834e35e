/** The generator's promises: determinism, order, volume, unique ids, the end-of-day audit, distillable output. */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { generateNotifications, GenerateOptions, loadTemplates, pyDatetime } from '../../../src/generate';
import { loadWinchesterConfig } from '../../../src/config/winchester-config';
import { parseIso8601 } from '../../../src/time/micros';
import { loadTopology } from '../../../src/topology/bundle';

const templates = loadTemplates();
const at = (iso: string) => parseIso8601(iso)!;

function digest(options: GenerateOptions): { count: number; sha: string } {
  const hash = createHash('sha256');
  let count = 0;
  for (const n of generateNotifications({ templates, ...options })) {
    hash.update(n.json).update('\n');
    count++;
  }
  return { count, sha: hash.digest('hex') };
}

describe('determinism', () => {
  const options = { seed: 'fixed', start: '2026-11-01T23:30:00Z', hours: 1, rate: 1.5, instances: 300 };

  test('the same seed gives byte-identical output; another seed does not', () => {
    const first = digest(options);
    expect(first.count).toBeGreaterThan(4000);
    expect(digest(options)).toEqual(first);
    expect(digest({ ...options, seed: 'other' }).sha).not.toBe(first.sha);
    // A numeric seed is its text.
    expect(digest({ ...options, seed: 7 })).toEqual(digest({ ...options, seed: '7' }));
  });

  test('a shorter run is a prefix of a longer one', () => {
    const short = [...generateNotifications({ templates, ...options, hours: 0.5 })].map((n) => n.json);
    const long = [...generateNotifications({ templates, ...options })].map((n) => n.json);
    expect(long.length).toBeGreaterThan(short.length);
    expect(long.slice(0, short.length)).toEqual(short);
  });
});

test('volume: the average rate holds within 10%, with or without the end-of-day audit', () => {
  const ratios = (
    [
      ['2026-11-01T02:00:00Z', 3, 1.5, 500],
      ['2026-11-01T10:00:00Z', 0.5, 10, 2000],
      // A whole day, the audit burst included.
      ['2026-11-01T06:00:00Z', 24, 0.2, 200],
    ] as const
  ).map(([start, hours, rate, instances]) => {
    const { count } = digest({ seed: 1, start, hours, rate, instances });
    return Number((count / (hours * 3600 * rate)).toFixed(3));
  });
  for (const ratio of ratios) {
    expect(ratio).toBeGreaterThan(0.9);
    expect(ratio).toBeLessThan(1.1);
  }
});

describe('a run across midnight', () => {
  const start = at('2026-11-01T21:00:00Z');
  const midnight = at('2026-11-02T00:00:00Z');
  const end = at('2026-11-02T02:00:00Z');
  type Payload = Partial<
    Record<
      | 'instance_id'
      | 'state'
      | 'launched_at'
      | 'deleted_at'
      | 'tenant_id'
      | 'user_id'
      | 'host'
      | 'display_name'
      | 'audit_period_beginning'
      | 'audit_period_ending',
      string
    >
  >;
  type Doc = {
    timestamp: string;
    event_type: string;
    message_id: string;
    publisher_id: string;
    payload: Payload;
  };
  type Parsed = { timestamp: number; eventType: string; json: string; doc: Doc };
  const run: Parsed[] = [];
  beforeAll(() => {
    for (const n of generateNotifications({
      templates,
      seed: 'midnight',
      start,
      hours: 5,
      rate: 1.5,
      instances: 1000,
    })) {
      run.push({
        timestamp: n.timestamp,
        eventType: n.eventType,
        json: n.json,
        doc: JSON.parse(n.json) as Doc,
      });
    }
  });

  test('timestamps are ordered, inside the window, and written as nova writes them', () => {
    expect(run.length).toBeGreaterThan(24000);
    let previous = start;
    const wrong: string[] = [];
    for (const n of run) {
      if (n.timestamp < previous) wrong.push(`out of order: ${n.doc.timestamp}`);
      if (n.doc.timestamp !== pyDatetime(n.timestamp)) wrong.push(`timestamp ${n.doc.timestamp}`);
      if (n.doc.event_type !== n.eventType) wrong.push(`event_type ${n.doc.event_type}`);
      previous = n.timestamp;
    }
    expect(wrong).toEqual([]);
    expect(previous).toBeLessThan(end);
    // Microseconds are there (and only a zero fraction is left out).
    expect(run.filter((n) => /\.\d{6}$/.test(n.doc.timestamp)).length).toBeGreaterThan(run.length * 0.99);
  });

  test('every notification has its own message_id', () => {
    const ids = new Set(run.map((n) => n.doc.message_id));
    expect(ids.size).toBe(run.length);
    for (const id of [...ids].slice(0, 100))
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-/);
  });

  test('one end-of-day .exists per instance alive at midnight, with its audit period and launch time', () => {
    const eod = run.filter(
      (n) =>
        n.eventType === 'compute.instance.exists' &&
        n.doc.payload.audit_period_ending === '2026-11-02 00:00:00',
    );
    // About one per instance of the population.
    expect(eod.length).toBeGreaterThan(800);
    expect(eod.length).toBeLessThan(1200);
    const byInstance = new Map<string | undefined, Parsed[]>();
    for (const n of eod) {
      const id = n.doc.payload.instance_id;
      byInstance.set(id, [...(byInstance.get(id) ?? []), n]);
    }
    expect(eod.filter((n) => n.doc.payload.audit_period_beginning !== '2026-11-01 00:00:00')).toEqual([]);
    // Each compute host reports within a few minutes after midnight.
    expect(eod.filter((n) => n.timestamp < midnight || n.timestamp >= midnight + 10 * 60e6)).toEqual([]);
    // What the notifications before midnight last said about each instance.
    const last = new Map<string, Payload>();
    for (const n of run) {
      if (n.timestamp >= midnight) break;
      const p = n.doc.payload;
      if (n.eventType.startsWith('compute.instance.') && p?.instance_id && p.state !== undefined)
        last.set(p.instance_id, p);
    }
    let alive = 0;
    const wrong: unknown[] = [];
    for (const [instance, p] of last) {
      if (p.state === 'deleted' || !p.launched_at) continue;
      alive++;
      const exists = byInstance.get(instance) ?? [];
      const e = exists[0]?.doc.payload;
      if (
        exists.length !== 1 ||
        e.launched_at !== p.launched_at ||
        e.tenant_id !== p.tenant_id ||
        e.deleted_at !== '' ||
        e.state !== p.state
      ) {
        wrong.push({ instance, seen: p, exists: exists.map((x) => x.doc.payload) });
      }
    }
    expect(wrong).toEqual([]);
    expect(alive).toBeGreaterThan(100);
    // Instances deleted during the day are audited once more, as nova does, with their deletion.
    const deleted = eod.filter((n) => n.doc.payload.state === 'deleted');
    expect(deleted.length).toBeGreaterThan(0);
    for (const n of deleted) expect(n.doc.payload.deleted_at).toMatch(/^2026-11-01 /);
    expect(eod.every((n) => (byInstance.get(n.doc.payload.instance_id) ?? []).length === 1)).toBe(true);
  });

  test('an instance keeps its identity from one operation to the next', () => {
    const seen = new Map<string, string>();
    const wrong: string[] = [];
    for (const n of run) {
      const p = n.doc.payload;
      if (!n.eventType.startsWith('compute.instance.') || !p?.instance_id) continue;
      const identity = [p.tenant_id, p.user_id, p.host, p.display_name].join('|');
      if ((seen.get(p.instance_id) ?? identity) !== identity) wrong.push(`${p.instance_id}: ${identity}`);
      if (n.doc.publisher_id !== `compute.${p.host}`) wrong.push(`${p.instance_id}: ${n.doc.publisher_id}`);
      seen.set(p.instance_id, identity);
    }
    expect(wrong).toEqual([]);
    expect(seen.size).toBeGreaterThan(500);
  });

  test('everything distills with the openstack-usage event definitions', () => {
    const topology = loadTopology(
      join(__dirname, '..', '..', '..', 'topologies', 'openstack-usage'),
      loadWinchesterConfig(undefined, {}),
    );
    const kinds = { event: 0, dropped: 0, error: 0 };
    const wrong: unknown[] = [];
    for (const n of run) {
      const outcome = topology.distill(n.json);
      kinds[outcome.kind]++;
      if (outcome.kind === 'error') wrong.push(outcome);
      else if (n.eventType.startsWith('compute.instance.')) {
        if (
          outcome.kind !== 'event' ||
          outcome.event.traits.instance_id?.value !== n.doc.payload.instance_id ||
          outcome.event.traits.host?.value !== n.doc.payload.host
        ) {
          wrong.push({ eventType: n.eventType, outcome });
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(kinds.event).toBeGreaterThan(run.length * 0.9);
  });
});
