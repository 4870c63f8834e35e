import { ConfigurationError } from '../config/errors';
import type { RunningProcess } from '../process/runner';
import { logger as rootLogger, Logger } from '../util/logger';
import type { ZkSession } from '../zookeeper/session';
import { ConfigDirWatcher, ConfigScanner, ScanResult } from './config-reload';
import type { WatchFileOutcome } from './config-dir';
import { LeaseGates } from './lease-gates';
import { LiveWatch } from './live-watch';
import { KILL_AFTER_TERM_SECONDS, WatchSpec } from './spec';
import { formatWatchProblem } from './twc-errors';
import { WatchMetrics } from './watch-metrics';
import { WatchSet } from './watch-set';
import { ZooKeeperLink } from './zookeeper-link';

/**
 * `winchester watch`: Twitcher's daemon. Reads every watch file of a directory, watches each
 * watch's znode on one ZooKeeper session, runs the actions, and follows the directory.
 *
 * Start: the directory is scanned first. A file that fails to parse is logged (file:line) and
 * skipped; the daemon refuses to start only when no file parsed and there were errors (or an
 * exclusive watch has no Redis). Each watch then reads its znode, and run_on_load runs.
 *
 * Reload: a file that parses replaces that file's watches (unchanged ones keep running, without
 * a new run_on_load run; new ones start with run_on_load; removed ones stop taking updates,
 * their running children left to finish). A file that fails keeps its previous watches, and
 * its error is logged with file:line. A removed file stops its watches. An unreadable
 * directory changes nothing.
 *
 * Stop (SIGTERM/SIGINT): every watch stops taking updates. Children of exclusive watches get
 * SIGTERM at once (SIGKILL 5 s later), so their leases are given back; the others are given
 * `shutdownGraceMs` (10 s) to finish, then SIGTERM, SIGKILL 5 s later. Then ZooKeeper and
 * Redis are closed.
 */

export interface WatchDaemonOptions {
  /** Twitcher's /etc/twitcher: every *.twc (and *.yaml, *.yml) file under it, recursively. */
  configDir: string;
  /** ZooKeeper connect string, `host:port[,host:port...][/chroot]`. */
  zookeeper: string;
  /** Asked of ZooKeeper (default 10 s). */
  sessionTimeoutMs?: number;
  /** How long opening a session may take, at start and after an expiry (default 10 s). */
  connectTimeoutMs?: number;
  /** For exclusive=True watches. */
  redisUrl?: string;
  /** Prefix of the lease keys in Redis (default `winchester`). */
  namespace?: string;
  /** Exclusive lease length, renewed while the action runs (default 15 s). */
  leaseMs?: number;
  /** Safety-net rescan of the directory (default 2 s); notified changes apply within `reloadDebounceMs`. */
  rescanIntervalMs?: number;
  reloadDebounceMs?: number;
  /** How long stop() waits for non-exclusive children before SIGTERM (default 10 s). */
  shutdownGraceMs?: number;
  /** Default: a new WatchMetrics with process metrics. */
  metrics?: WatchMetrics;
  /** Default: the process logger with `component: 'watch'`. */
  log?: Logger;
}

export interface LoadedWatch {
  file: string;
  spec: WatchSpec;
  /** False once stopped by on_failure=STOP_WATCHING. */
  watching: boolean;
}

export interface WatchDaemon {
  readonly metrics: WatchMetrics;
  /** The ZooKeeper session in use now (a new one after an expiry). */
  session(): ZkSession;
  /** The watches loaded now, file by file in load order. */
  watches(): LoadedWatch[];
  /** Scans the directory now, as a change notice would, and resolves once it is applied. */
  rescan(): Promise<void>;
  /** ZooKeeper connected and not stopping (for /healthz). */
  ready(): boolean;
  /** Resolves once every child has ended and ZooKeeper and Redis are closed. Idempotent. */
  stop(): Promise<void>;
}

export const DEFAULT_SESSION_TIMEOUT_MS = 10_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
const DEFAULT_RESCAN_INTERVAL_MS = 2_000;
const DEFAULT_RELOAD_DEBOUNCE_MS = 150;

/** Starts the daemon; rejects (ConfigurationError, ZkError, RedisUnreachableError) when it cannot. */
export async function startWatchDaemon(options: WatchDaemonOptions): Promise<WatchDaemon> {
  const daemon = new Daemon(options);
  await daemon.start();
  return daemon;
}

