import { ConfigurationError } from '../../../src/config/errors';
import type { ProcessResult, RunningProcess } from '../../../src/process/runner';
import type { RunGate, RunPermit, UpdateStamp } from '../../../src/watch/run-gate';
import type { WatchSpec } from '../../../src/watch/spec';
import { WatchRunEvent, WatchRunner, WatchTimers } from '../../../src/watch/watch-runner';

/** Lets the runner's promise chains settle (they only wait on already-resolved promises). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Timers that fire only when the test moves the clock. */
class FakeClock implements WatchTimers {
  time = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; callback: () => void }>();

  now = () => this.time;

  setTimeout = (callback: () => void, ms: number) => {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + ms, callback });
    return id;
  };

  clearTimeout = (handle: unknown) => {
    this.timers.delete(handle as number);
  };

  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing due timers in order and letting each one's effects settle. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at);
      if (due.length === 0) break;
      const [id, timer] = due[0];
      this.timers.delete(id);
      this.time = timer.at;
      timer.callback();
      await settle();
    }
    this.time = end;
    await settle();
  }
}

function result(outcome: Partial<ProcessResult> = {}): ProcessResult {
  return {
    exitCode: 0,
    signal: null,
    timedOut: false,
    killed: false,
    stdoutTail: '',
    stderrTail: '',
    durationMs: 0,
    ...outcome,
  };
}

/** A child the test ends when it wants; it records the signals sent to it. */
class FakeProcess implements RunningProcess {
  readonly signals: NodeJS.Signals[] = [];
  readonly done: Promise<ProcessResult>;
  private end!: (result: ProcessResult) => void;

  constructor(
    readonly content: Buffer | null,
    readonly pid: number,
  ) {
    this.done = new Promise((resolve) => (this.end = resolve));
  }

  get stdin(): string | null {
    return this.content === null ? null : this.content.toString();
  }

  signal(sig: NodeJS.Signals): void {
    this.signals.push(sig);
  }

  async exit(code = 0): Promise<void> {
    this.end(result({ exitCode: code }));
    await settle();
  }

  async finish(outcome: Partial<ProcessResult>): Promise<void> {
    this.end(result(outcome));
    await settle();
  }
}

class FakePermit implements RunPermit {
  ranBefore = false;
  readonly asked: UpdateStamp[] = [];
  readonly left: Array<UpdateStamp | undefined> = [];
  private lostCallback?: () => void;

  async alreadyRun(stamp: UpdateStamp): Promise<boolean> {
    this.asked.push(stamp);
    return this.ranBefore;
  }

  onLost(callback: () => void): void {
    this.lostCallback = callback;
  }

  async leave(ran?: UpdateStamp): Promise<void> {
    this.left.push(ran);
  }

  lose(): void {
    this.lostCallback?.();
  }
}

/** Holds every caller until the test grants (or refuses) the lease. */
class FakeGate implements RunGate {
  readonly waiting: Array<{ abort: AbortSignal; resolve: (permit: RunPermit | null) => void }> = [];
  failWith?: Error;

  enter(abort: AbortSignal): Promise<RunPermit | null> {
    if (this.failWith) return Promise.reject(this.failWith);
    return new Promise((resolve) => {
      this.waiting.push({ abort, resolve });
      abort.addEventListener('abort', () => resolve(null), { once: true });
    });
  }

  async grant(permit = new FakePermit()): Promise<FakePermit> {
    const caller = this.waiting.shift();
    if (!caller) throw new Error('nobody is waiting for the gate');
    caller.resolve(permit);
    await settle();
    return permit;
  }
}

function watchSpec(overrides: Partial<WatchSpec> = {}): WatchSpec {
  return {
    znode: '/twitcher/example',
    command: 'true',
    pipeStdin: true,
    runOnLoad: true,
    runMode: 'queue',
    description: 'example.twc-1',
    onFailure: { kind: 'keep' },
    exclusive: false,
    source: { file: 'example.twc', line: 3 },
    ...overrides,
  };
}

