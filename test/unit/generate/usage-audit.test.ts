/** A generated 30-hour corpus through the openstack-usage topology, in one process under the event clock. */
import { join } from 'node:path';
import pino from 'pino';
import { loadWinchesterConfig } from '../../../src/config/winchester-config';
import { WinchesterEvent } from '../../../src/events/event';
import { generateNotifications } from '../../../src/generate';
import { DEFAULT_CORE_FIELDS, UsageHandler } from '../../../src/pipeline/handlers/usage';
import { END_OF_TIME, Simulation } from '../../../src/streams/simulate';
import { StreamRecord } from '../../../src/streams/model';
import { loadTopology } from '../../../src/topology/bundle';

const topologyDir = join(__dirname, '..', '..', '..', 'topologies', 'openstack-usage');

test('the end-of-day .exists fire usage_audit streams, and the usage handler verifies most of them', async () => {
  const topology = loadTopology(topologyDir, loadWinchesterConfig(undefined, {}));
  const simulation = new Simulation(topology.triggers, 'event');
  let notifications = 0;
  for (const n of generateNotifications({
    seed: 'audit',
    start: '2026-11-01T00:05:00Z',
    hours: 30,
    rate: 0.2,
    instances: 200,
  })) {
    notifications++;
    const outcome = topology.distill(n.json);
    if (outcome.kind === 'error') throw new Error(`${outcome.reason}: ${n.json.slice(0, 200)}`);
    if (outcome.kind === 'event') await simulation.push(outcome.event);
  }
  await simulation.advance(END_OF_TIME);
  expect(notifications).toBeGreaterThan(19000);

  const fired = simulation.records.filter((r: StreamRecord) => r.kind === 'fired');
  expect(fired.every((r) => r.pipeline === 'usage_audit')).toBe(true);
  // About one per instance for the day that ended at midnight, plus the mid-day .exists of resizes
  // and rebuilds.
  expect(fired.length).toBeGreaterThan(180);

  const handler = new UsageHandler(DEFAULT_CORE_FIELDS, pino({ level: 'silent' }));
  const verdicts = { verified: 0, failed: 0 };
  for (const record of fired) {
    const env = {
      stream_id: record.stream_id,
      stream_name: record.trigger,
      state_serial: 1,
      trigger: record.trigger,
    };
    const out = handler.handleEvents(record.events, { ...env, kind: 'fired' }) as WinchesterEvent[];
    for (const event of out.slice(record.events.length)) {
      if (event.event_type === 'compute.instance.exists.verified') verdicts.verified++;
      else if (event.event_type === 'compute.instance.exists.failed') verdicts.failed++;
    }
  }
  expect(verdicts.verified + verdicts.failed).toBeGreaterThanOrEqual(fired.length);
  expect(verdicts.verified / (verdicts.verified + verdicts.failed)).toBeGreaterThan(0.9);
});
