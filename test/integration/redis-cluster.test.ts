import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster } from 'ioredis';
import { Kafka } from 'kafkajs';
import { buildApi } from '../../src/api/server';
import { registerDlq } from '../../src/cli/dlq';
import { registerNamespace } from '../../src/cli/namespace';
import { registerStreams } from '../../src/cli/streams';
import { registerTrace } from '../../src/cli/trace';
import { connectionSettings } from '../../src/config/environment';
import { loadWinchesterConfig } from '../../src/config/winchester-config';
import { TopologySettings } from '../../src/config/topology-settings';
import { WinchesterEvent } from '../../src/events/event';
import { WinchesterMetrics } from '../../src/metrics/metrics';
import { configureLogging } from '../../src/util/logger';
import { ExclusiveLeases } from '../../src/watch/exclusive-lease';
import { HandlerDefinition } from '../../src/pipeline/handler';
import { createRedisClient, isCluster } from '../../src/redis/client';
import { RedisConnectionPool } from '../../src/redis/connection-pool';
import { DlqRecord } from '../../src/ops/dlq';
import { PartitionKeys } from '../../src/redis/keys';
import { RedisPartitionStore } from '../../src/redis/partition-store';
import { findStreams, StreamView } from '../../src/redis/query';
import { MemoryPartitionStore } from '../../src/streams/memory-store';
import { MatchedEvent, StreamRecord } from '../../src/streams/model';
import { PartitionProcessor } from '../../src/streams/processor';
import { PartitionStore } from '../../src/streams/store';
import { loadTopology } from '../../src/topology/bundle';
import { DistillerRole, startDistiller } from '../../src/topology/distiller-role';
import { MatcherRole, startMatcher } from '../../src/topology/matcher-role';
import { startWorker, WorkerRole } from '../../src/topology/worker-role';
import { runInProcess } from '../support/in-process-cli';
import { testNamespace } from '../support/namespace';
import { redisClusterUrl } from '../support/stack';
import { simpleTrigger, testEvent } from '../support/simple-trigger';
import { produce, topologyFixture, waitFor } from '../support/topology-harness';

/*
 * Everything above the Redis connection on a real Redis Cluster (three masters): the roles,
 * the admin API and the operator commands over streams whose partitions are spread over every
 * master. A multi-key command, transaction, script or pipeline across hash slots would fail
 * here with CROSSSLOT (or ioredis's refusal of a cross-slot pipeline): every call must succeed.
 */

const CLUSTER_URL = redisClusterUrl() ?? '';
const ONE_REDIS_URL = connectionSettings().redisUrl;
const ns = testNamespace(CLUSTER_URL || undefined);
const REPARTITION = 6;
const INSTANCES = 30;
const FIRED = 12;
const DELETED = 6;

const EVENT_DEFINITIONS = `---
- event_type: compute.instance.*
  traits:
    instance_id:
      fields: payload.instance_id
    memory_mb:
      type: int
      fields: payload.memory_mb
`;

const TRIGGERS = `---
- name: usage
  distinguished_by:
  - instance_id
  expiration: "$last + 1h"
  fire_pipeline: ok
  expire_pipeline: ok
  match_criteria:
  - event_type: [compute.instance.update, compute.instance.exists]
  fire_criteria:
  - event_type: compute.instance.exists
- name: deletes
  distinguished_by:
  - instance_id
  expiration: "$last + 1h"
  fire_pipeline: explode
  expire_pipeline: explode
  match_criteria:
  - event_type: compute.instance.delete.*
  fire_criteria:
  - event_type: compute.instance.delete.end
`;

/** The bundle's pipelines for the tools that load it; the worker here runs its own handlers. */
const PIPELINES = `---
ok:
  - logger
explode:
  - logger
`;

const passing: HandlerDefinition = {
  create: () => ({
    handleEvents: (events: WinchesterEvent[]) => events,
    commit: () => {},
    rollback: () => {},
  }),
};
const failing: HandlerDefinition = {
  create: () => ({
    handleEvents: () => {
      throw new Error('explode always fails');
    },
    commit: () => {},
    rollback: () => {},
  }),
};

