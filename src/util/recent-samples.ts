/**
 * The most recent `capacity` samples of a measurement (older ones are overwritten), for
 * in-process percentiles: a long-running role keeps a bounded window, not every sample
 * it ever took. Prometheus histograms carry the full record.
 */
export class RecentSamples {
  private readonly values: number[] = [];
  private next = 0;

  constructor(readonly capacity = 10_000) {}

  push(value: number): void {
    if (this.values.length < this.capacity) {
      this.values.push(value);
      return;
    }
    this.values[this.next] = value;
    this.next = (this.next + 1) % this.capacity;
  }

  get size(): number {
    return this.values.length;
  }

  /** The samples held, oldest first. */
  toArray(): number[] {
    return [...this.values.slice(this.next), ...this.values.slice(0, this.next)];
  }
}
