import { Counter } from 'prom-client';
import { WinchesterMetrics } from '../metrics/metrics';
import { StreamRecord } from '../streams/model';
import { ProcessorStats } from '../streams/processor';
import { Logger } from '../util/logger';
import { SourceRecord } from './batch-loop';
import { RoleEvents } from './role-events';
import { tally } from '../util/tally';

/** A partition task's stages, as fencing and failures name them. */
export type TaskStage = 'init' | 'process' | 'punctuate' | 'reemit';

/**
 * What the matcher's second stage and its timers make of each repartition partition, for
 * counters, metrics and logs to record.
 */
export type PartitionOutcomes = {
  /** The group assigned this process these repartition partitions. */
  assigned: { partitions: number[] };
  /** A task took its partition: a new owner epoch, and the offset Redis had applied. */
  claimed: { partition: number; epoch: string | null; appliedUpTo: string | null };
  /** Another instance's owner epoch fenced a stage out: the task no longer owns the partition. */
  fencedOut: { partition: number; stage: TaskStage; reason: string };
  /** Stream records taken but never acknowledged (or reset for retry) were produced again. */
  reemitted: { partition: number; records: number };
  /** A repartition record could not be decoded: it went to the events DLQ. */
  undecodable: { source: SourceRecord; error: unknown };
  /** The stream engine counted `by` of `field` for `trigger`. */
  applied: { trigger: string; field: keyof ProcessorStats; by: number };
  /** An optimistic transaction lost to a concurrent writer and is tried again. */
  lockRetry: { trigger: string };
  /** A fired or expired stream's record is being produced to `streams`. */
  emitting: { record: StreamRecord };
  /** A stream record too large for `streams` even compressed: a DLQ record instead. */
  tooLarge: { record: StreamRecord; bytes: number };
  /** A timer-loop turn failed on one partition; the loop goes on with the others. */
  timerFailed: { partition: number; error: unknown };
  /** A timer-loop turn failed as a whole; the next turn starts afresh. */
  timerLoopFailed: { error: unknown };
  /** Active streams and timer lag over the partitions this process owns. */
  timerGauges: { activeStreams: number; timerLagSeconds: number };
};

/** The matcher's counters that stage 2 and the timers keep. */
export interface PartitionCounters {
  dlq: Map<string, number>;
  lockRetries: Map<string, number>;
  streamsTooLarge: number;
  reemitted: number;
}

interface PartitionRecorders {
  counters: PartitionCounters;
  metrics?: WinchesterMetrics;
  log: Logger;
}

/** Stage 2's and the timers' counters, metrics and log lines, each fed by the outcomes it records. */
export function recordPartitionOutcomes(
  events: RoleEvents<PartitionOutcomes>,
  { counters, metrics, log }: PartitionRecorders,
): void {
  events
    .on('assigned', ({ partitions }) => log.info({ repartition: partitions }, 'assignment'))
    .on('claimed', ({ partition, epoch, appliedUpTo }) =>
      log.info({ partition, epoch, appliedUpTo }, 'claimed partition'),
    )
    .on('fencedOut', ({ partition, stage, reason }) => log.warn({ partition, stage }, reason))
    .on('reemitted', ({ records }) => {
      counters.reemitted += records;
      metrics?.reemitted.inc(records);
    })
    .on('undecodable', () => tally(counters.dlq, 'undecodable repartition record'))
    .on('applied', ({ trigger, field, by }) => {
      if (metrics) statMetric(metrics, field)?.inc({ trigger }, by);
    })
    .on('lockRetry', ({ trigger }) => {
      tally(counters.lockRetries, trigger);
      metrics?.lockRetries.inc({ trigger });
    })
    .on('emitting', ({ record }) => {
      const { trigger, stream_id, serial, events: streamEvents, kind } = record;
      const message = kind === 'fired' ? 'stream fired' : 'stream expired';
      log.debug({ trigger, stream_id, serial, events: streamEvents.length }, message);
    })
    .on('tooLarge', () => {
      counters.streamsTooLarge++;
      metrics?.streamsTooLarge.inc();
    })
    .on('timerFailed', ({ partition, error }) => log.error({ err: error, partition }, 'timer run failed'))
    .on('timerLoopFailed', ({ error }) => log.error({ err: error }, 'timer loop failed'))
    .on('timerGauges', ({ activeStreams, timerLagSeconds }) => {
      metrics?.activeStreams.set(activeStreams);
      metrics?.timerLag.set(timerLagSeconds);
    });
}

/** The per-trigger counter of a stream-engine statistic (events applied have none). */
function statMetric(metrics: WinchesterMetrics, field: keyof ProcessorStats): Counter<'trigger'> | undefined {
  const byField: Record<keyof ProcessorStats, Counter<'trigger'> | undefined> = {
    streamsOpened: metrics.streamsOpened,
    streamsFired: metrics.streamsFired,
    streamsExpired: metrics.streamsExpired,
    duplicatesIgnored: metrics.duplicateEvents,
    eventsApplied: undefined,
  };
  return byField[field];
}
