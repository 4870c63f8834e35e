import { setTimeout as sleep } from 'node:timers/promises';
import { Message, Producer } from 'kafkajs';
import { WinchesterEvent } from '../events/event';
import { DLQ_REASON } from '../metrics/metrics';
import {
  PipelineCatalog,
  pipelinesFor,
  singleVersionCatalog,
  undefinedPipeline,
  VersionedPipelines,
} from '../pipeline/catalog';
import { HandlerContext, HandlerDefinition } from '../pipeline/handler';
import {
  afterFailedRun,
  FailedAttempts,
  RetryPolicy,
  retryPolicyOf,
  streamErrorRecord,
} from '../pipeline/retry';
import {
  ABANDONED,
  CompletionRecord,
  runVersionedStream,
  StreamOutcome,
  StreamRun,
  StreamRunOptions,
} from '../pipeline/stream-run';
import type { ClaimResult, FinishMove } from '../redis/lifecycle';
import type { Tombstone } from '../redis/stream-meta';
import { StreamRecord } from '../streams/model';
import { BatchLiveness, BatchStages, ChunkOutput, Rejection, SourceRecord } from './batch-loop';
import { RoleEvents } from './role-events';
import { sendAll } from './role-runner';
import { TopologySerializers } from './serialization';
import { TopologySettings } from '../config/topology-settings';

export interface StreamJobOptions extends StreamRunOptions {
  purgeCompletedStreams: boolean;
  claimTtlMs: number;
  /**
   * Pipelines by topology version (the topology follower): each record runs the version it
   * names. Without one, `pipelines`, `handlers` and `retries` are version 0, the only one.
   */
  catalog?: PipelineCatalog;
}

/** What the worker makes of each stream record, for counters, metrics and logs to record. */
export type WorkerOutcomes = {
  /** A record that is no stream record: it goes to the streams DLQ. */
  undecodable: { source: SourceRecord; error: unknown };
  /** Its stream had already finished at its serial: the completion record went out again. */
  reannounced: { record: StreamRecord };
  /** A duplicate or stale record: not runnable at its serial, or its stream moved on while it ran. */
  skipped: { record: StreamRecord; why: 'not-runnable' | 'moved-on' };
  /** Its record names a pipeline its topology version does not define: nothing runs, it completes. */
  pipelineUndefined: { record: StreamRecord; pipeline: string; version?: number };
  /** Its pipeline ran (completed or failed): handler times and failed commits. */
  ran: { record: StreamRecord; run: StreamRun };
  /** The loop guard held back one of its new events. */
  heldBack: { record: StreamRecord; event: WinchesterEvent; hops: number };
  /** `count` new events were produced to `events` (acknowledged). */
  newEventsSent: { count: number };
  /** The stream left firing/expiring and its completion record was produced. */
  finished: { record: StreamRecord; run: StreamRun; newEvents: number; seconds: number };
  /** Its run failed with attempts left: it waits in retry_fire/retry_expire for `failure.retry_at`. */
  retryScheduled: { record: StreamRecord; run: StreamRun; failure: FailedAttempts; seconds: number };
  /** The last attempt its pipeline's retry policy allows failed: the stream is in error for good. */
  exhausted: { record: StreamRecord; failure: FailedAttempts };
  /** A due retry's stream record was produced to `streams` again. */
  retryEmitted: { record: StreamRecord };
  /** Looking for due retries, or producing one, failed (reported once until a turn succeeds): tried again. */
  retryEmitFailed: { error: unknown };
};

/** The stream lifecycle scripts the job needs (src/redis/lifecycle.ts), bound to a namespace. */
export interface StreamLifecycle {
  readTombstone(record: StreamRecord): Promise<Tombstone | null>;
  claim(record: StreamRecord, holder: string, ttlMs: number): Promise<ClaimResult>;
  /** Extends the claim while this holder still has it. */
  renew(record: StreamRecord, holder: string, ttlMs: number): Promise<boolean>;
  /** Moves the stream to `to` while it is still at the record's serial; else 'stale'. */
  finish(record: StreamRecord, to: StreamOutcome, opts: FinishOptions): Promise<'finished' | 'stale'>;
  /** The stream's failed attempts so far (a retry's), or null. */
  readFailedAttempts(record: StreamRecord): Promise<FailedAttempts | null>;
  /** Moves the stream to retry_* at the next serial, due at `failure.retry_at`; else 'stale'. */
  scheduleRetry(record: StreamRecord, failure: FailedAttempts): Promise<'scheduled' | 'stale'>;
}

/**
 * Whether a completed stream is purged, how long its tombstone stays, its completion record,
 * and for a stream ending in error its failed attempts and `streams.errors` record.
 */
export type FinishOptions = FinishMove;

export interface StreamJobDeps {
  lifecycle: StreamLifecycle;
  producer: Producer;
  /** New events and completion records are written with these; stream records read with them. */
  serializers: TopologySerializers;
  events: RoleEvents<WorkerOutcomes>;
  /** What the handlers' effects reach: the worker's logger, Kafka, the wall clock. */
  context: HandlerContext;
}

