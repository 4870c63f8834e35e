import { ChildProcessByStdio, spawn, SpawnOptions } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Readable, Writable } from 'node:stream';
import { lookupIdentity } from './identity';

/**
 * Runs one external command for a watch action or the `exec` pipeline handler. The child leads
 * a process group of its own, so a timeout, a kill or a notify signal reaches everything it
 * started (a shell's children), not just the shell.
 */

export interface ProcessSpec {
  /** A string runs through /bin/sh -c; a list is the exact argv (no shell, no word splitting). */
  command: string | string[];
  /** Written to the child's stdin, which is then closed; null/undefined: stdin is empty. */
  stdin?: Buffer | string | null;
  /**
   * The child's whole environment: nothing of this process's own is added (environment.ts
   * builds a scrubbed one; a caller that means to pass everything passes process.env).
   * Undefined values are left out.
   */
  env: Readonly<Record<string, string | undefined>>;
  cwd?: string;
  /** Names or numbers, resolved by identity.ts (a uid alone takes the user's primary group). */
  uid?: number | string;
  gid?: number | string;
  /** SIGTERM to the process group at this age. Undefined: no limit. */
  timeoutMs?: number;
  /** SIGKILL to the group this long after the SIGTERM if the child is still running (default 5000). */
  killAfterMs?: number;
  /** Bytes of stdout and of stderr kept, the most recent (default 16 KiB each). */
  outputTailBytes?: number;
  /**
   * After the child exits, how long something it left behind (a background grandchild) may
   * keep its stdout/stderr open before `done` stops waiting for them (default 2000).
   */
  pipeDrainMs?: number;
  /** Aborting stops the child the way a timeout does (SIGTERM, then SIGKILL killAfterMs later). */
  abortSignal?: AbortSignal;
}

export interface ProcessResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** SIGKILL escalation happened: the child outlived its SIGTERM by killAfterMs. */
  killed: boolean;
  /** Could not start (ENOENT, EACCES, unknown user, bad spec): no exit code. */
  error?: string;
  stdoutTail: string;
  stderrTail: string;
  /** From start until `done` settled. */
  durationMs: number;
  /** Stopped through ProcessSpec.abortSignal. */
  aborted?: boolean;
}

export interface RunningProcess {
  /** Undefined when the child never started. */
  readonly pid: number | undefined;
  /** To the whole process group; ignored once the child has exited. */
  signal(sig: NodeJS.Signals): void;
  readonly done: Promise<ProcessResult>;
}

export const DEFAULT_KILL_AFTER_MS = 5000;
export const DEFAULT_OUTPUT_TAIL_BYTES = 16 * 1024;
export const DEFAULT_PIPE_DRAIN_MS = 2000;

type Child = ChildProcessByStdio<Writable, Readable, Readable>;

/** Starts the command; every failure, including one to start it, ends up in `done`, which never rejects. */
export function startProcess(spec: ProcessSpec): RunningProcess {
  const startedAt = performance.now();
  let child: Child;
  try {
    const [file, args, options] = prepare(spec);
    child = spawn(file, args, options) as Child;
  } catch (error) {
    return notStarted((error as Error).message, startedAt);
  }
  return new ProcessRun(child, spec, startedAt).start();
}

/** Ran, exited 0, and nobody had to stop it. */
export function succeeded(result: ProcessResult): boolean {
  return (
    result.error === undefined &&
    result.exitCode === 0 &&
    result.signal === null &&
    !result.timedOut &&
    !result.aborted
  );
}

function prepare(spec: ProcessSpec): [string, string[], SpawnOptions] {
  checkLimits(spec);
  if (spec.abortSignal?.aborted) throw new Error('aborted before it started');
  const identity = lookupIdentity({ uid: spec.uid, gid: spec.gid });
  const options: SpawnOptions = {
    cwd: spec.cwd,
    // Never spawn()'s default of inheriting process.env, even for a caller (in JavaScript) that gave none.
    env: { ...(spec.env ?? {}) },
    stdio: ['pipe', 'pipe', 'pipe'],
    // setsid(): the child leads a new process group (and session) whose id is its pid.
    detached: true,
    ...identity,
  };
  const { command } = spec;
  if (typeof command === 'string') {
    if (command.trim() === '') throw new Error('the command is empty');
    return ['/bin/sh', ['-c', command], options];
  }
  if (command.length === 0 || command[0] === '') throw new Error('the argv list is empty');
  return [command[0], command.slice(1), options];
}

function checkLimits(spec: ProcessSpec): void {
  const limits: Array<[string, number | undefined, number]> = [
    ['timeoutMs', spec.timeoutMs, Number.MIN_VALUE],
    ['killAfterMs', spec.killAfterMs, 0],
    ['outputTailBytes', spec.outputTailBytes, 0],
    ['pipeDrainMs', spec.pipeDrainMs, 0],
  ];
  for (const [name, value, min] of limits) {
    if (value !== undefined && !(Number.isFinite(value) && value >= min)) {
      throw new Error(`${name} must be a finite number ${min === 0 ? '>= 0' : '> 0'}, got ${value}`);
    }
  }
}

/** A process that could not start: `error` says why; it has no pid, and `done` is already settled. */
export function notStarted(error: string, startedAt = performance.now()): RunningProcess {
  const result: ProcessResult = {
    exitCode: null,
    signal: null,
    timedOut: false,
    killed: false,
    error,
    stdoutTail: '',
    stderrTail: '',
    durationMs: performance.now() - startedAt,
  };
  return { pid: undefined, signal: () => {}, done: Promise.resolve(result) };
}

