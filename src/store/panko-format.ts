import { pyDatetimeText, pyTraitText } from '../distiller/python';
import { Trait } from '../events/event';
import { Micros } from '../time/micros';
import { NamedTrait, PANKO_TYPE_OF, PankoTraitType, StoredEvent, TraitDescription } from './model';

/**
 * The shapes Panko's /v2 API answers with, for the API and the `winchester events` commands
 * alike: keys in Panko's order, every trait value a string written as Python writes it.
 */

export interface PankoTrait {
  name: string;
  value: string;
  type: PankoTraitType;
}

export interface PankoEvent {
  message_id: string;
  event_type: string;
  traits: PankoTrait[];
  generated: string;
  raw: unknown;
}

export interface PankoTraitDescription {
  type: PankoTraitType;
  name: string;
}

/** Python's `isoformat()` of a naive UTC datetime (`2020-01-01T00:00:00`, `…T00:00:00.123456`). */
export const pankoDatetime = (t: Micros): string => pyDatetimeText(t, 'T');

/** A trait value as Panko prints it: str() of an int, repr() of a float, isoformat() of a datetime. */
export const pankoTraitValue = (trait: Trait): string => pyTraitText(trait, 'T');

export function pankoTrait({ name, trait }: NamedTrait): PankoTrait {
  return { name, value: pankoTraitValue(trait), type: PANKO_TYPE_OF[trait.type] };
}

export function pankoEvent(event: StoredEvent): PankoEvent {
  return {
    message_id: event.message_id,
    event_type: event.event_type,
    traits: event.traits.map(pankoTrait),
    generated: pankoDatetime(event.generated),
    raw: event.raw ?? null,
  };
}

export function pankoTraitDescription({ name, type }: TraitDescription): PankoTraitDescription {
  return { type: PANKO_TYPE_OF[type], name };
}