export interface ClaimTiming {
  /** This worker's name on its claims. */
  holder: string;
  /** How often a held claim (and the batch's session) is renewed while its stream runs. */
  renewEveryMs: number;
  /** How long to wait before trying again a claim another worker holds. */
  claimRetryMs: number;
}

type JobSettings = Pick<TopologySettings, 'topics' | 'maxRecordBytes' | 'seenRetentionSeconds'>;

/**
 * The worker's work on one stream record, as batch-loop stages: claim the stream in Redis
 * (fenced by the record's state serial), run its pipeline (stream-run.ts), finish it (move its
 * state, publish its new events and its completion record). A duplicate or stale record is
 * skipped; one whose partition is taken away meanwhile is abandoned, to be delivered again.
 */
export class StreamJob implements BatchStages<StreamRecord> {
  private readonly sendLimit: { maxBytes: number };
  private readonly catalog: PipelineCatalog;
  /** Every handler kind a run may have used, whatever its version: the role closes them at stop. */
  readonly handlersUsed = new Set<HandlerDefinition>();

  constructor(
    private readonly deps: StreamJobDeps,
    private readonly settings: JobSettings,
    private readonly options: StreamJobOptions,
    private readonly timing: ClaimTiming,
  ) {
    // Produce requests stay within the record limit the topics are sized for.
    this.sendLimit = { maxBytes: settings.maxRecordBytes };
    this.catalog = options.catalog ?? singleVersionCatalog(options);
    for (const definition of options.handlers.values()) this.handlersUsed.add(definition);
  }

  decode({ message }: SourceRecord): Promise<StreamRecord> {
    return this.deps.serializers.streams.decode(message.value ?? Buffer.alloc(0));
  }

  /** With its source in the headers, so `dlq redrive` can put it back once mended. */
  undecodable(source: SourceRecord, error: unknown): Rejection {
    this.deps.events.emit('undecodable', { source, error });
    return { reason: `${DLQ_REASON.undecodableStreamRecord}: ${(error as Error).message}` };
  }

  /** The job's records go straight to their topics (see `finish`); the loop's output stays empty. */
  async route(record: StreamRecord, _source: SourceRecord, out: ChunkOutput, batch: BatchLiveness) {
    if (await this.announceIfFinished(record)) return;
    const claimed = await this.claim(record, batch);
    const ended = claimed === 'claimed' ? await this.runClaimed(record, batch) : claimed;
    if (ended === ABANDONED) out.abandon();
  }

  /**
   * Claims the stream. Not runnable at the record's serial (a duplicate or stale record) ⇒
   * skipped. A live claim elsewhere: that worker finishes the stream, or its claim lapses and
   * this one takes over; meanwhile the batch is kept alive, and abandoned if it goes stale.
   */
  async claim(record: StreamRecord, batch: BatchLiveness): Promise<'claimed' | 'skipped' | typeof ABANDONED> {
    for (;;) {
      const claim = await this.deps.lifecycle.claim(record, this.timing.holder, this.options.claimTtlMs);
      if (claim === 'claimed') return 'claimed';
      if (claim === 'not-runnable') {
        this.deps.events.emit('skipped', { record, why: 'not-runnable' });
        return 'skipped';
      }
      if (batch.isStale() || !batch.isRunning()) return ABANDONED;
      await batch.heartbeat();
      await sleep(this.timing.claimRetryMs);
    }
  }

  /** The pipelines of the record's topology version, or why they cannot run (its run then fails). */
  async pipelinesOf(record: StreamRecord): Promise<VersionedPipelines> {
    const versioned = await pipelinesFor(record, this.catalog);
    for (const definition of versioned.set?.handlers.values() ?? []) this.handlersUsed.add(definition);
    const pipeline = undefinedPipeline(record, versioned);
    if (pipeline)
      this.deps.events.emit('pipelineUndefined', { record, pipeline, version: versioned.version });
    return versioned;
  }

  /** Runs the pipeline of the record's version; abandoned before a handler starts if the partition was taken away. */
  async run(
    record: StreamRecord,
    batch: BatchLiveness,
    versioned?: VersionedPipelines,
  ): Promise<StreamRun | typeof ABANDONED> {
    const pipelines = versioned ?? (await this.pipelinesOf(record));
    const run = await runVersionedStream(record, pipelines, this.options, this.deps.context, {
      mayContinue: () => !batch.isStale(),
    });
    if (run !== ABANDONED) this.deps.events.emit('ran', { record, run });
    return run;
  }

