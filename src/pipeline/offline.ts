import { WinchesterEvent } from '../events/event';
import { StreamRecord } from '../streams/model';
import { Simulation } from '../streams/simulate';
import { Micros } from '../time/micros';
import { Logger } from '../util/logger';
import { HandlerContext } from './handler';
import { runStream, StreamOutcome, StreamRunOptions } from './stream-run';

export interface OfflinePipelineOptions extends StreamRunOptions {
  logger: Logger;
  /** The pipeline's idea of now (the simulation clock under the event clock). */
  now: () => Micros;
}

export interface OfflineOutcome {
  outcome: StreamOutcome;
  /** New events to feed back, with their generation (`hops`) set as the worker sets it. */
  newEvents: WinchesterEvent[];
  /** New events the loop guard held back. */
  loopGuardDropped: number;
  error?: string;
}

/**
 * Runs a fired or expired stream's pipeline in this process, as a worker would, with every
 * handler in dry-run mode: what would leave the process (HTTP posts, Kafka records,
 * commands) is logged instead. Used by `simulate --pipelines` to try pipelines offline.
 */
export async function runPipelineOffline(
  record: StreamRecord,
  options: OfflinePipelineOptions,
): Promise<OfflineOutcome> {
  const log = options.logger.child({ stream_id: record.stream_id, trigger: record.trigger });
  const context: HandlerContext = {
    logger: log,
    dryRun: true,
    publish: async (topic, messages) => {
      log.info({ topic, records: messages.length }, 'dry run: records not published');
    },
    now: options.now,
  };
  const run = await runStream(record, options, context);
  if (run.heldBack.length) {
    log.error(
      { hops: run.hops, new_events: run.heldBack.length },
      'loop guard: new events not fed back (too many pipeline generations)',
    );
  }
  return {
    outcome: run.outcome,
    newEvents: run.newEvents,
    loopGuardDropped: run.heldBack.length,
    ...(run.error === undefined ? {} : { error: run.error }),
  };
}

export interface OfflineTally {
  newEvents: number;
  pipelineErrors: number;
  loopGuardDropped: number;
}

/**
 * A simulation whose fired and expired streams also run their pipelines offline: each new
 * event goes to `onNewEvent` and back into the simulation, as the worker sends it to
 * `events`, where it may fire further streams. Pipelines run after the step that emitted
 * their streams, in emission order.
 */
export class PipelineSimulation {
  readonly tally: OfflineTally = { newEvents: 0, pipelineErrors: 0, loopGuardDropped: 0 };
  private readonly finished: StreamRecord[] = [];

  constructor(
    private readonly simulation: Simulation,
    private readonly options: Omit<OfflinePipelineOptions, 'now'>,
    private readonly onNewEvent: (event: WinchesterEvent) => void,
  ) {}

  /** Hand every record the simulation emits to this (its `onRecord`). */
  readonly streamFinished = (record: StreamRecord): void => {
    this.finished.push(record);
  };

  async push(event: WinchesterEvent): Promise<void> {
    await this.simulation.push(event);
    await this.runPipelines();
  }

  async advance(to: Micros): Promise<void> {
    await this.simulation.advance(to);
    await this.runPipelines();
  }

  private async runPipelines(): Promise<void> {
    const options = { ...this.options, now: () => this.simulation.currentTime };
    while (this.finished.length) {
      const record = this.finished.shift()!;
      const result = await runPipelineOffline(record, options);
      if (result.error) {
        this.tally.pipelineErrors++;
        this.options.logger.error(
          {
            stream_id: record.stream_id,
            trigger: record.trigger,
            outcome: result.outcome,
            error: result.error,
          },
          'pipeline failed',
        );
      }
      this.tally.loopGuardDropped += result.loopGuardDropped;
      for (const event of result.newEvents) {
        this.tally.newEvents++;
        this.onNewEvent(event);
        // Records this emits join the queue and run in this same loop.
        await this.simulation.push(event);
      }
    }
  }
}
