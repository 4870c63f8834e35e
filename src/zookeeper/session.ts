import { EventEmitter } from 'node:events';
import { Client, CreateMode, Event, Exception, Stat } from 'node-zookeeper-client';
import { logger } from '../util/logger';
import {
  clearConnectTimer,
  connectionClosed,
  createZkClient,
  dropConnection,
  SessionCredentials,
  currentSocket,
} from './client-internals';
import { formatServer, parseConnectString, ZkConnectTarget } from './connect-string';
import {
  describeUnreachable,
  libraryCode,
  requestError,
  sessionClosed,
  sessionExpired,
  ZkError,
} from './errors';
import { SilentConnectionCutter } from './liveness';
import { checkZnodePath, parentZnode } from './paths';
import { OneShotWatch, PathWatches, ZkChangeListener } from './watches';

export type { ZkChange, ZkChangeListener } from './watches';
export type { SessionCredentials } from './client-internals';
export { ZkError } from './errors';

/**
 * `connecting` until the first session is open (inside connect()); then `connected` or
 * `disconnected` as the connection comes and goes, the session living on meanwhile; then
 * `expired` (the server ended the session: its watches are gone, every later request fails,
 * the caller opens a new session) or `closed` (close() was called). Both last states are final.
 */
export type ZkSessionState = 'connecting' | 'connected' | 'disconnected' | 'expired' | 'closed';

/** 'connected' is emitted on every reconnection (the first connection is connect() resolving). */
export type ZkSessionEvent = 'connected' | 'disconnected' | 'expired';

export type ZkNodeRead =
  | {
      exists: true;
      data: Buffer;
      /** The data version: 0 when created, one more at each set; restarts after a delete. */
      version: number;
      /** The transaction that last modified the node: grows across delete and re-create. */
      mzxid: bigint;
    }
  | { exists: false };

export interface ZkPokeResult {
  /** True when the node did not exist and was created with the data. */
  created: boolean;
  /** The node's data version after the poke. */
  version: number;
}

export interface ZkSessionOptions {
  /** Asked of the server, which grants a value between 2 and 20 of its ticks (default 10 s). */
  sessionTimeoutMs?: number;
  /** How long connect() waits for a first session before it gives up (default 15 s). */
  connectTimeoutMs?: number;
  /** Resume this session (id and password) instead of opening a new one. */
  resume?: SessionCredentials;
}

export const DEFAULT_SESSION_TIMEOUT_MS = 10_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
/** Pause, randomised, before trying the servers again once every one has refused. */
const SPIN_DELAY_MS = 500;
/** How long close() waits for the server to acknowledge the end of the session. */
const CLOSE_ACK_WAIT_MS = 2_000;
/** A request whose connection dropped this many times under it fails instead of retrying. */
const MAX_CONNECTION_LOSSES = 10;
/** Rounds of "missing, then there, then missing" a read or poke tolerates from a racing writer. */
const MAX_RACE_ROUNDS = 10;
/** The server's default limit on one request (jute.maxbuffer, 1 MiB - 1)... */
const MAX_REQUEST_BYTES = 0xfffff;
/** ...of which a create or set spends this much besides path and data (header, lengths, ACL). */
const REQUEST_OVERHEAD_BYTES = 64;

/** The largest data a poke of `path` may carry under the server's default request limit. */
export function maxDataBytes(path: string): number {
  return MAX_REQUEST_BYTES - REQUEST_OVERHEAD_BYTES - Buffer.byteLength(path);
}

type Watcher = (event: Event) => void;
type Callback<T> = (error: Error | Exception | null, value: T) => void;
type Attempt<T> = { done: true; value: T } | { done: false; reconnected: Promise<void> };

/**
 * A promise-based ZooKeeper session over node-zookeeper-client. Requests made while the
 * connection is down wait for it to come back; a request whose connection dropped while it
 * was in flight is sent again once reconnected, so a poke may be applied twice (same data,
 * one more version). After expiry or close every request fails with a ZkError
 * (SESSION_EXPIRED / SESSION_CLOSED) and no watch fires again.
 */
export class ZkSession {
  private current: ZkSessionState = 'connecting';
  private readonly events = new EventEmitter().setMaxListeners(0);
  /** Rejects every request in flight and every wait for a reconnection, at expiry or close. */
  private readonly inFlight = new Set<(error: ZkError) => void>();
  private readonly watches = new PathWatches();
  private readonly cutter: SilentConnectionCutter;

