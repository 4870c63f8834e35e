/**
 * The chaos harness's slot-migration plan (bench/redis-disruptions.ts): which master gives
 * how many slots to which, so that `redis-cli --cluster reshard` (which moves a master's
 * lowest-numbered slots) carries a live partition's slot.
 */
import { ClusterMaster, mastersOf, planReshard, SlotRange } from '../../../bench/redis-disruptions';

const range = (first: number, last: number, port: number): SlotRange => [
  first,
  last,
  ['127.0.0.1', port, `node-${port}`],
  ['127.0.0.1', port + 1000, `replica-${port}`],
];

/** Three masters as `redis-cli --cluster create` lays them out. */
const fresh = () => mastersOf([range(0, 5460, 7001), range(5461, 10922, 7002), range(10923, 16383, 7003)]);

const slotsOf = (masters: ClusterMaster[], port: number) => masters.find((m) => m.port === port)!.slots;

describe('mastersOf', () => {
  it('gathers each master’s ranges into its slots, in order, masters by port', () => {
    const masters = mastersOf([
      range(10923, 16383, 7003),
      range(0, 99, 7001),
      range(5461, 10922, 7002),
      range(100, 5460, 7003),
    ]);
    expect(masters.map((m) => m.port)).toEqual([7001, 7002, 7003]);
    expect(slotsOf(masters, 7001)).toHaveLength(100);
    expect(slotsOf(masters, 7003)).toHaveLength(5361 + 5461);
    expect(slotsOf(masters, 7003).slice(0, 2)).toEqual([100, 101]);
    expect(masters[0]).toMatchObject({ id: 'node-7001', host: '127.0.0.1' });
  });
});

describe('planReshard', () => {
  it('moves at least a quarter of the master’s slots, the partition’s among the lowest', () => {
    const plan = planReshard(fresh(), [700]);
    expect(plan).toMatchObject({ slot: 700, count: 1366 });
    expect(plan.from.port).toBe(7001);
    expect(slotsOf(fresh(), 7001).slice(0, plan.count)).toContain(700);
  });

  it('reaches a partition slot high in its master’s range', () => {
    const plan = planReshard(fresh(), [5000]);
    expect(plan.count).toBe(5001);
    expect(slotsOf(fresh(), 7001).slice(0, plan.count)).toContain(5000);
  });

  it('picks the partition whose slot is cheapest to reach', () => {
    const plan = planReshard(fresh(), [5000, 11000, 9000]);
    expect(plan).toMatchObject({ slot: 11000, count: 1366 });
    expect(plan.from.port).toBe(7003);
  });

  it('sends the slots to the other master serving the fewest', () => {
    const masters = mastersOf([range(0, 8000, 7001), range(8001, 9000, 7002), range(9001, 16383, 7003)]);
    const plan = planReshard(masters, [100]);
    expect(plan.to.port).toBe(7002);
  });

  it('never empties a master: a partition on its master’s last slot is not the one moved', () => {
    const plan = planReshard(fresh(), [5460, 12000]);
    expect(plan.slot).toBe(12000);
    expect(plan.count).toBeLessThan(slotsOf(fresh(), 7003).length);
    expect(() => planReshard(fresh(), [5460])).toThrow(/last slot of its master/);
  });

  it('counts only the master’s own slots below the partition’s when its ranges are split', () => {
    const masters = mastersOf([
      range(0, 999, 7002),
      range(1000, 5460, 7001),
      range(5461, 10922, 7002),
      range(10923, 16383, 7003),
    ]);
    const plan = planReshard(masters, [8000]);
    expect(plan.from.port).toBe(7002);
    expect(plan.count).toBe(1000 + 2540);
  });

  it('refuses a slot no master serves, and a cluster of one master', () => {
    expect(() => planReshard(mastersOf([range(0, 100, 7001)]), [200])).toThrow(/no master serves slot 200/);
    expect(() => planReshard(mastersOf([range(0, 16383, 7001)]), [200])).toThrow(/one master/);
  });
});
