import { hostname } from 'node:os';
import type { RedisClient } from '../redis/client';
import Redlock, { ExecutionError, Lock, ResourceLockedError } from 'redlock';
import type { RunGate, RunPermit, UpdateStamp } from './run-gate';

/**
 * `exclusive=True`: one run of a watch's action at a time across the cluster, and one run per
 * update (Twitcher's "Things to Avoid": an action running twice at once).
 *
 * Every host watches the same znode and sees the same updates. Exclusive is for a cluster-wide
 * job, not for work each host does for itself (that is `git pull` on every machine: not exclusive).
 * Before a run, a host takes a redlock lease keyed by the znode; it renews the lease every third
 * of its length while the action runs and releases it when the run ends. A host that finds the
 * lease taken does not drop its update: it waits, trying again every `acquireRetryMs`, and the
 * wait counts as part of the run for the run mode (QUEUE: newer updates replace the waiting one,
 * so the newest content runs; DISCARD: they are discarded; PARALLEL cannot be exclusive).
 * Once it holds the lease it skips the run when the cluster already ran that update or a
 * newer one: the holder records, under the lease, the mzxid of each update it ran to the end
 * (failed runs too: retries are the running host's `on_failure` business). So an update is
 * normally run once by one host, and is not lost when the host running it dies (the lease
 * lapses after `leaseMs`, nothing was recorded, a waiting host runs it).
 *
 * Guaranteed while every daemon's process and clock run normally and Redis keeps its keys: no
 * two hosts run the action at once; an update a live host accepted (did not discard) is run by
 * some host, unless one at least as recent was run.
 *
 * Not guaranteed, when a lease lapses under a live holder (a stalled daemon: SIGSTOP, swap,
 * a VM pause, or Redis unreachable for longer than `leaseMs`):
 * - The stalled daemon's child keeps running (only the daemon stalled), and once the lease
 *   has expired another host may take it and start the same update: both run at once. The
 *   stalled daemon learns it at its first timer after resuming (the renewal, or the expiry
 *   watchdog at the lease's local expiry time, whichever comes first): it then sends SIGTERM
 *   to its child's process group and SIGKILL 5 s later, reports `leaseLost`, records nothing
 *   and applies no `on_failure` (the other host owns the update now). The overlap therefore
 *   lasts from the other host's start until the stalled child dies: the rest of the stall,
 *   plus at most 5 s.
 * - A child that finished during the stall is not recorded as run (the record is written only
 *   while the lease is held): the other host runs the update again. Runs are at least once,
 *   not exactly once.
 * - A daemon killed outright (SIGKILL, a crash) leaves its child running without a lease:
 *   after `leaseMs` another host may start the same update beside it. A daemon shutting down
 *   in order must stop its exclusive watches' children (WatchRunner.running()) before it
 *   exits, or they go on unleased the same way.
 * - Clocks: a lease is trusted until its local expiry time, which redlock computes from the
 *   acquisition's start minus a drift allowance; a host whose clock rate is off by more than
 *   that allowance (1 % by default) may outlive its lease.
 * - Redis losing the lease key (a restart before the write reached its append-only file, a
 *   failover to a replica that had not received it) frees the lease early, as a lapse does.
 * - Updates without an mzxid (a znode that does not exist) are never taken for already run:
 *   each host that sees one runs it, one host at a time.
 */

export interface ExclusiveLeaseOptions {
  /** Keys are `<namespace>:watch:{<znode>}:lease` and `…:ran`; default `winchester`. */
  namespace?: string;
  /** How long a lease lasts unless renewed (default 15 s). */
  leaseMs?: number;
  /** How often a host waiting for the lease tries again, ±20 % (default 500 ms). */
  acquireRetryMs?: number;
  /** Recorded beside each run update (default `<hostname>:<pid>`). */
  holder?: string;
  listener?: (event: LeaseEvent) => void;
}

export type LeaseEvent =
  /** Another host holds the lease: this one waits for it. */
  | { type: 'waiting'; znode: string }
  | { type: 'acquired'; znode: string; waitedMs: number }
  | { type: 'lost'; znode: string; reason: string }
  | { type: 'redisError'; znode: string; operation: string; error: string };

export const DEFAULT_LEASE_MS = 15000;
export const DEFAULT_ACQUIRE_RETRY_MS = 500;

interface LeaseSettings {
  leaseMs: number;
  acquireRetryMs: number;
  holder: string;
  emit: (event: LeaseEvent) => void;
}

interface LeaseKeys {
  znode: string;
  lease: string;
  ran: string;
}

