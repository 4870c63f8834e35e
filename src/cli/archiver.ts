import { Command } from 'commander';
import { loadWinchesterConfig } from '../config/winchester-config';
import { WinchesterMetrics } from '../metrics/metrics';
import { PgCompletedStreams } from '../postgres/completed-streams';
import { startArchiver } from '../topology/archiver-role';
import { stopOnSignals } from '../topology/role-runner';
import { connectedDecoders } from '../topology/serialization';
import { ensureTopicsOnce } from '../topology/topics';
import { applyConfiguredLevel, logger } from '../util/logger';
import { connect } from './connect';
import { eventStoreUrl, openEventStore } from './event-store';
import { withConfigFile, withTopology } from './ops-options';
import { metricsPortChoice, serveMetrics, withMetricsPort } from './roles';

interface ArchiverOptions {
  config?: string;
  topology?: string;
  metricsPort?: string;
}

const APPLICATION_NAME = 'winchester-archiver';

/** Everything the role needs, each mistake found before the next thing connects. */
async function setUpArchiver(opts: ArchiverOptions) {
  const metricsPort = metricsPortChoice(opts.metricsPort);
  const config = loadWinchesterConfig(opts.config);
  logger.setBindings({ role: 'archiver' });
  applyConfiguredLevel(config.logLevel);
  const url = eventStoreUrl();
  const store = await openEventStore(url, { createSchema: true, applicationName: APPLICATION_NAME });
  // The schema openEventStore checked holds the completed streams too.
  const completedStreams = PgCompletedStreams.open(url, { applicationName: APPLICATION_NAME });
  const connected = await connect(config.topology);
  await ensureTopicsOnce(connected.kafka, connected.settings);
  const { settings, connection } = connected;
  // A reader: it registers no schema, but a registry that does not answer stops it here.
  const decoders = await connectedDecoders(connection.schemaRegistryUrl);
  const metrics = new WinchesterMetrics('archiver').initialiseLabels(
    { triggers: [], pipelines: new Map() },
    settings,
  );
  return { config, store, completedStreams, connected, decoders, metrics, metricsPort };
}

/**
 * `winchester archiver`: configuration, --metrics-port and EVENT_STORE_URL checked first, then
 * PostgreSQL and Kafka reached (each mistake one line at start), then the role, until SIGTERM.
 */
async function runArchiver(opts: ArchiverOptions): Promise<void> {
  const setup = await setUpArchiver(opts);
  const { config, store, completedStreams, connected } = setup;
  const http = await serveMetrics(setup, setup.metricsPort);
  const ttlSeconds = config.eventTtlSeconds;
  const role = await startArchiver(connected.kafka, connected.settings, store, {
    metrics: setup.metrics,
    decoders: setup.decoders,
    completedStreams,
    ttlSeconds,
  });
  http.markStarted();
  logger.info({ event_ttl_seconds: ttlSeconds ?? null }, 'archiving events and completed streams');
  stopOnSignals(async () => {
    await role.stop();
    await completedStreams.close();
    await http.close();
  });
}

export function registerArchiver(program: Command): void {
  const command = program
    .command('archiver')
    .description('run the archiver role: events and completed streams → the event store (EVENT_STORE_URL)');
  withMetricsPort(withTopology(withConfigFile(command), false)).action(runArchiver);
}