function harness(overrides: Partial<WatchSpec> = {}, options: { gate?: RunGate; failStart?: string } = {}) {
  const clock = new FakeClock();
  const started: FakeProcess[] = [];
  const events: WatchRunEvent[] = [];
  const runner = new WatchRunner(watchSpec(overrides), {
    start: (content) => {
      if (options.failStart) throw new Error(options.failStart);
      const process = new FakeProcess(content, 1000 + started.length);
      started.push(process);
      return process;
    },
    timers: clock,
    listener: (event) => events.push(event),
    gate: options.gate,
  });
  const ofType = <T extends WatchRunEvent['type']>(type: T) =>
    events.filter((e): e is Extract<WatchRunEvent, { type: T }> => e.type === type);
  /** Sends an update and lets whatever it starts settle. */
  const send = async (text: string | null, stamp?: UpdateStamp) => {
    runner.update(text === null ? null : Buffer.from(text), stamp);
    await settle();
  };
  return { runner, clock, started, events, ofType, send };
}

/** Whether the promise has settled by now. */
async function hasSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(() => (settled = true));
  await settle();
  return settled;
}

describe('QUEUE', () => {
  test('an update when idle runs the action with the content on stdin', async () => {
    const h = harness();
    await h.send('v1');
    expect(h.started.map((p) => p.stdin)).toEqual(['v1']);
    expect(h.runner.running()).toEqual([h.started[0]]);
  });

  test('three updates during one run coalesce into exactly one more run, with the third content', async () => {
    const h = harness();
    await h.send('v0');
    await h.send('v1');
    await h.send('v2');
    await h.send('v3');
    expect(h.started).toHaveLength(1);
    await h.started[0].exit(0);
    expect(h.started.map((p) => p.stdin)).toEqual(['v0', 'v3']);
    await h.started[1].exit(0);
    await h.runner.idle();
    expect(h.started).toHaveLength(2);
    // v1 and v2 were replaced by a newer update before they could run.
    expect(h.ofType('updateCoalesced')).toEqual([
      { type: 'updateCoalesced', superseded: 'update' },
      { type: 'updateCoalesced', superseded: 'update' },
    ]);
    expect(h.ofType('updateDiscarded')).toHaveLength(0);
  });

  test('never two runs at once, and each run starts after the previous one ended', async () => {
    const h = harness();
    await h.send('a');
    await h.send('b');
    expect(h.ofType('runStarted').map((e) => e.running)).toEqual([1]);
    await h.clock.advance(250);
    await h.started[0].exit(0);
    expect(h.ofType('runFinished')[0]).toMatchObject({ attempt: 1, durationMs: 250, succeeded: true });
    expect(h.ofType('runStarted').map((e) => e.running)).toEqual([1, 1]);
    expect(h.runner.running()).toEqual([h.started[1]]);
  });

  test('notify_signal goes to the running child on each update that arrives while it runs, never when idle', async () => {
    const h = harness({ notifySignal: 'SIGHUP' });
    await h.send('v0');
    expect(h.started[0].signals).toEqual([]);
    await h.send('v1');
    await h.send('v2');
    await h.send('v3');
    expect(h.started[0].signals).toEqual(['SIGHUP', 'SIGHUP', 'SIGHUP']);
    expect(h.ofType('notifySignalSent')).toHaveLength(3);
    await h.started[0].exit(0);
    expect(h.started[1].signals).toEqual([]);
  });

  test('idle() waits for the queued run too', async () => {
    const h = harness();
    await h.send('v0');
    await h.send('v1');
    const idle = h.runner.idle();
    await h.started[0].exit(0);
    expect(await hasSettled(idle)).toBe(false);
    await h.started[1].exit(0);
    expect(await hasSettled(idle)).toBe(true);
  });
});

