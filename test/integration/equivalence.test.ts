import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildProcess } from 'node:child_process';
import { Admin, Kafka } from 'kafkajs';
import { loadWinchesterConfig } from '../../src/config/winchester-config';
import { notificationKey } from '../../src/topology/records';
import { END_OF_TIME, Simulation, streamSummary } from '../../src/streams/simulate';
import { loadTopology } from '../../src/topology/bundle';
import { readBundleFiles } from '../../src/topology/versions/bundle-record';
import { appendVersion, readToEnd, readVersionState } from '../../src/topology/versions/version-log';
import { InstanceStatus, instancesTopic } from '../../src/topology/versions/instances';
import { TopologySettings } from '../../src/config/topology-settings';
import { testNamespace, TestNamespace } from '../support/namespace';
import { advanceClock, collectStreams, produce, topologyFixture, waitFor } from '../support/topology-harness';
import { eventClockRoleEnv, groupLag, requireBuild, startRole, stopRole } from '../support/processes';
import { sampleCorpus } from '../support/corpus';

const repo = join(__dirname, '..', '..');
const topologyDir = join(repo, 'topologies', 'openstack-usage');
const corpus = sampleCorpus();
const summaryKey = (s: ReturnType<typeof streamSummary>) => JSON.stringify(s);

/** `simulate --clock event --drain`, with bundle `changes[k]` applied as version k + 1 before notification `at[k]`. */
async function simulated(changes: { at: number; dir: string }[] = []): Promise<string[]> {
  const config = loadWinchesterConfig(undefined, {});
  let topology = loadTopology(topologyDir, config);
  const simulation = new Simulation(topology.triggers, 'event');
  for (const [index, line] of corpus.entries()) {
    for (const change of changes.filter((c) => c.at === index)) {
      topology = loadTopology(change.dir, config);
      await simulation.changeTriggers(topology.triggers);
    }
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

/*
 * Live changes. The matchers run in this process, each with its own topology follower (as a
 * matcher process has), so that versions reach them through `<namespace>.topology` exactly as
 * `winchester topology apply` sends them; the distiller is a process. Version 1 lengthens the
 * usage audit's expiration and adds a trigger; version 2 removes that trigger and rewrites the
 * audit's day grouping (the same days: the same stream keys, another distinguished_by).
 */
describe('with two live topology changes, the real topology equals `simulate --changes`', () => {
  const root = mkdtempSync(join(tmpdir(), 'winchester-equivalence-'));
  const triggersText = readFileSync(join(topologyDir, 'triggers.yaml'), 'utf8');
  const bundle = (name: string, triggers: string) => {
    const dir = join(root, name);
    cpSync(topologyDir, dir, { recursive: true });
    writeFileSync(join(dir, 'triggers.yaml'), triggers);
    return dir;
  };
  const newTrigger = [
    '- name: instance_deletes',
    '  distinguished_by: [instance_id]',
    '  expiration: "$last + 2h"',
    '  fire_pipeline: usage_missing_exists',
    '  match_criteria: [{event_type: compute.instance.delete.*}]',
    '  fire_criteria: [{event_type: compute.instance.delete.end}]',
    '',
  ].join('\n');
  const changes = [
    {
      at: Math.floor(corpus.length / 3),
      dir: bundle('v1', triggersText.replace('"$first + 1d 2h"', '"$first + 1d 3h"') + newTrigger),
    },
    {
      at: Math.floor((2 * corpus.length) / 3),
      dir: bundle('v2', triggersText.replace('- timestamp: day', '- timestamp: "day + 0h"')),
    },
  ];
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test('3 partitions, 2 matchers each following the topology, a distiller process (event clock)', async () => {
    requireBuild();
    const expected = await simulated(changes);
    for (const version of [1, 2])
      expect(expected.some((s) => s.includes(`"trigger_version":${version}`))).toBe(true);
    const records = await replayWithChanges(testNamespace(), changes);
    const distinct = new Map(records.map((r) => [r.stream_id, r]));
    expect([...distinct.values()].map(streamSummary).map(summaryKey).sort()).toEqual(expected);
  });
});

async function replayWithChanges(ns: TestNamespace, changes: { at: number; dir: string }[]) {
  const { kafka, settings } = await topologyFixture(ns, { clock: 'event' });
  const config = loadWinchesterConfig(undefined, { WINCHESTER_NAMESPACE: ns.prefix });
  const args = ['-t', topologyDir, '--metrics-port', '0'];
  const roles = [
    startRole('distiller', args, eventClockRoleEnv(ns)),
    startRole('matcher', args, eventClockRoleEnv(ns)),
    startRole('matcher', args, eventClockRoleEnv(ns)),
  ];
  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitFor(async () => (await runningVersions(kafka, ns)).length === roles.length, 60000);
    const messages = corpus.map((line) => ({ key: notificationKey(line), value: line }));
    const bounds = [0, ...changes.map((c) => c.at), corpus.length];
    for (let part = 0; part + 1 < bounds.length; part++) {
      if (part > 0) {
        // Every notification before the change is routed (stage 1) before it is applied.
        await waitFor(() => routed(admin, ns, settings), 180000);
        const dir = changes[part - 1].dir;
        const files = readBundleFiles(dir, config);
        await appendVersion(kafka, ns.prefix, await readVersionState(kafka, ns.prefix), {
          files,
          source: dir,
        });
        // `topology status`'s source: every role process reports the version it now runs.
        await waitFor(async () => (await runningVersions(kafka, ns)).every((v) => v === part), 15000);
      }
      await produce(kafka, settings.inputTopics[0], messages.slice(bounds[part], bounds[part + 1]));
    }
    const drained = async () =>
      (await routed(admin, ns, settings)) &&
      (await groupLag(admin, `${ns.prefix}.matcher`, [settings.topics.repartition])) === 0;
    await waitFor(drained, 180000);
    await advanceClock(kafka, settings, END_OF_TIME);
    await new Promise((r) => setTimeout(r, 1000));
    await waitFor(drained, 120000);
    return await collectStreams(kafka, settings.topics.streams, () => false, 8000);
  } finally {
    await admin.disconnect();
    for (const role of roles) await stopRole(role);
  }
}

/** The version each running role process reports (what `winchester topology status` reads). */
async function runningVersions(kafka: Kafka, ns: TestNamespace): Promise<number[]> {
  const latest = new Map<string, InstanceStatus | null>();
  await readToEnd(kafka, ns.prefix, instancesTopic(ns.prefix), (message) =>
    latest.set(
      message.key!.toString(),
      message.value ? (JSON.parse(message.value.toString()) as InstanceStatus) : null,
    ),
  );
  return [...latest.values()].filter((i): i is InstanceStatus => i !== null).map((i) => i.version);
}

/** The distiller has read every notification and the matcher's stage 1 every event so far. */
async function routed(admin: Admin, ns: TestNamespace, settings: TopologySettings): Promise<boolean> {
  return (
    (await groupLag(admin, `${ns.prefix}.distiller`, settings.inputTopics)) === 0 &&
    (await groupLag(admin, `${ns.prefix}.matcher`, [settings.topics.events])) === 0
  );
}
