import { WinchesterEvent } from '../events/event';
import { StreamRecord } from '../streams/model';
import { HandlerContext, HandlerDefinition, PipelineEnv } from './handler';
import type { VersionedPipelines } from './catalog';
import type { RetryPolicy } from './retry';
import { PipelineRun, PipelineStep, runPipeline } from './runner';

/*
 * What running a fired or expired stream means, wherever it runs: the worker (real side
 * effects, Redis and Kafka around it) and `simulate --pipelines` (dry run, in process) both
 * run a stream here and only differ in what they do with the result.
 */

/** The state a stream moves to once its pipeline has run. */
export type StreamOutcome = 'completed' | 'error' | 'expire_error';

/** What `streams.completed` carries for each finished stream (also kept in its tombstone). */
export interface CompletionRecord {
  stream_id: string;
  trigger: string;
  kind: StreamRecord['kind'];
  pipeline: string | null;
  serial: number;
  outcome: StreamOutcome;
  message_ids: string[];
  new_event_ids: string[];
  error?: string;
  /** What the stream was grouped by and the times of its first and last events (µs). */
  distinguished_by: StreamRecord['distinguished_by'];
  first: number;
  last: number;
}

export interface StreamRunOptions {
  pipelines: ReadonlyMap<string, PipelineStep[]>;
  handlers: ReadonlyMap<string, HandlerDefinition>;
  handlerTimeoutMs: number;
  /** Loop guard: new events more pipeline generations deep than this are held back. */
  maxHops: number;
  /** The retry policy of each pipeline that has one (pipelines.yaml's `{handlers, retry}`); none retry without. */
  retries?: ReadonlyMap<string, RetryPolicy>;
}

/** How one stream's run ended, and everything its finish needs. */
export interface StreamRun {
  outcome: StreamOutcome;
  /** `handler: message` of the handler that failed; absent when the run completed. */
  error?: string;
  failedHandler?: string;
  /** The failure's message alone. */
  errorMessage?: string;
  /** The generation of the run's new events: one more than its deepest input event's. */
  hops: number;
  /** New events to send to `events`, each with `hops` set. */
  newEvents: WinchesterEvent[];
  /** New events the loop guard holds back (too many generations deep), as the pipeline made them. */
  heldBack: WinchesterEvent[];
  commitFailures: PipelineRun['commitFailures'];
  handlerSeconds: PipelineRun['handlerSeconds'];
  completion: CompletionRecord;
}

/** The run was given up before it finished (its handlers were rolled back): nothing to finish. */
export const ABANDONED = 'abandoned';

export interface StreamRunHooks {
  /** Asked before each handler starts; false abandons the run (say, its partition was taken away). */
  mayContinue?: () => boolean;
}

class RunAbandonedError extends Error {
  constructor() {
    super('the stream run was abandoned');
  }
}

/** The per-run scratchpad handlers see; stream_id + state_serial is their idempotency key. */
export function pipelineEnv(record: StreamRecord): PipelineEnv {
  return {
    stream_id: record.stream_id,
    stream_name: record.trigger,
    state_serial: record.serial,
    trigger: record.trigger,
    kind: record.kind,
  };
}

/**
 * The steps to run. The matcher names the fire or expire pipeline in the record; a trigger
 * without one for this kind completes its streams with nothing run.
 */
export function pipelineSteps(
  record: StreamRecord,
  pipelines: ReadonlyMap<string, PipelineStep[]>,
): PipelineStep[] | undefined {
  return record.pipeline ? pipelines.get(record.pipeline) : undefined;
}

/** The generation of the events a stream's pipeline makes: one more than its deepest input. */
export function newEventHops(record: StreamRecord): number {
  // A loop, not Math.max(...spread): a spread of a very long stream overflows the call stack.
  let deepest = 0;
  for (const event of record.events) deepest = Math.max(deepest, event.hops ?? 0);
  return deepest + 1;
}

/** A failed run leaves the stream in the error state of its kind, for `streams reset`. */
export function outcomeOf(record: StreamRecord, ok: boolean): StreamOutcome {
  if (ok) return 'completed';
  return record.kind === 'expired' ? 'expire_error' : 'error';
}

/**
 * The completion record of a run. Every new event the pipeline made is named, those the loop
 * guard held back too. Its field order is its JSON text, which a tombstone keeps.
 */
