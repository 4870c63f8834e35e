import type { Logger } from '../util/logger';
import type { ZkNodeRead, ZkSession } from '../zookeeper/session';
import type { SessionSource } from './zookeeper-link';

/**
 * One znode's read-watch-reread loop: read the node setting a one-shot watch; when the watch
 * fires, read it again setting a new one; after a session expiry, read it again on the new
 * session. Each read is compared with the last state seen (exists, and the mzxid of the
 * version read), and only a different state is reported: so a change is reported once, however
 * many ways it is heard of (a watch that fires after a reconnection, a re-read after expiry),
 * and several changes between two reads are one report of the newest state.
 *
 * A missing node is a state like any other (`{ exists: false }`), watched for its creation:
 * creating, deleting and re-creating the node are each a change.
 */

export type ZnodeState = { exists: true; data: Buffer; mzxid: bigint } | { exists: false };

export interface ZnodeWatchOptions {
  path: string;
  source: SessionSource;
  /** The first state read (`first`), then each different one. Must not throw. */
  onState(state: ZnodeState, first: boolean): void;
  log: Logger;
  /** Pause before reading again after a failed read, doubling up to retryMaxDelayMs. */
  retryMinDelayMs?: number;
  retryMaxDelayMs?: number;
}

const DEFAULT_RETRY_MIN_DELAY_MS = 500;
const DEFAULT_RETRY_MAX_DELAY_MS = 30_000;

export function sameState(a: ZnodeState, b: ZnodeState): boolean {
  if (!a.exists || !b.exists) return a.exists === b.exists;
  return a.mzxid === b.mzxid;
}

function stateOf(read: ZkNodeRead): ZnodeState {
  return read.exists ? { exists: true, data: read.data, mzxid: read.mzxid } : { exists: false };
}

export class ZnodeWatch {
  /** Each read gets a number; only the newest read's result and watch count. */
  private generation = 0;
  private last: ZnodeState | undefined;
  private stopped = false;
  private retryTimer?: NodeJS.Timeout;
  private retryDelayMs: number;
  private unsubscribe: () => void = () => {};

  constructor(private readonly options: ZnodeWatchOptions) {
    this.retryDelayMs = options.retryMinDelayMs ?? DEFAULT_RETRY_MIN_DELAY_MS;
  }

  get path(): string {
    return this.options.path;
  }

  /** Resolves after the first read (reported as `first`), or after its first failure (retried). */
  async start(): Promise<void> {
    this.unsubscribe = this.options.source.onNewSession(() => void this.read());
    await this.read();
  }

  /** No more reads or reports; a watch set on the server fires into nothing. */
  stop(): void {
    this.stopped = true;
    this.generation++;
    clearTimeout(this.retryTimer);
    this.unsubscribe();
  }

  private async read(): Promise<void> {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    const generation = ++this.generation;
    const session = this.options.source.current();
    let read: ZkNodeRead;
    try {
      read = await session.readWatched(this.path, () => this.fired(generation));
    } catch (error) {
      if (generation === this.generation) this.readFailed(session, error);
      return;
    }
    if (generation !== this.generation) return;
    this.retryDelayMs = this.options.retryMinDelayMs ?? DEFAULT_RETRY_MIN_DELAY_MS;
    this.observe(stateOf(read));
  }

  private fired(generation: number): void {
    if (generation === this.generation) void this.read();
  }

  private readFailed(session: ZkSession, error: unknown): void {
    if (this.stopped) return;
    // The session ended: the link opens a new one and then calls read() again.
    if (session.state === 'expired' || session.state === 'closed') return;
    const reason = error instanceof Error ? error.message : String(error);
    this.options.log.warn(
      { znode: this.path, retryInMs: this.retryDelayMs, reason },
      'could not read and watch the znode: trying again',
    );
    this.retryTimer = setTimeout(() => void this.read(), this.retryDelayMs);
    const maxDelayMs = this.options.retryMaxDelayMs ?? DEFAULT_RETRY_MAX_DELAY_MS;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, maxDelayMs);
  }

  private observe(state: ZnodeState): void {
    const previous = this.last;
    if (previous && sameState(previous, state)) return;
    this.last = state;
    this.options.onState(state, previous === undefined);
  }
}
