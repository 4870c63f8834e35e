import { newTraits, WinchesterEvent } from '../events/event';
import { Micros, parseIso8601Python } from '../time/micros';
import { CompiledDefinitions, ConfigWarning, EventDefinition, PluginFailure } from './definitions';
import { CompiledTrait } from './runner';
import { parseJsonExact } from './exact-json';
import { PathFailure } from './jsonpath';
import {
  DistillDropped,
  DistillError,
  DistillErrorCategory,
  DistillOutcome,
  DistillResult,
  DistillStats,
  DropReason,
  isEvent,
  newDistillStats,
} from './outcome';
import { ConversionFailure, isDict, KEY_ORDER, NeedExactJson, numberReading, pyTypeName } from './python';

export interface DistillerOptions {
  /** The time of a notification with neither `timestamp` nor `_context_timestamp` (upstream: now). */
  now?: () => Micros;
}

const hasOwn = Object.prototype.hasOwnProperty;
/** Event types seen are few; the cache is bounded so a stream of garbage types cannot grow it forever. */
const TYPE_CACHE_LIMIT = 10_000;
/** Longer event types are matched without being cached, so the cache's memory stays small too. */
const TYPE_CACHE_MAX_LENGTH = 256;
/** A reason is for a person and a DLQ header: it quotes at most this much of the bad input. */
const DETAIL_MAX_CHARS = 1000;