export function completionRecord(record: StreamRecord, run: PipelineRun): CompletionRecord {
  return {
    stream_id: record.stream_id,
    trigger: record.trigger,
    kind: record.kind,
    pipeline: record.pipeline,
    serial: record.serial,
    outcome: outcomeOf(record, run.ok),
    message_ids: record.events.map((e) => e.message_id),
    new_event_ids: run.newEvents.map((e) => e.message_id),
    ...(run.ok ? {} : { error: failureText(run) }),
    distinguished_by: record.distinguished_by,
    first: record.first,
    last: record.last,
  };
}

// A run that failed before any handler (its pipelines could not be loaded) names no handler.
const failureText = (run: PipelineRun) =>
  run.failedHandler === undefined
    ? String(run.error?.message)
    : `${run.failedHandler}: ${run.error?.message}`;
const failureMessage = (run: PipelineRun) => String(run.error?.message ?? run.error);

/** A run with no steps: it succeeds, making nothing. */
const NOTHING_RUN: PipelineRun = { ok: true, newEvents: [], commitFailures: [], handlerSeconds: [] };

/**
 * Runs a stream's pipeline (runner.ts: handlers in order, rollback on a throw, commit
 * otherwise) and classifies the result: its outcome, its new events with their generation,
 * and those the loop guard holds back. `context` decides what the handlers' effects reach.
 */
export function runStream(
  record: StreamRecord,
  options: StreamRunOptions,
  context: HandlerContext,
): Promise<StreamRun>;
/** With `mayContinue`, a run may end ABANDONED. */
export function runStream(
  record: StreamRecord,
  options: StreamRunOptions,
  context: HandlerContext,
  hooks: StreamRunHooks,
): Promise<StreamRun | typeof ABANDONED>;
export async function runStream(
  record: StreamRecord,
  options: StreamRunOptions,
  context: HandlerContext,
  hooks: StreamRunHooks = {},
): Promise<StreamRun | typeof ABANDONED> {
  const steps = pipelineSteps(record, options.pipelines);
  const { mayContinue } = hooks;
  const run = steps
    ? await runPipeline(steps, options.handlers, record.events, pipelineEnv(record), context, {
        handlerTimeoutMs: options.handlerTimeoutMs,
        beforeEachHandler:
          mayContinue &&
          (async () => {
            if (!mayContinue()) throw new RunAbandonedError();
          }),
      })
    : NOTHING_RUN;
  if (!run.ok && run.error instanceof RunAbandonedError) return ABANDONED;
  const hops = newEventHops(record);
  const guarded = hops > options.maxHops;
  return {
    outcome: outcomeOf(record, run.ok),
    ...(run.ok
      ? {}
      : { error: failureText(run), failedHandler: run.failedHandler, errorMessage: failureMessage(run) }),
    hops,
    newEvents: guarded ? [] : run.newEvents.map((event) => ({ ...event, hops })),
    heldBack: guarded ? run.newEvents : [],
    commitFailures: run.commitFailures,
    handlerSeconds: run.handlerSeconds,
    completion: completionRecord(record, run),
  };
}

/**
 * A run that failed before any handler started (its pipelines could not be loaded): the
 * stream fails as if a handler had thrown, with no handler named and nothing made.
 */
export function failedBeforeRun(record: StreamRecord, error: Error): StreamRun {
  const run: PipelineRun = { ok: false, error, newEvents: [], commitFailures: [], handlerSeconds: [] };
  return {
    outcome: outcomeOf(record, false),
    error: failureText(run),
    errorMessage: error.message,
    hops: newEventHops(record),
    newEvents: [],
    heldBack: [],
    commitFailures: [],
    handlerSeconds: [],
    completion: completionRecord(record, run),
  };
}

/** A stream's run under the pipelines of its version (catalog.ts `pipelinesFor`); one it cannot load fails. */
export function runVersionedStream(
  record: StreamRecord,
  versioned: VersionedPipelines,
  options: StreamRunOptions,
  context: HandlerContext,
): Promise<StreamRun>;
/** With `mayContinue`, a run may end ABANDONED. */
export function runVersionedStream(
  record: StreamRecord,
  versioned: VersionedPipelines,
  options: StreamRunOptions,
  context: HandlerContext,
  hooks: StreamRunHooks,
): Promise<StreamRun | typeof ABANDONED>;
export async function runVersionedStream(
  record: StreamRecord,
  versioned: VersionedPipelines,
  options: StreamRunOptions,
  context: HandlerContext,
  hooks: StreamRunHooks = {},
): Promise<StreamRun | typeof ABANDONED> {
  if (!versioned.set) return failedBeforeRun(record, versioned.error ?? new Error('no pipelines'));
  const { pipelines, handlers, retries } = versioned.set;
  return runStream(record, { ...options, pipelines, handlers, retries }, context, hooks);
}
