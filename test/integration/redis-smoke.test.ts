import { testNamespace } from '../support/namespace';

const ns = testNamespace();

describe('real Redis', () => {
  test('runs with AOF every second and no eviction', async () => {
    const redis = ns.redis();
    const aof = (await redis.config('GET', 'appendonly')) as string[];
    const policy = (await redis.config('GET', 'maxmemory-policy')) as string[];
    // Only the stack this project starts is held to its settings; a user's Redis may differ.
    if (!process.env.WINCHESTER_EXTERNAL_REDIS) {
      expect(aof[1]).toBe('yes');
      expect(policy[1]).toBe('noeviction');
    }
    redis.disconnect();
  });

  test('WATCH/MULTI: two dedicated connections race on one key and exactly one wins', async () => {
    const a = ns.redis();
    const b = ns.redis();
    await a.set('counter', '0');
    for (let round = 0; round < 20; round++) {
      await Promise.all([a.watch('counter'), b.watch('counter')]);
      const [va, vb] = await Promise.all([a.get('counter'), b.get('counter')]);
      const results = await Promise.all([
        a
          .multi()
          .set('counter', String(Number(va) + 1))
          .exec(),
        b
          .multi()
          .set('counter', String(Number(vb) + 1))
          .exec(),
      ]);
      // exec() yields null for a transaction aborted because a WATCHed key changed.
      expect(results.filter((r) => r !== null)).toHaveLength(1);
      expect(await a.get('counter')).toBe(String(round + 1));
    }
    await a.del('counter');
    a.disconnect();
    b.disconnect();
  });

  test('keys are confined to the test file prefix', async () => {
    const redis = ns.redis();
    await redis.set('probe', '1');
    const raw = ns.redis();
    const keys = (await raw.call('KEYS', `${ns.prefix}:probe`)) as string[];
    expect(keys).toEqual([`${ns.prefix}:probe`]);
    await redis.del('probe');
    redis.disconnect();
    raw.disconnect();
  });
});
