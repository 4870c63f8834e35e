import { constants } from 'node:os';
import { DEFAULT_RETRY_BACKOFF_SECONDS, FailurePolicy, RunMode, WatchSpec } from './spec';
import { SourcePoint, WatchFileContext } from './twc-errors';
import { describeValue, PyValue } from './twc-values';
import { FUNCTION_ACTIONS_UNSUPPORTED } from './twc-parser';

/**
 * RegisterWatch's arguments → a WatchSpec, with Twitcher's types and defaults (config.py and
 * core.py of Twitcher 1.7), shared by `.twc` and YAML watch files. Twitcher checks its
 * arguments in signature order and so does this, so the first problem reported is the one
 * Twitcher would have stopped at.
 */

/** RegisterWatch's parameters in Twitcher's positional order. */
export const REGISTER_WATCH_PARAMETERS = [
  'znode',
  'action',
  'pipe_stdin',
  'run_on_load',
  'run_mode',
  'description',
  'uid',
  'gid',
  'watch_type',
  'notify_signal',
  'timeout',
] as const;

/** Options Twitcher does not have; keyword-only in `.twc` files. */
export const EXTENSION_PARAMETERS = ['on_failure', 'exclusive'] as const;

export const ALL_PARAMETERS: readonly string[] = [...REGISTER_WATCH_PARAMETERS, ...EXTENSION_PARAMETERS];

export interface WatchOption {
  value: PyValue;
  /** Where the option was written (its keyword, or its value when positional). */
  at: SourcePoint;
}

export interface RegisterWatchCall {
  /** Where `RegisterWatch(` (or the YAML entry) starts. */
  at: SourcePoint;
  /** 1-based position of the watch in its file, for the default description. */
  index: number;
  options: ReadonlyMap<string, WatchOption>;
}

/** Signal numbers by name: Node's names for this platform, plus Python's alias SIGCLD. */
export const SIGNAL_NUMBERS: ReadonlyMap<string, number> = new Map([
  ...Object.entries(constants.signals),
  ['SIGCLD', constants.signals.SIGCHLD],
]);

/** The first name Node lists for a number is the usual one (SIGABRT before SIGIOT). */
const SIGNAL_NAMES = new Map<number, NodeJS.Signals>();
for (const [name, number] of Object.entries(constants.signals)) {
  if (!SIGNAL_NAMES.has(number)) SIGNAL_NAMES.set(number, name as NodeJS.Signals);
}

const RUN_MODES = new Map<number, RunMode>([
  [1, 'queue'],
  [2, 'parallel'],
  [3, 'discard'],
]);

export function buildWatchSpec(call: RegisterWatchCall, context: WatchFileContext): WatchSpec {
  const option = (name: string): WatchOption | undefined => {
    const found = call.options.get(name);
    return found && found.value.kind !== 'none' ? found : undefined; // None means "the default"
  };
  const znode = readZnode(option('znode'), call.at, context);
  const command = readAction(option('action'), call.at, context);
  const pipeStdin = readBool(option('pipe_stdin'), 'pipe_stdin', true, context);
  const runOnLoad = readBool(option('run_on_load'), 'run_on_load', true, context);
  const runMode = readRunMode(option('run_mode'), context);
  const description = readDescription(option('description'), context) ?? `${context.file}-${call.index}`;
  const uid = readIdentity(option('uid'), 'uid', 'user', context);
  const gid = readIdentity(option('gid'), 'gid', 'group', context);
  readWatchType(option('watch_type'), context);
  const notifySignal = readSignal(option('notify_signal'), context);
  const timeoutSeconds = readTimeout(option('timeout'), context);
  const onFailure = readFailurePolicy(option('on_failure'), context);
  const exclusive = readBool(option('exclusive'), 'exclusive', false, context);
  if (exclusive && runMode === 'parallel') {
    context.fail(
      option('exclusive')!.at,
      'exclusive=True needs run_mode QUEUE or DISCARD: PARALLEL runs a process per update, which one lease cannot cover',
    );
  }
  if (notifySignal !== undefined && runMode !== 'queue') {
    context.warn(
      option('notify_signal')!.at,
      `notify_signal is ignored: it is sent only in run_mode QUEUE, and this watch runs in ${runMode.toUpperCase()}`,
    );
  }
  return {
    znode,
    command,
    pipeStdin,
    runOnLoad,
    runMode,
    ...(uid !== undefined && { uid }),
    ...(gid !== undefined && { gid }),
    ...(notifySignal !== undefined && { notifySignal }),
    ...(timeoutSeconds !== undefined && { timeoutSeconds }),
    description,
    onFailure,
    exclusive,
    source: { file: context.file, line: call.at.line },
  };
}