/** When no file parsed and the directory had errors, there is nothing to run: say why. */
function requireSomeWatchFile(dir: string, scan: ScanResult): void {
  const errors = [
    ...scan.problems.map(formatWatchProblem),
    ...scan.changed.flatMap((outcome) => (outcome.ok ? [] : [outcome.error.message])),
  ];
  if (errors.length === 0 || scan.changed.some((outcome) => outcome.ok)) return;
  throw new ConfigurationError(`${dir}: no watch file could be loaded\n${errors.join('\n')}`);
}

class Daemon implements WatchDaemon {
  readonly metrics: WatchMetrics;
  private readonly log: Logger;
  private readonly scanner: ConfigScanner;
  private readonly gates: LeaseGates;
  private link?: ZooKeeperLink;
  private watcher?: ConfigDirWatcher;
  private readonly sets = new Map<string, WatchSet>();
  /** Watches stopped (file changed or removed) whose children still run. */
  private readonly retiring = new Set<LiveWatch>();
  private stopping?: Promise<void>;

  constructor(private readonly options: WatchDaemonOptions) {
    this.metrics = options.metrics ?? new WatchMetrics();
    this.metrics.countWatches = () => this.countWatches();
    this.log = options.log ?? rootLogger.child({ component: 'watch' });
    this.scanner = new ConfigScanner(options.configDir);
    this.gates = new LeaseGates({
      redisUrl: options.redisUrl,
      namespace: options.namespace ?? 'winchester',
      configDir: options.configDir,
      leaseMs: options.leaseMs,
      log: this.log,
    });
  }

  async start(): Promise<void> {
    const first = await this.scanner.scan();
    requireSomeWatchFile(this.options.configDir, first);
    await this.requireRedisFor(first.changed);
    this.link = await ZooKeeperLink.open({
      connectString: this.options.zookeeper,
      sessionTimeoutMs: this.options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS,
      connectTimeoutMs: this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      log: this.log,
      observer: {
        state: (state) => this.metrics.setSessionState(state),
        reconnected: () => this.metrics.reconnects.inc(),
        expired: () => this.metrics.expiries.inc(),
      },
    });
    try {
      await this.apply(first);
      this.watcher = new ConfigDirWatcher(this.scanner, {
        debounceMs: this.options.reloadDebounceMs ?? DEFAULT_RELOAD_DEBOUNCE_MS,
        rescanIntervalMs: this.options.rescanIntervalMs ?? DEFAULT_RESCAN_INTERVAL_MS,
        log: this.log,
        apply: async (result) => void this.apply(result).catch((error: unknown) => this.applyFailed(error)),
      });
      this.watcher.start();
    } catch (error) {
      await this.stop();
      throw error;
    }
    const watches = this.watches();
    this.log.info({ configDir: this.options.configDir, watches: watches.length }, 'watching');
  }

  session(): ZkSession {
    if (!this.link) throw new Error('the watch daemon has not started');
    return this.link.current();
  }

  watches(): LoadedWatch[] {
    return [...this.sets.values()].flatMap((set) =>
      set.watches.map((watch) => ({ file: set.file, spec: watch.spec, watching: watch.watching })),
    );
  }

  async rescan(): Promise<void> {
    await this.watcher?.scanNow();
  }

