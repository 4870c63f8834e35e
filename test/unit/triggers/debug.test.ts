import { Writable } from 'node:stream';
import pino from 'pino';
import { WinchesterMetrics } from '../../../src/metrics/metrics';
import {
  logTriggerDebugging,
  MAX_REASON_LABELS,
  metricsListener,
  OTHER_REASON,
  reportTriggerDebugging,
} from '../../../src/metrics/trigger-debug';
import { triggerDebugger, triggerRuntime, TriggerDebugger } from '../../../src/triggers';
import { dt, event, trigger } from './helpers';

/*
 * debug_level as upstream's debugging.py: level 1 counts checks and passes per group (Match,
 * Fire), level 2 also each mismatch reason; the matcher exports them as labelled counters and
 * logs one line per trigger per statistics period.
 */
const base = {
  name: 'audit',
  expiration: '$first + 1d 2h',
  fire_pipeline: 'p',
  distinguished_by: ['instance_id'],
  match_criteria: [
    { event_type: ['compute.instance.*', '!compute.instance.exists'] },
    { event_type: 'compute.instance.exists', timestamp: 'day' },
  ],
  fire_criteria: [{ event_type: 'compute.instance.exists' }],
};

const feed = [
  event({ event_type: 'compute.instance.update', instance_id: 'i-1' }),
  // matched by no criterion: "Wrong event type" twice, then "No matching criteria"
  event({ event_type: 'image.upload' }),
  // the first criterion takes it, but it has no instance_id to group by
  event({ event_type: 'compute.instance.update' }),
  // the first criterion excludes it ("Wrong event type"), the second takes it
  event({
    event_type: 'compute.instance.exists',
    instance_id: 'i-1',
    timestamp: dt('2014-08-01T00:00:00Z'),
  }),
];

/** Sample values of one family, keyed by their labels as JSON. */
async function samples(metrics: WinchesterMetrics, name: string): Promise<Record<string, number>> {
  const family = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const out: Record<string, number> = {};
  for (const v of family?.values ?? []) {
    const { role: _role, ...labels } = v.labels;
    out[JSON.stringify(labels)] = v.value;
  }
  return out;
}

function capture(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ base: { role: 'matcher' } }, sink), lines };
}