function readZnode(option: WatchOption | undefined, callAt: SourcePoint, context: WatchFileContext): string {
  if (!option) return context.fail(callAt, "RegisterWatch needs a znode: znode='/path/to/node'");
  if (option.value.kind !== 'str') {
    return context.fail(option.at, `znode must be a string, found ${describeValue(option.value)}`);
  }
  const problem = zookeeperPathProblem(option.value.value);
  if (problem) {
    context.fail(
      option.at,
      `znode ${JSON.stringify(option.value.value)} is not an absolute ZooKeeper path: ${problem}`,
    );
  }
  return option.value.value;
}

/** Why a path is not one ZooKeeper accepts (the rules of its PathUtils.validatePath), or undefined. */
export function zookeeperPathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'it must start with /';
  if (path === '/') return undefined;
  if (path.endsWith('/')) return 'it must not end with /';
  if (path.includes('//')) return 'it has an empty segment (//)';
  if (path.split('/').some((segment) => segment === '.' || segment === '..')) {
    return 'it has a relative segment (. or ..)';
  }
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (
      code <= 0x1f ||
      (code >= 0x7f && code <= 0x9f) ||
      (code >= 0xd800 && code <= 0xf8ff) ||
      code >= 0xfff0
    ) {
      // ZooKeeper checks UTF-16 units: characters beyond U+FFFF (emoji) are refused too.
      const hex = path.codePointAt(i)!.toString(16).toUpperCase().padStart(4, '0');
      return `it contains the character U+${hex}, which ZooKeeper does not allow`;
    }
  }
  return undefined;
}

function readAction(
  option: WatchOption | undefined,
  callAt: SourcePoint,
  context: WatchFileContext,
): string | string[] {
  if (!option) return context.fail(callAt, "RegisterWatch needs an action: action=Exec('command')");
  const value = option.value;
  if (value.kind === 'exec') return value.command;
  if (value.kind === 'builtin' && value.name === 'Exec') {
    return context.fail(option.at, "action=Exec must be called with the command: action=Exec('command')");
  }
  if (value.kind === 'foreign' || value.kind === 'builtin' || value.kind === 'method') {
    return context.fail(option.at, FUNCTION_ACTIONS_UNSUPPORTED);
  }
  return context.fail(
    option.at,
    `action must be Exec('shell command') or Exec(['argv', ...]), found ${describeValue(value)}`,
  );
}

/** Exec's argument: a shell command string, or a non-empty list (or tuple) of argv strings. */
export function execCommand(value: PyValue): string | string[] | { problem: string } {
  if (value.kind === 'str') return value.value;
  if (value.kind === 'list' || value.kind === 'tuple') {
    if (value.items.length === 0) return { problem: 'Exec needs a command: the argv list is empty' };
    const notString = value.items.find((item) => item.kind !== 'str');
    if (notString) {
      return { problem: `Exec's argv list must hold only strings, found ${describeValue(notString)}` };
    }
    return value.items.map((item) => (item as { value: string }).value);
  }
  return {
    problem: `Exec takes a shell command string or a list of argv strings, found ${describeValue(value)}`,
  };
}

function readBool(
  option: WatchOption | undefined,
  name: string,
  fallback: boolean,
  context: WatchFileContext,
): boolean {
  if (!option) return fallback;
  if (option.value.kind !== 'bool') {
    return context.fail(option.at, `${name} must be True or False, found ${describeValue(option.value)}`);
  }
  return option.value.value;
}

/** Twitcher compares with `is`, and CPython's small ints are shared: 1, 2 and 3 work as the names do. */
function readRunMode(option: WatchOption | undefined, context: WatchFileContext): RunMode {
  if (!option) return 'queue';
  const mode = option.value.kind === 'int' ? RUN_MODES.get(option.value.value) : undefined;
  if (!mode) {
    context.fail(
      option.at,
      `run_mode must be QUEUE, DISCARD or PARALLEL, found ${describeValue(option.value)}`,
    );
  }
  return mode;
}

