import { Command } from 'commander';
import { amqpUrlProblem } from '../amqp/errors';
import { startBridge } from '../bridge/bridge-role';
import { loadWinchesterConfig } from '../config/winchester-config';
import { WinchesterMetrics } from '../metrics/metrics';
import { stopOnSignals } from '../topology/role-runner';
import { ensureTopicsOnce } from '../topology/topics';
import { applyConfiguredLevel, logger } from '../util/logger';
import { connect } from './connect';
import { CommandFailure, UsageError } from './errors';
import { withConfigFile } from './ops-options';
import { metricsPortChoice, serveMetrics, withMetricsPort } from './roles';

interface BridgeCommandOptions {
  config?: string;
  metricsPort?: string;
}

/** `winchester bridge`: OpenStack's notification queues on RabbitMQ → the topology's input topic. */
export function registerBridge(program: Command): void {
  withMetricsPort(withConfigFile(program.command('bridge')))
    .description(
      'consume OpenStack notifications from RabbitMQ (AMQP_URL; the bridge: section says which exchanges and topics) into the input topic',
    )
    .action(async (opts: BridgeCommandOptions) => {
      const metricsPort = metricsPortChoice(opts.metricsPort);
      const config = loadWinchesterConfig(opts.config);
      logger.setBindings({ role: 'bridge' });
      applyConfiguredLevel(config.logLevel);
      for (const warning of config.warnings) logger.warn(warning);
      const amqpUrl = process.env.AMQP_URL;
      const problem = amqpUrlProblem(amqpUrl);
      if (problem) throw new UsageError(problem);
      const connected = await connect(config.topology);
      await ensureTopicsOnce(connected.kafka, connected.settings);
      const metrics = new WinchesterMetrics('bridge');
      // RabbitMQ's answer first: a wrong AMQP_URL is then the one line the command prints.
      const bridge = await startBridge(connected.kafka, amqpUrl!, connected.settings, config.bridge, {
        metrics,
        stopTimeoutMs: 8000,
      }).catch((error: unknown) => {
        throw new CommandFailure((error as Error).message);
      });
      const http = await serveMetrics({ metrics, connected, config }, metricsPort).catch(async (error) => {
        await bridge.stop();
        throw error;
      });
      http.markStarted();
      stopOnSignals(async () => {
        await bridge.stop();
        await http.close();
      });
    });
}
