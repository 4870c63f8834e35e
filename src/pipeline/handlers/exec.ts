import { toCanonicalJson, WinchesterEvent } from '../../events/event';
import { ProcessResult, startProcess } from '../../process/runner';
import { HandlerContext, HandlerDefinition, PipelineEnv, PipelineHandler } from '../handler';
import { EventTypeFilter } from './event-types';
import { ParamReader } from './params';

/**
 * Runs an external command in commit() (Twitcher-style) with the stream on stdin as one JSON
 * document: `{"env": {...}, "events": [canonical events]}`. A non-zero exit, a signal or a
 * timeout is a failure (commit throws). The command runs through src/process/runner.ts: its own
 * process group, SIGTERM at the timeout and SIGKILL kill_after later.
 */

export interface ExecOptions {
  /** A string runs through /bin/sh -c; a list is argv. */
  command: string | string[];
  timeoutMs: number;
  killAfterMs: number;
  /** Undefined: every event. With a filter and no match the command is not run. */
  eventTypes?: EventTypeFilter;
  env: Record<string, string>;
  cwd?: string;
}

const PARAMS = ['command', 'timeout', 'kill_after', 'event_types', 'env', 'cwd'];

export function readExecParams(params: Record<string, unknown>): ExecOptions {
  const r = new ParamReader('exec', params, PARAMS);
  const raw = params.command;
  let command: string | string[];
  if (typeof raw === 'string' && raw.trim() !== '') command = raw;
  else if (Array.isArray(raw) && raw.length > 0 && raw.every((a) => typeof a === 'string') && raw[0] !== '') {
    command = raw as string[];
  } else {
    return r.fail('command', 'a shell command string or a non-empty argv list of strings (it is required)');
  }
  const env = r.scalarMap('env');
  const patterns = r.stringList('event_types', { single: true });
  return {
    command,
    timeoutMs: r.number('timeout', 60, { min: 0.001 }) * 1000,
    killAfterMs: r.number('kill_after', 5) * 1000,
    eventTypes: patterns ? new EventTypeFilter(patterns) : undefined,
    env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])),
    cwd: r.string('cwd'),
  };
}

export class ExecFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'ExecFailure';
  }
}

/** The stream as the command reads it; env values that are not JSON fall back to the run's identity. */
export function streamDocument(env: PipelineEnv, events: readonly WinchesterEvent[]): string {
  let envJson: string;
  try {
    envJson = JSON.stringify(env);
  } catch {
    const { stream_id, stream_name, state_serial, trigger, kind } = env;
    envJson = JSON.stringify({ stream_id, stream_name, state_serial, trigger, kind });
  }
  return `{"env":${envJson},"events":[${events.map(toCanonicalJson).join(',')}]}`;
}

const describeCommand = (command: string | string[]) =>
  typeof command === 'string' ? command : JSON.stringify(command);

export class ExecHandler implements PipelineHandler {
  private pending?: { input: string; env: Record<string, string>; events: number };

  constructor(
    private readonly options: ExecOptions,
    private readonly context: HandlerContext,
  ) {}

  handleEvents(events: WinchesterEvent[], env: PipelineEnv): WinchesterEvent[] {
    const selected = this.options.eventTypes
      ? events.filter((e) => this.options.eventTypes!.matches(e.event_type))
      : events;
    this.pending = selected.length
      ? {
          input: streamDocument(env, selected),
          events: selected.length,
          // The run's identity, so a command can make its side effects idempotent.
          env: {
            ...this.options.env,
            WINCHESTER_STREAM_ID: String(env.stream_id),
            WINCHESTER_STREAM_NAME: String(env.stream_name),
            WINCHESTER_STATE_SERIAL: String(env.state_serial),
            WINCHESTER_TRIGGER: String(env.trigger),
            WINCHESTER_STREAM_KIND: String(env.kind),
          },
        }
      : undefined;
    return events;
  }

  async commit(): Promise<void> {
    const pending = this.pending;
    if (!pending) return;
    const command = describeCommand(this.options.command);
    if (this.context.dryRun) {
      this.context.logger.info(
        { handler: 'exec', command, events: pending.events, stdin_bytes: Buffer.byteLength(pending.input) },
        `exec (dry run): would run ${command} with ${pending.events} events on stdin`,
      );
      return;
    }
    const result = await startProcess({
      command: this.options.command,
      stdin: pending.input,
      env: pending.env,
      cwd: this.options.cwd,
      timeoutMs: this.options.timeoutMs,
      killAfterMs: this.options.killAfterMs,
      // The pipeline gave up on this handler (its own timeout): the command stops the same way.
      abortSignal: this.context.signal,
    }).done;
    this.report(command, result);
  }

  /** Logs the run; throws ExecFailure unless the command ran and exited 0. */
  private report(command: string, result: ProcessResult): void {
    if (result.error !== undefined) {
      throw new ExecFailure(`exec: cannot run ${command}: ${result.error}`, null, null, '');
    }
    const log = this.context.logger;
    const { exitCode, signal, stderrTail: stderr } = result;
    const fields = {
      handler: 'exec',
      command,
      exit_code: exitCode,
      signal,
      milliseconds: Math.round(result.durationMs),
      stdout: result.stdoutTail,
      stderr,
    };
    if (result.timedOut || result.aborted) {
      log.error(fields, 'exec: command timed out');
      const seconds = this.options.timeoutMs / 1000;
      const message = `exec: ${command} timed out after ${seconds} s (stopped by ${signal ?? 'SIGTERM'})`;
      throw new ExecFailure(message, exitCode, signal, stderr);
    }
    if (exitCode !== 0) {
      log.error(fields, 'exec: command failed');
      const how = signal ? `was killed by ${signal}` : `exited with status ${exitCode}`;
      const tail = stderr.trim().split('\n').slice(-5).join('\n');
      throw new ExecFailure(`exec: ${command} ${how}${tail ? `: ${tail}` : ''}`, exitCode, signal, stderr);
    }
    log.info(fields, 'exec: command succeeded');
  }

  rollback(): void {
    this.pending = undefined;
  }
}

export const execHandler: HandlerDefinition = {
  validateParams: (params) => void readExecParams(params),
  create: (params, context) => new ExecHandler(readExecParams(params), context),
};
