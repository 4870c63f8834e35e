import { WatchProblem } from './twc-errors';

/**
 * One watch as the daemon runs it: a ZooKeeper node, the command its changes start, and how
 * runs are scheduled. Read from Twitcher's `.twc` files (src/watch/twc-*.ts) or from YAML
 * (src/watch/yaml-watches.ts); both fill in the same defaults as Twitcher's RegisterWatch.
 */

/** Twitcher's QUEUE, DISCARD and PARALLEL. */
export type RunMode = 'queue' | 'discard' | 'parallel';

/** What a failed run (a non-zero exit) leads to. */
export type FailurePolicy =
  /** The default: log, count, keep watching. */
  | { kind: 'keep' }
  /** Stop watching this znode after a failed run. */
  | { kind: 'stop' }
  /** Run again up to `times` more times, waiting `backoffSeconds` and doubling it each retry. */
  | { kind: 'retry'; times: number; backoffSeconds: number; then: 'keep' | 'stop' };

export interface WatchSpec {
  /** An absolute ZooKeeper path, validated. */
  znode: string;
  /** `Exec('shell string')` runs through /bin/sh -c; `Exec(['argv', ...])` runs exactly that argv. */
  command: string | string[];
  /** Default true: the znode's content goes to the action's stdin. */
  pipeStdin: boolean;
  /** Default true: the action runs once when the watch is loaded. */
  runOnLoad: boolean;
  /** Default 'queue'. */
  runMode: RunMode;
  /** A user name or number, as written. */
  uid?: number | string;
  /** A group name or number, as written. */
  gid?: number | string;
  /** Sent to the running child when an update arrives (QUEUE only); numbers are normalised to names. */
  notifySignal?: NodeJS.Signals;
  /** Seconds, then SIGTERM, then SIGKILL 5 s later. */
  timeoutSeconds?: number;
  /**
   * Names the watch in logs. Twitcher's default, kept here: the configuration file's path as
   * the directory scan joined it, a dash, and the 1-based position of the watch in its file
   * (`/etc/twitcher/git.twc-1`, `/etc/twitcher/git.twc-2`).
   */
  description: string;
  /** Default { kind: 'keep' }. */
  onFailure: FailurePolicy;
  /** Default false: when true, at most one host of the cluster runs this action at a time. */
  exclusive: boolean;
  /** Where `RegisterWatch(` (or the YAML entry) starts. */
  source: { file: string; line: number };
}

/** The seconds Twitcher waits after SIGTERM before SIGKILL; the README states it. */
export const KILL_AFTER_TERM_SECONDS = 5;

/** Retry's back-off when none is written: one second, doubling each retry. */
export const DEFAULT_RETRY_BACKOFF_SECONDS = 1;

/** What one watch file gave: its watches in file order, and warnings (located like errors). */
export interface WatchFile {
  file: string;
  watches: WatchSpec[];
  warnings: WatchProblem[];
}
