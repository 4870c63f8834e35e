import { join } from 'node:path';
import { ChildProcess } from 'node:child_process';
import { loadWinchesterConfig } from '../../src/config/winchester-config';
import { notificationKey } from '../../src/topology/records';
import { END_OF_TIME, Simulation, streamSummary } from '../../src/streams/simulate';
import { loadTopology } from '../../src/topology/bundle';
import { testNamespace, TestNamespace } from '../support/namespace';
import { advanceClock, collectStreams, produce, topologyFixture, waitFor } from '../support/topology-harness';
import { eventClockRoleEnv, groupLag, requireBuild, startRole, stopRole } from '../support/processes';
import { sampleCorpus } from '../support/corpus';

const repo = join(__dirname, '..', '..');
const topologyDir = join(repo, 'topologies', 'openstack-usage');
const corpus = sampleCorpus();
const summaryKey = (s: ReturnType<typeof streamSummary>) => JSON.stringify(s);

async function simulated(): Promise<string[]> {
  const topology = loadTopology(topologyDir, loadWinchesterConfig(undefined, {}));
  const simulation = new Simulation(topology.triggers, 'event');
  for (const line of corpus) {
    const outcome = topology.distill(line);
    if (outcome.kind === 'event') await simulation.push(outcome.event);
  }
  await simulation.advance(END_OF_TIME);
  return simulation.records.map(streamSummary).map(summaryKey).sort();
}

/** Replays the corpus through real distiller and matcher processes; `disturb` runs mid-replay. */
async function replay(
  ns: TestNamespace,
  disturb: (matchers: ChildProcess[], env: NodeJS.ProcessEnv) => Promise<void>,
) {
  const { kafka, settings } = await topologyFixture(ns, { clock: 'event' });
  const env = eventClockRoleEnv(ns);
  const args = ['-t', topologyDir, '--metrics-port', '0'];
  const processes: ChildProcess[] = [startRole('distiller', args, env)];
  const matchers = [startRole('matcher', args, env)];
  processes.push(matchers[0]);
  const admin = kafka.admin();
  await admin.connect();
  try {
    await produce(
      kafka,
      settings.inputTopics[0],
      corpus.map((line) => ({ key: notificationKey(line), value: line })),
    );
    await disturb(matchers, env);
    processes.push(...matchers.slice(1));
    const drained = async () =>
      (await groupLag(admin, `${ns.prefix}.distiller`, settings.inputTopics)) === 0 &&
      (await groupLag(admin, `${ns.prefix}.matcher`, [
        settings.topics.events,
        settings.topics.repartition,
      ])) === 0;
    await waitFor(drained, 180000);
    await advanceClock(kafka, settings, END_OF_TIME);
    await new Promise((r) => setTimeout(r, 1000));
    await waitFor(drained, 120000);
    const records = await collectStreams(kafka, settings.topics.streams, () => false, 8000);
    return { records, matchers };
  } finally {
    await admin.disconnect();
    for (const p of processes) await stopRole(p);
  }
}

describe('the real topology equals `simulate --clock event --drain` on the sample corpus', () => {
  let expected: string[];
  beforeAll(async () => {
    requireBuild();
    expected = await simulated();
  });

  test('3 partitions, 2 matcher processes, the second joining mid-run', async () => {
    const { records } = await replay(testNamespace(), async (matchers, env) => {
      await new Promise((r) => setTimeout(r, 1500));
      matchers.push(startRole('matcher', ['-t', topologyDir, '--metrics-port', '0'], env));
    });
    const distinct = new Map(records.map((r) => [r.stream_id, r]));
    expect(expected.length).toBeGreaterThan(600);
    expect([...distinct.values()].map(streamSummary).map(summaryKey).sort()).toEqual(expected);
    // A re-emitted record repeats one stream; it never makes a second stream of the same events.
    const placed = [...distinct.values()].flatMap((r) => r.events.map((e) => e.message_id));
    expect(new Set(placed).size).toBe(placed.length);
  });

  test('kill -9 of a matcher mid-run and a restart: the same streams as without the crash', async () => {
    const { records } = await replay(testNamespace(), async (matchers, env) => {
      matchers.push(startRole('matcher', ['-t', topologyDir, '--metrics-port', '0'], env));
      await new Promise((r) => setTimeout(r, 2500));
      await stopRole(matchers[0], 'SIGKILL');
      matchers.push(startRole('matcher', ['-t', topologyDir, '--metrics-port', '0'], env));
    });
    const distinct = new Map(records.map((r) => [r.stream_id, r]));
    expect([...distinct.values()].map(streamSummary).map(summaryKey).sort()).toEqual(expected);
  });
});
