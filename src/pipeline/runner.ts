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

async function withTimeout<T>(work: Promise<T> | T, ms: number, handler: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve(work),
      new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new HandlerTimeoutError(handler, ms)), ms)),
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
  const handlers: Array<{ name: string; handler: PipelineHandler }> = [];
  const handlerSeconds: PipelineRun['handlerSeconds'] = [];
  let current = events;
  try {
    for (const step of steps) {
      const definition = definitions.get(step.name);
      if (!definition) throw new Error(`unknown handler ${step.name}`);
      const handler = definition.create(step.params, context);
      handlers.push({ name: step.name, handler });
      await opts.beforeEachHandler?.();
      const started = process.hrtime.bigint();
      const out = await withTimeout(handler.handleEvents(current, env), opts.handlerTimeoutMs, step.name);
      handlerSeconds.push({ handler: step.name, seconds: Number(process.hrtime.bigint() - started) / 1e9 });
      if (!Array.isArray(out))
        throw new Error(`handler ${step.name} returned ${typeof out}, not a list of events`);
      current = out;
    }
  } catch (error) {
    for (const { name, handler } of handlers) {
      try {
        await withTimeout(handler.rollback(), opts.handlerTimeoutMs, name);
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
      failedHandler: handlers.at(-1)?.name,
      newEvents: [],
      commitFailures: [],
      handlerSeconds,
    };
  }
  const commitFailures: PipelineRun['commitFailures'] = [];
  for (const { name, handler } of handlers) {
    try {
      await withTimeout(handler.commit(), opts.handlerTimeoutMs, name);
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
