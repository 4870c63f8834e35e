import { newTraits, Trait, TraitType, WinchesterEvent } from './event';

/**
 * The JSON wire form of an event on Kafka and in Redis: traits keep their types
 * (`{"name": ["int", 5]}`), times are integer microseconds. Decoding validates every
 * field and builds prototype-less trait objects.
 */
export interface WireEvent {
  message_id: string;
  event_type: string;
  timestamp: number;
  traits: Record<string, [TraitType, string | number]>;
  hops?: number;
}

export class WireFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireFormatError';
  }
}

export function toWire(event: WinchesterEvent): WireEvent {
  // No prototype: a trait named `__proto__` is a plain own property here.
  const traits = Object.create(null) as Record<string, [TraitType, string | number]>;
  for (const name of Object.keys(event.traits)) {
    const trait = event.traits[name];
    traits[name] = [trait.type, trait.value];
  }
  const wire: WireEvent = {
    message_id: event.message_id,
    event_type: event.event_type,
    timestamp: event.timestamp,
    traits,
  };
  if (event.hops) wire.hops = event.hops;
  return wire;
}

export function encodeEvent(event: WinchesterEvent): string {
  return JSON.stringify(toWire(event));
}

const TRAIT_TYPES = new Set<TraitType>(['text', 'int', 'float', 'datetime']);

export function fromWire(raw: unknown): WinchesterEvent {
  if (typeof raw !== 'object' || raw === null) throw new WireFormatError('event is not an object');
  const r = raw as Record<string, unknown>;
  if (typeof r.message_id !== 'string' || r.message_id === '')
    throw new WireFormatError('event has no message_id');
  if (typeof r.event_type !== 'string') throw new WireFormatError(`event ${r.message_id} has no event_type`);
  if (typeof r.timestamp !== 'number' || !Number.isSafeInteger(r.timestamp)) {
    throw new WireFormatError(`event ${r.message_id} has no integer microsecond timestamp`);
  }
  const traits = newTraits();
  const rawTraits = r.traits;
  if (rawTraits !== undefined) {
    if (typeof rawTraits !== 'object' || rawTraits === null) {
      throw new WireFormatError(`event ${r.message_id}: traits is not an object`);
    }
    for (const [name, pair] of Object.entries(rawTraits as Record<string, unknown>)) {
      if (!Array.isArray(pair) || pair.length !== 2 || !TRAIT_TYPES.has(pair[0] as TraitType)) {
        throw new WireFormatError(`event ${r.message_id}: trait ${name} is not [type, value]`);
      }
      const [type, value] = pair as [TraitType, unknown];
      if (type === 'text' ? typeof value !== 'string' : typeof value !== 'number') {
        throw new WireFormatError(
          `event ${r.message_id}: trait ${name} has a ${typeof value} for type ${type}`,
        );
      }
      traits[name] = { type, value } as Trait;
    }
  }
  const event: WinchesterEvent = {
    message_id: r.message_id,
    event_type: r.event_type,
    timestamp: r.timestamp,
    traits,
  };
  if (typeof r.hops === 'number' && r.hops > 0) event.hops = r.hops;
  return event;
}

export function decodeEvent(text: string): WinchesterEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new WireFormatError(`event is not JSON: ${(error as Error).message}`);
  }
  return fromWire(parsed);
}