/** The most recent `limit` bytes of a stream. */
class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 0 && this.size - this.chunks[0].length >= this.limit) {
      this.size -= this.chunks.shift()!.length;
    }
  }

  toString(): string {
    const all = Buffer.concat(this.chunks);
    let start = Math.max(0, all.length - this.limit);
    // Do not begin in the middle of a UTF-8 character (continuation bytes are 10xxxxxx).
    while (start > 0 && start < all.length && (all[start] & 0xc0) === 0x80) start++;
    return all.subarray(start).toString('utf8');
  }
}

/** One started child: its output tails, its timers, and a result settled exactly once. */
class ProcessRun implements RunningProcess {
  readonly pid: number | undefined;
  readonly done: Promise<ProcessResult>;
  private settle!: (result: ProcessResult) => void;
  private readonly stdout: OutputTail;
  private readonly stderr: OutputTail;
  private timedOut = false;
  private aborted = false;
  private killed = false;
  private stopping = false;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private settled = false;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly child: Child,
    private readonly spec: ProcessSpec,
    private readonly startedAt: number,
  ) {
    this.pid = child.pid;
    const tailBytes = spec.outputTailBytes ?? DEFAULT_OUTPUT_TAIL_BYTES;
    this.stdout = new OutputTail(tailBytes);
    this.stderr = new OutputTail(tailBytes);
    this.done = new Promise((resolve) => (this.settle = resolve));
  }

  start(): this {
    const { child, spec } = this;
    child.stdout.on('data', (chunk: Buffer) => this.stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => this.stderr.push(chunk));
    // A child that exits without reading its input: its exit status decides, not EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(spec.stdin ?? undefined);
    child.on('error', (error) => this.failed(error));
    child.on('exit', (code, signal) => this.exited(code, signal));
    child.on('close', this.finish);
    if (spec.timeoutMs !== undefined) this.timeoutTimer = setTimeout(this.timeout, spec.timeoutMs);
    spec.abortSignal?.addEventListener('abort', this.abort, { once: true });
    return this;
  }

  signal(sig: NodeJS.Signals): void {
    // Once the child has exited, its group may empty and its id be reused: signal no stranger.
    if (this.exit || this.settled) return;
    this.signalGroup(sig);
  }

  private readonly timeout = () => {
    this.timedOut = true;
    this.terminate();
  };

  private readonly abort = () => {
    this.aborted = true;
    this.terminate();
  };

  /** SIGTERM now; SIGKILL killAfterMs later to whatever of the group is still there. */
  private terminate(): void {
    if (this.stopping || this.exit || this.settled) return;
    this.stopping = true;
    this.signalGroup('SIGTERM');
    this.killTimer = setTimeout(this.escalate, this.spec.killAfterMs ?? DEFAULT_KILL_AFTER_MS);
  }

  private readonly escalate = () => {
    this.killTimer = undefined;
    // Settled: the child and our pipes are gone, but a straggler without them may not be.
    if (this.settled) return this.signalGroup('SIGKILL');
    this.killed = true;
    this.signalGroup('SIGKILL');
    if (this.exit) this.drain();
  };

  private signalGroup(sig: NodeJS.Signals): void {
    if (this.pid === undefined) return;
    try {
      process.kill(-this.pid, sig);
    } catch {
      // The group is already gone.
    }
  }

  private exited(code: number | null, signal: NodeJS.Signals | null): void {
    this.exit = { code, signal };
    clearTimeout(this.timeoutTimer);
    // Stopping: the rest of the group (a shell's child cleaning up after its SIGTERM) has until
    // the SIGKILL deadline, which then drains. Otherwise what the child left running may keep
    // our pipes open only briefly: it is not ours to kill.
    if (!this.stopping) this.drain();
  }

  /** The child has exited: its pipes get pipeDrainMs more to close. */
  private drain(): void {
    this.drainTimer = setTimeout(this.finish, this.spec.pipeDrainMs ?? DEFAULT_PIPE_DRAIN_MS);
  }

  /** Once the child has exited and its pipes have closed (or stopped draining). */
  private readonly finish = () => {
    if (this.settled || !this.exit) return;
    this.conclude({ exitCode: this.exit.code, signal: this.exit.signal });
  };

  /** The child could not be started (or, rarely, could not be waited for). */
  private failed(error: Error): void {
    if (this.settled || this.exit) return;
    this.conclude({ exitCode: null, signal: null, error: error.message });
  }

  private conclude(outcome: Pick<ProcessResult, 'exitCode' | 'signal' | 'error'>): void {
    this.settled = true;
    clearTimeout(this.timeoutTimer);
    clearTimeout(this.drainTimer);
    // A pending SIGKILL deadline still applies to the group, but must not keep the daemon alive.
    this.killTimer?.unref();
    this.spec.abortSignal?.removeEventListener('abort', this.abort);
    // Stop reading pipes a grandchild may still hold, so they do not keep this process busy.
    this.child.stdout.destroy();
    this.child.stderr.destroy();
    this.child.stdin.destroy();
    this.settle({
      ...outcome,
      timedOut: this.timedOut,
      killed: this.killed,
      stdoutTail: this.stdout.toString(),
      stderrTail: this.stderr.toString(),
      durationMs: performance.now() - this.startedAt,
      ...(this.aborted ? { aborted: true } : {}),
    });
  }
}
