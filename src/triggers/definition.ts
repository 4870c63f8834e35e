import { WinchesterEvent } from '../events/event';
import { DistinguishedValue, DistinguishedValues } from '../streams/model';
import { Micros, MICROS_PER_SECOND } from '../time/micros';
import { TimexError, TimexExpression } from '../timex';
import { Criteria, eventTrait } from './criteria';
import { TriggerDebugger } from './debug';
import { encodeStreamKey } from './stream-key';

/** One entry of `distinguished_by`: a trait name, or `{trait: timex}` to group by e.g. its day. */
export interface DistinguishingTrait {
  readonly name: string;
  /** Evaluated with `$timestamp` bound to the trait's datetime value. */
  readonly expression: TimexExpression | null;
}

/** What match finds for an event: the criterion that took it and the stream it belongs to. */
export interface StreamMatch {
  criterion: Criteria;
  distinguished: DistinguishedValues;
  key: string;
}

/** Why an event did or did not match, criterion by criterion (for `trace` and debug_level 2). */
export interface MatchExplanation {
  matched: Criteria | null;
  /** One entry per criterion tried, in order, up to the one that matched. */
  attempts: Array<{ criterion: Criteria; reason: string | null }>;
}

export interface TriggerDefinitionSpec {
  name: string;
  /** Where the trigger starts in its file. */
  file: string;
  line: number;
  debugLevel: number;
  distinguishedBy: readonly DistinguishingTrait[];
  expiration: TimexExpression;
  fireDelaySeconds: number;
  firePipeline: string | null;
  expirePipeline: string | null;
  matchCriteria: readonly Criteria[];
  fireCriteria: readonly Criteria[];
  loadCriteria: readonly Criteria[];
}

/**
 * A trigger of triggers.yaml, compiled: which events it takes (`match`), which stream each
 * goes to (`streamKey`), when a stream fires (`fireCounters` + `shouldFire`, incremental) and
 * when it expires (`expireAt`). Pure; the stream engine calls it through `triggerRuntime`.
 */
export class TriggerDefinition {
  readonly name: string;
  readonly file: string;
  readonly line: number;
  readonly debugLevel: number;
  readonly distinguishedBy: readonly DistinguishingTrait[];
  readonly expiration: TimexExpression;
  readonly fireDelaySeconds: number;
  readonly firePipeline: string | null;
  readonly expirePipeline: string | null;
  readonly matchCriteria: readonly Criteria[];
  readonly fireCriteria: readonly Criteria[];
  /** Read and checked as upstream did; upstream never used them, nor do we. */
  readonly loadCriteria: readonly Criteria[];
  readonly debug: TriggerDebugger;
  /** The last expiration that could not be computed (see expireAt), for operators. */
  lastExpirationError: string | null = null;

  constructor(spec: TriggerDefinitionSpec) {
    this.name = spec.name;
    this.file = spec.file;
    this.line = spec.line;
    this.debugLevel = spec.debugLevel;
    this.distinguishedBy = spec.distinguishedBy;
    this.expiration = spec.expiration;
    this.fireDelaySeconds = spec.fireDelaySeconds;
    this.firePipeline = spec.firePipeline;
    this.expirePipeline = spec.expirePipeline;
    this.matchCriteria = spec.matchCriteria;
    this.fireCriteria = spec.fireCriteria;
    this.loadCriteria = spec.loadCriteria;
    this.debug = new TriggerDebugger(spec.name, spec.debugLevel);
  }

  /**
   * The first match criterion that takes the event, or undefined. A criterion takes an event
   * when its checks hold and the event carries every distinguishing trait under the
   * criterion's `map_distinguished_by` (so a criterion whose mapped trait is missing leaves
   * the event to the next one; upstream crashed there).
   */
  match(event: WinchesterEvent): Criteria | undefined {
    return this.matchStream(event)?.criterion;
  }

  /** match + distinguishing values + stream key in one pass: what the matcher needs per event. */
  matchStream(event: WinchesterEvent): StreamMatch | undefined {
    const group = this.debug.enabled ? this.debug.group('Match') : null;
    for (const criterion of this.matchCriteria) {
      const outcome = this.attempt(criterion, event);
      if (typeof outcome === 'string') {
        group?.mismatch(outcome);
        continue;
      }
      group?.match();
      return { criterion, distinguished: outcome, key: encodeStreamKey(this.name, outcome) };
    }
    group?.mismatch('No matching criteria');
    return undefined;
  }

