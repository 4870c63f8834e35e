import { ChildProcessByStdio, spawn } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
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

type RunOptions = Pick<ExecOptions, 'command' | 'timeoutMs' | 'killAfterMs' | 'cwd'>;

/**
 * Runs the command in its own process group, so a timeout's SIGTERM (and SIGKILL `killAfterMs`
 * later) reaches everything a shell started, not just the shell.
 */
export function runCommand(
  options: RunOptions,
  input: string,
  extraEnv: Record<string, string>,
  signal?: AbortSignal,
): Promise<ExecResult> {
  const [file, args] = argvOf(options.command);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: { ...process.env, ...extraEnv },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const run = new CommandRun(child, options, { started, resolve, reject });
    run.collectOutput();
    run.feed(input);
    run.enforceTimeout(signal);
    run.settleOnExit();
  });
}

function argvOf(command: string | string[]): [string, string[]] {
  return typeof command === 'string' ? ['/bin/sh', ['-c', command]] : [command[0], command.slice(1)];
}

interface RunOutcome {
  started: number;
  resolve: (result: ExecResult) => void;
  reject: (error: Error) => void;
}

/** One run of a command: its output tails, its timers, and a promise settled exactly once. */
class CommandRun {
  private readonly stdout = new OutputTail();
  private readonly stderr = new OutputTail();
  private timedOut = false;
  private abortSignal: AbortSignal | undefined;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private settled = false;

  constructor(
    private readonly child: ChildProcessByStdio<Writable, Readable, Readable>,
    private readonly options: RunOptions,
    private readonly outcome: RunOutcome,
  ) {}

  collectOutput(): void {
    this.child.stdout.on('data', (c: Buffer) => this.stdout.push(c));
    this.child.stderr.on('data', (c: Buffer) => this.stderr.push(c));
  }

  feed(input: string): void {
    // A command that exits without reading its input: its exit status decides, not EPIPE.
    this.child.stdin.on('error', () => {});
    this.child.stdin.end(input);
  }

  enforceTimeout(abortSignal: AbortSignal | undefined): void {
    this.abortSignal = abortSignal;
    this.timeoutTimer = setTimeout(this.stop, this.options.timeoutMs);
    // The pipeline gave up on this handler (its own timeout): the command stops the same way.
    abortSignal?.addEventListener('abort', this.stop, { once: true });
  }

  settleOnExit(): void {
    this.child.on('error', (error) => this.fail(error));
    this.child.on('exit', (code, signal) => this.exited(code, signal));
    this.child.on('close', this.finish);
  }

  private readonly stop = () => {
    if (this.timedOut) return;
    this.timedOut = true;
    this.signalGroup('SIGTERM');
    this.killTimer = setTimeout(() => this.signalGroup('SIGKILL'), this.options.killAfterMs);
  };

  private signalGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.child.pid!, signal);
    } catch {
      // The group is already gone.
    }
  }

  private exited(code: number | null, signal: NodeJS.Signals | null): void {
    this.exit = { code, signal };
    // Leftovers of a timed-out group must not outlive it.
    if (this.timedOut) this.signalGroup('SIGKILL');
    this.drainTimer = setTimeout(this.finish, PIPE_DRAIN_MS);
  }

  /** Once the child has exited and its pipes closed (or stopped draining). */
  private readonly finish = () => {
    if (this.settled || !this.exit) return;
    this.settled = true;
    this.abortSignal?.removeEventListener('abort', this.stop);
    clearTimeout(this.timeoutTimer);
    clearTimeout(this.killTimer);
    clearTimeout(this.drainTimer);
    this.child.stdout.destroy();
    this.child.stderr.destroy();
    this.outcome.resolve({
      exitCode: this.exit.code,
      signal: this.exit.signal,
      timedOut: this.timedOut,
      stdout: this.stdout.toString(),
      stderr: this.stderr.toString(),
      milliseconds: Date.now() - this.outcome.started,
    });
  };

  /** The child failed, typically because it could not be started. */
  private fail(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timeoutTimer);
    clearTimeout(this.killTimer);
    this.outcome.reject(error);
  }
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
