import { Event } from 'node-zookeeper-client';

/** What a one-shot watch reports: the node was created, deleted, or its data changed. */
export type ZkChange = 'created' | 'deleted' | 'changed';

export type ZkChangeListener = (change: ZkChange) => void;

/**
 * One caller's one-shot watch. A notification that arrives while the read that set the watch
 * is still in flight is held back and delivered once the read has returned, so a caller never
 * hears of a change before it has the content the change is relative to.
 */
export class OneShotWatch {
  private phase: 'reading' | 'armed' | 'done' = 'reading';
  private early?: ZkChange;

  constructor(private readonly listener: ZkChangeListener) {}

  notify(change: ZkChange): void {
    if (this.phase === 'done') return;
    if (this.phase === 'reading') {
      this.early ??= change;
      return;
    }
    this.phase = 'done';
    this.listener(change);
  }

  /** The read returned: from now on a notification goes straight to the listener. */
  arm(): void {
    if (this.phase !== 'reading') return;
    this.phase = 'armed';
    const early = this.early;
    // After the caller's own continuation of the read, which is already queued.
    if (early) setImmediate(() => this.notify(early));
  }

  /** The read failed, or the session ended: the listener is never called. */
  cancel(): void {
    this.phase = 'done';
  }
}

/**
 * The session's watches by path. The library gets one watcher function per path (it keeps a
 * function only once per path, and fires and forgets all of a path's watchers on the first
 * event), and that function fans the event out to every caller's watch on the path.
 */
export class PathWatches {
  private readonly byPath = new Map<
    string,
    { watcher: (event: Event) => void; watches: Set<OneShotWatch> }
  >();

  /** Adds `watch` on `path`; answers the function to hand the library for that path. */
  add(path: string, watch: OneShotWatch): (event: Event) => void {
    let entry = this.byPath.get(path);
    if (!entry) {
      const created = {
        watcher: (event: Event) => this.fire(path, changeOf(event)),
        watches: new Set<OneShotWatch>(),
      };
      this.byPath.set(path, created);
      entry = created;
    }
    entry.watches.add(watch);
    return entry.watcher;
  }

  remove(path: string, watch: OneShotWatch): void {
    const entry = this.byPath.get(path);
    entry?.watches.delete(watch);
    if (entry?.watches.size === 0) this.byPath.delete(path);
  }

  /** Cancels every watch: their session ended, so no notification will come. */
  cancelAll(): void {
    for (const { watches } of this.byPath.values()) for (const watch of watches) watch.cancel();
    this.byPath.clear();
  }

  /** How many caller watches wait on how many paths. */
  get size(): { paths: number; watches: number } {
    let watches = 0;
    for (const entry of this.byPath.values()) watches += entry.watches.size;
    return { paths: this.byPath.size, watches };
  }

  private fire(path: string, change: ZkChange): void {
    const entry = this.byPath.get(path);
    if (!entry) return;
    this.byPath.delete(path);
    for (const watch of entry.watches) watch.notify(change);
  }
}

function changeOf(event: Event): ZkChange {
  switch (event.getType()) {
    case Event.NODE_CREATED:
      return 'created';
    case Event.NODE_DELETED:
      return 'deleted';
    default:
      return 'changed';
  }
}