  /** Every criterion's verdict on the event, whatever the debug level. */
  explainMatch(event: WinchesterEvent): MatchExplanation {
    const attempts: MatchExplanation['attempts'] = [];
    for (const criterion of this.matchCriteria) {
      const outcome = this.attempt(criterion, event);
      const reason = typeof outcome === 'string' ? outcome : null;
      attempts.push({ criterion, reason });
      if (reason === null) return { matched: criterion, attempts };
    }
    return { matched: null, attempts };
  }

  /**
   * The event's distinguishing values under a criterion's mapping, keyed by the names in
   * `distinguished_by`; undefined when the event lacks one (or a grouped one is not a datetime).
   */
  distinguishingValues(event: WinchesterEvent, criterion: Criteria): DistinguishedValues | undefined {
    const values = this.valuesFor(event, criterion);
    return typeof values === 'string' ? undefined : values;
  }

  /** The canonical key of the event's stream (see encodeStreamKey), or undefined as above. */
  streamKey(event: WinchesterEvent, criterion: Criteria): string | undefined {
    const values = this.distinguishingValues(event, criterion);
    return values === undefined ? undefined : encodeStreamKey(this.name, values);
  }

  /** Indexes of the fire criteria this event counts towards; a stream keeps one counter per criterion. */
  fireCounters(event: WinchesterEvent): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.fireCriteria.length; i++) {
      if (this.fireCriteria[i].test(event) === null) out.push(i);
    }
    return out;
  }

  /** Whether counters (events matching each fire criterion) reach every criterion's `number`. */
  shouldFire(counters: readonly number[]): boolean {
    const group = this.debug.enabled ? this.debug.group('Fire') : null;
    for (let i = 0; i < this.fireCriteria.length; i++) {
      if ((counters[i] ?? 0) < this.fireCriteria[i].number) {
        group?.mismatch('Not enough matching criteria');
        return false;
      }
    }
    group?.match();
    return true;
  }

  /**
   * Upstream's `should_fire`, recomputed over all of a stream's events. The engine uses the
   * incremental `fireCounters` + `shouldFire`; this is the reference they are proven against.
   */
  shouldFireRecompute(events: readonly WinchesterEvent[]): boolean {
    for (const criterion of this.fireCriteria) {
      let matches = 0;
      for (const event of events) {
        if (criterion.matches(event)) {
          matches++;
          if (matches >= criterion.number) break;
        }
      }
      if (matches < criterion.number) return false;
    }
    return true;
  }

  /**
   * When a stream expires: `expiration` with `$first`, `$last` and `$timestamp` (the clock's
   * now, which upstream left to utcnow); a range gives its begin. An expression that cannot be
   * computed for these times (`$last @ 31d` in a short month) expires the stream at `last`
   * rather than stall the matcher; the error is kept in `lastExpirationError` and counted.
   */
  expireAt(first: Micros, last: Micros, now: Micros): Micros {
    try {
      return this.expiration.evaluate({ first, last, timestamp: now }).timestamp;
    } catch (error) {
      if (!(error instanceof TimexError)) throw error;
      this.lastExpirationError = `${this.expiration.source}: ${error.message}`;
      this.debug.bump('Expiration errors');
      return last;
    }
  }

  /** When a stream that became ready to fire at `ready` fires: `fire_delay` seconds later. */
  fireAt(ready: Micros): Micros {
    return ready + Math.round(this.fireDelaySeconds * MICROS_PER_SECOND);
  }

  private attempt(criterion: Criteria, event: WinchesterEvent): string | DistinguishedValues {
    const reason = criterion.test(event);
    if (reason !== null) return reason;
    return this.valuesFor(event, criterion);
  }

  private valuesFor(event: WinchesterEvent, criterion: Criteria): string | DistinguishedValues {
    const values = Object.create(null) as DistinguishedValues; // trait names are data, `__proto__` too
    for (const spec of this.distinguishedBy) {
      const source = criterion.mapDistinguishedBy.get(spec.name) ?? spec.name;
      const trait = eventTrait(event, source);
      if (trait === undefined) return `not '${source}'`;
      let value: DistinguishedValue;
      if (spec.expression === null) {
        value = { type: trait.type, value: trait.value };
      } else {
        if (trait.type !== 'datetime') return `'${source}' is not a datetime`;
        try {
          const grouped = spec.expression.evaluate({ timestamp: trait.value });
          value = grouped.isRange
            ? { begin: grouped.begin, end: grouped.end }
            : { type: 'datetime', value: grouped.timestamp };
        } catch (error) {
          if (!(error instanceof TimexError)) throw error;
          return `${spec.name}: ${error.message}`;
        }
      }
      values[spec.name] = value;
    }
    return values;
  }
}
