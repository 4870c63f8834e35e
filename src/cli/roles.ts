import { createInterface } from 'node:readline';
import { Command } from 'commander';
import Redis from 'ioredis';
import { buildApi } from '../api/server';
import { loadWinchesterConfig, WinchesterConfig } from '../config/winchester-config';
import { WinchesterMetrics } from '../metrics/metrics';
import { resetStream } from '../streams/lifecycle';
import { StreamState } from '../streams/model';
import { findStreams } from '../streams/query';
import { EventSerializer, eventSerializer } from '../topology/serialization';
import { END_OF_TIME, Simulation, streamSummary } from '../streams/simulate';
import { PipelineSimulation } from '../pipeline/offline';
import { toCanonicalJson } from '../events/event';
import { loadTopology, LoadedTopology } from '../topology/bundle';
import { startDistiller } from '../topology/distiller-role';
import { startMatcher } from '../topology/matcher-role';
import { stopOnSignals } from '../topology/role-runner';
import { ensureTopics } from '../topology/topics';
import { startWorker } from '../topology/worker-role';
import { logger } from '../util/logger';
import { connect, Connected } from './connect';
import { formatMicros } from '../time/micros';

interface RoleOptions {
  config?: string;
  topology: string;
  metricsPort?: string;
}

const withRoleOptions = (command: Command) =>
  command
    .option('-c, --config <file>', 'winchester.yaml', process.env.WINCHESTER_CONFIG)
    .requiredOption(
      '-t, --topology <dir>',
      'topology bundle directory (event_definitions, triggers, pipelines)',
    )
    .option('--metrics-port <port>', 'serve /metrics and /healthz here (0: off)');

export interface RoleSetup {
  config: WinchesterConfig;
  topology: LoadedTopology;
  connected: Connected;
  metrics: WinchesterMetrics;
  /** Events as JSON, or Avro through the schema registry when SCHEMA_REGISTRY_URL is set. */
  serializer: EventSerializer;
}

/** Loads and checks everything before any role starts, so bad configuration fails at start. */
export async function setUpRole(role: string, opts: RoleOptions): Promise<RoleSetup> {
  const config = loadWinchesterConfig(opts.config);
  // Every line of the process carries its role; LOG_LEVEL, when set, wins over log_level.
  logger.setBindings({ role });
  if (!process.env.LOG_LEVEL) logger.level = config.logLevel;
  const topology = loadTopology(opts.topology, config);
  for (const warning of topology.warnings) logger.warn(warning);
  const connected = await connect(config.topology);
  const admin = connected.kafka.admin();
  await admin.connect();
  await ensureTopics(admin, connected.settings);
  await admin.disconnect();
  const serializer = await eventSerializer(
    connected.connection.schemaRegistryUrl,
    connected.settings.topics.events,
  );
  return { config, topology, connected, metrics: new WinchesterMetrics(role), serializer };
}

export function workerOptions(setup: Pick<RoleSetup, 'topology' | 'config'>) {
  return {
    pipelines: setup.topology.pipelines,
    handlers: setup.topology.handlers,
    purgeCompletedStreams: setup.config.purgeCompletedStreams,
    handlerTimeoutMs: setup.config.handlerTimeoutSeconds * 1000,
    claimTtlMs: 30000,
    maxHops: setup.config.maxPipelineHops,
  };
}

async function serveMetrics(setup: RoleSetup, portOption: string | undefined, redis?: Redis) {
  const port = Number(portOption ?? setup.config.metricsPort);
  if (!port) return undefined;
  const app = buildApi({
    metrics: setup.metrics,
    redis,
    kafka: setup.connected.kafka,
    namespace: setup.connected.settings.namespace,
  });
  // METRICS_HOST=0.0.0.0 lets a Prometheus in another container scrape it.
  const host = process.env.METRICS_HOST ?? '127.0.0.1';
  await app.listen({ host, port });
  logger.info({ host, port }, 'serving /metrics and /healthz');
  return app;
}

