import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { ConfigurationError } from '../config/errors';
import { WinchesterConfig, loadWinchesterConfig } from '../config/winchester-config';
import { entriesOf, isMapping, loadYaml11 } from '../config/yaml11';
import { toCanonicalJson } from '../events/event';
import { PipelineCatalog } from '../pipeline/catalog';
import { PipelineSimulation } from '../pipeline/offline';
import { END_OF_TIME, Simulation, streamSummary } from '../streams/simulate';
import { LoadedTopology, loadTopology } from '../topology/bundle';
import { logger } from '../util/logger';
import { openLines, requireSomeValid } from './input';

interface SimulateOptions {
  topology: string;
  config?: string;
  clock: 'event' | 'wall';
  drain?: boolean;
  pipelines?: boolean;
  changes?: string;
}

/** One live change of `--changes`: version `version` is applied before notification `at`. */
export interface TopologyChange {
  at: number;
  version: number;
  /** The bundle directory, resolved against the changes file's directory. */
  bundle: string;
  topology: LoadedTopology;
}

/**
 * Reads `--changes FILE`: a YAML (or JSON) list of `{at: <notification index>, bundle: <dir>}`,
 * bundles relative to the file, `at` never going back. Entry k (from 1) is version k. Every
 * bundle is loaded and checked now, so a mistake fails before any input is read, with its
 * file and line.
 */
export function readTopologyChanges(file: string, config: WinchesterConfig): TopologyChange[] {
  const doc = loadYaml11(readFileSync(file, 'utf8'), file);
  const fail = (path: (string | number)[], message: string): never => {
    throw new ConfigurationError(`${file}:${doc.locate(path).line}: ${message}`);
  };
  if (!Array.isArray(doc.value))
    fail([], 'expected a list of changes, each {at: <notification index>, bundle: <dir>}');
  const changes: TopologyChange[] = [];
  (doc.value as unknown[]).forEach((entry, i) => {
    const { at, bundle } = changeEntry(entry, (message, key) => fail(key ? [i, key] : [i], message));
    const previous = changes[changes.length - 1];
    if (previous && at < previous.at)
      fail([i, 'at'], `at ${at} comes before the previous change's ${previous.at}`);
    const dir = resolve(dirname(file), bundle);
    changes.push({ at, version: i + 1, bundle: dir, topology: loadTopology(dir, config) });
  });
  return changes;
}

/** One entry's `at` and `bundle`, or the reason it is not one. */
function changeEntry(entry: unknown, fail: (message: string, key?: string) => never) {
  if (!isMapping(entry)) return fail('expected {at: <notification index>, bundle: <dir>}');
  const fields = new Map(entriesOf(entry).map(([k, v]) => [String(k), v]));
  for (const key of fields.keys())
    if (key !== 'at' && key !== 'bundle')
      fail(`unknown key ${JSON.stringify(key)} (expected at, bundle)`, key);
  const at = fields.get('at');
  const bundle = fields.get('bundle');
  if (!Number.isSafeInteger(at) || (at as number) < 0)
    fail(
      `at: expected a notification index (0, 1, …), got ${JSON.stringify(at)}`,
      fields.has('at') ? 'at' : undefined,
    );
  if (typeof bundle !== 'string' || bundle === '')
    fail(
      `bundle: expected a directory, got ${JSON.stringify(bundle)}`,
      fields.has('bundle') ? 'bundle' : undefined,
    );
  return { at: at as number, bundle: bundle as string };
}

const out = (line: string) => process.stdout.write(`${line}\n`);

