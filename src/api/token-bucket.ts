/**
 * Token buckets for the API's state-changing routes: each client address has one, and all
 * clients share one more, so neither one client nor many together can reset streams faster than
 * the configured rate. Pure: the clock is passed in.
 */

export interface BucketSettings {
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Tokens a full bucket holds: how many requests may come at once after a quiet spell. */
  burst: number;
}

export interface RateLimitSettings {
  perClient: BucketSettings;
  global: BucketSettings;
  /** Client buckets kept at most; full (idle) ones go first, then the least recently used. */
  maxClients: number;
}

/** 10 per second per client with bursts of 20; 50 per second (bursts of 100) over all clients. */
export const DEFAULT_ADMIN_RATE_LIMIT: RateLimitSettings = {
  perClient: { ratePerSecond: 10, burst: 20 },
  global: { ratePerSecond: 50, burst: 100 },
  maxClients: 10_000,
};

export class TokenBucket {
  private tokens: number;
  private updatedMs: number;

  constructor(
    private readonly settings: BucketSettings,
    nowMs: number,
  ) {
    if (!(settings.ratePerSecond > 0) || !(settings.burst >= 1)) {
      throw new RangeError('a token bucket needs a positive rate and a burst of at least 1');
    }
    this.tokens = settings.burst;
    this.updatedMs = nowMs;
  }

  /** Milliseconds until a token is there (0: one is there now). */
  waitMs(nowMs: number): number {
    this.refill(nowMs);
    if (this.tokens >= 1) return 0;
    return Math.ceil(((1 - this.tokens) * 1000) / this.settings.ratePerSecond);
  }

  /** Takes a token; only after waitMs said 0 at the same time. */
  take(nowMs: number): void {
    this.refill(nowMs);
    this.tokens -= 1;
  }

  /** A full bucket remembers nothing a new one would not: it can be dropped. */
  isFull(nowMs: number): boolean {
    this.refill(nowMs);
    return this.tokens >= this.settings.burst;
  }

  private refill(nowMs: number): void {
    // A clock that steps back adds nothing (and takes nothing away).
    const elapsedMs = Math.max(0, nowMs - this.updatedMs);
    this.tokens = Math.min(
      this.settings.burst,
      this.tokens + (elapsedMs * this.settings.ratePerSecond) / 1000,
    );
    this.updatedMs = Math.max(this.updatedMs, nowMs);
  }
}

export type RateDecision =
  { allowed: true } | { allowed: false; retryAfterMs: number; limit: 'client' | 'global' };

/** A bucket per client and one for everyone; a request passes only when both have a token. */
export class RateLimiter {
  private readonly clients = new Map<string, TokenBucket>();
  private readonly everyone: TokenBucket;

  constructor(
    private readonly settings: RateLimitSettings,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.everyone = new TokenBucket(settings.global, clock());
  }

  take(client: string): RateDecision {
    const now = this.clock();
    const bucket = this.clientBucket(client, now);
    const clientWait = bucket.waitMs(now);
    if (clientWait > 0) return { allowed: false, retryAfterMs: clientWait, limit: 'client' };
    const globalWait = this.everyone.waitMs(now);
    if (globalWait > 0) return { allowed: false, retryAfterMs: globalWait, limit: 'global' };
    bucket.take(now);
    this.everyone.take(now);
    return { allowed: true };
  }

  /** How many clients have a bucket (for tests of the bound). */
  get clientCount(): number {
    return this.clients.size;
  }

  private clientBucket(client: string, now: number): TokenBucket {
    let bucket = this.clients.get(client);
    // Re-inserted on every use: the map's order is then least recently used first.
    if (bucket) this.clients.delete(client);
    else {
      bucket = new TokenBucket(this.settings.perClient, now);
      this.evictFor(now);
    }
    this.clients.set(client, bucket);
    return bucket;
  }

  /** Room for one more client: full buckets go first, then the least recently used. */
  private evictFor(now: number): void {
    if (this.clients.size < this.settings.maxClients) return;
    for (const [client, bucket] of this.clients) if (bucket.isFull(now)) this.clients.delete(client);
    for (const client of this.clients.keys()) {
      if (this.clients.size < this.settings.maxClients) break;
      this.clients.delete(client);
    }
  }
}