  ready(): boolean {
    return !this.stopping && this.link?.connected === true;
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  /** Exclusive watches at start: no Redis URL is a start error naming the watch; Redis must answer. */
  private async requireRedisFor(outcomes: WatchFileOutcome[]): Promise<void> {
    const exclusive = outcomes
      .flatMap((outcome) => (outcome.ok ? outcome.watches : []))
      .filter((spec) => spec.exclusive);
    if (exclusive.length === 0) return;
    this.gates.requireRedis(exclusive[0]);
    await this.gates.probe();
  }

  /**
   * Applies a scan; resolves once the watches it started have read their znodes. Only the
   * start waits for that: a reload must not wait for ZooKeeper (it may be away for a while).
   */
  private async apply(result: ScanResult): Promise<void> {
    if (this.stopping) return;
    for (const problem of result.problems)
      this.log.error({ file: problem.file }, formatWatchProblem(problem));
    const reads = result.changed.map((outcome) => this.applyFile(outcome));
    for (const file of result.removed) this.removeFile(file);
    await Promise.all(reads);
  }

  private async applyFile(outcome: WatchFileOutcome): Promise<void> {
    const { file } = outcome;
    if (!outcome.ok) {
      if (outcome.error.systemCode === 'ENOENT') return this.removeFile(file);
      return this.rejectFile(file, outcome.error.message, outcome.error.line);
    }
    for (const warning of outcome.warnings) this.log.warn({ file }, formatWatchProblem(warning));
    const set = this.sets.get(file) ?? new WatchSet(file, (spec, index) => this.createWatch(spec, index));
    let change;
    try {
      change = set.replace(outcome.watches);
    } catch (error) {
      if (!(error instanceof ConfigurationError)) throw error;
      return this.rejectFile(file, error.message);
    }
    this.sets.set(file, set);
    for (const watch of change.started) this.metrics.addWatch(watch.labels);
    for (const watch of change.stopped) this.retire(watch);
    this.metrics.reloads.inc({ outcome: 'loaded' });
    const counts = {
      started: change.started.length,
      kept: change.kept.length,
      stopped: change.stopped.length,
    };
    this.log.info({ file, ...counts }, 'watch file loaded');
    await change.read;
  }

  private applyFailed(error: unknown): void {
    this.log.error(
      { error: error instanceof Error ? error.message : String(error) },
      'reloading the watch directory failed',
    );
  }

  /** Twitcher's rule: a file that fails keeps the watches it had. */
  private rejectFile(file: string, message: string, line?: number): void {
    this.metrics.reloads.inc({ outcome: 'failed' });
    const kept = this.sets.get(file)?.watches.length ?? 0;
    this.log.error(
      { file, line, keptWatches: kept },
      `${message} (the file's previous watches are kept: ${kept})`,
    );
  }

  private removeFile(file: string): void {
    const set = this.sets.get(file);
    if (!set) return;
    this.sets.delete(file);
    const stopped = set.stopAll();
    for (const watch of stopped) this.retire(watch);
    this.metrics.reloads.inc({ outcome: 'removed' });
    this.log.info({ file, stopped: stopped.length }, 'watch file removed: its watches stopped');
  }

  private createWatch(spec: WatchSpec, index: number): LiveWatch {
    const gate = spec.exclusive ? this.gates.gateFor(spec, index) : undefined;
    return new LiveWatch(spec, { source: this.link!, metrics: this.metrics, log: this.log, gate });
  }

  /** A stopped watch's series stay until its last child has ended. */
  private retire(watch: LiveWatch): void {
    this.retiring.add(watch);
    void watch.runner.idle().then(() => {
      this.retiring.delete(watch);
      this.metrics.removeWatch(watch.labels);
    });
  }

  private countWatches(): { watching: number; stopped: number } {
    const all = this.watches();
    const watching = all.filter((watch) => watch.watching).length;
    return { watching, stopped: all.length - watching };
  }

  private async shutdown(): Promise<void> {
    await this.watcher?.close();
    const stopped = [...this.sets.values()].flatMap((set) => set.stopAll());
    this.sets.clear();
    const all = [...stopped, ...this.retiring];
    const exclusive = all.filter((watch) => watch.spec.exclusive);
    const others = all.filter((watch) => !watch.spec.exclusive);
    const kills = terminate(exclusive);
    if (!(await idleWithin(others, this.options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS))) {
      this.log.warn('actions still running after the shutdown grace: sending SIGTERM');
      kills.push(...terminate(others));
    }
    await Promise.all(all.map((watch) => watch.runner.idle()));
    for (const timer of kills) clearTimeout(timer);
    await this.gates.close();
    await this.link?.close();
  }
}

/** SIGTERM to every running child of `watches` now, SIGKILL 5 s later; answers the SIGKILL timers. */
function terminate(watches: LiveWatch[]): NodeJS.Timeout[] {
  const children: RunningProcess[] = watches.flatMap((watch) => watch.runner.running());
  for (const child of children) child.signal('SIGTERM');
  return children.map((child) => setTimeout(() => child.signal('SIGKILL'), KILL_AFTER_TERM_SECONDS * 1000));
}

/** True when every watch's runner became idle within `ms`. */
async function idleWithin(watches: LiveWatch[], ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const idle = Promise.all(watches.map((watch) => watch.runner.idle())).then(() => true as const);
  try {
    return await Promise.race([idle, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
