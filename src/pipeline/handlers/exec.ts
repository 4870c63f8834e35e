import { toCanonicalJson, WinchesterEvent } from '../../events/event';
import { badVariableName, childEnvironment } from '../../process/environment';
import {
  accountFor,
  checkMaySwitchTo,
  IdentityDatabase,
  IdentityError,
  ownIds,
  ProcessIds,
  readIdentityDatabase,
  resolveIdentity,
} from '../../process/identity';
import { ProcessResult, startProcess } from '../../process/runner';
import {
  HandlerContext,
  HandlerDefinition,
  HandlerParamsError,
  PipelineEnv,
  PipelineHandler,
} from '../handler';
import { EventTypeFilter } from './event-types';
import { ParamReader } from './params';

/**
 * Runs an external command in commit() (Twitcher-style) with the stream on stdin as one JSON
 * document: `{"env": {...}, "events": [canonical events]}`. A non-zero exit, a signal or a
 * timeout is a failure (commit throws). The command runs through src/process/runner.ts: its own
 * process group, SIGTERM at the timeout and SIGKILL kill_after later. It gets a scrubbed
 * environment (src/process/environment.ts), never the worker's credentials, and runs as the
 * `user`/`group` given, checked when the configuration loads.
 */

/** Who the command runs as; empty: the worker's own uid and gid. */
export interface RunAs {
  uid?: number;
  gid?: number;
  /** With `user`: its passwd entry for HOME, USER and LOGNAME (null: a uid passwd does not list). */
  account?: { name: string; home: string } | null;
}

export interface ExecOptions {
  /** A string runs through /bin/sh -c; a list is argv. */
  command: string | string[];
  timeoutMs: number;
  killAfterMs: number;
  /** Undefined: every event. With a filter and no match the command is not run. */
  eventTypes?: EventTypeFilter;
  /** Set in the command's environment (the `env` param). */
  env: Record<string, string>;
  /** Passed from the worker's environment beyond the default allow-list (`inherit_env`). */
  inheritEnv: string[];
  runAs: RunAs;
  cwd?: string;
}

/** What loading the params asks of the host; tests give fakes. */
export interface ExecHost {
  identities(): IdentityDatabase;
  self(): ProcessIds;
}

const THIS_HOST: ExecHost = { identities: () => readIdentityDatabase(), self: ownIds };

const PARAMS = [
  'command',
  'timeout',
  'kill_after',
  'event_types',
  'env',
  'inherit_env',
  'user',
  'group',
  'cwd',
];

/** Set by the handler for every run: `env` and `inherit_env` may not name them. */
export const RUN_VARIABLES: readonly string[] = [
  'WINCHESTER_STREAM_ID',
  'WINCHESTER_STREAM_NAME',
  'WINCHESTER_STATE_SERIAL',
  'WINCHESTER_TRIGGER',
  'WINCHESTER_STREAM_KIND',
];

export function readExecParams(params: Record<string, unknown>, host: ExecHost = THIS_HOST): ExecOptions {
  const r = new ParamReader('exec', params, PARAMS);
  const command = readCommand(r);
  const env = readEnv(r);
  const inheritEnv = readInheritEnv(r, env);
  const patterns = r.stringList('event_types', { single: true });
  const runAs = readRunAs(r, host);
  return {
    command,
    timeoutMs: r.number('timeout', 60, { min: 0.001 }) * 1000,
    killAfterMs: r.number('kill_after', 5) * 1000,
    eventTypes: patterns ? new EventTypeFilter(patterns) : undefined,
    env,
    inheritEnv,
    runAs,
    // As the watch daemon does: the worker's directory may be closed to the user run as.
    cwd: r.string('cwd') ?? (runAs.uid !== undefined ? '/' : undefined),
  };
}

function readCommand(r: ParamReader): string | string[] {
  const raw = r.params.command;
  if (typeof raw === 'string' && raw.trim() !== '') return raw;
  if (Array.isArray(raw) && raw.length > 0 && raw.every((a) => typeof a === 'string') && raw[0] !== '') {
    return raw as string[];
  }
  return r.fail('command', 'a shell command string or a non-empty argv list of strings (it is required)');
}

function readEnv(r: ParamReader): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(r.scalarMap('env'))) {
    checkVariableName(r, 'env', name);
    const text = String(value);
    if (text.includes('\0')) {
      throw new HandlerParamsError(r.handler, `param env: the value of ${name} contains a NUL character`);
    }
    env[name] = text;
  }
  return env;
}

function readInheritEnv(r: ParamReader, env: Record<string, string>): string[] {
  const names = r.stringList('inherit_env', { single: true }) ?? [];
  for (const name of names) {
    checkVariableName(r, 'inherit_env', name);
    if (name in env) {
      throw new HandlerParamsError(
        r.handler,
        `param inherit_env: ${name} is also set by env: keep one of them`,
      );
    }
  }
  return names;
}

function checkVariableName(r: ParamReader, param: string, name: string): void {
  const bad = badVariableName(name);
  if (bad) throw new HandlerParamsError(r.handler, `param ${param}: ${bad} is not a variable name`);
  if (RUN_VARIABLES.includes(name)) {
    throw new HandlerParamsError(r.handler, `param ${param}: ${name} is set by the handler for every run`);
  }
}

/** `user` and `group`, resolved now so that a name this host does not know fails at load. */
function readRunAs(r: ParamReader, host: ExecHost): RunAs {
  const user = readIdParam(r, 'user', 'a user name or a uid (an integer >= 0)');
  const group = readIdParam(r, 'group', 'a group name or a gid (an integer >= 0)');
  if (user === undefined && group === undefined) return {};
  try {
    const db = host.identities();
    const identity = resolveIdentity({ uid: user, gid: group }, db);
    checkMaySwitchTo(identity, host.self());
    if (user === undefined) return identity;
    const entry = accountFor(user, db);
    return { ...identity, account: entry ? { name: entry.name, home: entry.home } : null };
  } catch (error) {
    const aboutUser = error instanceof IdentityError ? error.field === 'uid' : user !== undefined;
    const param = aboutUser ? 'user' : 'group';
    throw new HandlerParamsError(r.handler, `param ${param}: ${(error as Error).message}`);
  }
}

function readIdParam(r: ParamReader, name: string, expected: string): string | number | undefined {
  const value = r.params[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  return r.fail(name, expected);
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
    const { runAs } = this.options;
    const result = await startProcess({
      command: this.options.command,
      stdin: pending.input,
      env: childEnvironment(process.env, {
        inherit: this.options.inheritEnv,
        set: pending.env,
        account: runAs.account,
      }),
      uid: runAs.uid,
      gid: runAs.gid,
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

/**
 * Options by params object: a pipeline's params are read once per loaded topology, not per stream
 * run, so the user and group resolved at load are the ones every run uses (no /etc/passwd read
 * per run). A new topology version brings new params objects, read afresh.
 */
const optionsByParams = new WeakMap<Record<string, unknown>, ExecOptions>();

function optionsFor(params: Record<string, unknown>): ExecOptions {
  let options = optionsByParams.get(params);
  if (!options) {
    options = readExecParams(params);
    optionsByParams.set(params, options);
  }
  return options;
}

export const execHandler: HandlerDefinition = {
  validateParams: (params) => void readExecParams(params),
  create: (params, context) => new ExecHandler(optionsFor(params), context),
};
