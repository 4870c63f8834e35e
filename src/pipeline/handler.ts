import { WinchesterEvent } from '../events/event';
import { Logger } from '../util/logger';

/**
 * The scratchpad shared along one pipeline run. `stream_id` + `state_serial` together are
 * an idempotency key for side effects: a worker that dies between commit and completion
 * makes the next worker run the same (stream_id, state_serial) again.
 */
export interface PipelineEnv {
  stream_id: string;
  stream_name: string;
  state_serial: number;
  trigger: string;
  kind: 'fired' | 'expired';
  [key: string]: unknown;
}

/** Outward effects a handler may use; the worker wires them to Kafka, simulate to a dry run. */
export interface HandlerContext {
  logger: Logger;
  /** Side effects that reach outside (HTTP, Kafka, commands) only log what they would do. */
  dryRun: boolean;
  /** Publishes records to a Kafka topic (acks from all in-sync replicas). */
  publish(topic: string, messages: Array<{ key?: string | null; value: string }>): Promise<void>;
  /** Microseconds since the epoch: the pipeline's idea of now. */
  now(): number;
  /**
   * Aborted when one of this handler's calls overruns the handler timeout: the run has
   * already failed, so waits and requests should stop (pass it to fetch, timers, children).
   */
  signal?: AbortSignal;
}

/** Winchester's handler contract, one fresh instance per stream run. */
export interface PipelineHandler {
  /** Returns the events to pass on; events with a message_id not in the input are new. */
  handleEvents(events: WinchesterEvent[], env: PipelineEnv): WinchesterEvent[] | Promise<WinchesterEvent[]>;
  /** After every handler succeeded. A throw is logged and counted, not fatal. */
  commit(): void | Promise<void>;
  /** After any handler threw; must not throw itself (a throw is logged). */
  rollback(): void | Promise<void>;
}

export type HandlerFactory = (params: Record<string, unknown>, context: HandlerContext) => PipelineHandler;

/** A handler's params are wrong: reported at load time with the pipeline and handler names. */
export class HandlerParamsError extends Error {
  constructor(
    readonly handler: string,
    message: string,
  ) {
    super(`handler ${handler}: ${message}`);
    this.name = 'HandlerParamsError';
  }
}

/** A named handler kind: `validateParams` runs at load time so bad params fail at start. */
export interface HandlerDefinition {
  create: HandlerFactory;
  validateParams?(params: Record<string, unknown>): void;
  /**
   * Releases what the definition keeps between runs (the zookeeper handler's shared session).
   * A role calls it once it has stopped running pipelines; a later run may open them again.
   */
  close?(): Promise<void>;
}
