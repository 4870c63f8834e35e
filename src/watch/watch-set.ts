import type { LiveWatch } from './live-watch';
import type { WatchSpec } from './spec';

/**
 * The watches of one configuration file, replaced as a whole when the file parses again.
 * A watch whose spec is unchanged (every option the same; only its line may have moved) and
 * which is still watching is kept as it is: its runs go on and run_on_load does not run again.
 * Any other new spec is a new watch (run_on_load runs), and an old one without a match stops.
 * A watch stopped by on_failure=STOP_WATCHING is replaced even when unchanged: saving its
 * file again is how an operator starts it again.
 */

/** Builds an unstarted watch; throws (a ConfigurationError) for a spec that cannot run. */
export type WatchFactory = (spec: WatchSpec, index: number) => LiveWatch;

export interface WatchSetChange {
  started: LiveWatch[];
  kept: LiveWatch[];
  stopped: LiveWatch[];
  /** Resolves once every started watch has read its znode (or failed to, and retries). */
  read: Promise<void>;
}

interface Entry {
  key: string;
  watch: LiveWatch;
}

/**
 * What makes two specs the same watch: everything but where it was written, plus, for an
 * exclusive watch, its position in the file (part of its lease key).
 */
export function watchKey(spec: WatchSpec, index: number): string {
  const { source: _source, ...options } = spec;
  return JSON.stringify(options) + (spec.exclusive ? `#${index}` : '');
}

export class WatchSet {
  private entries: Entry[] = [];

  constructor(
    readonly file: string,
    private readonly create: WatchFactory,
  ) {}

  get watches(): LiveWatch[] {
    return this.entries.map((entry) => entry.watch);
  }

  /**
   * Every new watch is built before anything changes, so a spec that cannot run (the factory
   * throws) leaves the file's previous watches as they were.
   */
  replace(specs: WatchSpec[]): WatchSetChange {
    const reusable = new Map<string, LiveWatch[]>();
    for (const { key, watch } of this.entries) {
      if (watch.watching) reusable.set(key, [...(reusable.get(key) ?? []), watch]);
    }
    const next: Entry[] = [];
    const started: LiveWatch[] = [];
    const kept: LiveWatch[] = [];
    specs.forEach((spec, position) => {
      const key = watchKey(spec, position + 1);
      const same = reusable.get(key)?.shift();
      if (same) kept.push(same);
      else started.push(this.create(spec, position + 1));
      next.push({ key, watch: same ?? started[started.length - 1] });
    });
    const stopped = this.entries.map((entry) => entry.watch).filter((watch) => !kept.includes(watch));
    for (const watch of stopped) watch.stop();
    this.entries = next;
    const read = Promise.all(started.map((watch) => watch.start())).then(() => undefined);
    return { started, kept, stopped, read };
  }

  /** Stops every watch of the file (removed, or the daemon stopping); answers them. */
  stopAll(): LiveWatch[] {
    const stopped = this.watches;
    for (const watch of stopped) watch.stop();
    this.entries = [];
    return stopped;
  }
}
