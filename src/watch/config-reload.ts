import { FSWatcher, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Logger } from '../util/logger';
import { listWatchFiles, readWatchFileOutcome, WatchFileOutcome } from './config-dir';
import { formatWatchProblem, WatchConfigError, WatchProblem } from './twc-errors';

/**
 * Finds what changed in the watch configuration directory. A scan lists the watch files,
 * stats each, and reads and parses only those whose stat changed (or that are new): what a
 * file gave is then handed on whole, and a file no longer listed is reported removed. The stat
 * is taken before the read, so a file written during a scan is read again by the next one.
 *
 * Scans run when the directory says something changed (fs.watch, recursive), at most
 * `debounceMs` after the first notice so a burst of writes is one scan, and every
 * `rescanIntervalMs` anyway, should a notification be missed (a directory replaced, a
 * watcher that failed). One scan at a time; a notice during a scan brings one more.
 */

export interface ScanResult {
  /** New and changed files, each parsed (or failed), in listing order. */
  changed: WatchFileOutcome[];
  removed: string[];
  /** Subdirectories that could not be read (reported once each until they change). */
  problems: WatchProblem[];
}

export class ConfigScanner {
  private readonly signatures = new Map<string, string>();
  private lastProblems = '';

  constructor(readonly dir: string) {}

  /** Throws WatchConfigError when the directory itself cannot be read. */
  async scan(): Promise<ScanResult> {
    const listing = await listWatchFiles(this.dir);
    const listed = new Set(listing.files);
    const changed: WatchFileOutcome[] = [];
    for (const file of listing.files) {
      const signature = await fileSignature(file);
      if (signature !== undefined && signature === this.signatures.get(file)) continue;
      if (signature === undefined)
        listed.delete(file); // gone since the listing
      else changed.push(await this.read(file, signature));
    }
    const removed = [...this.signatures.keys()].filter((file) => !listed.has(file));
    for (const file of removed) this.signatures.delete(file);
    const problemsText = listing.problems.map(formatWatchProblem).join('\n');
    const problems = problemsText === this.lastProblems ? [] : listing.problems;
    this.lastProblems = problemsText;
    return { changed, removed, problems };
  }

  private async read(file: string, signature: string): Promise<WatchFileOutcome> {
    const outcome = await readWatchFileOutcome(file);
    this.signatures.set(file, signature);
    return outcome;
  }
}

/** What a file's stat says about its content; undefined when it is gone. */
async function fileSignature(file: string): Promise<string | undefined> {
  try {
    const s = await stat(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch {
    return undefined;
  }
}

export interface ConfigWatcherOptions {
  debounceMs: number;
  rescanIntervalMs: number;
  log: Logger;
  /** Applies one scan's result; a scan waits for it before the next one starts. */
  apply(result: ScanResult): Promise<void>;
}

export class ConfigDirWatcher {
  private watcher?: FSWatcher;
  private debounceTimer?: NodeJS.Timeout;
  private rescanTimer?: NodeJS.Timeout;
  private scanning?: Promise<void>;
  private again = false;
  private closed = false;
  private dirError = '';

  constructor(
    private readonly scanner: ConfigScanner,
    private readonly options: ConfigWatcherOptions,
  ) {}

  start(): void {
    this.watchDirectory();
    this.rescanTimer = setInterval(() => this.requestScan(0), this.options.rescanIntervalMs);
  }

  /** Scans now (or right after the scan under way) and resolves once that scan is applied. */
  async scanNow(): Promise<void> {
    if (this.scanning) this.again = true;
    await this.runScans();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    clearTimeout(this.debounceTimer);
    clearInterval(this.rescanTimer);
    await this.scanning;
  }

  private requestScan(delayMs = this.options.debounceMs): void {
    if (this.closed) return;
    if (this.scanning) {
      this.again = true;
      return;
    }
    if (this.debounceTimer) return;
    this.debounceTimer = setTimeout(() => void this.runScans(), delayMs);
  }

  private runScans(): Promise<void> {
    clearTimeout(this.debounceTimer);
    this.debounceTimer = undefined;
    this.scanning ??= this.scanLoop().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  private async scanLoop(): Promise<void> {
    do {
      this.again = false;
      if (this.closed) return;
      if (!this.watcher) this.watchDirectory();
      await this.scanOnce();
    } while (this.again);
  }

  private async scanOnce(): Promise<void> {
    let result: ScanResult;
    try {
      result = await this.scanner.scan();
    } catch (error) {
      // The directory itself is unreadable (removed, unmounted): keep every watch as it is.
      const message = error instanceof WatchConfigError ? error.message : String(error);
      if (message !== this.dirError)
        this.options.log.error({ error: message }, 'cannot scan the watch directory: watches kept');
      this.dirError = message;
      return;
    }
    this.dirError = '';
    if (result.changed.length || result.removed.length || result.problems.length)
      await this.options.apply(result);
  }

  /** fs.watch on the tree; when it fails, the periodic rescan carries on alone and tries again. */
  private watchDirectory(): void {
    try {
      const watcher = watch(this.scanner.dir, { recursive: true, persistent: false }, () =>
        this.requestScan(),
      );
      watcher.on('error', (error) => {
        this.options.log.warn(
          { error: error.message },
          'watching the watch directory failed: rescanning periodically',
        );
        watcher.close();
        if (this.watcher === watcher) this.watcher = undefined;
      });
      this.watcher = watcher;
    } catch (error) {
      this.options.log.debug({ error: (error as Error).message }, 'cannot watch the watch directory yet');
    }
  }
}
