import { performance } from 'node:perf_hooks';
import { EventStore } from '../store/model';
import { Micros } from '../time/micros';
import { ArchiverOutcomes } from './archiver-outcomes';
import { RoleEvents } from './role-events';

/** When expiry runs: the first turn soon after start, then every few minutes. */
export interface ExpirySchedule {
  ttlSeconds: number;
  firstAfterMs: number;
  everyMs: number;
}

export const expirySchedule = (ttlSeconds: number): ExpirySchedule => ({
  ttlSeconds,
  firstAfterMs: 30_000,
  everyMs: 5 * 60_000,
});

/** Completed streams as expiry removes them. */
export interface ExpiringStreams {
  /** Removes streams that completed before now − ttl; returns how many. */
  clearExpiredStreams(ttlSeconds: number, now?: Micros): Promise<number>;
}

/**
 * `event_ttl` kept by the archiver itself: on a timer, events generated before now − ttl are
 * removed (the store drops whole day partitions and trims the one at the cutoff), and so are
 * completed streams that completed before it. One archiver is enough: the group member that
 * owns partition 0 of `events` (see `lead`), so a group of archivers does not race to drop the
 * same partitions. A failed call is reported, and the next turn removes what it left.
 */
export class EventExpiry {
  private timer: NodeJS.Timeout | undefined;
  private turn: Promise<void> | undefined;
  private leading = false;
  private stopped = false;

  constructor(
    private readonly store: EventStore,
    private readonly events: RoleEvents<ArchiverOutcomes>,
    private readonly schedule: ExpirySchedule,
    private readonly streams?: ExpiringStreams,
  ) {}

  /** Whether this archiver expires: its partitions of `events` as the group last assigned them. */
  lead(partitions: readonly number[]): void {
    this.leading = partitions.includes(0);
  }

  get leader(): boolean {
    return this.leading;
  }

  start(): void {
    this.stopped = false;
    this.next(this.schedule.firstAfterMs);
  }

  /** One turn now, when this archiver leads (timers call it; so may a test); events and streams apart. */
  async runOnce(): Promise<void> {
    if (!this.leading) return;
    const { ttlSeconds } = this.schedule;
    await this.timed(
      'events',
      () => this.store.clearExpiredData(ttlSeconds),
      (report, seconds) => this.events.emit('expired', { ...report, seconds }),
    );
    const { streams } = this;
    if (!streams) return;
    await this.timed(
      'completed streams',
      () => streams.clearExpiredStreams(ttlSeconds),
      (count, seconds) => this.events.emit('streamsExpired', { streams: count, seconds }),
    );
  }

  private async timed<T>(
    of: 'events' | 'completed streams',
    call: () => Promise<T>,
    done: (result: T, seconds: number) => void,
  ): Promise<void> {
    const started = performance.now();
    try {
      const result = await call();
      done(result, (performance.now() - started) / 1000);
    } catch (error) {
      this.events.emit('expiryFailed', { of, error });
    }
  }

  /** No further turns; waits for one in progress, so the store is not closed under it. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.turn;
  }

  private next(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.turn = this.runOnce().finally(() => this.next(this.schedule.everyMs));
    }, delayMs);
    // Expiry alone never keeps the process alive.
    this.timer.unref();
  }
}
