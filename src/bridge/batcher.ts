import { BridgeSettings } from '../config/bridge-settings';

/**
 * Groups deliveries into Kafka batches: `onReady` is called when a batch is full, or when the
 * first delivery of a partial one has waited `lingerMs`. While a batch is being sent, more
 * accumulate, so under load batches fill by themselves and no delivery waits for the timer.
 */
export class DeliveryBatcher<T extends { lease: { alive: boolean } }> {
  private items: T[] = [];
  private bytes = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly limits: Pick<BridgeSettings, 'batchMessages' | 'batchBytes' | 'lingerMs'>,
    private readonly sizeOf: (item: T) => number,
    private readonly onReady: () => void,
  ) {}

  get size(): number {
    return this.items.length;
  }

  add(item: T): void {
    this.items.push(item);
    this.bytes += this.sizeOf(item);
    if (this.full()) {
      this.clearTimer();
      this.onReady();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.onReady();
      }, this.limits.lingerMs);
    }
  }

  /** The oldest deliveries, up to one batch's limits (always at least one when any wait). */
  take(): T[] {
    this.clearTimer();
    let count = 0;
    let bytes = 0;
    while (count < this.items.length && count < this.limits.batchMessages) {
      const size = this.sizeOf(this.items[count]);
      if (count > 0 && bytes + size > this.limits.batchBytes) break;
      bytes += size;
      count++;
    }
    const batch = this.items.splice(0, count);
    this.bytes -= bytes;
    return batch;
  }

  /** Forgets the deliveries of a channel that closed; returns how many. */
  dropLease(lease: { alive: boolean }): number {
    const before = this.items.length;
    this.items = this.items.filter((item) => item.lease !== lease);
    this.bytes = this.items.reduce((sum, item) => sum + this.sizeOf(item), 0);
    if (this.items.length === 0) this.clearTimer();
    return before - this.items.length;
  }

  private full(): boolean {
    return this.items.length >= this.limits.batchMessages || this.bytes >= this.limits.batchBytes;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
