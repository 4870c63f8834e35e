/**
 * Winchester's per-trigger debugger: with `debug_level` 1, how many checks each group (Match,
 * Fire) made and how many passed, plus named counters; with 2, also how often each mismatch
 * reason occurred. Level 0 records nothing. Whoever reports (logs, metrics) takes a snapshot
 * and resets, as upstream's `dump_debuggers` did; listeners see every count as it happens,
 * so metrics need no reset.
 */
export interface DebugListener {
  checked(group: string, passed: boolean): void;
  /** Only at level 2. */
  mismatched(group: string, reason: string): void;
  counted(name: string, by: number): void;
}

export class DebugGroup {
  checks = 0;
  passed = 0;
  readonly reasons = new Map<string, number>();

  constructor(
    readonly name: string,
    private readonly keepReasons: boolean,
    private readonly listeners: ReadonlySet<DebugListener>,
  ) {}

  match(): void {
    this.checks++;
    this.passed++;
    for (const listener of this.listeners) listener.checked(this.name, true);
  }

  mismatch(reason: string): void {
    this.checks++;
    for (const listener of this.listeners) listener.checked(this.name, false);
    if (!this.keepReasons) return;
    this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
    for (const listener of this.listeners) listener.mismatched(this.name, reason);
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
  private readonly listeners = new Set<DebugListener>();

  constructor(
    readonly trigger: string,
    readonly level: number,
  ) {}

  get enabled(): boolean {
    return this.level > 0;
  }

  group(name: string): DebugGroup {
    let group = this.groups.get(name);
    if (!group) this.groups.set(name, (group = new DebugGroup(name, this.level > 1, this.listeners)));
    return group;
  }

  /** Counts a named occurrence ("New stream", "Ready to fire", …); a no-op at level 0. */
  bump(name: string, by = 1): void {
    if (this.level === 0) return;
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
    for (const listener of this.listeners) listener.counted(name, by);
  }

  /** Sees every count from now on; returns the function that stops it. No-op at level 0. */
  listen(listener: DebugListener): () => void {
    if (this.level === 0) return () => undefined;
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
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

/**
 * The debugger behind a trigger as the engine sees it (src/triggers/runtime.ts carries it as
 * `debug`), or undefined for triggers built some other way. A property rather than a lookup
 * table, so runtimes copied with spread keep it.
 */
export function triggerDebugger(trigger: object): TriggerDebugger | undefined {
  const debug = (trigger as { debug?: unknown }).debug;
  return debug instanceof TriggerDebugger ? debug : undefined;
}
