import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Kafka, KafkaMessage } from 'kafkajs';
import { loadEventDefinitions } from '../../src/distiller';
import { decodeEvent } from '../../src/events/wire';
import { formatDlqList, formatDlqShow, formatRedrive } from '../../src/cli/dlq';
import { listDlq, redriveDlq, REDRIVE_HEADERS, showDlq } from '../../src/ops/dlq';
import { scanTopics } from '../../src/ops/scan';
import { DistillerRole, startDistiller } from '../../src/topology/distiller-role';
import { headerString } from '../../src/topology/records';
import { TopologySettings } from '../../src/config/topology-settings';
import { testNamespace } from '../support/namespace';
import { produce, topologyFixture, waitFor } from '../support/topology-harness';

const ns = testNamespace();

/** The same definitions twice: `flavor` as an int (wrong: instance types are names) and as text. */
const definitions = (flavorType: 'int' | 'text') => `---
- event_type: compute.instance.*
  traits:
    instance_id:
      fields: payload.instance_id
    flavor:
      type: ${flavorType}
      fields: payload.instance_type
`;

const notification = (messageId: string, payload: Record<string, unknown>) =>
  JSON.stringify({
    message_id: messageId,
    event_type: 'compute.instance.update',
    timestamp: '2026-11-01 10:00:00.123456',
    publisher_id: 'compute.host-1',
    payload,
  });

async function readAll(kafka: Kafka, topic: string): Promise<KafkaMessage[]> {
  const messages: KafkaMessage[] = [];
  await scanTopics(kafka, [topic], {}, (_t, _p, m) => void messages.push(m), ns.prefix);
  return messages;
}

