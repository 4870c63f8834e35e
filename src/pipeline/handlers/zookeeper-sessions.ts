import { logger } from '../../util/logger';
import { ZkSession } from '../../zookeeper/session';

/**
 * The ZooKeeper sessions the `zookeeper` pipeline handler writes through: one per connect
 * string in a process, shared by every run, opened at the first write that needs it. A session
 * that failed to open, expired or was closed is replaced by a new one at the next write.
 */
export class ZookeeperSessions {
  private readonly sessions = new Map<string, Promise<ZkSession>>();

  /** The open session for `connectString`, opening one (waiting at most connectTimeoutMs) if needed. */
  async session(connectString: string, connectTimeoutMs: number): Promise<ZkSession> {
    const current = this.sessions.get(connectString);
    if (current) {
      const session = await current.catch(() => undefined);
      if (session && session.state !== 'expired' && session.state !== 'closed') return session;
      // Another caller may have replaced it meanwhile: only forget the one found dead.
      if (this.sessions.get(connectString) === current) this.sessions.delete(connectString);
      const replaced = this.sessions.get(connectString);
      if (replaced) return replaced;
    }
    const opening = this.open(connectString, connectTimeoutMs);
    this.sessions.set(connectString, opening);
    return opening;
  }

  /** Ends every session (at shutdown); a later write opens a new one. */
  async close(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(
      all.map((opening) =>
        opening.then(
          (session) => session.close(),
          () => undefined,
        ),
      ),
    );
  }

  private async open(connectString: string, connectTimeoutMs: number): Promise<ZkSession> {
    const session = await ZkSession.connect(connectString, { connectTimeoutMs });
    const log = logger.child({ component: 'zookeeper-handler', zookeeper: connectString });
    log.info({ session: session.sessionId }, 'zookeeper handler: session opened');
    session.on('disconnected', () =>
      log.warn({ session: session.sessionId }, 'zookeeper handler: connection lost'),
    );
    session.on('expired', () =>
      log.warn(
        { session: session.sessionId },
        'zookeeper handler: session expired; the next write opens a new one',
      ),
    );
    return session;
  }
}