/** Input quoted in a reason: whole when short, else its head and its length. */
const QUOTE_MAX_CHARS = 100;
function quoted(text: string): string {
  if (text.length <= QUOTE_MAX_CHARS) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, QUOTE_MAX_CHARS))}… (${text.length} characters)`;
}

function describeType(v: unknown): string {
  if (v === undefined) return 'nothing (missing)';
  const name = pyTypeName(v) === 'NoneType' ? 'null' : pyTypeName(v);
  return `${/^[aeiou]/.test(name) ? 'an' : 'a'} ${name}`;
}

/**
 * Turns notifications into flat events with StackDistiller's event definitions. Pure and
 * synchronous; every outcome is returned, nothing is thrown: an event, a `DistillDropped`
 * (no definition matches, or no trait has a value) or a `DistillError` (for the DLQ).
 */
export class Distiller {
  /** In priority order: the file's last definition first, the catch-all (if any) last. */
  readonly definitions: readonly EventDefinition[];
  readonly warnings: readonly ConfigWarning[];
  readonly stats: DistillStats = newDistillStats();
  private readonly now: () => Micros;
  private readonly byEventType = new Map<string, EventDefinition | null>();

  constructor(compiled: CompiledDefinitions, options: DistillerOptions = {}) {
    this.definitions = compiled.definitions;
    this.warnings = compiled.warnings;
    this.now = options.now ?? (() => Date.now() * 1000);
  }

  /** The definition that handles an event type (the last matching one in the file), if any. */
  definitionFor(eventType: string): EventDefinition | undefined {
    let found = this.byEventType.get(eventType);
    if (found === undefined) {
      found = this.definitions.find((d) => d.matchesType(eventType)) ?? null;
      if (eventType.length > TYPE_CACHE_MAX_LENGTH) return found ?? undefined;
      if (this.byEventType.size >= TYPE_CACHE_LIMIT) this.byEventType.clear();
      this.byEventType.set(eventType, found);
    }
    return found ?? undefined;
  }

  /**
   * Distills one notification given as JSON text: plain OpenStack JSON, or the oslo.messaging
   * v2 envelope (`{"oslo.version": "2.0", "oslo.message": "<json>"}`). Exact: a value whose
   * Python reading JSON.parse cannot tell (`5.0` as text) is settled by re-reading the text.
   */
  distillText(text: string): DistillResult {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      return this.error('invalid-json', `not JSON: ${(error as Error).message}`);
    }
    return this.guarded(body, text, true);
  }

  /**
   * Distills one notification already parsed into a JS value (not modified). Integral numbers
   * count as Python ints and keys keep JS's order; give the text to `distillText` when a float
   * such as `5.0` distilled as text must read `5.0`.
   */
  distill(notification: unknown): DistillResult {
    return this.guarded(notification, undefined, false);
  }

  /** `distillText`, tagged as the distiller role consumes it. */
  outcome(text: string): DistillOutcome {
    const result = this.distillText(text);
    return isEvent(result) ? { kind: 'event', event: result } : result;
  }

  private guarded(body: unknown, text: string | undefined, owned: boolean): DistillResult {
    const saved = { ...numberReading };
    try {
      return this.run(body, text, owned);
    } catch (error) {
      return this.error('internal', error instanceof Error ? error.message : String(error));
    } finally {
      numberReading.fast = saved.fast;
      numberReading.exact = saved.exact;
    }
  }

  private run(body: unknown, text: string | undefined, owned: boolean): DistillResult {
    if (isDict(body) && hasOwn.call(body, 'oslo.message')) {
      const inner = body['oslo.message'];
      const version = body['oslo.version'];
      if (typeof inner !== 'string') {
        return this.error(
          'invalid-notification',
          `oslo.message must be a JSON string, found ${describeType(inner)}`,
        );
      }
      if (version !== undefined && version !== '2.0') {
        return this.error(
          'invalid-notification',
          `unsupported oslo.version ${JSON.stringify(version)} (expected "2.0")`,
        );
      }
      try {
        body = JSON.parse(inner);
      } catch (error) {
        return this.error('invalid-json', `oslo.message is not JSON: ${(error as Error).message}`);
      }
      text = inner;
      owned = true;
    }
    numberReading.fast = text !== undefined;
    numberReading.exact = false;
    try {
      return this.build(flattenContext(body, owned));
    } catch (error) {
      if (error !== NeedExactJson.instance || text === undefined) throw error;
    }
    numberReading.fast = false;
    numberReading.exact = true;
    let exact: unknown;
    try {
      exact = parseJsonExact(text);
    } catch (error) {
      // JSON.parse accepted the text, so only the exact parser's nesting limit can refuse it.
      return this.error('invalid-json', (error as Error).message);
    }
    return this.build(flattenContext(exact, true));
  }

  private build(body: unknown): DistillResult {
    if (!isDict(body)) {
      return this.error(
        'invalid-notification',
        `a notification must be a JSON object, found ${describeType(body)}`,
      );
    }
    const eventType = body.event_type;
    const messageId = body.message_id;
    const knownId = typeof messageId === 'string' && messageId !== '' ? messageId : undefined;
    const knownType = typeof eventType === 'string' && eventType !== '' ? eventType : undefined;
    if (knownType === undefined) {
      const found = eventType === '' ? 'an empty string' : describeType(eventType);
      return this.error(
        'invalid-notification',
        `event_type must be a non-empty string, found ${found}`,
        knownId,
      );
    }
    if (knownId === undefined) {
      const found = messageId === '' ? 'an empty string' : describeType(messageId);
      return this.error(
        'invalid-notification',
        `message_id must be a non-empty string, found ${found}`,
        undefined,
        knownType,
      );
    }
    const definition = this.definitionFor(knownType);
    if (!definition) return this.dropped('unmatched', knownId, knownType);

    const timestamp = this.eventTime(body, knownId, knownType);
    if (typeof timestamp !== 'number') return timestamp;

    const traits = newTraits();
    let count: number;
    try {
      count = definition.runTraits(body, traits);
    } catch (error) {
      if (error === NeedExactJson.instance) throw error;
      return this.traitError(definition, body, error, knownId, knownType);
    }
    if (count === 0) return this.dropped('no-traits', knownId, knownType);
    this.stats.distilled++;
    const event: WinchesterEvent = { message_id: knownId, event_type: knownType, timestamp, traits };
    return event;
  }

  /**
   * Turns what a trait threw into a DistillError naming the trait. The generated runner does not
   * track which trait it is on (that would cost every event); the traits are re-run one by one
   * instead, and the first to throw is the one: extraction and conversion are deterministic.
   */
  private traitError(
    definition: EventDefinition,
    body: unknown,
    error: unknown,
    messageId: string,
    eventType: string,
  ): DistillError {
    let culprit: CompiledTrait | undefined;
    for (const t of definition.traits) {
      try {
        const raw = t.extract(body);
        if (raw !== undefined && raw !== null && (raw !== '' || t.type === 'text')) t.convert(raw);
      } catch (again) {
        if (again === NeedExactJson.instance) throw again;
        culprit = t;
        error = again;
        break;
      }
    }
    if (error === NeedExactJson.instance) throw error;
    const t = culprit;
    if (t && error instanceof ConversionFailure) {
      return this.error(
        'conversion',
        `trait ${t.name} (${t.type}): ${error.reason}`,
        messageId,
        eventType,
        t.name,
      );
    }
    if (t && error instanceof PathFailure) {
      const fields = t.fields.join(' | ');
      return this.error(
        'path',
        `trait ${t.name}: fields ${fields}: ${error.reason}`,
        messageId,
        eventType,
        t.name,
      );
    }
    if (t && error instanceof PluginFailure) {
      const cause = error.error instanceof Error ? error.error.message : String(error.error);
      return this.error(
        'plugin',
        `trait ${t.name}: plugin ${error.plugin} failed: ${cause}`,
        messageId,
        eventType,
        t.name,
      );
    }
    throw error;
  }

  /** `timestamp`, else `_context_timestamp`, else now; a present but empty or bad one is an error. */
  private eventTime(
    body: Record<string, unknown>,
    messageId: string,
    eventType: string,
  ): Micros | DistillError {
    let field = 'timestamp';
    if (!hasOwn.call(body, field)) {
      field = '_context_timestamp';
      if (!hasOwn.call(body, field)) return this.now();
    }
    const raw = body[field];
    if (raw === null || raw === '') {
      // Upstream used "now" here; under the event clock that would drag time forward.
      return this.error('invalid-timestamp', `${field} is present but empty`, messageId, eventType);
    }
    if (typeof raw !== 'string') {
      return this.error(
        'invalid-timestamp',
        `${field} must be a string, found ${describeType(raw)}`,
        messageId,
        eventType,
      );
    }
    const t = parseIso8601Python(raw);
    if (typeof t === 'string') {
      // The parser's reason quotes the text again: a long one is shown once, shortened.
      const why = raw.length > QUOTE_MAX_CHARS ? t.split(raw).join('…') : t;
      return this.error('invalid-timestamp', `${field} ${quoted(raw)}: ${why}`, messageId, eventType);
    }
    if (!Number.isSafeInteger(t)) {
      // Valid for Python (whole seconds), but events carry exact microseconds (events/wire.ts).
      return this.error(
        'invalid-timestamp',
        `${field} ${quoted(raw)}: an event time must fall between 1684 and 2255 (microseconds since the epoch within ±2^53)`,
        messageId,
        eventType,
      );
    }
    return t;
  }

  private error(
    category: DistillErrorCategory,
    detail: string,
    messageId?: string,
    eventType?: string,
    trait?: string,
  ): DistillError {
    this.stats.errors[category]++;
    if (detail.length > DETAIL_MAX_CHARS) detail = `${detail.slice(0, DETAIL_MAX_CHARS - 1)}…`;
    return new DistillError(category, detail, messageId, eventType, trait);
  }

  private dropped(reason: DropReason, messageId: string, eventType: string): DistillDropped {
    this.stats.dropped[reason]++;
    return new DistillDropped(reason, messageId, eventType);
  }
}

/**
 * OpenStack's Kafka driver nests the request context under `_context`; definitions written for
 * the AMQP format read `_context_<key>`. Adds those keys (an existing top-level key wins).
 */
function flattenContext(body: unknown, owned: boolean): unknown {
  if (!isDict(body) || !hasOwn.call(body, '_context')) return body;
  const context = body._context;
  if (!isDict(context)) return body;
  const out: Record<string, unknown> = owned ? body : { ...body };
  const order = (out as { [KEY_ORDER]?: string[] })[KEY_ORDER];
  for (const key of Object.keys(context)) {
    const name = `_context_${key}`;
    if (hasOwn.call(out, name)) continue;
    Object.defineProperty(out, name, {
      value: context[key],
      enumerable: true,
      writable: true,
      configurable: true,
    });
    order?.push(name);
  }
  return out;
}
