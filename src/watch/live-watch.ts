import { RunningProcess, startProcess } from '../process/runner';
import type { Logger } from '../util/logger';
import type { RunGate } from './run-gate';
import { RunReporter } from './run-reporter';
import { KILL_AFTER_TERM_SECONDS, WatchSpec } from './spec';
import { WatchLabels, WatchMetrics } from './watch-metrics';
import { WatchRunner } from './watch-runner';
import { ZnodeState, ZnodeWatch } from './znode-watch';
import type { SessionSource } from './zookeeper-link';

/**
 * One loaded watch: its znode loop feeding its runner, whose runs start the Exec action.
 *
 * The znode as the action sees it (decided here, tested in watch-daemon.test.ts):
 * - an update is a change of the node's state: its data set (even to the same bytes), the
 *   node created, or the node deleted. Each runs the action once (per the run mode).
 * - a node that does not exist is empty content: a deleted node runs the action with empty
 *   stdin, and so does run_on_load for a node that does not exist yet (run_on_load means "run
 *   once at start", whatever the node holds; actions are to check what they are given).
 *   Then the node's creation runs it with the content. Twitcher 1.7 ran nothing for a missing
 *   node and lost its watch (a later creation never ran the action); that is not kept.
 *
 * The action runs with the daemon's environment plus WATCH_ZNODE and WATCH_DESCRIPTION, in
 * '/' (a child run as another user could not enter the daemon's directory), as uid/gid when
 * given; `timeout` is SIGTERM to its process group, then SIGKILL 5 s later.
 */

export interface LiveWatchDeps {
  source: SessionSource;
  metrics: WatchMetrics;
  log: Logger;
  /** Required for an exclusive watch. */
  gate?: RunGate;
}

/** Output kept per run, for the log line of a failed run. */
const OUTPUT_TAIL_BYTES = 4096;

export class LiveWatch {
  readonly runner: WatchRunner;
  readonly labels: WatchLabels;
  private readonly znode: ZnodeWatch;
  private readonly reporter: RunReporter;

  /** Throws a ConfigurationError for a spec the runner refuses (exclusive with PARALLEL). */
  constructor(
    readonly spec: WatchSpec,
    deps: LiveWatchDeps,
  ) {
    this.labels = { watch: spec.description, file: spec.source.file };
    this.reporter = new RunReporter(spec, this.labels, deps.metrics, deps.log, () => this.znode.stop());
    this.runner = new WatchRunner(spec, {
      start: (content) => this.startAction(content),
      listener: this.reporter.listener,
      gate: deps.gate,
    });
    this.znode = new ZnodeWatch({
      path: spec.znode,
      source: deps.source,
      log: deps.log,
      onState: (state, first) => this.update(state, first, deps.metrics),
    });
  }

  /** False once stopped, by stop() or by on_failure=STOP_WATCHING. */
  get watching(): boolean {
    return this.runner.accepting;
  }

  /** Reads the znode and sets its watch; run_on_load runs the action with what was read. */
  async start(): Promise<void> {
    await this.znode.start();
  }

  /** No more reads or runs; children still running are left to finish (see runner.running()). */
  stop(): void {
    this.znode.stop();
    this.runner.stop();
  }

  private update(state: ZnodeState, first: boolean, metrics: WatchMetrics): void {
    if (first && !this.spec.runOnLoad) return;
    metrics.updates.inc(this.labels);
    if (state.exists) this.runner.update(state.data, { mzxid: state.mzxid });
    else this.runner.update(null);
  }

  private startAction(content: Buffer | null): RunningProcess {
    const spec = this.spec;
    const run = startProcess({
      command: spec.command,
      stdin: content,
      // Twitcher's actions inherit the daemon's environment, and watch files rely on it: kept
      // (unlike the exec handler's scrubbed one, docs/handlers.md#exec).
      env: { ...process.env, WATCH_ZNODE: spec.znode, WATCH_DESCRIPTION: spec.description },
      cwd: '/',
      uid: spec.uid,
      gid: spec.gid,
      timeoutMs: spec.timeoutSeconds === undefined ? undefined : spec.timeoutSeconds * 1000,
      killAfterMs: KILL_AFTER_TERM_SECONDS * 1000,
      outputTailBytes: OUTPUT_TAIL_BYTES,
    });
    this.reporter.track(run.pid, run.done);
    return run;
  }
}