describe('DISCARD', () => {
  test('updates during a run are counted and ignored; the watch stays', async () => {
    const h = harness({ runMode: 'discard', notifySignal: 'SIGHUP' });
    await h.send('v0');
    await h.send('v1');
    await h.send('v2');
    expect(h.ofType('updateDiscarded')).toEqual([
      { type: 'updateDiscarded', reason: 'running' },
      { type: 'updateDiscarded', reason: 'running' },
    ]);
    await h.started[0].exit(0);
    await h.runner.idle();
    expect(h.started.map((p) => p.stdin)).toEqual(['v0']);
    expect(h.started[0].signals).toEqual([]); // notify_signal is QUEUE's only
    await h.send('v3');
    expect(h.started.map((p) => p.stdin)).toEqual(['v0', 'v3']);
  });
});

describe('PARALLEL', () => {
  test('one process per update, all at once', async () => {
    const h = harness({ runMode: 'parallel', notifySignal: 'SIGHUP' });
    await h.send('v1');
    await h.send('v2');
    await h.send('v3');
    expect(h.started.map((p) => p.stdin)).toEqual(['v1', 'v2', 'v3']);
    expect(h.runner.running()).toHaveLength(3);
    expect(h.ofType('runStarted').map((e) => e.running)).toEqual([1, 2, 3]);
    expect(h.started.every((p) => p.signals.length === 0)).toBe(true);
    await h.started[1].exit(0);
    expect(h.runner.running()).toEqual([h.started[0], h.started[2]]);
    expect(h.ofType('runFinished')[0].running).toBe(2);
    expect(h.ofType('updateCoalesced')).toHaveLength(0);
  });
});

describe('stdin', () => {
  test('pipe_stdin=false starts the action exactly once per update, with empty stdin', async () => {
    const h = harness({ pipeStdin: false });
    await h.send('v1');
    await h.started[0].exit(0);
    await h.send('v2');
    await h.started[1].exit(0);
    await h.runner.idle();
    expect(h.started.map((p) => p.content)).toEqual([null, null]);
  });

  test('an update without content (a znode that does not exist) runs with empty stdin', async () => {
    const h = harness();
    await h.send(null);
    expect(h.started.map((p) => p.content)).toEqual([null]);
  });
});

describe('on_failure: keep and stop', () => {
  test('keep: a failed run is reported and the watch goes on', async () => {
    const h = harness();
    await h.send('v1');
    await h.started[0].exit(3);
    expect(h.ofType('runFinished')[0]).toMatchObject({ succeeded: false, result: { exitCode: 3 } });
    await h.clock.advance(60_000);
    expect(h.started).toHaveLength(1);
    expect(h.runner.accepting).toBe(true);
    await h.send('v2');
    expect(h.started).toHaveLength(2);
  });

  test.each<[string, Partial<ProcessResult>]>([
    ['a signal', { exitCode: null, signal: 'SIGSEGV' }],
    ['a timeout', { exitCode: null, signal: 'SIGTERM', timedOut: true }],
    ['a start failure', { exitCode: null, error: 'spawn /no/such ENOENT' }],
  ])('stop: %s is a failure that stops the watch', async (_name, outcome) => {
    const h = harness({ onFailure: { kind: 'stop' } });
    await h.send('v1');
    await h.send('v2'); // queued during the failing run: dropped with the watch
    await h.started[0].finish(outcome);
    expect(h.ofType('watchStopped')).toEqual([
      { type: 'watchStopped', reason: 'on_failure', result: expect.objectContaining(outcome) },
    ]);
    expect(h.runner.accepting).toBe(false);
    await h.send('v3');
    expect(h.started).toHaveLength(1);
    expect(h.ofType('updateDiscarded').map((e) => e.reason)).toEqual(['stopped', 'stopped']);
    await h.runner.idle();
  });

  test('stop: a successful run does not stop the watch', async () => {
    const h = harness({ onFailure: { kind: 'stop' } });
    await h.send('v1');
    await h.started[0].exit(0);
    expect(h.runner.accepting).toBe(true);
    expect(h.ofType('watchStopped')).toHaveLength(0);
  });

  test('a start() that throws is a failed run that never started', async () => {
    const h = harness({ onFailure: { kind: 'stop' } }, { failStart: 'unknown user nobodyx' });
    await h.send('v1');
    expect(h.ofType('runStarted')).toEqual([{ type: 'runStarted', attempt: 1, pid: undefined, running: 1 }]);
    expect(h.ofType('runFinished')[0].result.error).toBe('unknown user nobodyx');
    expect(h.ofType('watchStopped')).toHaveLength(1);
  });
});

