import { join } from 'node:path';
import { Simulation, streamSummary } from '../../../src/streams/simulate';
import { parseIso8601 } from '../../../src/time/micros';
import { loadTriggerDefinitions, triggerRuntime } from '../../../src/triggers';
import { dt, event } from './helpers';

/*
 * The trigger language driving the stream engine (in-process, event clock): this project's
 * openstack-usage trigger groups a day of an instance's events, fires the day on its
 * end-of-day .exists (mapped to the day it audits), and expires a day that never gets one.
 */
describe('trigger runtime in the stream engine', () => {
  const file = join(__dirname, '..', '..', '..', 'topologies', 'openstack-usage', 'triggers.yaml');
  const { triggers } = loadTriggerDefinitions(file);
  const runtime = triggerRuntime(triggers[0]);

  it('exposes the definition as the engine expects', () => {
    expect(runtime.name).toBe('nova_usage_audit');
    expect([runtime.firePipeline, runtime.expirePipeline]).toEqual(['usage_audit', 'usage_missing_exists']);
    expect(runtime.fireCriteriaCount).toBe(1);
    expect(runtime.fireDelaySeconds).toBe(0);
    const first = parseIso8601('2014-08-01T10:00:00Z')!;
    expect(runtime.expiration(first, first + 1, 0)).toBe(parseIso8601('2014-08-02T12:00:00Z'));
  });

  it('fires a day on its .exists and expires a day without one', async () => {
    const simulation = new Simulation([runtime], 'event');
    const day = (id: string, type: string, at: string, extra = {}) =>
      event({
        event_type: type,
        instance_id: id,
        timestamp: dt(at),
        message_id: `${id}-${type}-${at}`,
        ...extra,
      });
    const feed = [
      day('i-1', 'compute.instance.create.start', '2014-08-01T10:00:00Z'),
      day('i-1', 'compute.instance.create.end', '2014-08-01T10:01:00Z'),
      day('i-2', 'compute.instance.create.end', '2014-08-01T11:00:00Z'),
      // not matched: audit output must not join streams
      day('i-1', 'compute.instance.exists.verified', '2014-08-01T12:00:00Z'),
      day('i-1', 'compute.instance.exists', '2014-08-02T00:05:00Z', {
        audit_period_beginning: dt('2014-08-01T00:00:00Z'),
        audit_period_ending: dt('2014-08-02T00:00:00Z'),
      }),
      // the next day of i-1 is a stream of its own
      day('i-1', 'compute.instance.update', '2014-08-02T08:00:00Z'),
      // no instance_id: cannot be distinguished, so it is not matched
      event({
        event_type: 'compute.instance.update',
        timestamp: dt('2014-08-02T09:00:00Z'),
        message_id: 'anon',
      }),
    ];
    for (const e of feed) await simulation.push(e);
    await simulation.advance(parseIso8601('2014-08-04T00:00:00Z')!);
    const summaries = simulation.records.map(streamSummary);
    expect(summaries).toEqual([
      {
        kind: 'fired',
        trigger: 'nova_usage_audit',
        pipeline: 'usage_audit',
        distinguished_by: {
          instance_id: 'i-1',
          timestamp: { begin: '2014-08-01T00:00:00.000000Z', end: '2014-08-02T00:00:00.000000Z' },
        },
        message_ids: [
          'i-1-compute.instance.create.start-2014-08-01T10:00:00Z',
          'i-1-compute.instance.create.end-2014-08-01T10:01:00Z',
          'i-1-compute.instance.exists-2014-08-02T00:05:00Z',
        ],
      },
      {
        kind: 'expired',
        trigger: 'nova_usage_audit',
        pipeline: 'usage_missing_exists',
        distinguished_by: {
          instance_id: 'i-2',
          timestamp: { begin: '2014-08-01T00:00:00.000000Z', end: '2014-08-02T00:00:00.000000Z' },
        },
        message_ids: ['i-2-compute.instance.create.end-2014-08-01T11:00:00Z'],
      },
      {
        kind: 'expired',
        trigger: 'nova_usage_audit',
        pipeline: 'usage_missing_exists',
        distinguished_by: {
          instance_id: 'i-1',
          timestamp: { begin: '2014-08-02T00:00:00.000000Z', end: '2014-08-03T00:00:00.000000Z' },
        },
        message_ids: ['i-1-compute.instance.update-2014-08-02T08:00:00Z'],
      },
    ]);
    expect(simulation.unmatched).toBe(2);
  });
});
