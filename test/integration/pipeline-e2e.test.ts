import { join } from 'node:path';
import { ChildProcess } from 'node:child_process';
import { Kafka } from 'kafkajs';
import { notificationKey } from '../../src/topology/records';
import { isAvroRecord, topologyDecoders } from '../../src/topology/serialization';
import { END_OF_TIME } from '../../src/streams/simulate';
import { CompletionRecord } from '../../src/topology/worker-role';
import { testNamespace } from '../support/namespace';
import { advanceClock, produce, topologyFixture, waitFor } from '../support/topology-harness';
import { eventClockRoleEnv, groupLag, requireBuild, startRole, stopRole } from '../support/processes';
import { sampleCorpus } from '../support/corpus';
import { schemaRegistryUrl } from '../support/stack';

const repo = join(__dirname, '..', '..');
const topologyDir = join(repo, 'topologies', 'openstack-usage');
const corpus = sampleCorpus();
const ns = testNamespace();

async function readTopic(kafka: Kafka, topic: string): Promise<Buffer[]> {
  const values: Buffer[] = [];
  const consumer = kafka.consumer({ groupId: `${topic}.reader.${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let last = Date.now();
  await consumer.run({
    eachMessage: async ({ message }) => {
      values.push(message.value!);
      last = Date.now();
    },
  });
  await waitFor(() => Date.now() - last > 3000, 60000);
  await consumer.disconnect();
  return values;
}

describe('usage audit end to end on the real stack', () => {
  const processes: ChildProcess[] = [];
  afterAll(async () => {
    for (const p of processes) await stopRole(p);
  });

  test('one verdict per EOD .exists, survives a worker kill -9, and a replay adds none', async () => {
    requireBuild();
    const { kafka, settings } = await topologyFixture(ns, { clock: 'event' });
    const env = eventClockRoleEnv(ns);
    const args = ['-t', topologyDir, '--metrics-port', '0'];
    processes.push(startRole('distiller', args, env), startRole('matcher', args, env));
    const doomed = startRole('worker', args, env);
    processes.push(doomed, startRole('worker', args, env));
    const admin = kafka.admin();
    await admin.connect();
    const drained = async () =>
      (await groupLag(admin, `${ns.prefix}.distiller`, settings.inputTopics)) === 0 &&
      (await groupLag(admin, `${ns.prefix}.matcher`, [
        settings.topics.events,
        settings.topics.repartition,
      ])) === 0 &&
      (await groupLag(admin, `${ns.prefix}.worker`, [settings.topics.streams])) === 0;
    const messages = corpus.map((line) => ({ key: notificationKey(line), value: line }));
    await produce(kafka, settings.inputTopics[0], messages);
    await waitFor(drained, 180000);
    await advanceClock(kafka, settings, END_OF_TIME);
    // Kill one worker while the streams are being worked, start a replacement.
    await waitFor(
      async () => (await groupLag(admin, `${ns.prefix}.worker`, [settings.topics.streams])) > 0,
      30000,
    ).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    await stopRole(doomed, 'SIGKILL');
    processes.push(startRole('worker', args, env));
    await new Promise((r) => setTimeout(r, 2000));
    await waitFor(drained, 180000);

    // The role processes share the suite's schema registry: every record they write is Avro.
    const decoders = topologyDecoders(schemaRegistryUrl());
    const completed = await readTopic(kafka, settings.topics.completed);
    expect(completed.every(isAvroRecord)).toBe(true);
    expect((await readTopic(kafka, settings.topics.streams)).every(isAvroRecord)).toBe(true);
    const completions: CompletionRecord[] = [];
    for (const value of completed) completions.push(await decoders.completions.decode(value));
    const byStream = new Map<string, Set<string>>();
    for (const c of completions) {
      const set = byStream.get(c.stream_id) ?? new Set<string>();
      set.add(JSON.stringify(c));
      byStream.set(c.stream_id, set);
    }
    // Every stream ended once: repeated announcements of one ending are identical.
    for (const versions of byStream.values()) expect(versions.size).toBe(1);
    const ended = [...byStream.values()].map((s) => JSON.parse([...s][0]) as CompletionRecord);
    expect(ended.filter((c) => c.kind === 'fired').length).toBe(517);
    expect(ended.filter((c) => c.kind === 'expired').length).toBe(116);
    expect(ended.every((c) => c.outcome === 'completed')).toBe(true);

    const verdictsOf = async () => {
      const verdicts = new Map<string, Set<string>>();
      for (const value of await readTopic(kafka, settings.topics.events)) {
        expect(isAvroRecord(value)).toBe(true);
        const event = await decoders.events.decode(value);
        if (!/^compute\.instance\.exists\.(verified|failed)$/.test(event.event_type) || !event.hops) continue;
        const original = String(event.traits.original_message_id?.value);
        const ids = verdicts.get(original) ?? new Set<string>();
        ids.add(event.message_id);
        verdicts.set(original, ids);
      }
      return verdicts;
    };
    const verdicts = await verdictsOf();
    expect(verdicts.size).toBe(517);
    for (const ids of verdicts.values()) expect(ids.size).toBe(1);

    // Replaying the same corpus: every message_id is known, nothing new fires, no new verdict id.
    await produce(kafka, settings.inputTopics[0], messages);
    await new Promise((r) => setTimeout(r, 2000));
    await waitFor(drained, 180000);
    const again = await verdictsOf();
    expect([...again.entries()].map(([k, v]) => [k, [...v]]).sort()).toEqual(
      [...verdicts.entries()].map(([k, v]) => [k, [...v]]).sort(),
    );
    await admin.disconnect();
  });
});
