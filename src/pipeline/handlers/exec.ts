import { spawn } from 'node:child_process';
import { toCanonicalJson, WinchesterEvent } from '../../events/event';
import { HandlerContext, HandlerDefinition, PipelineEnv, PipelineHandler } from '../handler';
import { EventTypeFilter } from './event-types';
import { ParamReader } from './params';

/**
 * Runs an external command in commit() (Twitcher-style) with the stream on stdin as one JSON
 * document: `{"env": {...}, "events": [canonical events]}`. A non-zero exit, a signal or a
 * timeout is a failure (commit throws).
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
/** Kept from the child's output for logs and errors. */
const OUTPUT_TAIL_BYTES = 16 * 1024;
/** After the child exits, how long a grandchild still holding its pipes may delay us. */
const PIPE_DRAIN_MS = 2000;

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

export interface ExecResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  milliseconds: number;
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

class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;
  push(chunk: Buffer) {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0].length >= OUTPUT_TAIL_BYTES) this.size -= this.chunks.shift()!.length;
  }
  toString() {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - OUTPUT_TAIL_BYTES)).toString('utf8');
  }
}

/**
 * Runs the command in its own process group, so a timeout's SIGTERM (and SIGKILL `killAfterMs`
 * later) reaches everything a shell started, not just the shell.
 */
export function runCommand(
  options: Pick<ExecOptions, 'command' | 'timeoutMs' | 'killAfterMs' | 'cwd'>,
  input: string,
  extraEnv: Record<string, string>,
  signal?: AbortSignal,
): Promise<ExecResult> {
  const [file, args] =
    typeof options.command === 'string'
      ? ['/bin/sh', ['-c', options.command]]
      : [options.command[0], options.command.slice(1)];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: { ...process.env, ...extraEnv },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const stdout = new OutputTail();
    const stderr = new OutputTail();
    child.stdout.on('data', (c: Buffer) => stdout.push(c));
    child.stderr.on('data', (c: Buffer) => stderr.push(c));
    // A command that exits without reading its input: its exit status decides, not EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(input);

    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // The group is already gone.
      }
    };
    const stop = () => {
      if (timedOut) return;
      timedOut = true;
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), options.killAfterMs);
    };
    const timeoutTimer = setTimeout(stop, options.timeoutMs);
    // The pipeline gave up on this handler (its own timeout): the command stops the same way.
    signal?.addEventListener('abort', stop, { once: true });

    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let settled = false;
    const finish = () => {
      if (settled || !exit) return;
      settled = true;
      signal?.removeEventListener('abort', stop);
      clearTimeout(timeoutTimer);
      clearTimeout(killTimer);
      clearTimeout(drainTimer);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({
        exitCode: exit.code,
        signal: exit.signal,
        timedOut,
        stdout: stdout.toString(),
        stderr: stderr.toString(),
        milliseconds: Date.now() - started,
      });
    };
    child.on('error', (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timeoutTimer);
      clearTimeout(killTimer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // Leftovers of a timed-out group must not outlive it.
      if (timedOut) signalGroup('SIGKILL');
      drainTimer = setTimeout(finish, PIPE_DRAIN_MS);
    });
    child.on('close', finish);
  });
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
    const log = this.context.logger;
    const command = describeCommand(this.options.command);
    if (this.context.dryRun) {
      log.info(
        { handler: 'exec', command, events: pending.events, stdin_bytes: Buffer.byteLength(pending.input) },
        `exec (dry run): would run ${command} with ${pending.events} events on stdin`,
      );
      return;
    }
    let result: ExecResult;
    try {
      result = await runCommand(this.options, pending.input, pending.env, this.context.signal);
    } catch (error) {
      throw new ExecFailure(`exec: cannot run ${command}: ${(error as Error).message}`, null, null, '');
    }
    const fields = {
      handler: 'exec',
      command,
      exit_code: result.exitCode,
      signal: result.signal,
      milliseconds: result.milliseconds,
      stdout: result.stdout,
      stderr: result.stderr,
    };
    if (result.timedOut) {
      log.error(fields, 'exec: command timed out');
      throw new ExecFailure(
        `exec: ${command} timed out after ${this.options.timeoutMs / 1000} s (stopped by ${result.signal ?? 'SIGTERM'})`,
        result.exitCode,
        result.signal,
        result.stderr,
      );
    }
    if (result.exitCode !== 0) {
      log.error(fields, 'exec: command failed');
      const how = result.signal ? `was killed by ${result.signal}` : `exited with status ${result.exitCode}`;
      const tail = result.stderr.trim().split('\n').slice(-5).join('\n');
      throw new ExecFailure(
        `exec: ${command} ${how}${tail ? `: ${tail}` : ''}`,
        result.exitCode,
        result.signal,
        result.stderr,
      );
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
