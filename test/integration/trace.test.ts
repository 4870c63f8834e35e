import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Kafka } from 'kafkajs';
import { formatTrace } from '../../src/cli/trace';
import { loadWinchesterConfig } from '../../src/config/winchester-config';
import { traceMessage, TraceContext } from '../../src/ops/trace';
import { findStreams } from '../../src/redis/query';
import { loadTopology } from '../../src/topology/bundle';
import { DistillerRole, startDistiller } from '../../src/topology/distiller-role';
import { MatcherRole, startMatcher } from '../../src/topology/matcher-role';
import { TopologySettings } from '../../src/config/topology-settings';
import { loadTriggerRuntimes } from '../../src/topology/trigger-adapter';
import { startWorker } from '../../src/topology/worker-role';
import { testNamespace } from '../support/namespace';
import { produce, topologyFixture, waitFor } from '../support/topology-harness';

const ns = testNamespace();

const EVENT_DEFINITIONS = `---
- event_type: compute.instance.*
  traits:
    instance_id:
      fields: payload.instance_id
    state:
      fields: payload.state
    memory_mb:
      type: int
      fields: payload.memory_mb
`;

const TRIGGERS = `---
- name: instance_usage
  distinguished_by:
  - instance_id
  expiration: "$last + 1h"
  fire_pipeline: done
  expire_pipeline: done
  match_criteria:
  - event_type: compute.instance.*
    traits:
      state: active
  fire_criteria:
  - event_type: compute.instance.exists
- name: big_instances
  distinguished_by:
  - instance_id
  expiration: "$last + 1h"
  fire_pipeline: done
  match_criteria:
  - event_type: compute.instance.create.end
    traits:
      memory_mb:
        int: "> 4096"
  fire_criteria:
  - event_type: compute.instance.delete.end
`;

const PIPELINES = `---
done:
  - logger
`;

type Worker = Awaited<ReturnType<typeof startWorker>>;

