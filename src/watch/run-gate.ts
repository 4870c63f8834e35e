/**
 * What a watch runner asks before each run of an `exclusive` watch, kept free of any client
 * library so the runner stays pure: src/watch/exclusive-lease.ts implements it on Redis.
 */

/** Identifies the znode version an update was read from, the same on every host. */
export interface UpdateStamp {
  /**
   * ZooKeeper's mzxid of the version read: the transaction that last modified the node.
   * Zxids only grow, across the whole ensemble and across a delete and re-create (a data
   * `version` restarts at 0 then, so it cannot stand in). Undefined when the node does
   * not exist or the caller does not know: such an update is never taken for one already run.
   */
  mzxid?: bigint;
}

/** Admission to run a watch's action on this host, one permit per run. */
export interface RunGate {
  /**
   * Resolves once this host may run the action, waiting as long as another holder has it;
   * resolves null when `abort` fires first. May reject when the gate itself is broken.
   */
  enter(abort: AbortSignal): Promise<RunPermit | null>;
}

export interface RunPermit {
  /** True when some host already ran an update at least as recent as `stamp`. Never rejects. */
  alreadyRun(stamp: UpdateStamp): Promise<boolean>;
  /**
   * `callback` runs once if the permit is lost before `leave` (at once when it is lost
   * already): from then on another host may be running the action.
   */
  onLost(callback: () => void): void;
  /** Ends the permit, recording `ran` as run when given and the permit is still held. Never rejects. */
  leave(ran?: UpdateStamp): Promise<void>;
}