export function registerRoles(program: Command): void {
  /** A consuming role's command: set up, start, serve /metrics, stop on SIGTERM/SIGINT. */
  const roleCommand = (
    name: string,
    description: string,
    start: (setup: RoleSetup) => Promise<{ stop: () => Promise<void> }>,
  ) =>
    withRoleOptions(program.command(name).description(description)).action(async (opts: RoleOptions) => {
      const setup = await setUpRole(name, opts);
      const role = await start(setup);
      const http = await serveMetrics(setup, opts.metricsPort);
      stopOnSignals(async () => {
        await role.stop();
        await http?.close();
      });
    });
  roleCommand('distiller', 'run the distiller role: notifications → events', (setup) =>
    startDistiller(setup.connected.kafka, setup.connected.settings, setup.topology.distill, {
      metrics: setup.metrics,
      serializer: setup.serializer,
    }),
  );
  roleCommand('matcher', 'run the matcher role: events → stream state → streams', (setup) =>
    startMatcher(
      setup.connected.kafka,
      setup.connected.connection.redisUrl,
      setup.connected.settings,
      setup.topology.triggers,
      setup.metrics,
      setup.serializer,
    ),
  );
  roleCommand('worker', 'run the pipeline worker role: streams → handlers', (setup) =>
    startWorker(
      setup.connected.kafka,
      setup.connected.connection.redisUrl,
      setup.connected.settings,
      workerOptions(setup),
      setup.metrics,
      setup.serializer,
    ),
  );
  withRoleOptions(program.command('api').description('serve the query/admin HTTP API, /metrics and /healthz'))
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port', '8080')
    .option('--token <token>', 'require this bearer token', process.env.WINCHESTER_API_TOKEN)
    .action(async (opts: RoleOptions & { host: string; port: string; token?: string }) => {
      const setup = await setUpRole('api', opts);
      const redis = new Redis(setup.connected.connection.redisUrl);
      const tx = new Redis(setup.connected.connection.redisUrl);
      const app = buildApi({
        metrics: setup.metrics,
        redis,
        redisForTransactions: tx,
        kafka: setup.connected.kafka,
        namespace: setup.connected.settings.namespace,
        bearerToken: opts.token,
      });
      const address = await app.listen({ host: opts.host, port: Number(opts.port) });
      process.stdout.write(`winchester api on ${address}\n`);
      stopOnSignals(async () => {
        await app.close();
        redis.disconnect();
        tx.disconnect();
      });
    });

  program
    .command('simulate')
    .description('run notifications (JSON lines on stdin) through distill → match → streams in one process')
    .requiredOption('-t, --topology <dir>', 'topology bundle directory')
    .option('-c, --config <file>', 'winchester.yaml', process.env.WINCHESTER_CONFIG)
    .option('--clock <mode>', 'event (follow the notifications) or wall', 'event')
    .option('--drain', 'at end of input, advance the clock past every expiration')
    .option(
      '--pipelines',
      "also run each stream's pipeline (dry run: nothing leaves the process), print new events and feed them back",
    )
    .action(
      async (opts: {
        topology: string;
        config?: string;
        clock: string;
        drain?: boolean;
        pipelines?: boolean;
      }) => {
        if (opts.clock !== 'event' && opts.clock !== 'wall') throw new Error('--clock is event or wall');
        const config = loadWinchesterConfig(opts.config);
        const topology = loadTopology(opts.topology, config);
        for (const warning of topology.warnings) logger.warn(warning);
        const out = (line: string) => process.stdout.write(`${line}\n`);
        let withPipelines: PipelineSimulation | undefined;
        const simulation = new Simulation(topology.triggers, opts.clock, (record) => {
          out(JSON.stringify(streamSummary(record)));
          withPipelines?.streamFinished(record);
        });
        if (opts.pipelines) {
          withPipelines = new PipelineSimulation(
            simulation,
            {
              pipelines: topology.pipelines,
              handlers: topology.handlers,
              handlerTimeoutMs: config.handlerTimeoutSeconds * 1000,
              maxHops: config.maxPipelineHops,
              logger,
            },
            (event) => out(`{"kind":"new_event","event":${toCanonicalJson(event)}}`),
          );
        }
        const run = withPipelines ?? simulation;
        let rejected = 0;
        for await (const line of createInterface({ input: process.stdin })) {
          if (!line.trim()) continue;
          const outcome = topology.distill(line);
          if (outcome.kind === 'event') await run.push(outcome.event);
          else if (outcome.kind === 'error') {
            rejected++;
            process.stderr.write(
              `${JSON.stringify({ reason: outcome.reason, message_id: outcome.messageId })}\n`,
            );
          }
        }
        // With the clock at the end of time, streams that new events open are due at once.
        if (opts.drain) await run.advance(END_OF_TIME);
        logger.info(
          {
            streams: simulation.records.length,
            rejected,
            unmatched: simulation.unmatched,
            ...withPipelines?.tally,
          },
          'simulation done',
        );
      },
    );

  const streams = program.command('streams').description('inspect and retry streams in Redis');
  streams
    .command('list')
    .option('--state <state>', 'only streams in this state (e.g. error)')
    .option('--trigger <name>', 'only streams of this trigger')
    .option('--count <n>', 'at most this many', '100')
    .option('--namespace <ns>', 'namespace', process.env.WINCHESTER_NAMESPACE ?? 'winchester')
    .action(async (opts: { state?: string; trigger?: string; count: string; namespace: string }) => {
      const { connection } = await connect({ namespace: opts.namespace });
      const redis = new Redis(connection.redisUrl);
      try {
        const found = await findStreams(redis, opts.namespace, {
          state: opts.state as StreamState | undefined,
          trigger: opts.trigger,
          count: Number(opts.count),
        });
        for (const s of found) {
          process.stdout.write(
            `${s.id}\t${s.trigger}\t${s.state}\t${s.eventCount} events\t${formatMicros(s.first)} … ${formatMicros(s.last)}\n`,
          );
        }
      } finally {
        redis.disconnect();
      }
    });
  streams
    .command('reset')
    .description('retry a failed stream: error → retry_fire, expire_error → retry_expire')
    .argument('<id>', 'stream id')
    .option('--namespace <ns>', 'namespace', process.env.WINCHESTER_NAMESPACE ?? 'winchester')
    .action(async (id: string, opts: { namespace: string }) => {
      const { connection } = await connect({ namespace: opts.namespace });
      const redis = new Redis(connection.redisUrl);
      try {
        const meta = await resetStream(redis, opts.namespace, id);
        process.stdout.write(`${id} is now ${meta.state}; its matcher re-emits it\n`);
      } finally {
        redis.disconnect();
      }
    });
}