  private constructor(
    private readonly client: Client,
    private readonly target: ZkConnectTarget,
  ) {
    // Like the Java client's read timeout: two thirds of the session timeout.
    const silenceLimit = () => Math.floor((this.sessionTimeoutMs * 2) / 3);
    this.cutter = new SilentConnectionCutter(client, silenceLimit, (silentMs) =>
      logger.warn(
        { component: 'zookeeper', session: this.sessionId, silentMs },
        'ZooKeeper connection silent for too long: reconnecting',
      ),
    );
    client.on('connected', () => this.enter('connected'));
    client.on('disconnected', () => this.enter('disconnected'));
    client.on('expired', () => this.end('expired'));
  }

  /**
   * Opens a session with the servers of `connectString` (`host:port[,host:port...][/chroot]`).
   * Rejects with a ZkError UNREACHABLE, saying what each server did, when none opened a
   * session within connectTimeoutMs; with SESSION_EXPIRED when `resume` names a dead session.
   */
  static async connect(connectString: string, options: ZkSessionOptions = {}): Promise<ZkSession> {
    const target = parseConnectString(connectString);
    const sessionTimeoutMs = positiveMs(
      'sessionTimeoutMs',
      options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS,
    );
    const connectTimeoutMs = positiveMs(
      'connectTimeoutMs',
      options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    );
    const client = createZkClient(connectionStringOf(target), {
      sessionTimeoutMs,
      spinDelayMs: SPIN_DELAY_MS,
      resume: options.resume,
    });
    const session = new ZkSession(client, target);
    await session.open(connectTimeoutMs);
    return session;
  }

  get state(): ZkSessionState {
    return this.current;
  }

  /** The session timeout the server granted (before the first connection: the one asked for). */
  get sessionTimeoutMs(): number {
    return this.client.getSessionTimeout();
  }

  /** The session id in hexadecimal, as the server logs it. */
  get sessionId(): string {
    return `0x${this.client.getSessionId().toString('hex')}`;
  }

  /** The servers, as `host:port,...[/chroot]`. */
  get connectString(): string {
    return connectionStringOf(this.target);
  }

  /** Id and password, with which another client may resume (or, in tests, take over) the session. */
  credentials(): SessionCredentials {
    return { id: this.client.getSessionId(), password: this.client.getSessionPassword() };
  }

  /** How many watches set by readWatched wait for a change, on how many paths. */
  get pendingWatches(): { paths: number; watches: number } {
    return this.watches.size;
  }

  on(event: ZkSessionEvent, listener: () => void): this {
    this.events.on(event, listener);
    return this;
  }

  off(event: ZkSessionEvent, listener: () => void): this {
    this.events.off(event, listener);
    return this;
  }

  once(event: ZkSessionEvent, listener: () => void): this {
    this.events.once(event, listener);
    return this;
  }

  /**
   * Reads the node at `path` and sets a one-shot watch on it: `onChange` is called once, at
   * the first change after this read (data set, node created, node deleted), and never before
   * this promise has resolved. A missing node is watched for its creation. A watch lives as
   * long as the session: across reconnections (the server then reports changes made during
   * the outage) but not across expiry, nor after close().
   */
  async readWatched(path: string, onChange: ZkChangeListener): Promise<ZkNodeRead> {
    checkZnodePath(path);
    const watch = new OneShotWatch(onChange);
    const watcher = this.watches.add(path, watch);
    try {
      const read = await this.readSettingWatch(path, watcher);
      watch.arm();
      return read;
    } catch (error) {
      watch.cancel();
      this.watches.remove(path, watch);
      throw error;
    }
  }

  /** Reads the node without leaving a watch. */
  async read(path: string): Promise<ZkNodeRead> {
    checkZnodePath(path);
    const node = await this.getData(path);
    return node ?? { exists: false };
  }

  /**
   * Sets the data of the node at `path`, creating it (and any missing parent, with no data)
   * when it does not exist: Twitcher's "poke" that wakes every watcher of the node.
   */
  async poke(path: string, data: Buffer | string): Promise<ZkPokeResult> {
    checkZnodePath(path);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    // The server would drop the connection on a larger request, and the retry drop it again.
    if (bytes.length > maxDataBytes(path)) {
      throw new ZkError(
        'DATA_TOO_LARGE',
        `data for ${path} is ${bytes.length} bytes: one ZooKeeper request takes at most ${maxDataBytes(path)} here`,
        path,
      );
    }
    for (let round = 0; round < MAX_RACE_ROUNDS; round++) {
      const stat = await this.setIfExists(path, bytes);
      if (stat) return { created: false, version: stat.version };
      await this.createParents(path);
      if (await this.createIfMissing(path, bytes)) return { created: true, version: 0 };
    }
    throw raceError('set', path);
  }

