import { Command } from 'commander';
import { FastifyInstance } from 'fastify';
import { buildApi } from '../api/server';
import { loadWinchesterConfig, WinchesterConfig } from '../config/winchester-config';
import { WinchesterMetrics } from '../metrics/metrics';
import { TopologySerializers, topologySerializers } from '../topology/serialization';
import { loadTopology, LoadedTopology } from '../topology/bundle';
import { startDistiller } from '../topology/distiller-role';
import { startMatcher } from '../topology/matcher-role';
import { stopOnSignals } from '../topology/role-runner';
import { ensureTopicsOnce } from '../topology/topics';
import { startWorker } from '../topology/worker-role';
import { TopologyFollower } from '../topology/versions/follower';
import { triggersFollowing } from '../streams/trigger-catalog';
import { applyConfiguredLevel, logger } from '../util/logger';
import { connect, Connected, requireRedis } from './connect';
import { CommandFailure, portNumber } from './errors';
import { withConfigFile, withTopology } from './ops-options';

export interface RoleOptions {
  config?: string;
  topology: string;
  metricsPort?: string;
}

export const withRoleOptions = (command: Command) => withTopology(withConfigFile(command), true);

/** The --metrics-port option every role command has. */
export const withMetricsPort = (command: Command) =>
  command.option(
    '--metrics-port <port>',
    'serve /metrics and /healthz here (default: METRICS_PORT, else metrics_port, else 9464; 0: any free port; off: none)',
  );

/** The --metrics-port option checked before anything connects: a port, 'off', or the config's. */
export function metricsPortChoice(text: string | undefined): number | 'off' | undefined {
  if (text === undefined || text === 'off') return text;
  return portNumber('--metrics-port', text);
}

export interface RoleSetup {
  config: WinchesterConfig;
  topology: LoadedTopology;
  connected: Connected;
  metrics: WinchesterMetrics;
  /** Events, stream and completion records as JSON, or Avro through the schema registry when SCHEMA_REGISTRY_URL is set. */
  serializers: TopologySerializers;
  /** The applied topology versions (`winchester topology apply`); `topology` is its current one. */
  follower: TopologyFollower;
}

/** Configuration and topology, checked before anything connects, so bad files fail first. */
function loadRoleFiles(role: string, opts: RoleOptions) {
  const config = loadWinchesterConfig(opts.config);
  // Every line of the process carries its role.
  logger.setBindings({ role });
  applyConfiguredLevel(config.logLevel);
  const topology = loadTopology(opts.topology, config);
  for (const warning of topology.warnings) logger.warn(warning);
  return { config, topology };
}

/**
 * Loads and checks everything before any role starts: configuration, then that Kafka (and
 * Redis, for roles that keep state) answer, so each mistake is one line at start.
 */
export async function setUpRole(role: string, opts: RoleOptions, needsRedis = false): Promise<RoleSetup> {
  const { config, topology: base } = loadRoleFiles(role, opts);
  const connected = await connect(config.topology);
  if (needsRedis) await requireRedis(connected.connection.redisUrl);
  await ensureTopicsOnce(connected.kafka, connected.settings);
  // Registers the topology's schemas: one its subject refuses stops the role here.
  const serializers = await topologySerializers(
    connected.connection.schemaRegistryUrl,
    connected.settings.topics,
  );
  const metrics = new WinchesterMetrics(role);
  const { kafka, settings } = connected;
  const follower = await TopologyFollower.start({
    ...{ kafka, namespace: settings.namespace, config, role, base, metrics },
    ...{ maxRecordBytes: settings.maxRecordBytes, settings },
  });
  // An applied version wins over -t: every instance of every role runs the same one.
  const topology = follower.current.topology;
  metrics.initialiseLabels(topology, settings);
  return { config, topology, connected, metrics, serializers, follower };
}

export function workerOptions(setup: Pick<RoleSetup, 'topology' | 'config'>) {
  return {
    pipelines: setup.topology.pipelines,
    retries: setup.topology.retries,
    handlers: setup.topology.handlers,
    purgeCompletedStreams: setup.config.purgeCompletedStreams,
    handlerTimeoutMs: setup.config.handlerTimeoutSeconds * 1000,
    claimTtlMs: 30000,
    maxHops: setup.config.maxPipelineHops,
  };
}

