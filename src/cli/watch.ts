import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { localStackDir, readStackEnvFile } from '../config/stack-env';
import { stopOnSignals } from '../topology/role-runner';
import { logger } from '../util/logger';
import { DEFAULT_SHUTDOWN_GRACE_MS, startWatchDaemon, WatchDaemon } from '../watch/daemon';
import { checkWatchDirectory } from '../watch/config-dir';
import { RedisUnreachableError } from '../watch/lease-gates';
import { WatchMetrics } from '../watch/watch-metrics';
import { buildWatchMetricsServer } from '../watch/metrics-server';
import { KILL_AFTER_TERM_SECONDS } from '../watch/spec';
import { ZkConnectStringError } from '../zookeeper/connect-string';
import { checkZnodePath, ZnodePathError } from '../zookeeper/paths';
import { ZkError, ZkSession } from '../zookeeper/session';
import { CommandFailure, portNumber, positiveNumber, UsageError } from './errors';
import { listenOrExplain, metricsPortChoice } from './roles';

/**
 * `winchester watch`: the Twitcher-compatible watch daemon; `watch check DIR` validates a
 * watch directory; `watch poke ZNODE` sets a znode's data (creating it), waking its watchers.
 */

interface WatchOptions {
  configDir: string;
  zookeeper?: string;
  sessionTimeout: string;
  redisUrl?: string;
  namespace: string;
  metricsPort?: string;
}

const DEFAULT_METRICS_PORT = 9464;
/** A poke is one request: ZooKeeper not answering within this is a mistake to report. */
const POKE_CONNECT_TIMEOUT_MS = 5_000;

/** --zookeeper, else ZOOKEEPER_CONNECT, else the local stack's (.stack/env). */
function zookeeperConnect(option: string | undefined): string {
  const connect =
    option ??
    process.env.ZOOKEEPER_CONNECT ??
    readStackEnvFile(join(localStackDir(), 'env')).ZOOKEEPER_CONNECT;
  if (!connect) {
    throw new UsageError(
      'no ZooKeeper to connect to: give --zookeeper HOST:PORT or set ZOOKEEPER_CONNECT ' +
        '(bash scripts/stack.sh start runs a local one)',
    );
  }
  return connect;
}

/** ZooKeeper mistakes a user fixes on the command line: one line, exit 2; Redis down: exit 1. */
function commandError(error: unknown): unknown {
  if (error instanceof ZkConnectStringError || error instanceof ZnodePathError)
    return new UsageError(error.message);
  if (error instanceof ZkError && error.code === 'UNREACHABLE') return new UsageError(error.message);
  if (error instanceof RedisUnreachableError) return new CommandFailure(error.message);
  return error;
}

function metricsPort(option: string | undefined): number | 'off' {
  const choice = metricsPortChoice(option);
  if (choice !== undefined) return choice;
  const fromEnv = process.env.METRICS_PORT;
  return fromEnv ? portNumber('METRICS_PORT', fromEnv) : DEFAULT_METRICS_PORT;
}

/** /metrics and /healthz of the daemon; ready once started with ZooKeeper connected. */
async function serveWatchMetrics(metrics: WatchMetrics, port: number | 'off', ready: () => boolean) {
  if (port === 'off') return { close: async () => undefined };
  // As on every role: /metrics wants this token when it is set; /healthz never does.
  const metricsToken = process.env.WINCHESTER_METRICS_TOKEN;
  const app = buildWatchMetricsServer({ metrics, ready, metricsToken });
  const host = process.env.METRICS_HOST ?? '127.0.0.1';
  const label = '--metrics-port (METRICS_PORT)';
  const address = await listenOrExplain(app, host, port, label);
  logger.info({ address }, `serving ${address}/metrics and /healthz`);
  return { close: () => app.close() };
}

