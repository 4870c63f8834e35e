/**
 * Winchester's per-trigger debugger: with `debug_level` 1, how many checks each group (Match,
 * Fire) made and how many passed, plus named counters; with 2, also how often each mismatch
 * reason occurred. Level 0 records nothing. Whoever reports (logs, metrics) takes a snapshot
 * and resets, as upstream's `dump_debuggers` did.
 */
export class DebugGroup {
  checks = 0;
  passed = 0;
  readonly reasons = new Map<string, number>();

  constructor(private readonly keepReasons: boolean) {}

  match(): void {
    this.checks++;
    this.passed++;
  }

  mismatch(reason: string): void {
    this.checks++;
    if (this.keepReasons) this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
  }
}

export interface DebugSnapshot {
  trigger: string;
  level: number;
  groups: Record<string, { checks: number; passed: number; reasons: Record<string, number> }>;
  counters: Record<string, number>;
}

export class TriggerDebugger {
  private readonly groups = new Map<string, DebugGroup>();
  private readonly counters = new Map<string, number>();

  constructor(
    readonly trigger: string,
    readonly level: number,
  ) {}

  get enabled(): boolean {
    return this.level > 0;
  }

  group(name: string): DebugGroup {
    let group = this.groups.get(name);
    if (!group) this.groups.set(name, (group = new DebugGroup(this.level > 1)));
    return group;
  }

  /** Counts a named occurrence ("New stream", "Ready to fire", …); a no-op at level 0. */
  bump(name: string, by = 1): void {
    if (this.level > 0) this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  snapshot(): DebugSnapshot {
    const groups: DebugSnapshot['groups'] = {};
    for (const [name, g] of this.groups) {
      groups[name] = { checks: g.checks, passed: g.passed, reasons: Object.fromEntries(g.reasons) };
    }
    return { trigger: this.trigger, level: this.level, groups, counters: Object.fromEntries(this.counters) };
  }

  reset(): void {
    this.groups.clear();
    this.counters.clear();
  }
}
