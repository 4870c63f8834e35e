import { DLQ_REASON, WinchesterMetrics } from '../metrics/metrics';
import { Logger } from '../util/logger';
import { tally } from '../util/tally';
import { BatchOrigin, SourceRecord } from './batch-loop';
import { shortReason } from './records';
import { RoleEvents } from './role-events';

/**
 * The store calls the archiver retries until they go through, as the `operation` label of
 * `winchester_archiver_store_errors_total` names them: events, and completed streams.
 */
export type WriteOperation = 'record' | 'record_streams';

/** Why a record goes to the archiver's DLQ. */
export type RejectionCause = 'undecodable' | 'undecodable-completion' | 'store';

/** The DLQ reason labels of `winchester_dlq_records_total`, by cause. */
export const ARCHIVER_DLQ_REASON: Record<RejectionCause, string> = {
  undecodable: DLQ_REASON.undecodableEvent,
  'undecodable-completion': DLQ_REASON.undecodableCompletion,
  store: DLQ_REASON.storeRejected,
};

/** What the archiver makes of each record and each store call, for counters, metrics and logs. */
export type ArchiverOutcomes = {
  /** A record was read from `events` or `streams.completed`. */
  consumed: SourceRecord;
  /**
   * One chunk's events went to the store in one call taking `seconds`: `stored` are new,
   * `duplicates` the store already had (a redelivery), the rest it refused (see `rejected`).
   */
  written: { events: number; stored: number; duplicates: number; seconds: number };
  /** One chunk's completion records went to the store: `recorded` new, the rest it already had. */
  streamsWritten: { streams: number; recorded: number; seconds: number };
  /** A record goes to the archiver's DLQ: not an event or completion record, or refused by the store. */
  rejected: { source: SourceRecord; cause: RejectionCause; reason: string; messageId?: string };
  /** A write failed: the archiver pauses, and writes the same chunk again in `retryInMs`. */
  storeError: {
    operation: WriteOperation;
    error: unknown;
    records: number;
    attempt: number;
    retryInMs: number;
  };
  /** A write went through after `failures` failed attempts. */
  resumed: { operation: WriteOperation; failures: number; pausedSeconds: number };
  /** A chunk was left unwritten (its partition was taken away, or the role is stopping): it comes again. */
  abandoned: { batch: BatchOrigin; records: number };
  /** `event_ttl` expiry removed `events` events. */
  expired: { events: number; partitionsDropped: number; seconds: number };
  /** `event_ttl` expiry removed `streams` completed streams. */
  streamsExpired: { streams: number; seconds: number };
  /** An expiry call failed; the next turn tries again. */
  expiryFailed: { of: 'events' | 'completed streams'; error: unknown };
};

export interface ArchiverCounters {
  consumed: number;
  stored: number;
  duplicates: number;
  /** Completion records stored as completed streams, and those the store already had. */
  streamsRecorded: number;
  streamDuplicates: number;
  /** Records sent to the DLQ, by cause. */
  rejected: Map<RejectionCause, number>;
  storeErrors: number;
  expired: number;
  streamsExpired: number;
}

export const newArchiverCounters = (): ArchiverCounters => ({
  consumed: 0,
  stored: 0,
  duplicates: 0,
  streamsRecorded: 0,
  streamDuplicates: 0,
  rejected: new Map(),
  storeErrors: 0,
  expired: 0,
  streamsExpired: 0,
});

interface ArchiverRecorders {
  counters: ArchiverCounters;
  metrics?: WinchesterMetrics;
  log: Logger;
  dlqTopic: string;
}

/** The archiver's counters, metrics and log lines, each fed by the outcomes it records. */
export function recordArchiverOutcomes(
  events: RoleEvents<ArchiverOutcomes>,
  recorders: ArchiverRecorders,
): void {
  recordWrites(events, recorders);
  recordStoreErrors(events, recorders);
  recordExpiry(events, recorders);
}

function recordWrites(
  events: RoleEvents<ArchiverOutcomes>,
  { counters, metrics, log, dlqTopic }: ArchiverRecorders,
): void {
  events
    .on('consumed', () => void counters.consumed++)
    .on('written', ({ stored, duplicates, seconds }) => {
      counters.stored += stored;
      counters.duplicates += duplicates;
      metrics?.archivedEvents.inc(stored);
      metrics?.archiverDuplicates.inc(duplicates);
      metrics?.archiverBatchSeconds.observe(seconds);
    })
    .on('streamsWritten', ({ streams, recorded }) => {
      counters.streamsRecorded += recorded;
      counters.streamDuplicates += streams - recorded;
    })
    .on('rejected', ({ source, cause, reason, messageId }) => {
      tally(counters.rejected, cause);
      const label = ARCHIVER_DLQ_REASON[cause];
      metrics?.dlqRecords.inc({ topic: dlqTopic, reason: label });
      const { topic, partition, message } = source;
      const where = { topic, partition, offset: message.offset, message_id: messageId?.slice(0, 256) };
      log.warn({ ...where, reason: shortReason(reason) }, `${label}: sent to the DLQ`);
    })
    .on('abandoned', ({ batch, records }) =>
      log.info({ ...batch, records }, 'unwritten chunk left for redelivery (partition revoked or stopping)'),
    );
}

function recordStoreErrors(
  events: RoleEvents<ArchiverOutcomes>,
  { counters, metrics, log }: ArchiverRecorders,
): void {
  events
    .on('storeError', ({ operation, error, records, attempt, retryInMs }) => {
      counters.storeErrors++;
      metrics?.archiverStoreErrors.inc({ operation });
      log.warn(
        { operation, error: shortReason(error), records, attempt, retry_in_ms: retryInMs },
        'event store write failed: paused, the same records are written again after the back-off',
      );
    })
    .on('resumed', ({ operation, failures, pausedSeconds }) =>
      log.info({ operation, failures, paused_seconds: pausedSeconds }, 'event store writes resumed'),
    );
}

function recordExpiry(
  events: RoleEvents<ArchiverOutcomes>,
  { counters, metrics, log }: ArchiverRecorders,
): void {
  events
    .on('expired', ({ events: count, partitionsDropped, seconds }) => {
      counters.expired += count;
      metrics?.expiredEvents.inc(count);
      log.info({ events: count, partitions_dropped: partitionsDropped, seconds }, 'expired events removed');
    })
    .on('streamsExpired', ({ streams, seconds }) => {
      counters.streamsExpired += streams;
      log.info({ streams, seconds }, 'expired completed streams removed');
    })
    .on('expiryFailed', ({ of, error }) => {
      counters.storeErrors++;
      metrics?.archiverStoreErrors.inc({ operation: 'expire' });
      log.warn({ of, error: shortReason(error) }, 'expiry failed; the next turn tries again');
    });
}
