import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { Kafka, Message } from 'kafkajs';
import { buildApi } from '../api/server';
import { loadWinchesterConfig, WinchesterConfig } from '../config/winchester-config';
import { END_OF_TIME } from '../streams/simulate';
import { DistillerRole, startDistiller } from '../topology/distiller-role';
import { MatcherRole, startMatcher } from '../topology/matcher-role';
import { startWorker, WorkerRole } from '../topology/worker-role';
import { ArchiverRole, startArchiver } from '../topology/archiver-role';
import { pgTarget } from '../postgres/client';
import { EventStore } from '../store/model';
import { TopologySettings } from '../config/topology-settings';
import { LoadedTopology, loadTopology } from '../topology/bundle';
import { ensureTopicsOnce } from '../topology/topics';
import { WinchesterMetrics } from '../metrics/metrics';
import { advanceEventClock } from '../topology/event-clock';
import { notificationKey } from '../topology/records';
import { runLiveDemo } from './generate';
import { DevFeed, rabbitmqFeed } from './dev-rabbitmq';
import { connect, requireRedis } from './connect';
import { portNumber, positiveNumber, UsageError } from './errors';
import { openLines, requireSomeValid } from './input';
import { createRedisClient } from '../redis/client';
import { configureLogging, LogFormat, warningsLogged } from '../util/logger';
import { workerOptions } from './roles';
import { TopologyFollower } from '../topology/versions/follower';
import { triggersFollowing } from '../streams/trigger-catalog';
import { PgCompletedStreams } from '../postgres/completed-streams';
import { eventStoreUrl, openEventStore } from './event-store';
import { localStackDir, localStackRegistryEnv } from '../config/stack-env';
import { TopologyDecoders, TopologySerializers, topologySerializers } from '../topology/serialization';

