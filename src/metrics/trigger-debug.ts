import { Counter } from 'prom-client';
import { DebugListener, DebugSnapshot, TriggerDebugger, triggerDebugger } from '../triggers/debug';
import { Logger } from '../util/logger';
import { WinchesterMetrics } from './metrics';

/**
 * Mismatch reasons are mostly fixed strings, but a few carry an evaluation error's text; past
 * this many distinct reasons per trigger the rest share one label value, so a bad trigger
 * cannot grow the series count without bound.
 */
export const MAX_REASON_LABELS = 100;
export const OTHER_REASON = '(other reasons)';

export interface TriggerDebugReporting {
  /** The debuggers reported: triggers whose debug_level is 1 or 2. */
  readonly debuggers: readonly TriggerDebugger[];
  stop(): void;
}

/**
 * Reports the debug_level statistics of the triggers that ask for them, as upstream
 * Winchester's DebugManager did: every count goes to labelled counters as it happens, and
 * every `periodMs` one log line per trigger summarises the period, then its counts restart.
 * Triggers at level 0 get nothing attached, so their match path stays as cheap as before.
 */
export function reportTriggerDebugging(
  triggers: readonly object[],
  options: { log: Logger; periodMs: number; metrics?: WinchesterMetrics },
): TriggerDebugReporting {
  const debuggers = triggers
    .map(triggerDebugger)
    .filter((d): d is TriggerDebugger => d !== undefined && d.enabled);
  if (debuggers.length === 0) return { debuggers, stop: () => undefined };
  const metrics = options.metrics;
  const detach = metrics ? debuggers.map((d) => d.listen(metricsListener(d.trigger, metrics))) : [];
  const timer = setInterval(() => logTriggerDebugging(debuggers, options.log), options.periodMs);
  timer.unref();
  return {
    debuggers,
    stop: () => {
      clearInterval(timer);
      for (const off of detach) off();
    },
  };
}

/** Feeds one trigger's counts into the labelled counters, children cached per label set. */
export function metricsListener(trigger: string, metrics: WinchesterMetrics): DebugListener {
  const checks = new Map<string, { all: Counter.Internal; passed: Counter.Internal }>();
  const reasons = new Map<string, Counter.Internal>();
  const counted = new Map<string, Counter.Internal>();
  const reasonLabels = new Set<string>();
  return {
    checked(group, passed) {
      let c = checks.get(group);
      if (!c) {
        c = {
          all: metrics.triggerChecks.labels({ trigger, group }),
          passed: metrics.triggerChecksPassed.labels({ trigger, group }),
        };
        checks.set(group, c);
      }
      c.all.inc();
      if (passed) c.passed.inc();
    },
    mismatched(group, reason) {
      if (!reasonLabels.has(reason)) {
        if (reasonLabels.size < MAX_REASON_LABELS) reasonLabels.add(reason);
        else reason = OTHER_REASON;
      }
      const key = `${group}\0${reason}`;
      let c = reasons.get(key);
      if (!c) reasons.set(key, (c = metrics.triggerMismatches.labels({ trigger, group, reason })));
      c.inc();
    },
    counted(name, by) {
      let c = counted.get(name);
      if (!c) counted.set(name, (c = metrics.triggerDebugCounts.labels({ trigger, name })));
      c.inc(by);
    },
  };
}

/** One structured line per trigger with the period's counts (reasons at level 2), then a reset. */
export function logTriggerDebugging(debuggers: readonly TriggerDebugger[], log: Logger): void {
  for (const debug of debuggers) {
    const snapshot = debug.snapshot();
    debug.reset();
    const groups: Record<string, Partial<DebugSnapshot['groups'][string]>> = {};
    for (const [name, g] of Object.entries(snapshot.groups)) {
      groups[name] = snapshot.level > 1 ? g : { checks: g.checks, passed: g.passed };
    }
    log.info(
      { trigger: snapshot.trigger, debug_level: snapshot.level, groups, counters: snapshot.counters },
      'trigger debug statistics',
    );
  }
}