describe('trigger debugging (debug_level)', () => {
  it('counts checks per group at level 1 and mismatch reasons per criterion at level 2', () => {
    const two = trigger({ ...base, debug_level: 2 });
    const one = trigger({ ...base, debug_level: 1 });
    const zero = trigger(base);
    for (const t of [two, one, zero]) {
      for (const e of feed) t.matchStream(e);
      t.shouldFire([0]);
      t.shouldFire([1]);
    }
    expect(two.debug.snapshot()).toEqual({
      trigger: 'audit',
      level: 2,
      groups: {
        Match: {
          checks: 9,
          passed: 2,
          reasons: {
            'Wrong event type': 4,
            'No matching criteria': 2,
            "not 'instance_id'": 1,
          },
        },
        Fire: { checks: 2, passed: 1, reasons: { 'Not enough matching criteria': 1 } },
      },
      counters: {},
    });
    expect(one.debug.snapshot().groups).toEqual({
      Match: { checks: 9, passed: 2, reasons: {} },
      Fire: { checks: 2, passed: 1, reasons: {} },
    });
    expect(zero.debug.snapshot().groups).toEqual({});
  });

  it('names "Not time yet." when a timestamp criterion leaves the event out', () => {
    const t = trigger({
      ...base,
      debug_level: 2,
      match_criteria: [{ event_type: 'compute.instance.exists', timestamp: 'day' }],
    });
    // `day` (the event's own day) contains its timestamp; a range from launched_at need not.
    const late = trigger({
      ...base,
      debug_level: 2,
      match_criteria: [
        { event_type: 'compute.instance.exists', timestamp: '$launched_at to $launched_at + 1d' },
      ],
    });
    const e = event({
      event_type: 'compute.instance.exists',
      instance_id: 'i-1',
      timestamp: dt('2014-08-03T00:00:00Z'),
      launched_at: dt('2014-08-01T10:00:00Z'),
    });
    expect(t.matchStream(e)).toBeDefined();
    expect(late.matchStream(e)).toBeUndefined();
    expect(late.debug.snapshot().groups.Match.reasons).toEqual({
      'Not time yet.': 1,
      'No matching criteria': 1,
    });
  });

  it('feeds listeners as counts happen; level 0 takes none', () => {
    const seen: string[] = [];
    const listener = {
      checked: (group: string, passed: boolean) => seen.push(`${group}:${passed}`),
      mismatched: (group: string, reason: string) => seen.push(`${group}!${reason}`),
      counted: (name: string, by: number) => seen.push(`${name}+${by}`),
    };
    const two = new TriggerDebugger('t', 2);
    const off = two.listen(listener);
    two.group('Match').mismatch('Wrong event type');
    two.group('Match').match();
    two.bump('Expiration errors');
    off();
    two.group('Match').match();
    expect(seen).toEqual(['Match:false', 'Match!Wrong event type', 'Match:true', 'Expiration errors+1']);

    const zero = new TriggerDebugger('z', 0);
    zero.listen(listener)();
    zero.bump('x');
    expect(seen).toHaveLength(4);
  });

  it('keeps the debugger on the runtime the matcher gets, also through a spread copy', () => {
    const t = trigger({ ...base, debug_level: 1 });
    const runtime = triggerRuntime(t);
    expect(triggerDebugger(runtime)).toBe(t.debug);
    expect(triggerDebugger({ ...runtime, firePipeline: 'other' })).toBe(t.debug);
    expect(triggerDebugger({ name: 'hand-made' })).toBeUndefined();
  });

  it('exports labelled counters: checks and passes per group, reasons at level 2, named counters', async () => {
    const metrics = new WinchesterMetrics('matcher');
    const two = trigger({ ...base, debug_level: 2 });
    const one = trigger({ ...base, name: 'quiet', debug_level: 1 });
    const zero = trigger({ ...base, name: 'off' });
    const reporting = reportTriggerDebugging([two, one, zero].map(triggerRuntime), {
      log: capture().log,
      metrics,
      periodMs: 60_000,
    });
    expect(reporting.debuggers.map((d) => d.trigger)).toEqual(['audit', 'quiet']);
    for (const t of [two, one, zero]) for (const e of feed) t.matchStream(e);
    two.debug.bump('Expiration errors', 2);

    expect(await samples(metrics, 'winchester_trigger_criteria_checks_total')).toEqual({
      '{"trigger":"audit","group":"Match"}': 9,
      '{"trigger":"quiet","group":"Match"}': 9,
    });
    expect(await samples(metrics, 'winchester_trigger_criteria_passed_total')).toEqual({
      '{"trigger":"audit","group":"Match"}': 2,
      '{"trigger":"quiet","group":"Match"}': 2,
    });
    expect(await samples(metrics, 'winchester_trigger_mismatches_total')).toEqual({
      '{"trigger":"audit","group":"Match","reason":"Wrong event type"}': 4,
      '{"trigger":"audit","group":"Match","reason":"No matching criteria"}': 2,
      '{"trigger":"audit","group":"Match","reason":"not \'instance_id\'"}': 1,
    });
    expect(await samples(metrics, 'winchester_trigger_debug_counts_total')).toEqual({
      '{"trigger":"audit","name":"Expiration errors"}': 2,
    });

    // Stopped: later checks are no longer exported.
    reporting.stop();
    two.matchStream(feed[0]);
    expect(
      (await samples(metrics, 'winchester_trigger_criteria_checks_total'))[
        '{"trigger":"audit","group":"Match"}'
      ],
    ).toBe(9);
  });

  it('bounds the reason labels of one trigger', async () => {
    const metrics = new WinchesterMetrics('matcher');
    const listener = metricsListener('t', metrics);
    for (let i = 0; i < MAX_REASON_LABELS + 5; i++)
      listener.mismatched('Match', `Time: day ${i} is out of range`);
    listener.mismatched('Match', 'Time: day 0 is out of range');
    const reasons = await samples(metrics, 'winchester_trigger_mismatches_total');
    expect(Object.keys(reasons)).toHaveLength(MAX_REASON_LABELS + 1);
    expect(reasons[JSON.stringify({ trigger: 't', group: 'Match', reason: OTHER_REASON })]).toBe(5);
    expect(
      reasons[JSON.stringify({ trigger: 't', group: 'Match', reason: 'Time: day 0 is out of range' })],
    ).toBe(2);
  });

  it('logs one structured line per trigger and period, reasons only at level 2, then restarts the counts', () => {
    const two = trigger({ ...base, debug_level: 2 });
    const one = trigger({ ...base, name: 'quiet', debug_level: 1 });
    for (const t of [two, one]) for (const e of feed) t.matchStream(e);
    const { log, lines } = capture();
    logTriggerDebugging([two.debug, one.debug], log);
    const picked = lines.map(({ role, trigger: name, debug_level, groups, counters, msg }) => ({
      role,
      trigger: name,
      debug_level,
      groups,
      counters,
      msg,
    }));
    expect(picked).toEqual([
      {
        role: 'matcher',
        trigger: 'audit',
        debug_level: 2,
        groups: {
          Match: {
            checks: 9,
            passed: 2,
            reasons: { 'Wrong event type': 4, 'No matching criteria': 2, "not 'instance_id'": 1 },
          },
        },
        counters: {},
        msg: 'trigger debug statistics',
      },
      {
        role: 'matcher',
        trigger: 'quiet',
        debug_level: 1,
        groups: { Match: { checks: 9, passed: 2 } },
        counters: {},
        msg: 'trigger debug statistics',
      },
    ]);
    expect(two.debug.snapshot().groups).toEqual({});
  });

  it('logs every statistics period while it runs', async () => {
    const t = trigger({ ...base, debug_level: 1 });
    const { log, lines } = capture();
    const reporting = reportTriggerDebugging([triggerRuntime(t)], { log, periodMs: 20 });
    t.matchStream(feed[0]);
    await new Promise((r) => setTimeout(r, 70));
    reporting.stop();
    const count = lines.length;
    expect(count).toBeGreaterThanOrEqual(2);
    expect(lines[0].groups).toEqual({ Match: { checks: 1, passed: 1 } });
    expect(lines[1].groups).toEqual({});
    await new Promise((r) => setTimeout(r, 50));
    expect(lines).toHaveLength(count);
  });
});