/** The leases of one daemon's exclusive watches, over one Redis connection. */
export class ExclusiveLeases {
  private readonly redlock: Redlock;
  private readonly settings: LeaseSettings;
  private readonly namespace: string;

  constructor(
    private readonly redis: RedisClient,
    options: ExclusiveLeaseOptions = {},
  ) {
    this.settings = {
      leaseMs: positiveInteger('leaseMs', options.leaseMs ?? DEFAULT_LEASE_MS),
      acquireRetryMs: positiveInteger('acquireRetryMs', options.acquireRetryMs ?? DEFAULT_ACQUIRE_RETRY_MS),
      holder: options.holder ?? `${hostname()}:${process.pid}`,
      emit: options.listener ?? (() => {}),
    };
    this.namespace = options.namespace ?? 'winchester';
    this.redlock = new Redlock([redis], { retryCount: 0 });
    this.redlock.on('error', () => undefined); // every failed attempt is one; outcomes are reported below
  }

  /** The gate of the watch on `znode`; every host's gate for the same znode and namespace is one lease. */
  gate(znode: string): RunGate {
    if (!znode.startsWith('/'))
      throw new Error(`an exclusive lease needs an absolute znode path, got '${znode}'`);
    // The hash tag keeps both keys in one slot, so the fenced record's script also runs on a Cluster.
    const base = `${this.namespace}:watch:{${znode}}`;
    const keys = { znode, lease: `${base}:lease`, ran: `${base}:ran` };
    return new ZnodeLease(this.redlock, this.redis, keys, this.settings);
  }
}

class ZnodeLease implements RunGate {
  constructor(
    private readonly redlock: Redlock,
    private readonly redis: RedisClient,
    private readonly keys: LeaseKeys,
    private readonly settings: LeaseSettings,
  ) {}

  async enter(abort: AbortSignal): Promise<RunPermit | null> {
    const since = Date.now();
    let waiting = false;
    while (!abort.aborted) {
      const lock = await this.tryAcquire(abort);
      if (lock) {
        this.settings.emit({ type: 'acquired', znode: this.keys.znode, waitedMs: Date.now() - since });
        return new LeasePermit(lock, this.redis, this.keys, this.settings);
      }
      if (!waiting && !abort.aborted) this.settings.emit({ type: 'waiting', znode: this.keys.znode });
      waiting = true;
      await sleep(jittered(this.settings.acquireRetryMs), abort);
    }
    return null;
  }

  /** The lease, or undefined when another host holds it, Redis failed, or `abort` came first. */
  private async tryAcquire(abort: AbortSignal): Promise<Lock | undefined> {
    const acquiring = this.redlock.acquire([this.keys.lease], this.settings.leaseMs).then(
      (lock) => lock,
      (error: unknown) => this.reportAcquireFailure(error),
    );
    const lock = await untilAborted(acquiring, abort);
    if (!abort.aborted) return lock;
    // Aborted: a lease that arrives anyway goes straight back.
    void acquiring.then((late) => late?.release().catch(() => undefined));
    return undefined;
  }

  private async reportAcquireFailure(error: unknown): Promise<undefined> {
    const cause = await failureCause(error);
    if (cause !== 'held elsewhere') {
      this.settings.emit({ type: 'redisError', znode: this.keys.znode, operation: 'acquire', error: cause });
    }
    return undefined;
  }
}

/** A held lease: renewed until `leave`, watched for expiry, lost at most once. */
class LeasePermit implements RunPermit {
  private renewTimer?: NodeJS.Timeout;
  private expiryTimer?: NodeJS.Timeout;
  private lost = false;
  private ended = false;
  private readonly lostCallbacks: Array<() => void> = [];

  constructor(
    private lock: Lock,
    private readonly redis: RedisClient,
    private readonly keys: LeaseKeys,
    private readonly settings: LeaseSettings,
  ) {
    this.held(lock);
  }

  async alreadyRun(stamp: UpdateStamp): Promise<boolean> {
    if (stamp.mzxid === undefined) return false;
    try {
      const ran = await this.redis.hget(this.keys.ran, 'mzxid');
      return ran !== null && BigInt(ran) >= stamp.mzxid;
    } catch (error) {
      this.reportRedisError('read the last run update', error);
      return false; // at least once: better a second run than a lost update
    }
  }

  onLost(callback: () => void): void {
    if (this.lost) callback();
    else if (!this.ended) this.lostCallbacks.push(callback);
  }