describe('on_failure: retry', () => {
  test('retry: the same content again after back-off, doubling, up to `times` retries, then keep', async () => {
    const h = harness({ onFailure: { kind: 'retry', times: 3, backoffSeconds: 2, then: 'keep' } });
    await h.send('v1');
    await h.started[0].exit(1);
    for (const [retry, delayMs] of [
      [1, 2000],
      [2, 4000],
      [3, 8000],
    ]) {
      expect(h.ofType('retryScheduled').at(-1)).toEqual({ type: 'retryScheduled', retry, of: 3, delayMs });
      await h.clock.advance(delayMs - 1);
      expect(h.started).toHaveLength(retry);
      await h.clock.advance(1);
      expect(h.started).toHaveLength(retry + 1);
      await h.started[retry].exit(1);
    }
    await h.clock.advance(600_000);
    expect(h.started.map((p) => p.stdin)).toEqual(['v1', 'v1', 'v1', 'v1']);
    expect(h.ofType('runStarted').map((e) => e.attempt)).toEqual([1, 2, 3, 4]);
    expect(h.runner.accepting).toBe(true);
    expect(h.ofType('watchStopped')).toHaveLength(0);
    await h.runner.idle();
  });

  test('retry then stop: the watch stops once the retries failed', async () => {
    const h = harness({ onFailure: { kind: 'retry', times: 1, backoffSeconds: 1, then: 'stop' } });
    await h.send('v1');
    await h.started[0].exit(1);
    expect(h.runner.accepting).toBe(true);
    await h.clock.advance(1000);
    await h.started[1].exit(1);
    expect(h.ofType('watchStopped')).toHaveLength(1);
    expect(h.runner.accepting).toBe(false);
  });

  test('retry: a retry that succeeds ends the chain', async () => {
    const h = harness({ onFailure: { kind: 'retry', times: 3, backoffSeconds: 1, then: 'stop' } });
    await h.send('v1');
    await h.started[0].exit(1);
    await h.clock.advance(1000);
    await h.started[1].exit(0);
    await h.clock.advance(600_000);
    expect(h.started).toHaveLength(2);
    expect(h.runner.accepting).toBe(true);
    await h.runner.idle();
  });
});

describe('on_failure: the newest content wins over a retry', () => {
  test('retry: an update arriving while a retry waits replaces it, and counts as coalesced', async () => {
    const h = harness({ onFailure: { kind: 'retry', times: 3, backoffSeconds: 5, then: 'keep' } });
    await h.send('v1');
    await h.started[0].exit(1);
    await h.clock.advance(1000);
    await h.send('v2');
    expect(h.started.map((p) => p.stdin)).toEqual(['v1', 'v2']);
    expect(h.ofType('updateCoalesced')).toEqual([{ type: 'updateCoalesced', superseded: 'retry' }]);
    await h.started[1].exit(0);
    await h.clock.advance(600_000);
    expect(h.started).toHaveLength(2); // the replaced retry never fires
    expect(h.clock.pendingTimers).toBe(0);
    await h.runner.idle();
  });

  test('retry: an update that queued during the failing run wins over the retry', async () => {
    const h = harness({ onFailure: { kind: 'retry', times: 3, backoffSeconds: 1, then: 'keep' } });
    await h.send('v1');
    await h.send('v2');
    await h.started[0].exit(1);
    expect(h.started.map((p) => p.stdin)).toEqual(['v1', 'v2']);
    expect(h.ofType('retryScheduled')).toHaveLength(0);
    expect(h.ofType('updateCoalesced')).toEqual([{ type: 'updateCoalesced', superseded: 'retry' }]);
    // The newer update's own failure starts its own retries.
    await h.started[1].exit(1);
    await h.clock.advance(1000);
    expect(h.started.map((p) => p.stdin)).toEqual(['v1', 'v2', 'v2']);
  });

  test('retry in PARALLEL: an older run does not retry once a newer update has started', async () => {
    const h = harness({
      runMode: 'parallel',
      onFailure: { kind: 'retry', times: 2, backoffSeconds: 1, then: 'keep' },
    });
    await h.send('v1');
    await h.send('v2');
    await h.started[0].exit(1);
    await h.clock.advance(10_000);
    expect(h.started.map((p) => p.stdin)).toEqual(['v1', 'v2']);
    await h.started[1].exit(1);
    await h.clock.advance(1000);
    expect(h.started.map((p) => p.stdin)).toEqual(['v1', 'v2', 'v2']);
  });
});

