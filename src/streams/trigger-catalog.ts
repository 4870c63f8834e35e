import { TriggerLookup, TriggerRuntime } from './trigger-runtime';

/** Listener of a version source: called, in order, each time its current version changes. */
export type TriggerVersionListener = (
  version: number,
  triggers: readonly TriggerRuntime[],
) => void | Promise<void>;

/**
 * Where a matcher (or a simulation) takes its triggers from when the topology changes live:
 * the version it runs now, any version ever applied (0: the role's own `-t` bundle), and word
 * of each change. A role's topology follower is one through `triggersFollowing`.
 */
export interface TriggerVersionSource {
  readonly current: { version: number; triggers: readonly TriggerRuntime[] };
  /** The triggers of `version`, or undefined when it is unknown or cannot be loaded. */
  triggersOf(version: number): readonly TriggerRuntime[] | undefined;
  onChange(listener: TriggerVersionListener): void;
}

/** What a role's topology follower (src/topology/versions/follower.ts) offers, as far as triggers go. */
export interface TopologyVersions {
  readonly current: { version: number; topology: { triggers: TriggerRuntime[] } };
  topologyOf(version: number): { triggers: TriggerRuntime[] } | undefined;
  onChange(listener: (version: number, topology: { triggers: TriggerRuntime[] }) => unknown): void;
}

/** A topology follower as a trigger version source. */
export function triggersFollowing(follower: TopologyVersions): TriggerVersionSource {
  return {
    get current() {
      const { version, topology } = follower.current;
      return { version, triggers: topology.triggers };
    },
    triggersOf: (version) => follower.topologyOf(version)?.triggers,
    onChange: (listener) => follower.onChange((version, topology) => listener(version, topology.triggers)),
  };
}

/**
 * Versions kept in memory, for `simulate`, tests, and a role without a follower: version 0 is
 * the base, `apply` adds 1, 2, … and makes each current as it comes.
 */
export class TriggerVersionLog implements TriggerVersionSource {
  private readonly versions = new Map<number, readonly TriggerRuntime[]>();
  private readonly listeners: TriggerVersionListener[] = [];
  private running: { version: number; triggers: readonly TriggerRuntime[] };

  constructor(base: readonly TriggerRuntime[]) {
    this.versions.set(0, base);
    this.running = { version: 0, triggers: base };
  }

  get current(): { version: number; triggers: readonly TriggerRuntime[] } {
    return this.running;
  }

  triggersOf(version: number): readonly TriggerRuntime[] | undefined {
    return this.versions.get(version);
  }

  onChange(listener: TriggerVersionListener): void {
    this.listeners.push(listener);
  }

  /** Adds the next version and makes it current (listeners called first); returns its number. */
  async apply(triggers: readonly TriggerRuntime[]): Promise<number> {
    const version = Math.max(...this.versions.keys()) + 1;
    this.versions.set(version, triggers);
    await this.makeCurrent(version);
    return version;
  }

  /** Makes a version current again (a rollback). */
  async makeCurrent(version: number): Promise<void> {
    const triggers = this.versions.get(version);
    if (!triggers)
      throw new Error(`no trigger version ${version}: versions are 0 to ${this.versions.size - 1}`);
    if (version === this.running.version) return;
    for (const listener of this.listeners) await listener(version, triggers);
    this.running = { version, triggers };
  }
}

/** A definition looked up by (name, version) that had to be taken from the current version. */
export interface TriggerFallback {
  trigger: string;
  /** The version asked for. */
  version: number;
  /** The version whose definition was used instead. */
  current: number;
  reason: 'version unavailable' | 'trigger not in version';
  /** The first fallback for this version since it was last found missing: worth a log line. */
  first: boolean;
}

export interface TriggerCatalogOptions {
  /** Called on every fallback (count it; log it when `first`). */
  onFallback?: (fallback: TriggerFallback) => void;
  /** How long a version the source could not give is left alone before it is asked again. */
  retryAfterMs?: number;
  nowMs?: () => number;
}

type ByName = ReadonlyMap<string, TriggerRuntime>;

const byName = (triggers: readonly TriggerRuntime[]): ByName => new Map(triggers.map((t) => [t.name, t]));

/**
 * Trigger definitions by (name, version), for the stream engine: stage 1 matches with the
 * current version's triggers; stage 2 checks an event with the version it was routed under,
 * and counts, fires and expires a stream with the version it was opened with. A version the
 * source cannot give (not read yet, or unloadable here) is stood in for by the current
 * version's definition of the trigger, reported through `onFallback`. Pure.
 */
export class TriggerCatalog implements TriggerLookup {
  private readonly loaded = new Map<number, ByName>();
  /** Versions the source could not give, and when it was last asked. */
  private readonly missing = new Map<number, number>();
  /** Versions whose fallback was reported since they were last found missing. */
  private readonly reported = new Set<number>();
  private running: { version: number; triggers: readonly TriggerRuntime[]; byName: ByName };
  private readonly retryAfterMs: number;
  private readonly nowMs: () => number;

  constructor(
    private readonly source: TriggerVersionSource,
    private readonly options: TriggerCatalogOptions = {},
  ) {
    this.retryAfterMs = options.retryAfterMs ?? 5000;
    this.nowMs = options.nowMs ?? Date.now;
    const { version, triggers } = source.current;
    this.running = { version, triggers, byName: byName(triggers) };
    this.loaded.set(version, this.running.byName);
    source.onChange((next, nextTriggers) => this.switchTo(next, nextTriggers));
  }

  /** The version stage 1 routes under, and its triggers. */
  get current(): { version: number; triggers: readonly TriggerRuntime[] } {
    return this.running;
  }

  /** Stream records taken now name it as their pipeline version. */
  get currentVersion(): number {
    return this.running.version;
  }

  /** Makes `version` current (the source's change listener calls it). */
  switchTo(version: number, triggers: readonly TriggerRuntime[]): void {
    const named = byName(triggers);
    this.loaded.set(version, named);
    this.missing.delete(version);
    this.running = { version, triggers, byName: named };
  }

  /** The definition of `name` in `version` (the current one when no version is given). */
  get(name: string, version: number = this.running.version): TriggerRuntime | undefined {
    const found = this.version(version);
    const trigger = found?.get(name);
    if (trigger) return trigger;
    const standIn = this.running.byName.get(name);
    if (standIn && version !== this.running.version) {
      const reason = found ? 'trigger not in version' : 'version unavailable';
      this.options.onFallback?.({
        trigger: name,
        version,
        current: this.running.version,
        reason,
        first: this.firstFallback(version),
      });
    }
    return standIn;
  }

  private firstFallback(version: number): boolean {
    if (this.reported.has(version)) return false;
    this.reported.add(version);
    return true;
  }

  /** A version's triggers by name, asking the source at most once per retry period when it has none. */
  private version(version: number): ByName | undefined {
    const cached = this.loaded.get(version);
    if (cached) return cached;
    const askedAt = this.missing.get(version);
    const now = this.nowMs();
    if (askedAt !== undefined && now - askedAt < this.retryAfterMs) return undefined;
    const triggers = this.source.triggersOf(version);
    if (!triggers) {
      this.missing.set(version, now);
      return undefined;
    }
    this.missing.delete(version);
    this.reported.delete(version);
    const named = byName(triggers);
    this.loaded.set(version, named);
    return named;
  }
}
