import { RateLimiter, RateLimitSettings, TokenBucket } from '../../../src/api/token-bucket';

describe('TokenBucket', () => {
  test('starts full, gives its burst at once, then refills at its rate', () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 3 }, 0);
    for (let i = 0; i < 3; i++) {
      expect(bucket.waitMs(0)).toBe(0);
      bucket.take(0);
    }
    expect(bucket.waitMs(0)).toBe(100);
    expect(bucket.waitMs(40)).toBe(60);
    expect(bucket.waitMs(100)).toBe(0);
    bucket.take(100);
    expect(bucket.waitMs(100)).toBe(100);
  });

  test('never holds more than its burst, and a clock stepping back adds nothing', () => {
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 2 }, 0);
    expect(bucket.isFull(1_000_000)).toBe(true);
    bucket.take(1_000_000);
    bucket.take(1_000_000);
    expect(bucket.waitMs(1_000_000)).toBe(1000);
    expect(bucket.waitMs(500)).toBe(1000);
    expect(bucket.isFull(1_000_000)).toBe(false);
    expect(bucket.isFull(1_002_000)).toBe(true);
  });

  test('refuses settings that could never give a token', () => {
    expect(() => new TokenBucket({ ratePerSecond: 0, burst: 1 }, 0)).toThrow(RangeError);
    expect(() => new TokenBucket({ ratePerSecond: 1, burst: 0.5 }, 0)).toThrow(RangeError);
    expect(() => new TokenBucket({ ratePerSecond: Number.NaN, burst: 5 }, 0)).toThrow(RangeError);
  });
});

describe('RateLimiter', () => {
  const settings: RateLimitSettings = {
    perClient: { ratePerSecond: 10, burst: 2 },
    global: { ratePerSecond: 20, burst: 3 },
    maxClients: 3,
  };
  const limiterAt = () => {
    const clock = { now: 0 };
    return { clock, limiter: new RateLimiter(settings, () => clock.now) };
  };

  test("one client's burst, then its own rate; Retry-After comes from the bucket that refused", () => {
    const { clock, limiter } = limiterAt();
    expect(limiter.take('a')).toEqual({ allowed: true });
    expect(limiter.take('a')).toEqual({ allowed: true });
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterMs: 100, limit: 'client' });
    clock.now = 100;
    expect(limiter.take('a')).toEqual({ allowed: true });
  });

  test('clients together are held to the global bucket; a refused request costs no client token', () => {
    const { clock, limiter } = limiterAt();
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('b').allowed).toBe(true);
    expect(limiter.take('c').allowed).toBe(true);
    expect(limiter.take('d')).toEqual({ allowed: false, retryAfterMs: 50, limit: 'global' });
    clock.now = 50;
    // d's own bucket was not charged by the refusal: it still has its whole burst.
    expect(limiter.take('d').allowed).toBe(true);
    clock.now = 100;
    expect(limiter.take('d').allowed).toBe(true);
  });

  test('keeps at most maxClients buckets: idle (full) ones go first, then the least recently used', () => {
    const clock = { now: 0 };
    const limiter = new RateLimiter(
      { ...settings, global: { ratePerSecond: 1000, burst: 1000 } },
      () => clock.now,
    );
    for (const client of ['a', 'b', 'c']) limiter.take(client);
    expect(limiter.clientCount).toBe(3);
    clock.now = 1000; // every bucket full again: all three are dropped for the next client
    limiter.take('d');
    expect(limiter.clientCount).toBe(1);
    limiter.take('a');
    limiter.take('a'); // a's bucket is empty now
    limiter.take('b');
    // None is full: d, the least recently used, goes.
    limiter.take('e');
    expect(limiter.clientCount).toBe(3);
    expect(limiter.take('a')).toMatchObject({ allowed: false, limit: 'client' });
    expect(limiter.take('b')).toEqual({ allowed: true });
    expect(limiter.take('b')).toMatchObject({ allowed: false, limit: 'client' });
    // d comes back with a fresh, full bucket (and e, now the least recently used, goes).
    expect(limiter.take('d')).toEqual({ allowed: true });
    expect(limiter.take('d')).toEqual({ allowed: true });
    expect(limiter.clientCount).toBe(3);
    expect(limiter.take('a')).toMatchObject({ allowed: false, limit: 'client' });
  });
});