const repoRoot = join(__dirname, '..', '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts the local stack unless KAFKA_BROKERS/REDIS_URL are given; returns whether it did. */
function ensureLocalStack(): boolean {
  if (process.env.KAFKA_BROKERS && process.env.REDIS_URL) return false;
  const script = join(repoRoot, 'scripts', 'stack.sh');
  let running = true;
  try {
    execFileSync('bash', [script, 'status'], { stdio: 'ignore' });
  } catch {
    running = false;
  }
  const out = execFileSync('bash', [script, 'start'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  for (const line of out.split('\n')) {
    const m = /^([A-Z_]+)=(.+)$/.exec(line);
    if (m) process.env[m[1]] = m[2];
  }
  return !running;
}

/** The stack's registry unless SCHEMA_REGISTRY_URL says otherwise: the demo runs the Avro path end to end. */
function useStackRegistry(): void {
  Object.assign(process.env, localStackRegistryEnv(join(localStackDir(), 'env')));
}

async function readLines(file: string): Promise<string[]> {
  const input = openLines(file);
  const lines: string[] = [];
  for await (const line of input.lines) if (line.trim()) lines.push(line);
  requireSomeValid(input, lines.length, lines.length, 'notification');
  return lines;
}

/** The roles' log lines go to a file, so the terminal shows only progress and the summary. */
function logToFile(namespace: string, format: LogFormat | undefined): string {
  const file = join(localStackDir(), 'logs', `${namespace}.log`);
  mkdirSync(dirname(file), { recursive: true });
  configureLogging({ file, format });
  return file;
}

interface DevOptions {
  topology: string;
  config: string;
  data: string;
  port: string;
  exit?: boolean;
  live?: boolean;
  rate: string;
  withRabbitmq?: boolean;
}

/** Every role of the topology in this process, with the API, on a namespace of its own. */
interface DevRun {
  namespace: string;
  settings: TopologySettings;
  kafka: Kafka;
  /** How the roles' records are read back for the summary. */
  decoders: TopologyDecoders;
  distiller: DistillerRole;
  matcher: MatcherRole;
  worker: WorkerRole;
  /** Present when EVENT_STORE_URL is set: the demo's events are then queryable afterwards. */
  archiver?: ArchiverRole;
  /** Where the replay's notifications go in: Kafka, or RabbitMQ and the bridge. */
  feed: DevFeed;
  address: string;
  logFile: string;
  stopAll: () => Promise<void>;
}

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description(
      'the demo: local Kafka + Redis, every role in one process, the sample corpus replayed under the event clock ' +
        '(--live: generated notifications under the wall clock)',
    )
    .option('-t, --topology <dir>', 'topology bundle', join(repoRoot, 'topologies', 'openstack-usage'))
    .option('-c, --config <file>', 'winchester.yaml', join(repoRoot, 'etc', 'winchester.yaml'))
    .option(
      '--data <file>',
      'notifications (JSON lines, .gz allowed)',
      join(repoRoot, 'data', 'notifications-openstack-26h.jsonl.gz'),
    )
    .option('--port <port>', 'API and /metrics port', '8080')
    .option('--exit', 'exit after the summary instead of serving /metrics until Ctrl-C')
    .option(
      '--live',
      'instead of the replay: the wall clock, and generated notifications fed live until Ctrl-C',
    )
    .option('--rate <n>', 'notifications per second with --live', '20')
    .option(
      '--with-rabbitmq',
      'feed the replay through RabbitMQ (AMQP_URL) and the bridge, as OpenStack services publish',
    )
    .action((opts: DevOptions) => runDev(opts, program.opts<{ logFormat?: LogFormat }>().logFormat));
}

async function runDev(opts: DevOptions, logFormat: LogFormat | undefined): Promise<void> {
  const liveRate = positiveNumber('--rate', opts.rate);
  if (opts.live && opts.withRabbitmq) {
    throw new UsageError('--with-rabbitmq feeds the replay; --live generates into Kafka: choose one');
  }
  const port = portNumber('--port', opts.port);
  const lines = opts.live ? [] : await readLines(opts.data);
  const run = await startEverything(opts, port, logFormat);
  if (opts.live) {
    process.stderr.write(
      `generated notifications at ${liveRate}/s under the wall clock; ` +
        `metrics ${run.address}/metrics; Ctrl-C stops everything this command started\n`,
    );
    const { kafka, settings, decoders, stopAll } = run;
    await runLiveDemo({
      kafka,
      settings,
      decoders,
      rate: liveRate,
      distiller: run.distiller.counters,
      stopAll,
    });
  }
  process.once('SIGINT', () => void run.stopAll().then(() => process.exit(130)));
  process.stderr.write(
    `replaying ${lines.length} notifications from ${relative(process.cwd(), opts.data)}\n`,
  );
  await replayWithProgress(run, lines);
  // The corpus's timestamps are in the past: move the event clock past every expiration.
  await advanceEventClock(run.kafka, run.settings.topics.repartition, END_OF_TIME);
  process.stderr.write('clock advanced to the end; waiting for pipelines to finish\n');
  await pipelinesQuiet(run.worker);
  await archiverCaughtUp(run);
  await printSummary(run);
  if (opts.exit || !process.stdout.isTTY) {
    await run.stopAll();
    process.exit(0);
  }
  process.stdout.write('serving; Ctrl-C stops everything this command started\n');
}

/** The local stack (unless given), a fresh namespace, the roles and the API. */
async function startEverything(
  opts: DevOptions,
  port: number,
  logFormat: LogFormat | undefined,
): Promise<DevRun> {
  const startedStack = ensureLocalStack();
  useStackRegistry();
  // A fresh namespace per run: the demo replays from scratch beside anything else.
  const namespace = `dev-${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}`;
  const config = loadWinchesterConfig(opts.config, {
    ...process.env,
    WINCHESTER_NAMESPACE: namespace,
    WINCHESTER_CLOCK: opts.live ? 'wall' : 'event',
  });
  const topology = loadTopology(opts.topology, config);
  const { kafka, settings, connection } = await connect(config.topology);
  await requireRedis(connection.redisUrl);
  const store = await openDevEventStore();
  const logFile = logToFile(namespace, logFormat);
  process.stderr.write(`namespace ${namespace}; the roles' log: ${relative(process.cwd(), logFile)}\n`);
  await ensureTopicsOnce(kafka, settings);
  const serializers = await devSerializers(connection.schemaRegistryUrl, settings);
  const roles = await startRoles({
    kafka,
    settings,
    redisUrl: connection.redisUrl,
    config,
    topology,
    store,
    serializers,
  });
  const { metrics, distiller, matcher, worker, completedStreams, archiver, follower } = roles;
  const feed = opts.withRabbitmq
    ? await rabbitmqFeed(kafka, settings, config.bridge, metrics)
    : kafkaFeed(kafka, settings.inputTopics[0]);
  const redis = createRedisClient(connection.redisUrl);
  const api = buildApi({ metrics, redis, kafka, namespace, eventStore: store, completedStreams });
  // The default port may be taken by another demo: then any free one will do.
  const address = await api
    .listen({ host: '127.0.0.1', port })
    .catch(() => api.listen({ host: '127.0.0.1', port: 0 }));
  const stopAll = async () => {
    await feed.stop();
    await Promise.allSettled([distiller.stop(), matcher.stop(), worker.stop(), archiver?.stop()]);
    await follower.stop();
    await Promise.allSettled([store?.close(), completedStreams?.close()]);
    await api.close();
    redis.disconnect();
    if (startedStack)
      execFileSync('bash', [join(repoRoot, 'scripts', 'stack.sh'), 'stop'], { stdio: 'inherit' });
  };
  return { ...roles, namespace, settings, kafka, decoders: serializers, feed, address, logFile, stopAll };
}

/** Avro through the registry when there is one (the stack's, as a rule), else JSON: said on stderr. */
async function devSerializers(registryUrl: string | undefined, settings: TopologySettings) {
  const serializers = await topologySerializers(registryUrl, settings.topics);
  process.stderr.write(
    serializers.format === 'avro'
      ? `records: Avro, schemas registered at ${registryUrl}\n`
      : 'records: JSON (no SCHEMA_REGISTRY_URL)\n',
  );
  return serializers;
}

interface RoleParts {
  kafka: Kafka;
  settings: TopologySettings;
  redisUrl: string;
  config: WinchesterConfig;
  topology: LoadedTopology;
  /** Without it, no archiver. */
  store: EventStore | undefined;
  serializers: TopologySerializers;
}

/**
 * Every role of the topology in this process, with one set of metrics, following the run's
 * applied versions (`winchester topology apply --namespace <the run's>` changes it live).
 */
async function startRoles({
  kafka,
  settings,
  redisUrl,
  config,
  topology: base,
  store,
  serializers,
}: RoleParts) {
  const metrics = new WinchesterMetrics('all');
  const follower = await TopologyFollower.start({
    ...{ kafka, namespace: settings.namespace, config, role: 'dev', base, metrics },
    ...{ maxRecordBytes: settings.maxRecordBytes, settings },
  });
  const topology = follower.current.topology;
  metrics.initialiseLabels(topology, settings);
  const distiller = await startDistiller(kafka, settings, topology.distill, {
    metrics,
    serializer: serializers.events,
  });
  follower.onChange((_version, next) => distiller.setDistill(next.distill));
  const versions = triggersFollowing(follower);
  const matcher = await startMatcher(
    kafka,
    redisUrl,
    settings,
    topology.triggers,
    metrics,
    serializers,
    versions,
  );
  const options = { ...workerOptions({ config, topology }), catalog: follower };
  const worker = await startWorker(kafka, redisUrl, settings, options, metrics, serializers);
  const completedStreams = store && PgCompletedStreams.open(eventStoreUrl());
  const hooks = { metrics, completedStreams, decoders: serializers };
  const archiver = store && (await startArchiver(kafka, settings, store, hooks));
  return { metrics, distiller, matcher, worker, completedStreams, archiver, follower };
}

/** The store at EVENT_STORE_URL (the local stack's PostgreSQL) for the archiver; without it, the demo archives nothing. */
async function openDevEventStore(): Promise<EventStore | undefined> {
  if (!process.env.EVENT_STORE_URL) {
    process.stderr.write(
      'EVENT_STORE_URL is not set: events are not archived (scripts/stack.sh start gives one)\n',
    );
    return undefined;
  }
  // The demo's database is the local stack's: it follows this build's schema by itself.
  return openEventStore(eventStoreUrl(), { upgrade: true });
}

/** Waits (a minute at most) until the archiver has handled every event the topology made. */
async function archiverCaughtUp({ archiver, distiller, worker }: DevRun): Promise<void> {
  if (!archiver) return;
  const expected = distiller.counters.distilled + worker.counters.newEvents;
  const deadline = Date.now() + 60_000;
  while (archived(archiver) < expected && Date.now() < deadline) await sleep(250);
}

const archived = ({ counters }: ArchiverRole) =>
  counters.stored + counters.duplicates + [...counters.rejected.values()].reduce((a, b) => a + b, 0);

/** Feeds the lines in, then follows the bridge (if any), the distiller and the matcher, with a progress bar. */
async function replayWithProgress(run: DevRun, lines: string[]): Promise<void> {
  const bar = new SingleBar(
    { format: '{phase} [{bar}] {value}/{total}', hideCursor: true },
    Presets.shades_classic,
  );
  bar.start(lines.length, 0, { phase: run.feed.bridged ? 'publish ' : 'produce ' });
  await run.feed.send(lines, (sent) => bar.update(sent));
  const { distiller, matcher, feed } = run;
  if (feed.bridged) {
    bar.update(0, { phase: 'bridge  ' });
    await follow(bar, feed.bridged, lines.length);
  }
  bar.update(0, { phase: 'distill ' });
  await follow(bar, () => distiller.counters.consumed, lines.length);
  bar.setTotal(distiller.counters.distilled);
  bar.update(0, { phase: 'match   ' });
  await follow(bar, () => matcher.counters.eventsConsumed, distiller.counters.distilled);
  bar.stop();
}

/** The plain feed: the lines produced to the input topic, keyed as `winchester produce` keys them. */
function kafkaFeed(kafka: Kafka, topic: string): DevFeed {
  return {
    async send(lines, onProgress) {
      const producer = kafka.producer({ maxInFlightRequests: 1 });
      await producer.connect();
      try {
        for (let i = 0; i < lines.length; i += 500) {
          const messages: Message[] = lines
            .slice(i, i + 500)
            .map((line) => ({ key: notificationKey(line), value: line }));
          await producer.send({ topic, acks: -1, messages });
          onProgress(Math.min(lines.length, i + 500));
        }
      } finally {
        await producer.disconnect();
      }
    },
    stop: async () => undefined,
  };
}

async function follow(bar: SingleBar, count: () => number, total: number): Promise<void> {
  while (count() < total) {
    bar.update(count());
    await sleep(200);
  }
  bar.update(total);
}

/** Waits until no pipeline has finished for 4 s. */
async function pipelinesQuiet(worker: WorkerRole): Promise<void> {
  const finished = () =>
    [...worker.counters.streamsCompleted.values(), ...worker.counters.streamsErrored.values()].reduce(
      (a, b) => a + b,
      0,
    );
  let last = -1;
  let quietSince = Date.now();
  while (Date.now() - quietSince <= 4000) {
    const done = finished();
    if (done !== last) {
      last = done;
      quietSince = Date.now();
    }
    await sleep(250);
  }
}

async function printSummary(run: DevRun): Promise<void> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const summary = await summarize(run);
  const { consumed, distilled, dropped, dlq } = run.distiller.counters;
  const toDlq = [...dlq.values()].reduce((a, b) => a + b, 0);
  out(
    `\nnotifications: ${consumed} consumed, ${distilled} distilled, ${dropped} dropped, ${toDlq} to the DLQ`,
  );
  out('streams by trigger:');
  for (const [trigger, row] of summary.byTrigger) {
    out(
      `  ${trigger}: ${row.fired} fired, ${row.expired} expired, ${row.completed} completed, ${row.errored} errored`,
    );
  }
  out('new events from pipelines:');
  for (const [type, ids] of summary.newEvents) out(`  ${type}: ${ids.size} distinct`);
  if (run.archiver) {
    const { stored, duplicates } = run.archiver.counters;
    const where = pgTarget(process.env.EVENT_STORE_URL ?? '');
    out(
      `events archived in ${where}: ${stored} stored, ${duplicates} already there (winchester events types, events list)`,
    );
  }
  out(`metrics: ${run.address}/metrics   streams API: ${run.address}/v1/streams`);
  if (run.archiver) out(`events API (Panko /v2): ${run.address}/v2/events`);
  const warnings = warningsLogged();
  if (warnings) out(`${warnings} warnings or errors in ${relative(process.cwd(), run.logFile)}`);
  out(`remove this run's topics, groups and keys: winchester namespace delete ${run.namespace} --yes`);
}

/** Completed streams by trigger and the pipelines' new events, read back from Kafka. */
async function summarize({ kafka, settings, decoders }: DevRun) {
  const { completed: completedTopic, events: eventsTopic } = settings.topics;
  const byTrigger = new Map<string, { fired: number; expired: number; completed: number; errored: number }>();
  const newEvents = new Map<string, Set<string>>();
  const groupId = `${completedTopic}.summary.${Date.now()}`;
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  await consumer.subscribe({ topics: [completedTopic, eventsTopic], fromBeginning: true });
  const seen = new Set<string>();
  let lastMessage = Date.now();
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      lastMessage = Date.now();
      if (topic === completedTopic) {
        const c = await decoders.completions.decode(message.value!);
        if (seen.has(c.stream_id)) return;
        seen.add(c.stream_id);
        const row = byTrigger.get(c.trigger) ?? { fired: 0, expired: 0, completed: 0, errored: 0 };
        row[c.kind]++;
        if (c.outcome === 'completed') row.completed++;
        else row.errored++;
        byTrigger.set(c.trigger, row);
      } else {
        const event = await decoders.events.decode(message.value!);
        if (!event.hops) return;
        const ids = newEvents.get(event.event_type) ?? new Set<string>();
        ids.add(event.message_id);
        newEvents.set(event.event_type, ids);
      }
    },
  });
  while (Date.now() - lastMessage < 2000) await sleep(250);
  await consumer.disconnect();
  // A throwaway group: leave nothing behind for `namespace list` to find.
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteGroups([groupId]).catch(() => undefined);
  await admin.disconnect();
  return { byTrigger, newEvents };
}