function readDescription(option: WatchOption | undefined, context: WatchFileContext): string | undefined {
  if (!option) return undefined;
  if (option.value.kind !== 'str') {
    return context.fail(option.at, `description must be a string, found ${describeValue(option.value)}`);
  }
  return option.value.value;
}

function readIdentity(
  option: WatchOption | undefined,
  name: string,
  what: string,
  context: WatchFileContext,
): string | number | undefined {
  if (!option) return undefined;
  const value = option.value;
  if ((value.kind === 'int' && value.value >= 0) || (value.kind === 'str' && value.value !== '')) {
    return value.value;
  }
  return context.fail(
    option.at,
    `${name} must be a ${what} name or a number (0 or more), found ${describeValue(value)}`,
  );
}

function readWatchType(option: WatchOption | undefined, context: WatchFileContext): void {
  if (!option) return;
  if (option.value.kind === 'int' && option.value.value === 1) return; // WATCH_DATA, the default
  if (option.value.kind === 'int' && option.value.value === 2) {
    context.fail(
      option.at,
      "watch_type=WATCH_CHILDREN is not supported: only a node's data is watched (WATCH_DATA)",
    );
  }
  context.fail(option.at, `watch_type must be WATCH_DATA, found ${describeValue(option.value)}`);
}

/** Twitcher takes a number below 32 (signal.SIGHUP is one); it is normalised to its name. */
function readSignal(option: WatchOption | undefined, context: WatchFileContext): NodeJS.Signals | undefined {
  if (!option) return undefined;
  const value = option.value;
  const name =
    value.kind === 'int' && value.value > 0 && value.value < 32 ? SIGNAL_NAMES.get(value.value) : undefined;
  if (!name) {
    context.fail(
      option.at,
      `notify_signal must be a signal: signal.SIGHUP or a number from 1 to 31, found ${describeValue(value)}`,
    );
  }
  return name;
}

function readTimeout(option: WatchOption | undefined, context: WatchFileContext): number | undefined {
  if (!option) return undefined;
  const value = option.value;
  if ((value.kind === 'int' || value.kind === 'float') && Number.isFinite(value.value) && value.value > 0) {
    return value.value;
  }
  return context.fail(
    option.at,
    `timeout must be a number of seconds above 0, found ${describeValue(value)}`,
  );
}

function readFailurePolicy(option: WatchOption | undefined, context: WatchFileContext): FailurePolicy {
  if (!option) return { kind: 'keep' };
  if (option.value.kind === 'policy') return option.value.policy;
  return context.fail(
    option.at,
    `on_failure must be KEEP_WATCHING, STOP_WATCHING or Retry(times, backoff=seconds, then=...), found ${describeValue(option.value)}`,
  );
}

/** Retry(times, backoff, then) checked; a string says what is wrong. */
export function retryPolicy(
  times: PyValue | undefined,
  backoff: PyValue | undefined,
  then: PyValue | undefined,
): FailurePolicy | { problem: string; argument: 'times' | 'backoff' | 'then' } {
  if (!times || times.kind !== 'int' || times.value < 1) {
    const found = times ? describeValue(times) : 'nothing';
    return {
      problem: `Retry's times must be a whole number of retries (1 or more), found ${found}`,
      argument: 'times',
    };
  }
  let backoffSeconds = DEFAULT_RETRY_BACKOFF_SECONDS;
  if (backoff && backoff.kind !== 'none') {
    if (
      (backoff.kind !== 'int' && backoff.kind !== 'float') ||
      !(backoff.value >= 0) ||
      !Number.isFinite(backoff.value)
    ) {
      return {
        problem: `Retry's backoff must be a number of seconds (0 or more), found ${describeValue(backoff)}`,
        argument: 'backoff',
      };
    }
    backoffSeconds = backoff.value;
  }
  let after: 'keep' | 'stop' = 'keep';
  if (then && then.kind !== 'none') {
    if (then.kind !== 'policy' || then.policy.kind === 'retry') {
      return {
        problem: `Retry's then must be KEEP_WATCHING or STOP_WATCHING, found ${describeValue(then)}`,
        argument: 'then',
      };
    }
    after = then.policy.kind;
  }
  return { kind: 'retry', times: times.value, backoffSeconds, then: after };
}
