import { DeliveryBatcher } from '../../../src/bridge/batcher';

interface Item {
  bytes: number;
  lease: { alive: boolean };
}
const lease = { alive: true };
const item = (bytes: number, l = lease): Item => ({ bytes, lease: l });

function batcher(limits: { batchMessages: number; batchBytes: number; lingerMs: number }) {
  const ready: number[] = [];
  const b = new DeliveryBatcher<Item>(
    limits,
    (i) => i.bytes,
    () => ready.push(Date.now()),
  );
  return { b, ready };
}

describe('DeliveryBatcher', () => {
  test('a full batch is ready at once; take() hands out at most one batch, oldest first', () => {
    const { b, ready } = batcher({ batchMessages: 3, batchBytes: 1 << 20, lingerMs: 60000 });
    const items = [item(1), item(2), item(3), item(4)];
    items.slice(0, 3).forEach((i) => b.add(i));
    expect(ready).toHaveLength(1);
    b.add(items[3]);
    expect(b.take()).toEqual(items.slice(0, 3));
    expect(b.take()).toEqual([items[3]]);
    expect(b.take()).toEqual([]);
  });

  test('bytes cut a batch too, but one large delivery still goes alone', () => {
    const { b } = batcher({ batchMessages: 100, batchBytes: 10, lingerMs: 60000 });
    const items = [item(4), item(4), item(4), item(50)];
    items.forEach((i) => b.add(i));
    expect(b.take()).toEqual(items.slice(0, 2));
    expect(b.take()).toEqual([items[2]]);
    expect(b.take()).toEqual([items[3]]);
  });

  test('a partial batch is ready after the linger time', async () => {
    const { b, ready } = batcher({ batchMessages: 100, batchBytes: 1 << 20, lingerMs: 20 });
    b.add(item(1));
    b.add(item(1));
    expect(ready).toHaveLength(0);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(ready).toHaveLength(1);
    expect(b.take()).toHaveLength(2);
  });

  test("a lost channel's deliveries are forgotten, the others kept", () => {
    const { b } = batcher({ batchMessages: 100, batchBytes: 1 << 20, lingerMs: 60000 });
    const old = { alive: false };
    b.add(item(1, old));
    b.add(item(2));
    b.add(item(3, old));
    expect(b.dropLease(old)).toBe(2);
    expect(b.size).toBe(1);
    expect(b.take()).toEqual([item(2)]);
  });
});