describe('trace on the real broker and Redis', () => {
  const dir = mkdtempSync(join(tmpdir(), 'winchester-trace-'));
  const redis = new Redis(ns.settings.redisUrl);
  let kafka: Kafka;
  let settings: TopologySettings;
  let ctx: TraceContext;
  let distiller: DistillerRole;
  let matcher: MatcherRole;
  let worker: Worker;

  beforeAll(async () => {
    writeFileSync(join(dir, 'event_definitions.yaml'), EVENT_DEFINITIONS);
    writeFileSync(join(dir, 'triggers.yaml'), TRIGGERS);
    writeFileSync(join(dir, 'pipelines.yaml'), PIPELINES);
    const config = loadWinchesterConfig(undefined);
    const topology = loadTopology(dir, config);
    const { definitions } = loadTriggerRuntimes(join(dir, 'triggers.yaml'), topology.pipelines);
    ({ kafka, settings } = await topologyFixture(ns));
    ctx = { kafka, redis, settings, definitions, distill: topology.distill };

    distiller = await startDistiller(kafka, settings, topology.distill);
    matcher = await startMatcher(kafka, ns.settings.redisUrl, settings, topology.triggers);
    worker = await startWorker(kafka, ns.settings.redisUrl, settings, {
      pipelines: topology.pipelines,
      handlers: topology.handlers,
      purgeCompletedStreams: true,
      handlerTimeoutMs: 10000,
      claimTtlMs: 30000,
      maxHops: 3,
    });

    // Wall clock: recent times, so nothing expires while the test runs.
    const now = new Date(Date.now() - 60000).toISOString().replace('T', ' ').replace('Z', '');
    const note = (id: string, type: string, payload: Record<string, unknown>) => ({
      key: String(payload.instance_id ?? id),
      value: JSON.stringify({ message_id: id, event_type: type, timestamp: now, publisher_id: 'x', payload }),
    });
    await produce(kafka, settings.inputTopics[0], [
      note('t-active', 'compute.instance.update', { instance_id: 'i-a', state: 'active', memory_mb: 512 }),
      note('t-open', 'compute.instance.update', { instance_id: 'i-b', state: 'active' }),
      note('t-fire', 'compute.instance.exists', { instance_id: 'i-b', state: 'active' }),
      note('t-unmatched', 'compute.instance.create.end', {
        instance_id: 'i-c',
        state: 'building',
        memory_mb: 2048,
      }),
      note('t-bad', 'compute.instance.update', { instance_id: 'i-d', state: 'active', memory_mb: 'lots' }),
      note('t-dropped', 'image.upload', { image_id: 'img-1' }),
    ]);
    await waitFor(() => distiller.counters.consumed >= 6 && matcher.counters.eventsConsumed >= 4);
    await waitFor(() => (worker.counters.streamsCompleted.get('instance_usage') ?? 0) >= 1);
    await waitFor(
      async () => (await findStreams(redis, ns.prefix, { state: 'active', count: 10 })).length >= 1,
    );
  });
  afterAll(async () => {
    await worker?.stop();
    await matcher?.stop();
    await distiller?.stop();
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a distilled, matched event: its stream and state', async () => {
    const result = await traceMessage(ctx, 't-active');
    expect(result.verdict).toBe('distilled');
    expect(result.scan.complete).toBe(true);
    expect(result.notifications).toHaveLength(1);
    expect(result.events).toHaveLength(1);
    const n = result.notifications[0];
    expect(result.events[0].source).toBe(`${n.topic}/${n.partition}/${n.offset}`);
    const [usage, big] = result.triggers;
    expect(usage).toMatchObject({
      trigger: 'instance_usage',
      matched: true,
      criterion: 'match_criteria[0]',
      distinguished: { instance_id: 'i-a' },
      stream: { state: 'active', trigger: 'instance_usage', foundBy: 'active pointer', eventCount: 1 },
    });
    expect(usage.seenInPartition).toBe(usage.stream!.partition);
    expect(usage.stream!.expireAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(usage.stream!.fireAt).toBeNull();
    expect(big).toMatchObject({ trigger: 'big_instances', matched: false, stream: null });
    expect(big.attempts[0]).toMatchObject({ reason: 'Wrong event type' });
    expect(result.completions).toEqual([]);
    const text = formatTrace(result).join('\n');
    expect(text).toContain('t-active was distilled; matched by instance_usage');
    expect(text).toMatch(/stream \d+\.[0-9a-f-]+ \(partition \d\): active, serial \d+, 1 events/);
  });

  test('a fired stream: completed, purged, found through its completion record', async () => {
    const result = await traceMessage(ctx, 't-fire');
    const usage = result.triggers.find((t) => t.trigger === 'instance_usage')!;
    expect(usage.fireCriteria).toEqual(['fire_criteria[0]']);
    expect(result.completions).toHaveLength(1);
    expect(result.completions[0].record).toMatchObject({
      trigger: 'instance_usage',
      kind: 'fired',
      outcome: 'completed',
      message_ids: ['t-fire', 't-open'], // equal times: message_id order
    });
    expect(usage.stream).toMatchObject({
      id: result.completions[0].record.stream_id,
      foundBy: 'completion record',
      state: 'completed',
      tombstone: { state: 'completed' },
    });
    expect(formatTrace(result).join('\n')).toContain('fired → completed via done');
  });

  test('an unmatched event: why each trigger refused it', async () => {
    const result = await traceMessage(ctx, 't-unmatched');
    expect(result.verdict).toBe('distilled');
    expect(result.summary).toContain('no trigger matches it');
    const [usage, big] = result.triggers;
    expect(usage.matched).toBe(false);
    expect(usage.attempts[0]).toMatchObject({ reason: 'state: == failed' });
    expect(usage.attempts[0].detail).toContain('"building"');
    expect(big.attempts[0]).toMatchObject({ reason: 'memory_mb: > failed' });
    expect(big.attempts[0].detail).toContain('2048 (int)');
    expect(formatTrace(result).join('\n')).toContain('big_instances: no match');
  });

  test('a DLQ record, a dropped notification, an unknown id', async () => {
    const bad = await traceMessage(ctx, 't-bad');
    expect(bad.verdict).toBe('dlq');
    expect(bad.dlq).toHaveLength(1);
    expect(bad.dlq[0]).toMatchObject({ exact: true, stage: 'notifications', category: 'conversion' });
    expect(bad.summary).toMatch(
      /^t-bad is in the DLQ .*notifications\.dlq:0:\d+: conversion: trait memory_mb/,
    );
    expect(bad.localDistill).toMatchObject({ outcome: 'error' });
    expect(bad.triggers).toEqual([]);

    const dropped = await traceMessage(ctx, 't-dropped');
    expect(dropped.verdict).toBe('dropped');
    expect(dropped.localDistill).toMatchObject({ outcome: 'dropped', reason: 'unmatched' });

    const unknown = await traceMessage(ctx, 'no-such-message');
    expect(unknown.verdict).toBe('not-found');
    expect(unknown.summary).toBe('no-such-message was not found');
    const partial = await traceMessage(ctx, 'no-such-message', { maxRecordsPerPartition: 1 });
    expect(partial.scan.complete).toBe(false);
    expect(partial.summary).toContain('in the part of the topics scanned');
    expect(partial.scan.notes.some((n) => /scan truncated, \d+ older records not read/.test(n))).toBe(true);
  });
});