describe('stop()', () => {
  test('no new runs; the running child is left to finish, not signalled; idle() waits for it', async () => {
    const h = harness();
    await h.send('v1');
    await h.send('v2');
    h.runner.stop();
    expect(h.runner.running()).toEqual([h.started[0]]);
    expect(h.started[0].signals).toEqual([]);
    const idle = h.runner.idle();
    expect(await hasSettled(idle)).toBe(false);
    await h.started[0].exit(0);
    expect(await hasSettled(idle)).toBe(true);
    await h.send('v3');
    expect(h.started).toHaveLength(1);
    expect(h.ofType('updateDiscarded').map((e) => e.reason)).toEqual(['stopped', 'stopped']);
  });

  test('a pending retry is cancelled', async () => {
    const h = harness({ onFailure: { kind: 'retry', times: 3, backoffSeconds: 1, then: 'keep' } });
    await h.send('v1');
    await h.started[0].exit(1);
    expect(h.clock.pendingTimers).toBe(1);
    h.runner.stop();
    expect(h.clock.pendingTimers).toBe(0);
    await h.runner.idle();
    await h.clock.advance(60_000);
    expect(h.started).toHaveLength(1);
  });

  test('a failing run after stop() applies no on_failure', async () => {
    const h = harness({ onFailure: { kind: 'retry', times: 3, backoffSeconds: 1, then: 'stop' } });
    await h.send('v1');
    h.runner.stop();
    await h.started[0].exit(1);
    expect(h.ofType('retryScheduled')).toHaveLength(0);
    expect(h.ofType('watchStopped')).toHaveLength(0);
    await h.runner.idle();
  });
});

describe('exclusive: admission through the gate', () => {
  test('PARALLEL cannot be exclusive: a configuration error naming the file and line', () => {
    expect(() => harness({ exclusive: true, runMode: 'parallel' }, { gate: new FakeGate() })).toThrow(
      ConfigurationError,
    );
    expect(() => harness({ exclusive: true, runMode: 'parallel' }, { gate: new FakeGate() })).toThrow(
      /^example\.twc:3: exclusive=True cannot be combined with run_mode=PARALLEL/,
    );
  });

  test('an exclusive watch needs a gate', () => {
    expect(() => harness({ exclusive: true })).toThrow(/exclusive but no lease gate/);
  });

  test('the run waits for the lease; updates meanwhile coalesce and the newest content runs', async () => {
    const gate = new FakeGate();
    const h = harness({ exclusive: true, notifySignal: 'SIGHUP' }, { gate });
    await h.send('v1', { mzxid: 11n });
    await h.send('v2', { mzxid: 12n });
    await h.send('v3', { mzxid: 13n });
    expect(h.started).toHaveLength(0);
    const permit = await gate.grant();
    expect(h.started.map((p) => p.stdin)).toEqual(['v3']);
    expect(permit.asked).toEqual([{ mzxid: 13n }]);
    expect(h.ofType('updateCoalesced')).toHaveLength(2);
    await h.started[0].exit(0);
    expect(permit.left).toEqual([{ mzxid: 13n }]);
    await h.runner.idle();
  });

  test('an update the cluster already ran is skipped', async () => {
    const gate = new FakeGate();
    const h = harness({ exclusive: true }, { gate });
    await h.send('v1', { mzxid: 11n });
    const permit = new FakePermit();
    permit.ranBefore = true;
    await gate.grant(permit);
    expect(h.started).toHaveLength(0);
    expect(h.ofType('alreadyRun')).toHaveLength(1);
    expect(permit.left).toEqual([undefined]);
    await h.runner.idle();
  });

  test('a retry does not ask whether the update already ran (its own first run recorded it)', async () => {
    const gate = new FakeGate();
    const h = harness(
      { exclusive: true, onFailure: { kind: 'retry', times: 1, backoffSeconds: 1, then: 'keep' } },
      { gate },
    );
    await h.send('v1', { mzxid: 11n });
    const first = await gate.grant();
    await h.started[0].exit(1);
    expect(first.left).toEqual([{ mzxid: 11n }]);
    await h.clock.advance(1000);
    const second = new FakePermit();
    second.ranBefore = true;
    await gate.grant(second);
    expect(second.asked).toEqual([]);
    expect(h.started.map((p) => p.stdin)).toEqual(['v1', 'v1']);
  });
});

