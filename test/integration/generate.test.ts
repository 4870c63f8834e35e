/** `winchester generate --produce`: generated notifications land on the notifications topic, keyed and in order. */
import { join } from 'node:path';
import { Command } from 'commander';
import { registerGenerate } from '../../src/cli/generate';
import { notificationKey } from '../../src/topology/records';
import { generateNotifications } from '../../src/generate';
import { createKafka } from '../../src/kafka/client';
import { testNamespace } from '../support/namespace';
import { repoRoot } from '../support/stack';

const ns = testNamespace();
const options = { seed: 'kafka', start: '2026-11-01T23:40:00Z', hours: 0.5, rate: 3, instances: 300 };

test('generate --produce writes exactly the generated notifications, each instance on one partition in order', async () => {
  const program = new Command().exitOverride();
  registerGenerate(program);
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await program.parseAsync(
      [
        'generate',
        '--rate',
        String(options.rate),
        '--hours',
        String(options.hours),
        '--seed',
        options.seed,
        '--start',
        options.start,
        '--instances',
        String(options.instances),
        '--produce',
        '-c',
        join(repoRoot, 'etc', 'winchester.yaml'),
        '-t',
        join(repoRoot, 'topologies', 'openstack-usage'),
        '--namespace',
        ns.prefix,
      ],
      { from: 'user' },
    );
  } finally {
    stderr.mockRestore();
  }
  const expected = [...generateNotifications(options)].map((n) => n.json);
  // The window crosses midnight: the end-of-day audit is in it.
  expect(expected.some((line) => line.includes('"audit_period_ending": "2026-11-02 00:00:00"'))).toBe(true);

  const kafka = createKafka(ns.settings, ns.prefix);
  const consumer = kafka.consumer({ groupId: `${ns.prefix}.read-back` });
  const received: { partition: number; key: string | null; value: string }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic: `${ns.prefix}.notifications`, fromBeginning: true });
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      received.push({ partition, key: message.key?.toString() ?? null, value: message.value!.toString() });
      if (received.length >= expected.length) done();
    },
  });
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, 30000).unref());
  await Promise.race([all, timeout]);
  await consumer.disconnect();

  expect(received).toHaveLength(expected.length);
  expect(received.map((r) => r.value).sort()).toEqual([...expected].sort());
  // Keyed as `winchester produce` keys them: one instance's notifications keep their order.
  const partitionOf = new Map<string, number>();
  const order = new Map<string, string[]>();
  for (const r of received) {
    expect(r.key).toBe(notificationKey(r.value));
    if (!r.key) continue;
    expect(partitionOf.get(r.key) ?? r.partition).toBe(r.partition);
    partitionOf.set(r.key, r.partition);
    order.set(r.key, [...(order.get(r.key) ?? []), r.value]);
  }
  for (const [key, values] of order) {
    expect(values).toEqual(expected.filter((line) => notificationKey(line) === key));
  }
});
