import { WinchesterEvent } from '../events/event';
import { HandlerContext, HandlerDefinition, PipelineEnv, PipelineHandler } from './handler';

export interface PipelineStep {
  name: string;
  params: Record<string, unknown>;
}

export interface PipelineRun {
  ok: boolean;
  error?: Error;
  failedHandler?: string;
  /** Events whose message_id was not among the stream's: they go back to `events`. */
  newEvents: WinchesterEvent[];
  commitFailures: Array<{ handler: string; error: Error }>;
  handlerSeconds: Array<{ handler: string; seconds: number }>;
}

export class HandlerTimeoutError extends Error {
  constructor(handler: string, ms: number) {
    super(`handler ${handler} did not finish within ${ms} ms`);
    this.name = 'HandlerTimeoutError';
  }
}

/** Runs one handler call; on timeout, rejects and aborts the handler's signal so its work stops too. */
async function withTimeout<T>(
  work: () => Promise<T> | T,
  ms: number,
  handler: string,
  abort: AbortController,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(work),
      new Promise<never>(
        (_, reject) =>
          (timer = setTimeout(() => {
            const error = new HandlerTimeoutError(handler, ms);
            abort.abort(error);
            reject(error);
          }, ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Winchester's pipeline semantics: fresh handlers in order; any throw (or timeout) ⇒
 * rollback() on every handler and the run fails; otherwise commit() on each — a throwing
 * commit is logged and counted, not fatal.
 */
export async function runPipeline(
  steps: PipelineStep[],
  definitions: ReadonlyMap<string, HandlerDefinition>,
  events: WinchesterEvent[],
  env: PipelineEnv,
  context: HandlerContext,
  opts: { handlerTimeoutMs: number; beforeEachHandler?: () => Promise<void> },
): Promise<PipelineRun> {
  const inputIds = new Set(events.map((e) => e.message_id));
  const handlers: Array<{ name: string; handler: PipelineHandler; abort: AbortController }> = [];
  const handlerSeconds: PipelineRun['handlerSeconds'] = [];
  let current = events;
  let failedHandler: string | undefined;
  try {
    for (const step of steps) {
      failedHandler = step.name; // until this step has run, a throw is this step's
      const definition = definitions.get(step.name);
      if (!definition) throw new Error(`unknown handler ${step.name}`);
      // Each handler gets a signal of its own, aborted when one of its calls times out.
      const abort = new AbortController();
      const handler = definition.create(step.params, { ...context, signal: abort.signal });
      handlers.push({ name: step.name, handler, abort });
      await opts.beforeEachHandler?.();
      const started = process.hrtime.bigint();
      const input = current;
      const out = await withTimeout(
        () => handler.handleEvents(input, env),
        opts.handlerTimeoutMs,
        step.name,
        abort,
      );
      handlerSeconds.push({ handler: step.name, seconds: Number(process.hrtime.bigint() - started) / 1e9 });
      if (!Array.isArray(out))
        throw new Error(`handler ${step.name} returned ${typeof out}, not a list of events`);
      current = out;
    }
    failedHandler = undefined;
  } catch (error) {
    for (const { name, handler, abort } of handlers) {
      try {
        await withTimeout(() => handler.rollback(), opts.handlerTimeoutMs, name, abort);
      } catch (rollbackError) {
        context.logger.error(
          { err: rollbackError, handler: name, stream_id: env.stream_id },
          'rollback failed',
        );
      }
    }
    return {
      ok: false,
      error: error as Error,
      failedHandler,
      newEvents: [],
      commitFailures: [],
      handlerSeconds,
    };
  }
  const commitFailures: PipelineRun['commitFailures'] = [];
  for (const { name, handler, abort } of handlers) {
    try {
      await withTimeout(() => handler.commit(), opts.handlerTimeoutMs, name, abort);
    } catch (error) {
      commitFailures.push({ handler: name, error: error as Error });
      context.logger.error({ err: error, handler: name, stream_id: env.stream_id }, 'commit failed');
    }
  }
  return {
    ok: true,
    newEvents: current.filter((e) => !inputIds.has(e.message_id)),
    commitFailures,
    handlerSeconds,
  };
}