describe('dlq list, show and redrive on the real broker and Redis', () => {
  const dir = mkdtempSync(join(tmpdir(), 'winchester-dlq-'));
  const redis = new Redis(ns.settings.redisUrl);
  let kafka: Kafka;
  let settings: TopologySettings;
  let role: DistillerRole | undefined;

  const runDistiller = async (flavorType: 'int' | 'text') => {
    const file = join(dir, `event_definitions.${flavorType}.yaml`);
    writeFileSync(file, definitions(flavorType));
    const distiller = loadEventDefinitions(file);
    role = await startDistiller(kafka, settings, (text) => distiller.outcome(text));
    return role;
  };

  beforeAll(async () => {
    ({ kafka, settings } = await topologyFixture(ns));
    const bad = await runDistiller('int');
    await produce(kafka, settings.inputTopics[0], [
      { key: 'i-1', value: notification('fine-1', { instance_id: 'i-1' }) },
      { key: 'i-2', value: notification('needs-fix', { instance_id: 'i-2', instance_type: 'm1.small' }) },
      { key: null, value: '{"message_id": "broken", ' },
      { key: null, value: Buffer.from([0xff, 0xfe, 0x00, 0x1b]) },
    ]);
    await waitFor(
      () => bad.counters.consumed >= 4 && [...bad.counters.dlq.values()].reduce((a, b) => a + b) >= 3,
    );
  });
  afterAll(async () => {
    await role?.stop();
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  test('list, filter by reason, show JSON and binary payloads', async () => {
    const all = await listDlq(kafka, settings, { redis });
    expect(all.records.map((r) => r.category).sort()).toEqual(['conversion', 'invalid-json', 'invalid-json']);
    expect(all.scan.complete).toBe(true);
    for (const r of all.records) {
      expect(r.stage).toBe('notifications');
      expect(r.source?.topic).toBe(settings.inputTopics[0]);
      expect(r.source?.offset).toMatch(/^\d+$/);
      expect(r.redriven).toBeNull();
    }

    const conversion = await listDlq(kafka, settings, { filter: { reason: 'CONVERSION' } });
    expect(conversion.records).toHaveLength(1);
    const [record] = conversion.records;
    expect(record).toMatchObject({
      messageId: 'needs-fix',
      key: 'i-2',
      eventType: 'compute.instance.update',
    });
    expect(record.reason).toContain('flavor');
    expect((await listDlq(kafka, settings, { filter: { messageId: 'needs-fix' } })).records).toHaveLength(1);
    expect((await listDlq(kafka, settings, { topic: 'events' })).records).toHaveLength(0);
    const newest = await listDlq(kafka, settings, { limit: 1 });
    expect(newest).toMatchObject({ matched: 3 });
    expect(newest.records).toHaveLength(1);
    expect(formatDlqList(newest).at(-1)).toMatch(/^1 newest of 3 matching records/);

    const shown = await showDlq(kafka, settings, record.coordinates);
    expect(shown?.payload.json).toMatchObject({
      message_id: 'needs-fix',
      payload: { instance_type: 'm1.small' },
    });
    const text = formatDlqShow(shown!).join('\n');
    expect(text).toContain('"instance_type": "m1.small"');
    expect(text).toContain(`dlq.source.topic: ${settings.inputTopics[0]}`);

    const binary = all.records.find((r) => r.bytes === 4)!;
    expect(binary.messageId).toBeNull();
    const raw = await showDlq(kafka, settings, `notifications:${binary.partition}:${binary.offset}`);
    expect(raw?.payload).toMatchObject({ bytes: 4, utf8: false, preview: '\\xff\\xfe\\x00\\x1b' });
    expect(formatDlqShow(raw!).join('\n')).toContain('payload (4 bytes, not JSON, not UTF-8, escaped)');
    expect(await showDlq(kafka, settings, 'notifications:0:9999')).toBeNull();
  });

  test('a fixed configuration distils the redriven record; a second redrive sends nothing', async () => {
    await role!.stop();
    // The same consumer group: the fixed distiller continues after the records already handled.
    const fixed = await runDistiller('text');

    await expect(redriveDlq(kafka, redis, settings, {})).rejects.toThrow(/choose what to redrive/);
    const first = await redriveDlq(kafka, redis, settings, { filter: { reason: 'conversion' } });
    expect(first.counts).toEqual({ redriven: 1, 'would-redrive': 0, skipped: 0, failed: 0 });
    const target = first.outcomes[0].target!;
    const dlqRecord = (await listDlq(kafka, settings, { filter: { reason: 'conversion' } })).records[0];
    expect(target.topic).toBe(settings.inputTopics[0]);
    expect(target.partition).toBe(dlqRecord.source!.partition);
    expect(formatRedrive(first, false).at(-1)).toBe('1 redriven, 0 skipped, 0 failed');

    await waitFor(() => fixed.counters.distilled >= 1, 30000);
    const events = (await readAll(kafka, settings.topics.events))
      .map((m) => ({ m, event: decodeEvent(m.value!.toString()) }))
      .filter(({ event }) => event.message_id === 'needs-fix');
    expect(events).toHaveLength(1);
    expect(events[0].event.traits.flavor).toEqual({ type: 'text', value: 'm1.small' });
    expect(headerString(events[0].m.headers, 'winchester.source')).toBe(
      `${target.topic}/${target.partition}/${target.offset}`,
    );

    const again = await redriveDlq(kafka, redis, settings, { filter: { messageId: 'needs-fix' } });
    expect(again.counts).toMatchObject({ redriven: 0, skipped: 1 });
    expect(again.outcomes[0].detail).toMatch(/already redriven .* to .*; --force/);
    const forced = await redriveDlq(kafka, redis, settings, {
      filter: { offsets: [{ partition: dlqRecord.partition, offset: dlqRecord.offset }] },
      force: true,
      dryRun: true,
    });
    expect(forced.counts).toMatchObject({ 'would-redrive': 1, redriven: 0 });
    const everything = await redriveDlq(kafka, redis, settings, { all: true, dryRun: true });
    expect(everything.counts).toMatchObject({ 'would-redrive': 2, skipped: 1 });

    // Exactly one copy went back, marked with the DLQ record it came from.
    const redriven = (await readAll(kafka, settings.inputTopics[0])).filter((m) =>
      headerString(m.headers, REDRIVE_HEADERS.from),
    );
    expect(redriven.map((m) => headerString(m.headers, REDRIVE_HEADERS.from))).toEqual([
      dlqRecord.coordinates,
    ]);
    expect(headerString(redriven[0].headers, REDRIVE_HEADERS.reason)).toBe(dlqRecord.reason);
    expect(redriven[0].key?.toString()).toBe('i-2');

    const listed = await listDlq(kafka, settings, { filter: { messageId: 'needs-fix' }, redis });
    expect(listed.records[0].redriven).toMatchObject({ state: 'sent', target });
    expect(fixed.counters.dlq.size).toBe(0);
  });
});
