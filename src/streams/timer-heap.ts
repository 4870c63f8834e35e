import { compareDueTimers, DueTimer } from './model';

/** A binary min-heap of timers in due order (fire before expire at equal times). */
export class TimerHeap {
  private readonly items: DueTimer[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): DueTimer | undefined {
    return this.items[0];
  }

  push(timer: DueTimer): void {
    const items = this.items;
    items.push(timer);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (compareDueTimers(items[i], items[parent]) >= 0) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }

  pop(): DueTimer | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < items.length && compareDueTimers(items[left], items[smallest]) < 0) smallest = left;
      if (right < items.length && compareDueTimers(items[right], items[smallest]) < 0) smallest = right;
      if (smallest === i) return top;
      [items[i], items[smallest]] = [items[smallest], items[i]];
      i = smallest;
    }
  }
}