/** The master (host:port) serving a key's hash slot, as the cluster itself says. */
async function masterOf(cluster: Cluster, key: string): Promise<string> {
  const node = cluster.nodes('master')[0];
  const slot = Number(await node.cluster('KEYSLOT', key));
  const ranges = await node.cluster('SLOTS');
  const [, , [host, port]] = ranges.find(([from, to]) => slot >= from && slot <= to)!;
  return `${host}:${port}`;
}

/** The masters serving a namespace's partitions, in partition order. */
const partitionMasters = (cluster: Cluster, namespace: string, partitions: number) =>
  Promise.all(
    Array.from({ length: partitions }, (_, p) => masterOf(cluster, new PartitionKeys(namespace, p).epoch)),
  );

/** A namespace (`base` with a suffix) whose partitions land on every master of the cluster. */
async function namespaceOnEveryMaster(cluster: Cluster, base: string, partitions: number): Promise<string> {
  const masters = cluster.nodes('master').length;
  for (let suffix = 0; suffix < 200; suffix++) {
    const namespace = `${base}-${suffix}`;
    if (new Set(await partitionMasters(cluster, namespace, partitions)).size === masters) return namespace;
  }
  throw new Error('no namespace spreads its partitions over every master');
}

/** Every key of a namespace, on every master. */
async function keysOnEveryMaster(cluster: Cluster, namespace: string): Promise<number> {
  let count = 0;
  for (const node of cluster.nodes('master')) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 1000);
      count += keys.length;
      cursor = next;
    } while (cursor !== '0');
  }
  return count;
}

/** Runs a `winchester` command in this process with REDIS_URL naming the cluster. */
async function onCluster(register: Parameters<typeof runInProcess>[0], args: string[]) {
  const saved = process.env.REDIS_URL;
  process.env.REDIS_URL = CLUSTER_URL;
  try {
    return await runInProcess(register, args);
  } finally {
    process.env.REDIS_URL = saved;
  }
}

// REDIS_CLUSTER_URL given empty turns the cluster variants of the suites off, this one too.
const describeOnCluster = CLUSTER_URL ? describe : describe.skip;

