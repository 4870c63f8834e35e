import { newTraits, Trait, WinchesterEvent } from '../../../src/events/event';
import { parseIso8601 } from '../../../src/time/micros';
import { compileTriggerDefinitions, Criteria, formatProblem, TriggerDefinition } from '../../../src/triggers';

/** A datetime trait value, from ISO 8601. */
export const dt = (iso: string): Trait => ({ type: 'datetime', value: parseIso8601(iso)! });
/** A float trait value (a plain JS number would read as an int when integral). */
export const float = (value: number): Trait => ({ type: 'float', value });

let serial = 0;

/**
 * An event like upstream's test dicts: strings are text traits, integers ints, other numbers
 * floats, `dt(...)` datetimes. `timestamp` defaults to 2014-08-01T00:00:00Z.
 */
export function event(
  fields: Record<string, string | number | Trait> & { event_type: string },
): WinchesterEvent {
  const traits = newTraits();
  let timestamp = parseIso8601('2014-08-01T00:00:00Z')!;
  let messageId = `m-${++serial}`;
  for (const [name, value] of Object.entries(fields)) {
    if (name === 'event_type') continue;
    if (name === 'message_id') {
      messageId = String(value);
      continue;
    }
    const trait: Trait =
      typeof value === 'string'
        ? { type: 'text', value }
        : typeof value === 'number'
          ? { type: Number.isInteger(value) ? 'int' : 'float', value }
          : value;
    if (name === 'timestamp') {
      if (trait.type !== 'datetime') throw new Error('timestamp must be dt(...)');
      timestamp = trait.value;
      continue;
    }
    traits[name] = trait;
  }
  return { message_id: messageId, event_type: fields.event_type, timestamp, traits };
}

/** Compiles one trigger from a plain config (as upstream's tests build them); throws on errors. */
export function trigger(config: Record<string, unknown>, pipelines?: string[]): TriggerDefinition {
  const result = compileTriggerDefinitions({ filename: 'test.yaml', value: [config] }, { pipelines });
  if (result.errors.length) throw new Error(result.errors.map(formatProblem).join('\n'));
  return result.triggers[0];
}

/** The errors a plain trigger config produces, as messages. */
export function triggerErrors(config: unknown): string[] {
  return compileTriggerDefinitions({ filename: 'test.yaml', value: [config] }).errors.map((e) => e.message);
}

/** One criterion, compiled as a trigger's only match criterion (upstream's `Criteria(config)`). */
export function criteria(config: Record<string, unknown>): Criteria {
  return trigger({
    name: 'criteria_under_test',
    expiration: '$last + 1d',
    fire_pipeline: 'test_pipeline',
    match_criteria: [config],
    fire_criteria: [{ event_type: 'test.thing' }],
  }).matchCriteria[0];
}
