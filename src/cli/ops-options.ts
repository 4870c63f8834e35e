import { Command } from 'commander';
import { ConfigurationError } from '../config/errors';
import { loadWinchesterConfig, WinchesterConfig } from '../config/winchester-config';
import { OpsInputError } from '../ops/scan';
import { connect, Connected } from './connect';
import { positiveNumber } from './errors';

/** Options every operator command takes, read the way the roles read them. */
export interface OpsOptions {
  config?: string;
  topology?: string;
  namespace?: string;
}

/** -c: winchester.yaml, by default WINCHESTER_CONFIG's. */
export const withConfigFile = (command: Command) =>
  command.option('-c, --config <file>', 'winchester.yaml', process.env.WINCHESTER_CONFIG);

/** -t: the topology bundle, which roles need and operator tools accept. */
export const withTopology = (command: Command, required: boolean) =>
  required
    ? command.requiredOption(
        '-t, --topology <dir>',
        'topology bundle directory (event_definitions, triggers, pipelines)',
      )
    : command.option(
        '-t, --topology <dir>',
        'topology bundle directory (not needed here; accepted for symmetry)',
      );

/** -c and --namespace, read as the roles read them: --namespace acts as WINCHESTER_NAMESPACE. */
export const withConfigOptions = (command: Command) =>
  withConfigFile(command).option(
    '--namespace <ns>',
    'topic/key namespace (default: WINCHESTER_NAMESPACE, the config file, winchester)',
  );

export const withOpsOptions = (command: Command, topologyRequired = false) =>
  withConfigOptions(withTopology(command, topologyRequired));

/** The config file (with its env overrides), then connections; `--namespace` acts as WINCHESTER_NAMESPACE. */
export async function opsSetup(
  opts: OpsOptions,
): Promise<{ config: WinchesterConfig; connected: Connected }> {
  const config = opsConfig(opts);
  return { config, connected: await connect(config.topology) };
}

/** The config file alone, for commands that connect to Redis only or connect later. */
export function opsConfig(opts: OpsOptions): WinchesterConfig {
  const env =
    opts.namespace !== undefined ? { ...process.env, WINCHESTER_NAMESPACE: opts.namespace } : process.env;
  return loadWinchesterConfig(opts.config, env);
}

/** An optional positive integer option (undefined when not given). */
export const positiveInt = (name: string, text: string | undefined): number | undefined =>
  text === undefined ? undefined : positiveNumber(name, text, true);

/** Bad input to an operator command is reported like bad configuration: one line, exit code 2. */
export function asUsageError<A extends unknown[]>(action: (...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    try {
      await action(...args);
    } catch (error) {
      if (error instanceof OpsInputError) throw new ConfigurationError(error.message);
      throw error;
    }
  };
}
