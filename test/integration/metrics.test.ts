import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FastifyInstance } from 'fastify';
import Redis from 'ioredis';
import { buildApi } from '../../src/api/server';
import { loadWinchesterConfig } from '../../src/config/winchester-config';
import { WinchesterEvent } from '../../src/events/event';
import { encodeEvent } from '../../src/events/wire';
import { WinchesterMetrics } from '../../src/metrics/metrics';
import { HandlerDefinition } from '../../src/pipeline/handler';
import { PartitionKeys } from '../../src/redis/keys';
import { END_OF_TIME } from '../../src/streams/simulate';
import { loadTopology } from '../../src/topology/bundle';
import { startDistiller } from '../../src/topology/distiller-role';
import { startMatcher } from '../../src/topology/matcher-role';
import { startWorker } from '../../src/topology/worker-role';
import { sampleCorpus } from '../support/corpus';
import { testNamespace } from '../support/namespace';
import { simpleTrigger, testEvent } from '../support/simple-trigger';
import { repoRoot } from '../support/stack';
import { advanceClock, produce, topologyFixture, waitFor } from '../support/topology-harness';

/*
 * Every metric family an operator's dashboard relies on, read the way Prometheus reads it:
 * over HTTP from each role's /metrics, with the roles on the real Kafka and Redis. What a
 * clean replay never does is provoked: a bad notification (DLQ), a pipeline that throws, a
 * replayed message_id, writes to a WATCHed key while transactions run (lock retries), a
 * slow pipeline with records queued behind it (consumer lag), and a partition whose timer
 * lease another holder keeps (timer lag, on a wall-clock matcher of its own).
 */

const ns = testNamespace();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const TRIGGERS = `---
- name: instance_activity
  debug_level: 2
  distinguished_by: [instance_id]
  expiration: "$last + 30m"
  fire_pipeline: audit
  expire_pipeline: audit
  match_criteria:
    - event_type: ["compute.instance.*", "!compute.instance.exists", "!compute.instance.exists.*"]
  fire_criteria:
    - event_type: compute.instance.create.end
- name: shutdowns
  debug_level: 1
  distinguished_by: [instance_id]
  expiration: "$last + 10m"
  fire_pipeline: broken
  expire_pipeline: broken
  match_criteria:
    - event_type: compute.instance.shutdown.*
  fire_criteria:
    - event_type: compute.instance.shutdown.end
`;
const PIPELINES = `---
audit: [logger]
broken: [logger]
`;

const handler = (
  handleEvents: (events: WinchesterEvent[]) => Promise<WinchesterEvent[]>,
): HandlerDefinition => ({
  create: () => ({ handleEvents, commit: () => undefined, rollback: () => undefined }),
});
/** Slow enough that stream records queue up behind it: the worker's consumer lag shows. */
const pause = handler(async (events) => {
  await sleep(120);
  return events;
});
const explode = handler(async () => {
  throw new Error('deliberate pipeline failure');
});

interface Family {
  type: string;
  /** Sample name with labels → value. */
  samples: Map<string, number>;
}

/** The text exposition format, by family (histogram samples under their family's name). */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      families.set(type[1], { type: type[2], samples: new Map() });
      continue;
    }
    if (!line || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!sample) continue;
    const family =
      families.get(sample[1]) ?? families.get(sample[1].replace(/_(bucket|sum|count|total)$/, ''));
    family?.samples.set(`${sample[1]}${sample[2] ?? ''}`, Number(sample[3]));
  }
  return families;
}