async function simulate(file: string | undefined, opts: SimulateOptions): Promise<void> {
  const config = loadWinchesterConfig(opts.config);
  let topology = loadTopology(opts.topology, config);
  for (const warning of topology.warnings) logger.warn(warning);
  const changes = opts.changes ? readTopologyChanges(opts.changes, config) : [];
  const input = openLines(file);
  let withPipelines: PipelineSimulation | undefined;
  const simulation = new Simulation(topology.triggers, opts.clock, (record) => {
    out(JSON.stringify(streamSummary(record)));
    withPipelines?.streamFinished(record);
  });
  if (opts.pipelines) withPipelines = pipelineSimulation(simulation, config, topology, changes);
  const run = withPipelines ?? simulation;
  let lines = 0;
  let rejected = 0;
  let nextChange = 0;
  for await (const line of input.lines) {
    if (!line.trim()) continue;
    // Changes due before this notification: its distillation and matching use the new version.
    for (; nextChange < changes.length && changes[nextChange].at <= lines; nextChange++) {
      topology = await applyChange(simulation, changes[nextChange]);
    }
    lines++;
    const outcome = topology.distill(line);
    if (outcome.kind === 'event') await run.push(outcome.event);
    else if (outcome.kind === 'error') {
      rejected++;
      process.stderr.write(`${JSON.stringify({ reason: outcome.reason, message_id: outcome.messageId })}\n`);
    }
  }
  requireSomeValid(input, lines - rejected, lines, 'notification');
  for (const change of changes.slice(nextChange)) {
    logger.warn(
      { version: change.version, at: change.at, lines },
      'change never applied: the input ended first',
    );
  }
  // With the clock at the end of time, streams that new events open are due at once.
  if (opts.drain) await run.advance(END_OF_TIME);
  logger.info(
    {
      streams: simulation.records.length,
      rejected,
      unmatched: simulation.unmatched,
      ...withPipelines?.tally,
      ...(withPipelines && { retriesWaiting: withPipelines.retriesWaiting }),
    },
    'simulation done',
  );
}

/** `--pipelines`: each stream's pipeline run in dry run, its new events printed and fed back. */
function pipelineSimulation(
  simulation: Simulation,
  config: WinchesterConfig,
  topology: LoadedTopology,
  changes: TopologyChange[],
): PipelineSimulation {
  return new PipelineSimulation(
    simulation,
    {
      pipelines: topology.pipelines,
      handlers: topology.handlers,
      handlerTimeoutMs: config.handlerTimeoutSeconds * 1000,
      maxHops: config.maxPipelineHops,
      retries: topology.retries,
      logger,
      catalog: changedPipelines(simulation, topology, changes),
    },
    (event) => out(`{"kind":"new_event","event":${toCanonicalJson(event)}}`),
  );
}

/**
 * The pipelines of every version, for `--pipelines`: a stream runs those of the version current
 * when it fired or expired (its record's pipeline_version), as the worker does.
 */
function changedPipelines(
  simulation: Simulation,
  base: LoadedTopology,
  changes: TopologyChange[],
): PipelineCatalog {
  return {
    current: {
      get version() {
        return simulation.version;
      },
    },
    topologyOf: (version) => (version === 0 ? base : changes[version - 1]?.topology),
  };
}

/** Makes a change's bundle current: its distiller from this notification, its triggers from this event. */
async function applyChange(simulation: Simulation, change: TopologyChange): Promise<LoadedTopology> {
  for (const warning of change.topology.warnings) logger.warn(warning);
  await simulation.changeTriggers(change.topology.triggers);
  logger.info({ version: change.version, at: change.at, bundle: change.bundle }, 'topology version applied');
  return change.topology;
}

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('run notifications (JSON lines) through distill → match → streams in one process')
    .argument(
      '[file]',
      'notifications, one JSON object per line (.gz is decompressed); stdin when omitted or "-"',
    )
    .requiredOption('-t, --topology <dir>', 'topology bundle directory')
    .option('-c, --config <file>', 'winchester.yaml', process.env.WINCHESTER_CONFIG)
    .addOption(
      new Option('--clock <mode>', 'event (follow the notifications) or wall')
        .choices(['event', 'wall'])
        .default('event'),
    )
    .option('--drain', 'at end of input, advance the clock past every expiration')
    .option(
      '--pipelines',
      "also run each stream's pipeline (dry run: nothing leaves the process), print new events and feed them back; " +
        "a failed run is retried under its pipeline's retry policy on the simulated clock (--drain runs the retries still waiting)",
    )
    .option(
      '--changes <file>',
      'live topology changes: a YAML or JSON list of {at: <notification index, from 0>, bundle: <dir, relative to the file>}; ' +
        'entry k is version k, applied just before notification `at`',
    )
    .action(simulate);
}
