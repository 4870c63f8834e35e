import { RecentSamples } from '../../../src/util/recent-samples';

describe('RecentSamples', () => {
  test('keeps every sample until full', () => {
    const s = new RecentSamples(4);
    [1, 2, 3].forEach((v) => s.push(v));
    expect(s.size).toBe(3);
    expect(s.toArray()).toEqual([1, 2, 3]);
  });

  test('then keeps the most recent capacity samples, oldest first', () => {
    const s = new RecentSamples(4);
    for (let v = 1; v <= 11; v++) s.push(v);
    expect(s.size).toBe(4);
    expect(s.toArray()).toEqual([8, 9, 10, 11]);
  });
});