/** Whether a family has a sample above zero (a histogram: an observation). */
function nonZero(family: Family | undefined): boolean {
  if (!family) return false;
  for (const [name, value] of family.samples) {
    if (family.type === 'histogram' && !/_count(\{|$)/.test(name)) continue;
    if (value > 0) return true;
  }
  return false;
}

const COUNTERS = [
  'winchester_notifications_consumed_total',
  'winchester_notifications_distilled_total',
  'winchester_notifications_dropped_total',
  'winchester_dlq_records_total',
  'winchester_matcher_events_consumed_total',
  'winchester_trigger_events_matched_total',
  'winchester_trigger_criteria_checks_total',
  'winchester_trigger_criteria_passed_total',
  'winchester_trigger_mismatches_total',
  'winchester_streams_opened_total',
  'winchester_streams_fired_total',
  'winchester_streams_expired_total',
  'winchester_streams_completed_total',
  'winchester_streams_errored_total',
  'winchester_duplicate_events_total',
  'winchester_handler_duration_seconds',
  'winchester_pipeline_duration_seconds',
  'winchester_redis_transaction_duration_seconds',
  'process_cpu_user_seconds_total',
  'process_resident_memory_bytes',
  'nodejs_heap_size_used_bytes',
];
/** Gauges that read zero once the work is done: each must be seen above zero at some scrape. */
const TRANSIENT_GAUGES = [
  'winchester_active_streams',
  'winchester_timer_lag_seconds',
  'winchester_consumer_lag',
];

describe('metrics of every role on real Kafka and Redis', () => {
  const stops: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  });

  test('every metric family has a non-zero sample after a replay with deliberate faults', async () => {
    const { kafka, settings } = await topologyFixture(ns, { clock: 'event', statisticsPeriodMs: 1000 });
    const wall = await topologyFixture(ns, { namespace: `${ns.prefix}.wall`, clock: 'wall' });

    const dir = mkdtempSync(join(tmpdir(), 'winchester-metrics-'));
    stops.push(async () => rmSync(dir, { recursive: true, force: true }));
    copyFileSync(
      join(repoRoot, 'topologies', 'openstack-usage', 'event_definitions.yaml'),
      join(dir, 'event_definitions.yaml'),
    );
    writeFileSync(join(dir, 'triggers.yaml'), TRIGGERS);
    writeFileSync(join(dir, 'pipelines.yaml'), PIPELINES);
    const config = loadWinchesterConfig(undefined, {});
    const topology = loadTopology(dir, config);
    const handlers = new Map([...topology.handlers, ['pause', pause], ['explode', explode]]);
    const pipelines = new Map([
      ['audit', [{ name: 'pause', params: {} }]],
      ['broken', [{ name: 'explode', params: {} }]],
    ]);

    // The wall-clock matcher's partitions are leased to someone else: its due timers wait.
    const redis = new Redis(ns.settings.redisUrl);
    stops.push(async () => void redis.disconnect());
    for (let p = 0; p < wall.settings.partitions.repartition; p++) {
      await redis.set(new PartitionKeys(wall.settings.namespace, p).lease, 'another-holder', 'PX', 60000);
    }

    const metrics = {
      distiller: new WinchesterMetrics('distiller'),
      matcher: new WinchesterMetrics('matcher'),
      worker: new WinchesterMetrics('worker'),
      wallMatcher: new WinchesterMetrics('matcher'),
    };
    const [distiller, matcher, worker, wallMatcher] = await Promise.all([
      startDistiller(kafka, settings, topology.distill, { metrics: metrics.distiller }),
      startMatcher(kafka, ns.settings.redisUrl, settings, topology.triggers, metrics.matcher),
      startWorker(
        kafka,
        ns.settings.redisUrl,
        settings,
        {
          pipelines,
          handlers,
          purgeCompletedStreams: true,
          handlerTimeoutMs: 10000,
          claimTtlMs: 30000,
          maxHops: 3,
        },
        metrics.worker,
      ),
      startMatcher(
        wall.kafka,
        ns.settings.redisUrl,
        wall.settings,
        [simpleTrigger({ name: 'wall_timer' })],
        metrics.wallMatcher,
      ),
    ]);
    for (const role of [distiller, matcher, worker, wallMatcher]) stops.push(() => role.stop());

    const servers: FastifyInstance[] = [];
    for (const m of Object.values(metrics)) {
      const app = buildApi({ metrics: m, namespace: settings.namespace });
      await app.listen({ host: '127.0.0.1', port: 0 });
      stops.push(() => app.close());
      servers.push(app);
    }
    const urls = servers.map((app) => {
      const address = app.server.address();
      if (!address || typeof address === 'string') throw new Error('no port');
      return `http://127.0.0.1:${address.port}/metrics`;
    });
    const scrape = async () => {
      // One view over every role; two registries share role="matcher", so samples are keyed by server too.
      const merged = new Map<string, Family>();
      for (const [server, url] of urls.entries()) {
        const response = await fetch(url);
        expect(response.status).toBe(200);
        for (const [name, family] of parseExposition(await response.text())) {
          const into = merged.get(name) ?? { type: family.type, samples: new Map() };
          for (const [sample, value] of family.samples) into.samples.set(`${server} ${sample}`, value);
          merged.set(name, into);
        }
      }
      return merged;
    };
    // Transient gauges are watched on every scrape, as Prometheus would see them.
    const seen = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const families = await scrape().catch(() => new Map<string, Family>());
        for (const name of TRANSIENT_GAUGES) if (nonZero(families.get(name))) seen.add(name);
        await sleep(100);
      }
    })();
    stops.push(async () => {
      watching = false;
      await watcher;
    });

    await produce(wall.kafka, wall.settings.topics.events, [
      {
        key: 'i-wall',
        value: encodeEvent(testEvent('compute.instance.exists', 'i-wall', Date.now() / 1000)),
      },
    ]);

    const corpus = sampleCorpus().slice(0, 400);
    const input = [...corpus, 'not a notification', ...corpus.slice(0, 40)];
    await produce(
      kafka,
      settings.inputTopics[0],
      input.map((value) => ({ value })),
    );
    await waitFor(() => distiller.counters.consumed === input.length, 20000);
    expect(distiller.counters.dlq.get('invalid-json')).toBe(1);
    await waitFor(() => matcher.counters.eventsConsumed === distiller.counters.distilled, 20000);
    await waitFor(() => seen.has('winchester_active_streams'), 15000);
    await advanceClock(kafka, settings, END_OF_TIME);

    let families = new Map<string, Family>();
    await waitFor(async () => {
      families = await scrape();
      return (
        COUNTERS.every((name) => nonZero(families.get(name))) && TRANSIENT_GAUGES.every((g) => seen.has(g))
      );
    }, 25000).catch(() => undefined);

    const missing = [
      ...COUNTERS.filter((name) => !nonZero(families.get(name))),
      ...TRANSIENT_GAUGES.filter((name) => !seen.has(name)),
    ];
    expect(missing).toEqual([]);
    // The faults show where they were provoked.
    const sampleNames = (name: string) => [...families.get(name)!.samples.keys()].join('\n');
    expect(sampleNames('winchester_dlq_records_total')).toContain('reason="invalid-json"');
    expect(sampleNames('winchester_streams_errored_total')).toContain('trigger="shutdowns"');
    expect(sampleNames('winchester_trigger_mismatches_total')).toContain(
      'trigger="instance_activity",group="Match",reason="Wrong event type"',
    );
    expect(sampleNames('winchester_trigger_mismatches_total')).not.toContain('trigger="shutdowns"');
    expect(sampleNames('winchester_consumer_lag')).toMatch(/group="[^"]+",topic="[^"]+",partition="\d+"/);
    // Every stage the replay passes was timed (timer_wait and end_to_end are the wall clock's).
    const stageCounts = [...families.get('winchester_stage_latency_seconds')!.samples]
      .filter(([name, value]) => name.includes('_count{') && value > 0)
      .map(([name]) => /stage="([^"]+)"/.exec(name)?.[1]);
    for (const stage of ['distill', 'events_hop', 'repartition_hop', 'redis_apply', 'emit']) {
      expect(stageCounts).toContain(stage);
    }
  });
});
