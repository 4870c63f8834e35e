import {
  clientFigures,
  median,
  RoundFigures,
  topologySpeedupAtMost,
  verdict,
} from '../../../bench/support/client-figures';

const round = (relay: number, cpu: number): RoundFigures => ({
  relay: { perSecond: relay, cpuUsPerRecord: cpu },
  produce: { perSecond: relay * 2, cpuUsPerRecord: cpu / 2 },
  consume: { perSecond: relay * 3, cpuUsPerRecord: cpu / 3 },
});

test('median of odd and even counts, NaN of none', () => {
  expect(median([3, 1, 2])).toBe(2);
  expect(median([4, 1, 3, 2])).toBe(2.5);
  expect(median([])).toBeNaN();
});

test('the 1.3× rule: a verdict only when every round agrees', () => {
  expect(verdict({ rate: 1.6, rate_min: 1.4, rate_max: 2 })).toMatch(/passes the rule/);
  expect(verdict({ rate: 1.1, rate_min: 1, rate_max: 1.2 })).toMatch(/fails the rule/);
  expect(verdict({ rate: 1.5, rate_min: 0.8, rate_max: 2.3 })).toMatch(/straddle 1\.3×, no verdict/);
  expect(verdict({ rate: null, rate_min: null, rate_max: null })).toMatch(/not measured/);
});

test("the topology's bound: its CPU against that less the client's saving", () => {
  expect(topologySpeedupAtMost(400, 170, 70)).toBe(1.33);
  expect(topologySpeedupAtMost(400, 100, 120)).toBe(1); // no saving
  expect(topologySpeedupAtMost(100, 300, 100)).toBeNull(); // a saving as large as the topology's CPU
});

test('rounds are paired by index; unequal rounds are refused', () => {
  const figures = clientFigures(
    100,
    { kafkajs: [round(1000, 100), round(500, 100)], platformatic: [round(2000, 50), round(500, 100)] },
    { perSecond: 300, cpuUsPerRecord: 400 },
  );
  expect(figures.platformatic_vs_kafkajs.relay).toMatchObject({ rate: 1.5, rate_min: 1, rate_max: 2 });
  expect(figures.platformatic_vs_kafkajs.relay.cpu).toBe(0.75);
  expect(() =>
    clientFigures(1, { kafkajs: [round(1, 1)], platformatic: [] }, { perSecond: 1, cpuUsPerRecord: 1 }),
  ).toThrow(/rounds differ/);
});
