import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { Message } from 'kafkajs';
import { buildApi } from '../api/server';
import { loadWinchesterConfig } from '../config/winchester-config';
import { decodeEvent } from '../events/wire';
import { END_OF_TIME } from '../streams/simulate';
import { startDistiller } from '../topology/distiller-role';
import { startMatcher } from '../topology/matcher-role';
import { startWorker, CompletionRecord } from '../topology/worker-role';
import { loadTopology } from '../topology/bundle';
import { ensureTopics } from '../topology/topics';
import { WinchesterMetrics } from '../metrics/metrics';
import { advanceEventClock } from '../topology/event-clock';
import { notificationKey } from '../topology/records';
import { runLiveDemo } from './generate';
import { connect, requireRedis } from './connect';
import { portNumber, positiveNumber } from './errors';
import { openLines, requireSomeValid } from './input';
import { createRedisClient } from '../redis/client';
import { configureLogging, LogFormat, warningsLogged } from '../util/logger';
import { workerOptions } from './roles';

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

async function readLines(file: string): Promise<string[]> {
  const input = openLines(file);
  const lines: string[] = [];
  for await (const line of input.lines) if (line.trim()) lines.push(line);
  requireSomeValid(input, lines.length, lines.length, 'notification');
  return lines;
}

/** The roles' log lines go to a file, so the terminal shows only progress and the summary. */
function logToFile(namespace: string, format: LogFormat | undefined): string {
  const file = join(process.env.WINCHESTER_STACK_DIR ?? join(repoRoot, '.stack'), 'logs', `${namespace}.log`);
  mkdirSync(dirname(file), { recursive: true });
  configureLogging({ file, format });
  return file;
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
    .action(
      async (opts: {
        topology: string;
        config: string;
        data: string;
        port: string;
        exit?: boolean;
        live?: boolean;
        rate: string;
      }) => {
        const liveRate = positiveNumber('--rate', opts.rate);
        const port = portNumber('--port', opts.port);
        const startedStack = ensureLocalStack();
        // A fresh namespace per run: the demo replays from scratch beside anything else.
        const namespace = `dev-${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}`;
        const config = loadWinchesterConfig(opts.config, {
          ...process.env,
          WINCHESTER_NAMESPACE: namespace,
          WINCHESTER_CLOCK: opts.live ? 'wall' : 'event',
        });
        const topology = loadTopology(opts.topology, config);
        const lines = opts.live ? [] : await readLines(opts.data);
        const connected = await connect(config.topology);
        const { kafka, settings, connection } = connected;
        await requireRedis(connection.redisUrl);
        const logFile = logToFile(namespace, program.opts<{ logFormat?: LogFormat }>().logFormat);
        process.stderr.write(`namespace ${namespace}; the roles' log: ${relative(process.cwd(), logFile)}\n`);
        const admin = kafka.admin();
        await admin.connect();
        await ensureTopics(admin, settings);
        await admin.disconnect();
        const metrics = new WinchesterMetrics('all').initialiseLabels(topology, settings);
        const distiller = await startDistiller(kafka, settings, topology.distill, { metrics });
        const matcher = await startMatcher(kafka, connection.redisUrl, settings, topology.triggers, metrics);
        const worker = await startWorker(
          kafka,
          connection.redisUrl,
          settings,
          workerOptions({ config, topology }),
          metrics,
        );
        const redis = createRedisClient(connection.redisUrl);
        const api = buildApi({ metrics, redis, kafka, namespace });
        // The default port may be taken by another demo: then any free one will do.
        const address = await api
          .listen({ host: '127.0.0.1', port })
          .catch(() => api.listen({ host: '127.0.0.1', port: 0 }));
        const stopAll = async () => {
          await Promise.allSettled([distiller.stop(), matcher.stop(), worker.stop()]);
          await api.close();
          redis.disconnect();
          if (startedStack)
            execFileSync('bash', [join(repoRoot, 'scripts', 'stack.sh'), 'stop'], { stdio: 'inherit' });
        };
        if (opts.live) {
          process.stderr.write(
            `generated notifications at ${liveRate}/s under the wall clock; ` +
              `metrics ${address}/metrics; Ctrl-C stops everything this command started\n`,
          );
          await runLiveDemo({ kafka, settings, rate: liveRate, distiller: distiller.counters, stopAll });
        }
        process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));

        process.stderr.write(
          `replaying ${lines.length} notifications from ${relative(process.cwd(), opts.data)}\n`,
        );
        const bar = new SingleBar(
          { format: '{phase} [{bar}] {value}/{total}', hideCursor: true },
          Presets.shades_classic,
        );
        bar.start(lines.length, 0, { phase: 'produce ' });
        const producer = kafka.producer({ maxInFlightRequests: 1 });
        await producer.connect();
        for (let i = 0; i < lines.length; i += 500) {
          const messages: Message[] = lines
            .slice(i, i + 500)
            .map((line) => ({ key: notificationKey(line), value: line }));
          await producer.send({ topic: settings.inputTopics[0], acks: -1, messages });
          bar.update(Math.min(lines.length, i + 500));
        }
        await producer.disconnect();
        bar.update(0, { phase: 'distill ' });
        while (distiller.counters.consumed < lines.length) {
          bar.update(distiller.counters.consumed);
          await sleep(200);
        }
        bar.setTotal(distiller.counters.distilled);
        bar.update(0, { phase: 'match   ' });
        while (matcher.counters.eventsConsumed < distiller.counters.distilled) {
          bar.update(matcher.counters.eventsConsumed);
          await sleep(200);
        }
        bar.update(distiller.counters.distilled);
        bar.stop();
        // The corpus's timestamps are in the past: move the event clock past every expiration.
        await advanceEventClock(kafka, settings.topics.repartition, END_OF_TIME);
        process.stderr.write('clock advanced to the end; waiting for pipelines to finish\n');
        let last = -1;
        let quietSince = Date.now();
        for (;;) {
          const done = [
            ...worker.counters.streamsCompleted.values(),
            ...worker.counters.streamsErrored.values(),
          ].reduce((a, b) => a + b, 0);
          if (done !== last) {
            last = done;
            quietSince = Date.now();
          } else if (Date.now() - quietSince > 4000) break;
          await sleep(250);
        }
        const summary = await summarize(kafka, settings.topics.completed, settings.topics.events);
        process.stdout.write(
          `\nnotifications: ${distiller.counters.consumed} consumed, ${distiller.counters.distilled} distilled, ` +
            `${distiller.counters.dropped} dropped, ${[...distiller.counters.dlq.values()].reduce((a, b) => a + b, 0)} to the DLQ\n`,
        );
        process.stdout.write('streams by trigger:\n');
        for (const [trigger, row] of summary.byTrigger) {
          process.stdout.write(
            `  ${trigger}: ${row.fired} fired, ${row.expired} expired, ${row.completed} completed, ${row.errored} errored\n`,
          );
        }
        process.stdout.write('new events from pipelines:\n');
        for (const [type, ids] of summary.newEvents)
          process.stdout.write(`  ${type}: ${ids.size} distinct\n`);
        process.stdout.write(`metrics: ${address}/metrics   streams API: ${address}/v1/streams\n`);
        const warnings = warningsLogged();
        if (warnings)
          process.stdout.write(`${warnings} warnings or errors in ${relative(process.cwd(), logFile)}\n`);
        process.stdout.write(
          `remove this run's topics, groups and keys: winchester namespace delete ${namespace} --yes\n`,
        );
        if (opts.exit || !process.stdout.isTTY) {
          await stopAll();
          process.exit(0);
        }
        process.stdout.write('serving; Ctrl-C stops everything this command started\n');
      },
    );
}

async function summarize(kafka: import('kafkajs').Kafka, completedTopic: string, eventsTopic: string) {
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
        const c = JSON.parse(message.value!.toString()) as CompletionRecord;
        if (seen.has(c.stream_id)) return;
        seen.add(c.stream_id);
        const row = byTrigger.get(c.trigger) ?? { fired: 0, expired: 0, completed: 0, errored: 0 };
        row[c.kind]++;
        if (c.outcome === 'completed') row.completed++;
        else row.errored++;
        byTrigger.set(c.trigger, row);
      } else {
        const event = decodeEvent(message.value!.toString());
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