async function runDaemon(opts: WatchOptions): Promise<void> {
  const port = metricsPort(opts.metricsPort);
  const zookeeper = zookeeperConnect(opts.zookeeper);
  const sessionTimeoutMs = positiveNumber('--session-timeout', opts.sessionTimeout) * 1000;
  // Every line of the process carries its role (bound once: a test may run several commands).
  if (logger.bindings().role !== 'watch') logger.setBindings({ role: 'watch' });
  const metrics = new WatchMetrics();
  let daemon: WatchDaemon | undefined;
  const http = await serveWatchMetrics(metrics, port, () => daemon?.ready() ?? false);
  try {
    daemon = await startWatchDaemon({
      configDir: opts.configDir,
      zookeeper,
      sessionTimeoutMs,
      redisUrl: opts.redisUrl ?? process.env.REDIS_URL,
      namespace: opts.namespace,
      metrics,
      log: logger,
    });
  } catch (error) {
    await http.close();
    throw commandError(error);
  }
  const started = daemon;
  // Twitcher read its directory again on SIGHUP; changes are noticed anyway, this makes it now.
  process.on('SIGHUP', () => {
    started.rescan().catch((error: unknown) => logger.error({ err: error }, 'rescan on SIGHUP failed'));
  });
  // Past the daemon's own bound: the grace, then SIGTERM, then SIGKILL 5 s later.
  const deadlineMs = DEFAULT_SHUTDOWN_GRACE_MS + KILL_AFTER_TERM_SECONDS * 1000 + 5_000;
  stopOnSignals(async () => {
    await started.stop();
    await http.close();
  }, deadlineMs);
}

async function checkDirectory(dir: string): Promise<void> {
  const stats = statSync(dir, { throwIfNoEntry: false });
  if (!stats) throw new UsageError(`${dir}: no such directory`);
  if (!stats.isDirectory()) throw new UsageError(`${dir}: not a directory`);
  const report = await checkWatchDirectory(dir);
  process.stdout.write(`${report.lines.join('\n')}\n`);
  process.exitCode = report.exitCode;
}

async function poke(znode: string, data: string, zookeeperOption: string | undefined): Promise<void> {
  try {
    checkZnodePath(znode);
  } catch (error) {
    throw commandError(error);
  }
  const connect = zookeeperConnect(zookeeperOption);
  let session: ZkSession;
  try {
    session = await ZkSession.connect(connect, { connectTimeoutMs: POKE_CONNECT_TIMEOUT_MS });
  } catch (error) {
    throw commandError(error);
  }
  try {
    const result = await session.poke(znode, data);
    process.stdout.write(`${znode}: version ${result.version}${result.created ? ' (created)' : ''}\n`);
  } catch (error) {
    if (error instanceof ZkError) throw new CommandFailure(error.message);
    throw error;
  } finally {
    await session.close();
  }
}

export function registerWatch(program: Command): void {
  const watch = program
    .command('watch')
    .description('run the watch daemon (Twitcher): run an action when a ZooKeeper znode changes')
    .option('--config-dir <dir>', 'watch files (*.twc, *.yaml, *.yml), read recursively', '/etc/twitcher')
    .option(
      '--zookeeper <hosts>',
      "host:port[,host:port...][/chroot] (default: ZOOKEEPER_CONNECT, else the local stack's)",
    )
    .option('--session-timeout <seconds>', 'ZooKeeper session timeout', '10')
    .option('--redis-url <url>', 'Redis for exclusive=True watches (default: REDIS_URL)')
    .option(
      '--namespace <ns>',
      'prefix of the exclusive leases in Redis',
      process.env.WINCHESTER_NAMESPACE ?? 'winchester',
    );
  watch
    .option(
      '--metrics-port <port>',
      `serve /metrics and /healthz here (default: METRICS_PORT, else ${DEFAULT_METRICS_PORT}; 0: any free port; off: none); ` +
        '/metrics wants the bearer token WINCHESTER_METRICS_TOKEN when it is set',
    )
    .action((opts: WatchOptions) => runDaemon(opts));
  watch
    .command('check')
    .description('validate a watch directory: every problem as file:line:column: message (exit code 1)')
    .argument('<dir>', 'the watch directory, e.g. /etc/twitcher')
    .action((dir: string) => checkDirectory(dir));
  watch
    .command('poke')
    .description("set a znode's data, creating it and its parents: its watchers run (takes --zookeeper)")
    .argument('<znode>', 'an absolute znode path, e.g. /git/head')
    .option('--data <text>', 'the new data', '')
    .action((znode: string, opts: { data: string }, command: Command) =>
      poke(znode, opts.data, command.optsWithGlobals<{ zookeeper?: string }>().zookeeper),
    );
}