  /**
   * New events first, acknowledged before the stream leaves firing/expiring (a crash between
   * only sends them again, under the same ids); then the finish script; then the completion
   * record (and, for a stream whose last attempt failed, its `streams.errors` record). A
   * stream that moved on meanwhile keeps its state, and the outcome is dropped.
   */
  async finish(
    record: StreamRecord,
    run: StreamRun,
    failure?: FailedAttempts,
  ): Promise<{ newEvents: number } | 'moved-on'> {
    const newEvents = await this.sendNewEvents(record, run);
    const errorRecord = failure && JSON.stringify(streamErrorRecord(record, failure));
    const finished = await this.deps.lifecycle.finish(record, run.outcome, {
      purge: this.options.purgeCompletedStreams,
      tombstoneSeconds: this.settings.seenRetentionSeconds,
      outcome: JSON.stringify(run.completion),
      ...(failure && { failure, errorRecord }),
    });
    if (finished === 'stale') {
      this.deps.events.emit('skipped', { record, why: 'moved-on' });
      return 'moved-on';
    }
    await this.publishCompletion(run.completion);
    if (errorRecord) await this.publishError(record.stream_id, errorRecord);
    return { newEvents };
  }

  /** Run and finish (or wait for a retry) under the claim, renewed (with the batch's session) until done. */
  private async runClaimed(record: StreamRecord, batch: BatchLiveness): Promise<'done' | typeof ABANDONED> {
    const keepAlive = setInterval(() => this.renew(record, batch), this.timing.renewEveryMs);
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const versioned = await this.pipelinesOf(record);
      const run = await this.run(record, batch, versioned);
      if (run === ABANDONED) return ABANDONED;
      const policy = retryPolicyOf(versioned.retries, record.pipeline);
      const failure =
        run.outcome === 'completed' ? undefined : await this.failedAttempts(record, run, policy, versioned);
      if (failure && failure.retry_at !== null) {
        const scheduled = await this.deps.lifecycle.scheduleRetry(record, failure);
        if (scheduled === 'stale') this.deps.events.emit('skipped', { record, why: 'moved-on' });
        else this.deps.events.emit('retryScheduled', { record, run, failure, seconds: seconds() });
        return 'done';
      }
      const finished = await this.finish(record, run, failure);
      if (finished === 'moved-on') return 'done';
      if (failure && policy.attempts > 1) {
        this.deps.events.emit('exhausted', { record, failure });
      }
      this.deps.events.emit('finished', { record, run, newEvents: finished.newEvents, seconds: seconds() });
      return 'done';
    } finally {
      clearInterval(keepAlive);
    }
  }

  /**
   * A failed run counted among the stream's attempts, and its next one scheduled if the policy
   * allows; the version it ran is kept, so the retry runs it again.
   */
  private async failedAttempts(
    record: StreamRecord,
    run: StreamRun,
    policy: RetryPolicy,
    { version: pipelineVersion }: VersionedPipelines,
  ): Promise<FailedAttempts> {
    const previous = await this.deps.lifecycle.readFailedAttempts(record);
    const failedAt = this.deps.context.now();
    return afterFailedRun(record, run, { previous, policy, failedAt, pipelineVersion });
  }

  /** Best effort: a renewal that fails is tried again on the next tick, before the claim lapses. */
  private renew(record: StreamRecord, batch: BatchLiveness): void {
    batch.heartbeat().catch(() => undefined);
    this.deps.lifecycle.renew(record, this.timing.holder, this.options.claimTtlMs).catch(() => undefined);
  }

  /** Finished before a crash kept its offset from being committed: announce it again, run nothing. */
  private async announceIfFinished(record: StreamRecord): Promise<boolean> {
    const tombstone = await this.deps.lifecycle.readTombstone(record);
    if (!tombstone || tombstone.serial !== record.serial + 1) return false;
    await this.publishCompletion(JSON.parse(tombstone.outcome) as CompletionRecord);
    if (tombstone.error_record) await this.publishError(record.stream_id, tombstone.error_record);
    this.deps.events.emit('reannounced', { record });
    return true;
  }

  private async sendNewEvents(record: StreamRecord, run: StreamRun): Promise<number> {
    for (const event of run.heldBack) this.deps.events.emit('heldBack', { record, event, hops: run.hops });
    const messages: Message[] = [];
    for (const event of run.newEvents) {
      messages.push({ key: event.message_id, value: await this.deps.serializers.events.encode(event) });
    }
    await sendAll(this.deps.producer, this.settings.topics.events, messages, this.sendLimit);
    this.deps.events.emit('newEventsSent', { count: messages.length });
    return messages.length;
  }

  private async publishCompletion(completion: CompletionRecord): Promise<void> {
    const message = {
      key: completion.stream_id,
      value: await this.deps.serializers.completions.encode(completion),
    };
    return sendAll(this.deps.producer, this.settings.topics.completed, [message], this.sendLimit);
  }

  /** Plain JSON, keyed by stream id: an operator's feed of streams to look at, not a schema'd record. */
  private publishError(streamId: string, errorRecord: string): Promise<void> {
    const message = { key: streamId, value: errorRecord };
    return sendAll(this.deps.producer, this.settings.topics.streamsErrors, [message], this.sendLimit);
  }
}
