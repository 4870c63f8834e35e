import { Micros, formatMicros } from '../time/micros';

/** Trait types of StackDistiller's event definitions. */
export type TraitType = 'text' | 'int' | 'float' | 'datetime';

/** A typed trait value; a datetime's value is microseconds since the epoch (UTC). */
export type Trait =
  | { type: 'text'; value: string }
  | { type: 'int'; value: number }
  | { type: 'float'; value: number }
  | { type: 'datetime'; value: Micros };

/**
 * A flat event: what the distiller makes of one notification and what triggers match.
 * `traits` is a prototype-less object so keys such as `__proto__` are plain data.
 */
export interface WinchesterEvent {
  message_id: string;
  event_type: string;
  timestamp: Micros;
  traits: Record<string, Trait>;
  /** Pipeline generations behind this event (0 or absent for distilled ones): the loop guard. */
  hops?: number;
}

export function newTraits(): Record<string, Trait> {
  return Object.create(null) as Record<string, Trait>;
}

/**
 * Canonical event JSON: one flat object with `message_id`, `event_type`, `timestamp`, then
 * the traits in name order (JS string order); datetimes as `YYYY-MM-DDTHH:MM:SS.ffffffZ`, ints
 * as JSON integers, floats as JSON numbers that read back as floats: an integral one keeps a
 * `.0` (`5.0`, `-0.0`, `123456789012345680000.0`) unless JS writes it with an exponent (`1e+21`).
 * Traits named like the envelope fields are left out: the envelope's values win.
 */
export function toCanonicalJson(event: WinchesterEvent): string {
  const parts = [
    `"message_id":${JSON.stringify(event.message_id)}`,
    `"event_type":${JSON.stringify(event.event_type)}`,
    `"timestamp":"${formatMicros(event.timestamp)}"`,
  ];
  for (const name of Object.keys(event.traits).sort()) {
    if (name === 'message_id' || name === 'event_type' || name === 'timestamp') continue;
    parts.push(`${JSON.stringify(name)}:${canonicalTraitValue(event.traits[name])}`);
  }
  return `{${parts.join(',')}}`;
}

export function canonicalTraitValue(trait: Trait): string {
  switch (trait.type) {
    case 'text':
      return JSON.stringify(trait.value);
    case 'int':
      return String(trait.value);
    case 'float': {
      // Not JSON numbers; the distiller never produces them, other sources might.
      if (!Number.isFinite(trait.value)) return JSON.stringify(String(trait.value));
      if (Object.is(trait.value, -0)) return '-0.0';
      const text = String(trait.value);
      return Number.isInteger(trait.value) && !text.includes('e') ? `${text}.0` : text;
    }
    case 'datetime':
      return `"${formatMicros(trait.value)}"`;
  }
}

/** The value a criterion or a distinguishing trait sees: the trait's plain value. */
export function traitValue(event: WinchesterEvent, name: string): string | number | undefined {
  if (name === 'message_id') return event.message_id;
  if (name === 'event_type') return event.event_type;
  if (name === 'timestamp') return event.timestamp;
  return event.traits[name]?.value;
}
