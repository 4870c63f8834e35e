import type { Logger } from '../util/logger';
import { ZkSession } from '../zookeeper/session';
import type { SessionStateName } from './watch-metrics';

/**
 * The daemon's ZooKeeper session, kept open for its whole life. A lost connection is the
 * session's own business: it reconnects, re-sends its watches, and the server reports what
 * changed meanwhile, once. An expired session is this module's: it opens a new one, trying
 * again with back-off until ZooKeeper answers, then asks every znode watch to read its node
 * again (`onNewSession` subscribers), since the old session's watches died with it.
 */

export interface ZooKeeperLinkOptions {
  connectString: string;
  sessionTimeoutMs: number;
  /** How long one attempt to open a session waits (at start, and after an expiry). */
  connectTimeoutMs: number;
  /** First pause between attempts after an expiry, doubling up to `reopenMaxDelayMs`. */
  reopenMinDelayMs?: number;
  reopenMaxDelayMs?: number;
  log: Logger;
  /** Told of every state change, reconnection and expiry (metrics). */
  observer?: LinkObserver;
}

export interface LinkObserver {
  state(state: SessionStateName): void;
  reconnected(): void;
  expired(): void;
}

/** What a znode watch needs of the link: the session to read with, and news of a replacement. */
export interface SessionSource {
  current(): ZkSession;
  /** `listener` runs after each new session replaced an expired one; returns the unsubscribe. */
  onNewSession(listener: () => void): () => void;
}

const DEFAULT_REOPEN_MIN_DELAY_MS = 250;
const DEFAULT_REOPEN_MAX_DELAY_MS = 30_000;

export class ZooKeeperLink implements SessionSource {
  private closed = false;
  private reopening?: Promise<void>;
  private wakeUp?: () => void;
  private readonly listeners = new Set<() => void>();
  private state: SessionStateName = 'connected';

  private constructor(
    private session: ZkSession,
    private readonly options: ZooKeeperLinkOptions,
  ) {
    this.adopt(session);
  }

  /** Opens the first session; rejects (ZkError UNREACHABLE, ...) when ZooKeeper does not answer. */
  static async open(options: ZooKeeperLinkOptions): Promise<ZooKeeperLink> {
    const session = await ZkSession.connect(options.connectString, {
      sessionTimeoutMs: options.sessionTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
    });
    return new ZooKeeperLink(session, options);
  }

  current(): ZkSession {
    return this.session;
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  onNewSession(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Ends the session (and any attempt to open a new one). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeUp?.();
    await this.reopening;
    await this.session.close();
    this.enter('closed');
  }

  private adopt(session: ZkSession): void {
    this.session = session;
    const log = this.options.log;
    session.on('disconnected', () => {
      log.warn({ session: session.sessionId }, 'ZooKeeper connection lost: reconnecting (watches kept)');
      this.enter('disconnected');
    });
    session.on('connected', () => {
      log.info({ session: session.sessionId }, 'ZooKeeper connection back: same session, watches kept');
      this.options.observer?.reconnected();
      this.enter('connected');
    });
    session.on('expired', () => {
      log.warn({ session: session.sessionId }, 'ZooKeeper session expired: opening a new one');
      this.options.observer?.expired();
      this.enter('reopening');
      this.reopening = this.reopen().finally(() => (this.reopening = undefined));
    });
    this.enter('connected');
  }

  /** Opens a new session, trying until ZooKeeper answers or close() is called. */
  private async reopen(): Promise<void> {
    let delayMs = this.options.reopenMinDelayMs ?? DEFAULT_REOPEN_MIN_DELAY_MS;
    const maxDelayMs = this.options.reopenMaxDelayMs ?? DEFAULT_REOPEN_MAX_DELAY_MS;
    for (let attempt = 1; !this.closed; attempt++) {
      try {
        const session = await ZkSession.connect(this.options.connectString, {
          sessionTimeoutMs: this.options.sessionTimeoutMs,
          connectTimeoutMs: this.options.connectTimeoutMs,
        });
        if (this.closed) return void (await session.close());
        await this.session.close(); // the expired one: marks it closed, frees nothing on the server
        this.adopt(session);
        this.options.log.info(
          { session: session.sessionId, attempt },
          'new ZooKeeper session: reading every watched znode again',
        );
        for (const listener of [...this.listeners]) listener();
        return;
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        this.options.log.warn(
          { attempt, retryInMs: delayMs, reason },
          'cannot open a new ZooKeeper session yet',
        );
        await this.pause(delayMs);
        delayMs = Math.min(delayMs * 2, maxDelayMs);
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  private enter(state: SessionStateName): void {
    this.state = state;
    this.options.observer?.state(state);
  }
}