  /**
   * Deletes the node at `path` (any version); answers false when it did not exist (also when
   * this very delete went through just before a connection loss and was sent again).
   */
  async remove(path: string): Promise<boolean> {
    checkZnodePath(path);
    try {
      await this.request<void>('delete', path, (done) => this.client.remove(path, -1, done));
      return true;
    } catch (error) {
      if (error instanceof ZkError && error.code === 'NO_NODE') return false;
      throw error;
    }
  }

  /**
   * Ends the session on the server (its watches and ephemeral nodes go) and stops the client
   * for good. Requests still in flight fail with SESSION_CLOSED. Safe to call more than once,
   * and after expiry (the state then becomes `closed`).
   */
  async close(): Promise<void> {
    if (this.current === 'closed') return;
    if (this.current === 'expired') {
      this.current = 'closed';
      return;
    }
    const wasConnected = this.current === 'connected';
    this.end('closed');
    const acknowledged = wasConnected
      ? this.clientEvent('disconnected', CLOSE_ACK_WAIT_MS)
      : Promise.resolve();
    this.client.close();
    await acknowledged;
    await this.stopReconnecting();
  }

  private async open(connectTimeoutMs: number): Promise<void> {
    const outcome = this.firstSession(connectTimeoutMs);
    this.cutter.start();
    this.client.connect();
    const result = await outcome;
    if (result === 'connected') return;
    await this.close();
    if (result === 'expired') throw sessionExpired();
    const reasons = await describeUnreachable(this.target.servers);
    throw new ZkError(
      'UNREACHABLE',
      `could not open a ZooKeeper session with ${this.connectString} within ${connectTimeoutMs} ms: ${reasons}`,
    );
  }

  private firstSession(timeoutMs: number): Promise<'connected' | 'expired' | 'timeout'> {
    return new Promise((resolve) => {
      const settle = (outcome: 'connected' | 'expired' | 'timeout') => {
        clearTimeout(timer);
        this.events.off('connected', connected).off('expired', expired);
        resolve(outcome);
      };
      const connected = () => settle('connected');
      const expired = () => settle('expired');
      const timer = setTimeout(() => settle('timeout'), timeoutMs);
      this.events.on('connected', connected).on('expired', expired);
    });
  }

  private enter(next: 'connected' | 'disconnected'): void {
    // The library also reports 'disconnected' after expiry and close: those states are final.
    if (this.current === 'expired' || this.current === 'closed' || this.current === next) return;
    this.current = next;
    this.events.emit(next);
  }

  private end(final: 'expired' | 'closed'): void {
    if (this.current === 'expired' || this.current === 'closed') return;
    this.current = final;
    this.cutter.stop();
    this.watches.cancelAll();
    const error = final === 'expired' ? sessionExpired() : sessionClosed();
    for (const fail of [...this.inFlight]) fail(error);
    this.inFlight.clear();
    if (final === 'expired') {
      dropConnection(this.client);
      this.events.emit('expired');
    }
  }

  private async readSettingWatch(path: string, watcher: Watcher) {
    for (let round = 0; round < MAX_RACE_ROUNDS; round++) {
      const node = await this.getData(path, watcher);
      if (node) return node;
      const stat = await this.request<Stat | null>('exists', path, (done) =>
        this.client.exists(path, watcher, done),
      );
      if (!stat) return { exists: false } as const;
      // Created between the two requests: read it (the watch stays one, the same function).
    }
    throw raceError('read', path);
  }

  /** The node, or undefined when it does not exist. */
  private async getData(path: string, watcher?: Watcher) {
    try {
      const [data, stat] = await this.request<[Buffer | null, Stat]>('get', path, (done) => {
        const both = (error: Error | Exception | null, data: Buffer, stat: Stat) => done(error, [data, stat]);
        if (watcher) this.client.getData(path, watcher, both);
        else this.client.getData(path, both);
      });
      return {
        exists: true,
        data: data ?? Buffer.alloc(0),
        version: stat.version,
        mzxid: zxid(stat.mzxid),
      } as const;
    } catch (error) {
      if (error instanceof ZkError && error.code === 'NO_NODE') return undefined;
      throw error;
    }
  }

  private async setIfExists(path: string, bytes: Buffer): Promise<Stat | undefined> {
    try {
      return await this.request<Stat>('set', path, (done) => this.client.setData(path, bytes, -1, done));
    } catch (error) {
      if (error instanceof ZkError && error.code === 'NO_NODE') return undefined;
      throw error;
    }
  }