  async leave(ran?: UpdateStamp): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.renewTimer);
    clearTimeout(this.expiryTimer);
    if (!this.lost && ran?.mzxid !== undefined) await this.record(ran.mzxid);
    // After a loss the key is most likely gone or another's: releasing then is only tidying up.
    await this.lock.release().catch((error: unknown) => this.lost || this.reportRedisError('release', error));
  }

  /** A new lease term: renew at a third of it, declare it lost at its local expiry time. */
  private held(lock: Lock): void {
    this.lock = lock;
    clearTimeout(this.expiryTimer);
    this.expiryTimer = setTimeout(this.expire, Math.max(0, lock.expiration - Date.now()));
    this.scheduleRenewal(Math.floor(this.settings.leaseMs / 3));
  }

  private scheduleRenewal(ms: number): void {
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(() => void this.renew(), ms);
  }

  private async renew(): Promise<void> {
    if (this.ended || this.lost) return;
    if (Date.now() >= this.lock.expiration) return this.expire();
    try {
      const extended = await this.lock.extend(this.settings.leaseMs);
      if (!this.ended && !this.lost) this.held(extended);
    } catch (error) {
      const cause = await failureCause(error);
      if (this.ended || this.lost) return;
      if (cause === 'held elsewhere') return this.lose('another host holds the lease now');
      this.reportRedisError('renew', cause);
      // Still ours until its expiry time (the watchdog ends it then): try again before that.
      this.scheduleRenewal(Math.min(this.settings.acquireRetryMs, this.settings.leaseMs / 6));
    }
  }

  /** Not renewed in time: another host may hold the lease from now on. */
  private readonly expire = (): void => {
    if (this.ended || this.lost) return;
    const left = this.lock.expiration - Date.now();
    if (left > 0) {
      this.expiryTimer = setTimeout(this.expire, left); // renewed meanwhile, or the timer ran early
      return;
    }
    this.lose('the lease expired before it was renewed (the daemon stalled or Redis was unreachable)');
  };

  private lose(reason: string): void {
    this.lost = true;
    clearTimeout(this.renewTimer);
    clearTimeout(this.expiryTimer);
    this.settings.emit({ type: 'lost', znode: this.keys.znode, reason });
    for (const callback of this.lostCallbacks.splice(0)) callback();
  }

  /** Written only while the lease is still ours (fenced by its value), and only forwards. */
  private async record(mzxid: bigint): Promise<void> {
    const args = [this.lock.value, mzxid.toString(), this.settings.holder, String(Date.now())];
    try {
      const outcome = await this.redis.eval(RECORD_RUN_SCRIPT, 2, this.keys.lease, this.keys.ran, ...args);
      if (outcome === 0) this.lose('the lease had lapsed when the run ended: the run is not recorded');
    } catch (error) {
      this.reportRedisError('record the run', error);
    }
  }

  private reportRedisError(operation: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.settings.emit({ type: 'redisError', znode: this.keys.znode, operation, error: message });
  }
}

/**
 * KEYS: lease, ran. ARGV: lease value, mzxid (decimal), holder, time. 0: the lease is not
 * ours; 2: an update as recent is recorded already; 1: recorded. Decimal strings without
 * leading zeros compare by length, then lexically (Lua numbers cannot hold every zxid).
 */
const RECORD_RUN_SCRIPT = `
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
local ran = redis.call('hget', KEYS[2], 'mzxid')
if ran and (#ran > #ARGV[2] or (#ran == #ARGV[2] and ran >= ARGV[2])) then return 2 end
redis.call('hset', KEYS[2], 'mzxid', ARGV[2], 'holder', ARGV[3], 'at', ARGV[4])
return 1
`;

/** 'held elsewhere' when Redis answered that another value holds the key, else what failed. */
async function failureCause(error: unknown): Promise<string> {
  if (!(error instanceof ExecutionError)) return error instanceof Error ? error.message : String(error);
  const votes = await Promise.all(error.attempts);
  const against = votes.flatMap((stats) => [...stats.votesAgainst.values()]);
  if (against.length === 0) return error.message; // refused before asking Redis (an expired lock)
  const other = against.find((cause) => !(cause instanceof ResourceLockedError));
  return other ? other.message : 'held elsewhere';
}

/** `work`'s value, or undefined as soon as `abort` fires. */
async function untilAborted<T>(work: Promise<T>, abort: AbortSignal): Promise<T | undefined> {
  let onAbort = () => {};
  const abortedFirst = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined);
    abort.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, abortedFirst]);
  } finally {
    abort.removeEventListener('abort', onAbort);
  }
}

function sleep(ms: number, abort: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      abort.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    abort.addEventListener('abort', done, { once: true });
  });
}

/** ±20 %, so waiting hosts do not try in lockstep. */
function jittered(ms: number): number {
  return Math.round(ms * (0.8 + Math.random() * 0.4));
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`${name} must be a positive integer, got ${value}`);
  return value;
}