describeOnCluster('everything above the Redis connection on a Redis Cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'winchester-cluster-'));
  let cluster: Cluster;
  let namespace: string;
  let kafka: Kafka;
  let settings: TopologySettings;
  let distiller: DistillerRole | undefined;
  let matcher: MatcherRole | undefined;
  let worker: WorkerRole | undefined;
  const errorStreams = () => findStreams(cluster, namespace, { state: 'error', count: 100 });
  const stopRoles = async () => {
    await worker?.stop();
    await matcher?.stop();
    await distiller?.stop();
    [worker, matcher, distiller] = [undefined, undefined, undefined];
  };

  beforeAll(async () => {
    const client = createRedisClient(CLUSTER_URL);
    if (!isCluster(client)) throw new Error(`REDIS_CLUSTER_URL ${CLUSTER_URL} does not name a cluster`);
    cluster = client;
    await cluster.ping(); // connected: it knows its nodes
    namespace = await namespaceOnEveryMaster(cluster, ns.prefix, REPARTITION);
    // Every role's and command's lines, to find any error among them at the end.
    configureLogging({ format: 'json', file: join(dir, 'roles.log') });
    writeFileSync(join(dir, 'event_definitions.yaml'), EVENT_DEFINITIONS);
    writeFileSync(join(dir, 'triggers.yaml'), TRIGGERS);
    writeFileSync(join(dir, 'pipelines.yaml'), PIPELINES);
    const topology = loadTopology(dir, loadWinchesterConfig(undefined));
    const partitions = { events: 3, repartition: REPARTITION, streams: 3 };
    ({ kafka, settings } = await topologyFixture(ns, { namespace, partitions }));
    distiller = await startDistiller(kafka, settings, topology.distill);
    matcher = await startMatcher(kafka, CLUSTER_URL, settings, topology.triggers);
    worker = await startWorker(kafka, CLUSTER_URL, settings, {
      pipelines: new Map([
        ['ok', [{ name: 'passing', params: {} }]],
        ['explode', [{ name: 'failing', params: {} }]],
      ]),
      handlers: new Map([
        ['passing', passing],
        ['failing', failing],
      ]),
      purgeCompletedStreams: true,
      handlerTimeoutMs: 10000,
      claimTtlMs: 30000,
      maxHops: 1,
    });
    await produce(kafka, settings.inputTopics[0], notifications());
    await waitFor(
      () =>
        (worker?.counters.streamsCompleted.get('usage') ?? 0) >= FIRED &&
        (worker?.counters.streamsErrored.get('deletes') ?? 0) >= DELETED &&
        (distiller?.counters.consumed ?? 0) >= notifications().length,
      90000,
    );
  });
  afterAll(async () => {
    await stopRoles();
    cluster?.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the streams are on partitions of every master', async () => {
    const active = await findStreams(cluster, namespace, { state: 'active', count: 1000 });
    const failed = await findStreams(cluster, namespace, { state: 'error', count: 1000 });
    expect(active).toHaveLength(INSTANCES - FIRED);
    expect(failed).toHaveLength(DELETED);
    const masters = await partitionMasters(cluster, namespace, REPARTITION);
    const used = new Set([...active, ...failed].map((s) => masters[s.partition]));
    expect(used.size).toBe(cluster.nodes('master').length);
  });

  test('the admin API: list, page, filter, show, retry and reset, readiness', async () => {
    const app = buildApi({
      metrics: new WinchesterMetrics('api'),
      redis: cluster,
      namespace,
      bearerToken: 't',
    });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const call = async (path: string, method = 'GET') => {
      const response = await fetch(`${base}${path}`, { method, headers: { authorization: 'Bearer t' } });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    try {
      expect(await call('/healthz/ready')).toMatchObject({ status: 200, body: { checks: { redis: 'ok' } } });
      const pages: StreamView[] = [];
      let marker: string | null = null;
      do {
        const page = await call(`/v1/streams?count=5${marker ? `&marker=${marker}` : ''}`);
        expect(page.status).toBe(200);
        pages.push(...(page.body.streams as StreamView[]));
        marker = page.body.next_marker as string | null;
      } while (marker);
      const ids = pages.map((s) => s.id);
      expect(ids).toEqual([...ids].sort());
      expect(pages).toHaveLength(INSTANCES - FIRED + DELETED);
      const errors = await call('/v1/streams?state=error&trigger=deletes&include_events=true');
      const [first, second] = errors.body.streams as StreamView[];
      expect(errors.body.streams).toHaveLength(DELETED);
      // Equal times: message_id order.
      expect(first.events?.map((e) => e.event_type)).toEqual([
        'compute.instance.delete.end',
        'compute.instance.delete.start',
      ]);
      expect(first.failure).toMatchObject({ attempts: 1, error: expect.stringContaining('explode') });
      expect((await call('/v1/streams?instance_id=i-20')).body.streams).toHaveLength(1);
      expect(await call(`/v1/streams/${first.id}`)).toMatchObject({ status: 200, body: { state: 'error' } });
      expect(await call(`/v1/streams/${first.id}/retry`, 'POST')).toMatchObject({
        status: 200,
        body: { state: 'retry_fire' },
      });
      expect(await call(`/v1/streams/${second.id}/reset`, 'POST')).toMatchObject({
        body: { state: 'retry_fire' },
      });
      expect(await call(`/v1/streams/${first.id}/retry`, 'POST')).toMatchObject({ status: 409 });
      // The matcher re-emits the retried streams from its pending set; the worker fails them again.
      await waitFor(() => (worker?.counters.streamsErrored.get('deletes') ?? 0) >= DELETED + 2, 60000);
      await waitFor(async () => (await errorStreams()).length === DELETED);
    } finally {
      await app.close();
    }
  });

  test('winchester streams list, retry and reset', async () => {
    // Without a worker the retried streams wait in retry_fire: what each command finds is certain.
    await worker?.stop();
    worker = undefined;
    const run = (args: string[]) =>
      onCluster(registerStreams, ['streams', ...args, '--namespace', namespace]);
    const list = await run(['list', '--state', 'error']);
    expect(list).toMatchObject({ code: 0, stderr: '' });
    expect(list.lines).toHaveLength(DELETED);
    expect(list.lines[0]).toMatch(/\tdeletes\terror\t2 events\t.*\t\d+ failed attempts\t/);
    const [one] = list.lines[0].split('\t');
    expect(await run(['retry', one])).toMatchObject({
      code: 0,
      stdout: `${one} is now retry_fire; its matcher re-emits it\n`,
    });
    const all = await run(['retry', '--all-errors']);
    expect(all).toMatchObject({ code: 0, stderr: '' });
    expect(all.lines.at(-1)).toBe(`${DELETED - 1} failed streams retried; their matchers re-emit them`);
    const reset = await run(['reset', one]);
    expect(reset).toMatchObject({ code: 1, stderr: expect.stringContaining('only error and expire_error') });
    expect(await errorStreams()).toEqual([]);
    expect(await findStreams(cluster, namespace, { state: 'retry_fire', count: 100 })).toHaveLength(DELETED);
  });

  test('winchester trace follows a message into its stream on the cluster', async () => {
    const trace = async (messageId: string) => {
      const args = ['trace', messageId, '-t', dir, '--namespace', namespace, '--json'];
      const run = await onCluster(registerTrace, args);
      expect(run).toMatchObject({ code: 0, stderr: '' });
      return JSON.parse(run.stdout);
    };
    const open = await trace('u-20');
    expect(open.verdict).toBe('distilled');
    expect(open.triggers[0]).toMatchObject({
      trigger: 'usage',
      matched: true,
      stream: { state: 'active', foundBy: 'active pointer', eventCount: 1 },
    });
    const fired = await trace('x-02');
    expect(fired.triggers[0].stream).toMatchObject({ state: 'completed', tombstone: { state: 'completed' } });
  });

  test('winchester dlq list and redrive keep their log on the cluster', async () => {
    const args = ['--namespace', namespace, '--json'];
    const listed = await onCluster(registerDlq, ['dlq', 'list', ...args]);
    expect(listed).toMatchObject({ code: 0, stderr: '' });
    const records = JSON.parse(listed.stdout).records as DlqRecord[];
    expect(records.map((r) => [r.messageId, r.redriven])).toEqual([['bad-1', null]]);
    const redriven = await onCluster(registerDlq, ['dlq', 'redrive', '--all', ...args]);
    expect(redriven).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(redriven.stdout).counts).toMatchObject({ redriven: 1, failed: 0 });
    const again = await onCluster(registerDlq, ['dlq', 'list', '--message-id', 'bad-1', ...args]);
    const marked = (JSON.parse(again.stdout).records as DlqRecord[]).find(
      (r) => r.coordinates === records[0].coordinates,
    );
    expect(marked?.redriven).toMatchObject({ target: { topic: settings.inputTopics[0] } });
  });

  test("the watch daemon's exclusive lease: one holder at a time, a run recorded once", async () => {
    const clients = [createRedisClient(CLUSTER_URL), createRedisClient(CLUSTER_URL)];
    const [a, b] = clients.map((c) =>
      new ExclusiveLeases(c, { namespace, acquireRetryMs: 20 }).gate('/jobs/x'),
    );
    try {
      const first = await a.enter(new AbortController().signal);
      let secondIn = false;
      const second = b.enter(new AbortController().signal).then((permit) => ((secondIn = true), permit));
      await sleep(300);
      expect(secondIn).toBe(false);
      await first!.leave({ mzxid: 5n });
      const permit = (await second)!;
      expect(await permit.alreadyRun({ mzxid: 5n })).toBe(true);
      expect(await permit.alreadyRun({ mzxid: 6n })).toBe(false);
      await permit.leave({ mzxid: 6n });
    } finally {
      clients.forEach((c) => c.disconnect());
    }
  });

  test('winchester namespace delete removes every key on every master', async () => {
    await stopRoles();
    expect(await keysOnEveryMaster(cluster, namespace)).toBeGreaterThan(0);
    const run = await onCluster(registerNamespace, ['namespace', 'delete', namespace, '--yes']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/deleted \d+ topics, \d+ consumer groups, \d+ Redis keys\n$/);
    expect(await keysOnEveryMaster(cluster, namespace)).toBe(0);
  });
  test('nothing logged a warning but the failing pipeline and the DLQ record', () => {
    // A command refused for crossing slots (CROSSSLOT, or ioredis refusing a cross-slot
    // pipeline) in a background loop (timers, re-emission, due retries) is logged, not thrown.
    // kafkajs's own lines are left out: deleting the namespace's topics makes some.
    const expected = new Set(['pipeline failed', 'notification sent to the DLQ']);
    const lines = readFileSync(join(dir, 'roles.log'), 'utf8').split('\n').filter(Boolean);
    const warnings = lines
      .map((line) => JSON.parse(line) as { level: number; msg: string; logger?: string })
      .filter((line) => line.level >= 40 && line.logger !== 'kafkajs' && !expected.has(line.msg));
    expect(warnings).toEqual([]);
    expect(lines.length).toBeGreaterThan(0);
  });

  test('the partition store gives the streams one Redis gives, on partitions of every master', async () => {
    const trigger = simpleTrigger({ fireType: 'compute.instance.exists', expireAfterSeconds: 50 });
    const events: MatchedEvent[] = [];
    let seed = 11;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 1500; i++) {
      const type = random() < 1 / 7 ? 'compute.instance.exists' : 'compute.instance.update';
      const event = testEvent(type, `g${Math.floor(random() * 60)}`, 1000 + i / 8, `eq-${i}`);
      events.push({ trigger: trigger.name, ...trigger.match(event)!, event });
    }
    const expected = await replayPartitions(events, trigger, (p) => new MemoryPartitionStore(p), false);
    expect(expected.length).toBeGreaterThan(100);
    const spread = await namespaceOnEveryMaster(cluster, `${ns.prefix}.eq`, 3);
    for (const [url, namespace] of [
      [CLUSTER_URL, spread],
      [ONE_REDIS_URL, `${ns.prefix}.eq-one`],
    ]) {
      const pool = new RedisConnectionPool(url, 8);
      const stores = await Promise.all(
        [0, 1, 2].map(async (p) => {
          const store = new RedisPartitionStore(p, pool, {
            namespace,
            seenRetentionSeconds: 3600,
            maxAttempts: 200,
          });
          await store.claim();
          return store;
        }),
      );
      try {
        expect(await replayPartitions(events, trigger, (p) => stores[p], true)).toEqual(expected);
      } finally {
        await pool.close();
      }
    }
  });
});

