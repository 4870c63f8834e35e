import { Command, Option } from 'commander';
import { loadWinchesterConfig } from '../config/winchester-config';
import { toCanonicalJson } from '../events/event';
import { PipelineSimulation } from '../pipeline/offline';
import { END_OF_TIME, Simulation, streamSummary } from '../streams/simulate';
import { loadTopology } from '../topology/bundle';
import { logger } from '../util/logger';
import { openLines, requireSomeValid } from './input';

interface SimulateOptions {
  topology: string;
  config?: string;
  clock: 'event' | 'wall';
  drain?: boolean;
  pipelines?: boolean;
}

const out = (line: string) => process.stdout.write(`${line}\n`);

async function simulate(file: string | undefined, opts: SimulateOptions): Promise<void> {
  const config = loadWinchesterConfig(opts.config);
  const topology = loadTopology(opts.topology, config);
  for (const warning of topology.warnings) logger.warn(warning);
  const input = openLines(file);
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
        retries: topology.retries,
        logger,
      },
      (event) => out(`{"kind":"new_event","event":${toCanonicalJson(event)}}`),
    );
  }
  const run = withPipelines ?? simulation;
  let lines = 0;
  let rejected = 0;
  for await (const line of input.lines) {
    if (!line.trim()) continue;
    lines++;
    const outcome = topology.distill(line);
    if (outcome.kind === 'event') await run.push(outcome.event);
    else if (outcome.kind === 'error') {
      rejected++;
      process.stderr.write(`${JSON.stringify({ reason: outcome.reason, message_id: outcome.messageId })}\n`);
    }
  }
  requireSomeValid(input, lines - rejected, lines, 'notification');
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
    .action(simulate);
}
