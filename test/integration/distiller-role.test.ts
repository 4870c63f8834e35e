import { join } from 'node:path';
import { loadEventDefinitions } from '../../src/distiller';
import { decodeEvent } from '../../src/events/wire';
import { headerString } from '../../src/topology/records';
import { startDistiller, DistillerRole } from '../../src/topology/distiller-role';
import { testNamespace } from '../support/namespace';
import { sampleCorpus } from '../support/corpus';
import { produce, topologyFixture, waitFor } from '../support/topology-harness';
import { readTopic } from '../support/read-topic';

const ns = testNamespace();
const repo = join(__dirname, '..', '..');

describe('distiller role on the real broker', () => {
  let role: DistillerRole | undefined;
  afterAll(async () => role?.stop());

  test('bad input goes to the DLQ with its reason; good input keeps flowing', async () => {
    const { kafka, settings } = await topologyFixture(ns, { maxRecordBytes: 256 * 1024 });
    const distiller = loadEventDefinitions(join(repo, 'topologies', 'example', 'event_definitions.yaml'));
    role = await startDistiller(kafka, settings, (text) => distiller.outcome(text));
    const corpus = sampleCorpus().slice(0, 300);
    const base = JSON.parse(corpus[0]) as Record<string, unknown> & { payload: Record<string, unknown> };
    const bad = [
      { why: 'invalid-json', value: '{"event_type": "compute.instance.update", ' },
      { why: 'invalid-notification', value: JSON.stringify({ ...base, message_id: undefined }) },
      {
        why: 'conversion',
        value: JSON.stringify({
          ...base,
          message_id: 'bad-int',
          payload: { ...base.payload, memory_mb: 'lots' },
        }),
      },
      {
        why: 'oversized',
        value: JSON.stringify({
          ...base,
          message_id: 'huge',
          payload: { ...base.payload, tenant_id: 'x'.repeat(300 * 1024) },
        }),
      },
      { why: 'invalid-json', value: Buffer.from([0xff, 0xfe, 0x00]).toString('latin1') },
    ];
    const hostile = JSON.stringify({ ...base, message_id: 'proto' }).replace(
      '"payload": {',
      '"payload": {"__proto__": {"polluted": 1}, ',
    );
    const messages = [...corpus.slice(0, 150), ...bad.map((b) => b.value), hostile, ...corpus.slice(150)].map(
      (value) => ({ value }),
    );
    await produce(kafka, settings.inputTopics[0], messages);
    await waitFor(() => role!.counters.consumed >= messages.length, 60000);

    const dlq = await readTopic(kafka, settings.topics.notificationsDlq, bad.length);
    const reasons = dlq.map((m) => headerString(m.headers, 'dlq.reason')!);
    for (const { why } of bad) expect(reasons.some((r) => r.startsWith(why))).toBe(true);
    expect(reasons).toHaveLength(bad.length);
    for (const m of dlq) {
      expect(headerString(m.headers, 'dlq.source.topic')).toBe(settings.inputTopics[0]);
      expect(headerString(m.headers, 'dlq.source.offset')).toMatch(/^\d+$/);
      expect(headerString(m.headers, 'dlq.source.partition')).toMatch(/^[0-2]$/);
    }
    const conversion = dlq.find((m) => headerString(m.headers, 'dlq.reason')!.startsWith('conversion'))!;
    expect(headerString(conversion.headers, 'dlq.message-id')).toBe('bad-int');
    expect(headerString(conversion.headers, 'dlq.trait')).toBe('memory_mb');

    // Everything else was distilled or dropped by definition; the prototype stayed clean.
    expect(role.counters.distilled + role.counters.dropped).toBe(messages.length - bad.length);
    const events = await readTopic(kafka, settings.topics.events, role.counters.distilled);
    expect(events.map((m) => decodeEvent(m.value!.toString()).message_id)).toContain('proto');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