  private async createIfMissing(path: string, bytes: Buffer | null): Promise<boolean> {
    try {
      await this.request<string>('create', path, (done) =>
        this.client.create(path, bytes ?? Buffer.alloc(0), CreateMode.PERSISTENT, done),
      );
      return true;
    } catch (error) {
      if (error instanceof ZkError && error.code === 'NODE_EXISTS') return false;
      throw error;
    }
  }

  private async createParents(path: string): Promise<void> {
    const parents: string[] = [];
    for (let parent = parentZnode(path); parent !== '/'; parent = parentZnode(parent))
      parents.unshift(parent);
    for (const parent of parents) await this.createIfMissing(parent, null);
  }

  /**
   * Sends a request through `send`, again after each reconnection when the connection dropped
   * while it was in flight; fails at once once the session is over.
   */
  private async request<T>(operation: string, path: string, send: (done: Callback<T>) => void): Promise<T> {
    for (let losses = 0; ; losses++) {
      const attempt = await this.attempt(operation, path, send);
      if (attempt.done) return attempt.value;
      if (losses + 1 >= MAX_CONNECTION_LOSSES) {
        attempt.reconnected.catch(() => undefined); // no longer awaited: it may reject at close
        throw new ZkError(
          'CONNECTION_LOSS',
          `ZooKeeper ${operation} ${path}: the connection dropped under it ${MAX_CONNECTION_LOSSES} times`,
          path,
        );
      }
      await attempt.reconnected;
    }
  }

  private attempt<T>(
    operation: string,
    path: string,
    send: (done: Callback<T>) => void,
  ): Promise<Attempt<T>> {
    return new Promise((resolve, reject) => {
      const over = this.finalError();
      if (over) {
        reject(over);
        return;
      }
      const fail = (error: ZkError) => {
        this.inFlight.delete(fail);
        reject(error);
      };
      this.inFlight.add(fail);
      const done: Callback<T> = (error, value) => {
        if (!this.inFlight.delete(fail)) return; // already failed by expiry or close
        if (!error) resolve({ done: true, value });
        // Registered now, before the library reports the disconnection that follows.
        else if (libraryCode(error) === Exception.CONNECTION_LOSS)
          resolve({ done: false, reconnected: this.reconnection() });
        else reject(this.finalError() ?? requestError(operation, path, error));
      };
      try {
        send(done);
      } catch (error) {
        fail(requestError(operation, path, error));
      }
    });
  }

  /** Resolves at the next 'connected'; rejects when the session ends first. */
  private reconnection(): Promise<void> {
    return new Promise((resolve, reject) => {
      const fail = (error: ZkError) => {
        this.events.off('connected', connected);
        reject(error);
      };
      const connected = () => {
        this.inFlight.delete(fail);
        resolve();
      };
      this.events.once('connected', connected);
      this.inFlight.add(fail);
    });
  }

  private finalError(): ZkError | undefined {
    if (this.current === 'expired') return sessionExpired();
    if (this.current === 'closed') return sessionClosed();
    return undefined;
  }

  /** Resolves at the library's next `event`, or after `timeoutMs` anyway. */
  private clientEvent(event: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.client.removeListener(event, finish);
        resolve();
      };
      const timer = setTimeout(finish, timeoutMs);
      this.client.once(event, finish);
    });
  }

  /**
   * The library may still be between two connection attempts (its retry timer) when closed:
   * cut whatever socket it opens until it reports itself closed for good.
   */
  private async stopReconnecting(): Promise<void> {
    const deadline = Date.now() + SPIN_DELAY_MS + CLOSE_ACK_WAIT_MS;
    while (!connectionClosed(this.client) && Date.now() < deadline) {
      if (currentSocket(this.client)) dropConnection(this.client);
      await sleep(25);
    }
    dropConnection(this.client);
    clearConnectTimer(this.client);
  }
}

function connectionStringOf(target: ZkConnectTarget): string {
  return target.servers.map(formatServer).join(',') + (target.chroot ?? '');
}

function positiveMs(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`${name} must be a positive number of ms, got ${value}`);
  return value;
}

function zxid(bytes: Buffer): bigint {
  return bytes.readBigInt64BE(0);
}

function raceError(operation: string, path: string): ZkError {
  return new ZkError(
    'RACE',
    `ZooKeeper ${operation} ${path}: the node kept appearing and disappearing meanwhile`,
    path,
  );
}

/** Not unref'd: a connect that is failing may be all that keeps the process alive until it rejects. */
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