/** Wall-clock notifications a minute old: usage streams (some fired), delete streams, one DLQ record. */
function notifications() {
  const at = new Date(Date.now() - 60000).toISOString().replace('T', ' ').replace('Z', '');
  const note = (id: string, type: string, instance: string, memory: unknown = 512) => ({
    key: instance,
    value: JSON.stringify({
      message_id: id,
      event_type: type,
      timestamp: at,
      publisher_id: 'compute.host-1',
      payload: { instance_id: instance, memory_mb: memory },
    }),
  });
  const instance = (i: number) => `i-${String(i).padStart(2, '0')}`;
  return [
    ...Array.from({ length: INSTANCES }, (_, i) =>
      note(`u-${String(i).padStart(2, '0')}`, 'compute.instance.update', instance(i)),
    ),
    ...Array.from({ length: FIRED }, (_, i) =>
      note(`x-${String(i).padStart(2, '0')}`, 'compute.instance.exists', instance(i)),
    ),
    ...Array.from({ length: DELETED }, (_, i) => [
      note(`d-${i}-start`, 'compute.instance.delete.start', `d-${i}`),
      note(`d-${i}-end`, 'compute.instance.delete.end', `d-${i}`),
    ]).flat(),
    note('bad-1', 'compute.instance.update', 'i-bad', 'lots'),
  ];
}

/**
 * Three partitions' share of the events (every third batch each), applied batch by batch with
 * the timers run after each (and each batch applied twice at once, as a redelivery racing the
 * original, when `redeliver`): the stream records, in order.
 */
async function replayPartitions(
  events: MatchedEvent[],
  trigger: ReturnType<typeof simpleTrigger>,
  store: (partition: number) => PartitionStore,
  redeliver: boolean,
) {
  const triggers = new Map([[trigger.name, trigger]]);
  const out: Array<{ partition: number; kind: string; ids: string[] }> = [];
  for (let p = 0; p < 3; p++) {
    const processor = new PartitionProcessor(store(p), triggers, 'event', async (records: StreamRecord[]) => {
      out.push(
        ...records.map((r) => ({ partition: p, kind: r.kind, ids: r.events.map((e) => e.message_id) })),
      );
    });
    for (let at = p * 100; at < events.length; at += 300) {
      const batch = events.slice(at, at + 100);
      if (redeliver) await Promise.all([processor.apply(batch, 0), processor.apply(batch, 0)]);
      else await processor.apply(batch, 0);
      await processor.runTimers(batch[batch.length - 1].event.timestamp);
    }
    await processor.runTimers(10_000 * 1_000_000);
  }
  return out;
}
