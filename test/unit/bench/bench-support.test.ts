/**
 * The benchmarks' pure helpers: percentiles and ratios, what a Redis key of the namespace is
 * for (from the real key layout), the command line, corpus copies, where upstream stores, and
 * the canonical event size of what the matcher stores.
 */
import { join } from 'node:path';
import { loadWinchesterConfig } from '../../../src/config/winchester-config';
import { toCanonicalJson, WinchesterEvent } from '../../../src/events/event';
import { PartitionKeys, repartitionPartitionsKey } from '../../../src/redis/keys';
import { LoadedTopology, loadTopology } from '../../../src/topology/bundle';
import {
  corpusCopies,
  corpusLines,
  corpusNotification,
  notificationTime,
  parseCountOptions,
  repoRoot,
} from '../../../bench/support';
import {
  canonicalEventBytes,
  KeyKindMemory,
  latencySummary,
  percentile,
  ratio,
  redisKeyKind,
  rounded,
  tallyKeyMemory,
} from '../../../bench/support/stats';
import { upstreamDatabase } from '../../../bench/support/upstream';

describe('percentiles', () => {
  it('takes the nearest rank of sorted samples', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(51);
    expect(percentile(sorted, 99)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('summarises samples in any order', () => {
    const samples = [...Array.from({ length: 98 }, () => 10), 500, 20];
    expect(latencySummary(samples)).toEqual({ count: 100, p50Ms: 10, p99Ms: 500 });
    expect(latencySummary([]).count).toBe(0);
  });

  it('rounds and divides for JSON, null where there is no number', () => {
    expect(rounded(1234.5678)).toBe(1235);
    expect(rounded(1234.5678, 1)).toBe(1234.6);
    expect(rounded(NaN)).toBeNull();
    expect(ratio(3705, 5627)).toBe(0.66);
    expect(ratio(1, 0)).toBeNull();
    expect(ratio(undefined, 2)).toBeNull();
  });
});

describe('redisKeyKind', () => {
  const ns = 'bench1.topo';
  const keys = new PartitionKeys(ns, 2);

  it('names a partition key by what it holds', () => {
    expect(redisKeyKind(keys.events('2.abc'), ns)).toBe('e');
    expect(redisKeyKind(keys.stream('2.abc'), ns)).toBe('s');
    expect(redisKeyKind(keys.seen('usage|{"instance_id":"x:y"}'), ns)).toBe('seen');
    expect(redisKeyKind(keys.active('usage|x'), ns)).toBe('active');
    expect(redisKeyKind(keys.ids, ns)).toBe('ids');
    expect(redisKeyKind(keys.clock, ns)).toBe('clock');
  });

  it('tells the timer sets apart', () => {
    expect(redisKeyKind(keys.fireTimers, ns)).toBe('t:fire');
    expect(redisKeyKind(keys.expireTimers, ns)).toBe('t:expire');
  });

  it('names keys outside a partition by their first segment, and others as other', () => {
    expect(redisKeyKind(repartitionPartitionsKey(ns), ns)).toBe('meta');
    expect(redisKeyKind(`${ns}.nested:{${ns}.nested.p0}:ids`, ns)).toBe('other');
    expect(redisKeyKind(`${ns}:{${ns}.p1`, ns)).toBe('other');
  });

  it('tallies memory by kind', () => {
    const tally = new Map<string, KeyKindMemory>();
    tallyKeyMemory(tally, keys.events('2.a'), ns, 800);
    tallyKeyMemory(tally, keys.events('2.b'), ns, 900);
    tallyKeyMemory(tally, keys.stream('2.a'), ns, 100);
    expect(Object.fromEntries(tally)).toEqual({ e: { keys: 2, bytes: 1700 }, s: { keys: 1, bytes: 100 } });
  });
});

describe('parseCountOptions', () => {
  const defaults = { copies: 3, upstream: false, json: false };
  const parse = (argv: string[]) =>
    parseCountOptions(argv, defaults, { '--copies': 'copies' }, { '--upstream': 'upstream' });

  it('reads numbers, switches and --json over the defaults', () => {
    expect(parse([])).toEqual(defaults);
    expect(parse(['--copies', '1', '--upstream', '--json'])).toEqual({
      copies: 1,
      upstream: true,
      json: true,
    });
  });

  it('refuses an unknown option or a bad number in one line naming the options', () => {
    expect(() => parse(['--copy', '1'])).toThrow(
      'unknown option --copy (options: --copies, --upstream, --json)',
    );
    expect(() => parse(['--copies', '0'])).toThrow('--copies needs a positive whole number, got 0');
    expect(() => parse(['--copies'])).toThrow('--copies needs a positive whole number, got nothing');
  });
});

describe('corpusCopies', () => {
  it('repeats the corpus with message and instance ids of each copy', () => {
    const one = corpusLines();
    const two = corpusCopies(2);
    expect(two).toHaveLength(2 * one.length);
    expect(two.slice(0, one.length)).toEqual(one);
    const ids = new Set(two.map((l) => (JSON.parse(l) as { message_id: string }).message_id));
    expect(ids.size).toBe(
      new Set(one.map((l) => (JSON.parse(l) as { message_id: string }).message_id)).size * 2,
    );
    expect(two[one.length]).toContain('"message_id": "c1-');
  });
});

describe('load notifications', () => {
  it('stamps times as the corpus writes them, to the microsecond', () => {
    expect(notificationTime()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
  });

  it('takes a template of an event type from the corpus, and names one it lacks', () => {
    expect(corpusNotification('compute.instance.exists').event_type).toBe('compute.instance.exists');
    expect(() => corpusNotification('no.such.event')).toThrow(
      'the corpus holds no no.such.event notification',
    );
  });
});

describe('upstreamDatabase', () => {
  it('is UPSTREAM_DATABASE, else PostgreSQL with a server, else SQLite', () => {
    expect(upstreamDatabase({ UPSTREAM_DATABASE: 'sqlite', EVENT_STORE_URL: 'postgres://x' })).toBe('sqlite');
    expect(upstreamDatabase({ EVENT_STORE_URL: 'postgres://x' })).toBe('postgresql');
    expect(upstreamDatabase({})).toBe('sqlite');
    expect(() => upstreamDatabase({ UPSTREAM_DATABASE: 'mysql' })).toThrow(
      'UPSTREAM_DATABASE must be postgresql or sqlite, not mysql',
    );
  });
});

describe('canonicalEventBytes', () => {
  const topology = loadTopology(
    join(repoRoot, 'topologies', 'openstack-usage'),
    loadWinchesterConfig(undefined, {}),
  );
  const lines = corpusLines();
  const stored = (line: string) => {
    const outcome = topology.distill(line);
    if (outcome.kind !== 'event') return { copies: 0, bytes: 0 };
    const copies = topology.triggers.filter((t) => t.match(outcome.event)).length;
    return { copies, bytes: Buffer.byteLength(toCanonicalJson(outcome.event)) };
  };

  it("is an event's canonical JSON size, counted once per trigger that stores it", () => {
    const single = lines.find((l) => stored(l).copies === 1)!;
    expect(canonicalEventBytes(topology, [single])).toBe(stored(single).bytes);
    const unstored = lines.find((l) => stored(l).copies === 0)!;
    expect(canonicalEventBytes(topology, [single, unstored])).toBe(stored(single).bytes);
    expect(canonicalEventBytes(topology, [unstored])).toBeNaN();
  });

  it('counts an event stored by two triggers twice', () => {
    const usage = topology.triggers[0];
    const a = lines.find((l) => stored(l).copies === 1)!;
    const b = lines.find((l) => stored(l).copies === 1 && stored(l).bytes !== stored(a).bytes)!;
    const idOfA = (JSON.parse(a) as { message_id: string }).message_id;
    const onlyA = {
      ...usage,
      match: (e: WinchesterEvent) => (e.message_id === idOfA ? usage.match(e) : undefined),
    };
    const twoTriggers = { ...topology, triggers: [usage, onlyA] } as LoadedTopology;
    const mean = (2 * stored(a).bytes + stored(b).bytes) / 3;
    expect(canonicalEventBytes(twoTriggers, [a, b])).toBeCloseTo(mean, 9);
  });
});