/** Listens (or fails with one line) on the port a user gave; `label` names the option. */
export async function listenOrExplain(
  app: FastifyInstance,
  host: string,
  port: number,
  label: string,
): Promise<string> {
  try {
    return await app.listen({ host, port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND' || code === 'EADDRNOTAVAIL' || code === 'EAI_AGAIN') {
      throw new CommandFailure(`cannot listen on ${host}: not an address of this host (${code})`);
    }
    if (code !== 'EADDRINUSE' && code !== 'EACCES') throw error;
    throw new CommandFailure(
      `${label} ${port} on ${host} ${code === 'EADDRINUSE' ? 'is in use' : 'is not allowed'} ` +
        `(another process on this host?): give each process its own ${label}, or 0 for any free port`,
    );
  }
}

/** What a role's /metrics server needs: its metrics, its Kafka (for /healthz), and metrics_port. */
export type MetricsSource = Pick<RoleSetup, 'metrics' | 'connected'> & {
  config: Pick<WinchesterConfig, 'metricsPort'>;
};

/**
 * The role's /metrics and /healthz server, listening before the role joins its consumer
 * group: a busy port then fails the process before it costs the group a rebalance.
 */
export async function serveMetrics(setup: MetricsSource, choice: number | 'off' | undefined) {
  if (choice === 'off') return { close: async () => undefined, markStarted: () => undefined };
  const port = choice ?? setup.config.metricsPort;
  let started = false;
  const app = buildApi({
    metrics: setup.metrics,
    kafka: setup.connected.kafka,
    namespace: setup.connected.settings.namespace,
    started: () => started,
    // As on `winchester api`: /metrics wants this token when it is set; /healthz never does.
    metricsToken: process.env.WINCHESTER_METRICS_TOKEN,
  });
  // METRICS_HOST=0.0.0.0 lets a Prometheus in another container scrape it.
  const host = process.env.METRICS_HOST ?? '127.0.0.1';
  const label = choice === undefined ? 'metrics port (METRICS_PORT, metrics_port)' : '--metrics-port';
  const address = await listenOrExplain(app, host, port, label);
  logger.info({ address }, `serving ${address}/metrics and /healthz`);
  return { close: () => app.close(), markStarted: () => void (started = true) };
}

type RoleStart = (setup: RoleSetup) => Promise<{ stop: () => Promise<void> }>;

export function registerRoles(program: Command): void {
  /** A consuming role's command: set up, serve /metrics, start, stop on SIGTERM/SIGINT. */
  const roleCommand = (name: string, description: string, needsRedis: boolean, start: RoleStart) =>
    withMetricsPort(withRoleOptions(program.command(name).description(description))).action(
      async (opts: RoleOptions) => {
        const metricsPort = metricsPortChoice(opts.metricsPort);
        const setup = await setUpRole(name, opts, needsRedis);
        const http = await serveMetrics(setup, metricsPort);
        const role = await start(setup);
        http.markStarted();
        stopOnSignals(async () => {
          await role.stop();
          await setup.follower.stop();
          await http.close();
        });
      },
    );
  roleCommand('distiller', 'run the distiller role: notifications → events', false, async (setup) => {
    const distiller = await startDistiller(
      setup.connected.kafka,
      setup.connected.settings,
      setup.topology.distill,
      {
        metrics: setup.metrics,
        serializer: setup.serializers.events,
      },
    );
    // New definitions apply from the next notification.
    setup.follower.onChange((_version, topology) => distiller.setDistill(topology.distill));
    return distiller;
  });
  roleCommand('matcher', 'run the matcher role: events → stream state → streams', true, (setup) =>
    startMatcher(
      setup.connected.kafka,
      setup.connected.connection.redisUrl,
      setup.connected.settings,
      setup.topology.triggers,
      setup.metrics,
      setup.serializers,
      triggersFollowing(setup.follower),
    ),
  );
  roleCommand('worker', 'run the pipeline worker role: streams → handlers', true, (setup) =>
    startWorker(
      setup.connected.kafka,
      setup.connected.connection.redisUrl,
      setup.connected.settings,
      { ...workerOptions(setup), catalog: setup.follower },
      setup.metrics,
      setup.serializers,
    ),
  );
}
