/** A held lease (redlock's Lock satisfies it). */
export interface Lease {
  extend(durationMs: number): Promise<Lease>;
  release(): Promise<unknown>;
}

/** Where leases come from (redlock's Redlock satisfies it); acquire throws when another holds the lease. */
export interface LeaseService {
  acquire(resources: string[], durationMs: number): Promise<Lease>;
}

/** How long a lease lasts unless renewed; the timer loop renews it every turn. */
export const LEASE_MS = 5000;

/**
 * The lease under which one instance drives a partition's timers, so two instances never
 * drive the same partition during a rebalance. It is no fence on its own (a stalled holder
 * outlives it): the owner epoch is. Failing to get or renew it is not an error, only "not now".
 */
export class PartitionLease {
  private lease?: Lease;

  constructor(
    private readonly service: LeaseService,
    private readonly resource: string,
    private readonly durationMs = LEASE_MS,
  ) {}

  get held(): boolean {
    return this.lease !== undefined;
  }

  /** Renews the lease, or takes it when not held; false when another instance holds it. */
  async hold(): Promise<boolean> {
    try {
      this.lease = this.lease
        ? await this.lease.extend(this.durationMs)
        : await this.service.acquire([this.resource], this.durationMs);
      return true;
    } catch {
      this.lease = undefined;
      return false;
    }
  }

  async release(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    await lease?.release().catch(() => undefined);
  }
}
