import { StoredEvent } from '../../src/store/model';
import { Micros } from '../../src/time/micros';

/**
 * The three events of upstream Panko's gabbi `EventDataFixture`
 * (panko/tests/functional/gabbi/fixtures.py), which its api-events-with-data.yaml expects:
 * `cookies_<flavour>` events generated now, each with a string trait `type` and an integer
 * trait `ate`, and the same nested raw notification.
 */
export function gabbiFixtureEvents(now: Micros = Date.now() * 1000): StoredEvent[] {
  return ['chocolate.chip', 'peanut.butter', 'sugar'].map((flavour, ix) => ({
    message_id: `fea1b15a-1d47-4175-85a5-a4bb2c72924${ix}`,
    event_type: `cookies_${flavour}`,
    generated: now,
    traits: [
      { name: 'ate', trait: { type: 'int', value: ix } },
      { name: 'type', trait: { type: 'text', value: flavour } },
    ],
    raw: { nested: { inside: 'value' } },
  }));
}