describe('exclusive: a lost lease, a broken gate, stop()', () => {
  test('a lost lease stops the child (SIGTERM, SIGKILL 5 s later) and applies no on_failure', async () => {
    const gate = new FakeGate();
    const h = harness(
      { exclusive: true, onFailure: { kind: 'retry', times: 3, backoffSeconds: 1, then: 'stop' } },
      { gate },
    );
    await h.send('v1', { mzxid: 11n });
    const permit = await gate.grant();
    permit.lose();
    expect(h.started[0].signals).toEqual(['SIGTERM']);
    expect(h.ofType('leaseLost')).toEqual([{ type: 'leaseLost', pid: 1000 }]);
    await h.clock.advance(4999);
    expect(h.started[0].signals).toEqual(['SIGTERM']);
    await h.clock.advance(1);
    expect(h.started[0].signals).toEqual(['SIGTERM', 'SIGKILL']);
    await h.started[0].finish({ exitCode: null, signal: 'SIGKILL' });
    expect(h.ofType('runFinished')[0]).toMatchObject({ succeeded: false, leaseLost: true });
    expect(permit.left).toEqual([undefined]); // not recorded as run: the other host owns the update
    expect(h.ofType('retryScheduled')).toHaveLength(0);
    expect(h.runner.accepting).toBe(true);
    await h.runner.idle();
  });

  test('a child that stops on SIGTERM gets no SIGKILL', async () => {
    const gate = new FakeGate();
    const h = harness({ exclusive: true }, { gate });
    await h.send('v1', { mzxid: 11n });
    const permit = await gate.grant();
    permit.lose();
    await h.started[0].finish({ exitCode: null, signal: 'SIGTERM' });
    await h.clock.advance(10_000);
    expect(h.started[0].signals).toEqual(['SIGTERM']);
  });

  test('a gate that fails makes a failed run, under on_failure', async () => {
    const gate = new FakeGate();
    gate.failWith = new Error('Connection is closed.');
    const h = harness({ exclusive: true, onFailure: { kind: 'stop' } }, { gate });
    await h.send('v1', { mzxid: 11n });
    expect(h.started).toHaveLength(0);
    expect(h.ofType('runFinished')[0].result.error).toBe(
      'could not take the exclusive lease: Connection is closed.',
    );
    expect(h.ofType('watchStopped')).toHaveLength(1);
  });

  test('stop() while waiting for the lease gives up the wait', async () => {
    const gate = new FakeGate();
    const h = harness({ exclusive: true }, { gate });
    await h.send('v1', { mzxid: 11n });
    expect(gate.waiting).toHaveLength(1);
    h.runner.stop();
    expect(gate.waiting[0].abort.aborted).toBe(true);
    await h.runner.idle();
    expect(h.started).toHaveLength(0);
  });
});
