import { WinchesterEvent } from '../../../src/events/event';
import { MICROS_PER_DAY, MICROS_PER_HOUR } from '../../../src/time/micros';
import { compileTriggerDefinitions, formatProblem } from '../../../src/triggers';
import { dt, event } from './helpers';

/*
 * Property: the incremental fire check (one counter per fire criterion, bumped by
 * `fireCounters` as events arrive, judged by `shouldFire`) decides exactly as Winchester's
 * `should_fire`, which re-reads every event of the stream each time — after every event of
 * every random sequence. The reference below is written from upstream's definition.py
 * directly on the generated config (its own glob, operator and time-range logic), so it also
 * checks that criteria match what the config says.
 */

/** mulberry32: small, fast, seeded. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Op = '=' | '!=' | '>' | '<' | '>=' | '<=';
interface CriterionConfig {
  event_type?: string | string[];
  number?: number;
  timestamp?: string;
  traits?: Record<string, unknown>;
}

const EVENT_TYPES = [
  'compute.instance.create.start',
  'compute.instance.create.end',
  'compute.instance.exists',
  'compute.instance.exist5',
  'compute.instance.delete.end',
  'image.upload',
  'image.delete',
];
const GLOBS = [
  'compute.instance.*',
  'compute.instance.exists',
  '!compute.instance.exists',
  'compute.instance.?xists',
  '*',
  'image.*',
  '!image.delete',
  '!compute.instance.create.*',
];
const OPS: Op[] = ['=', '!=', '>', '<', '>=', '<='];
const BASE = dt('2014-08-01T00:00:00Z').value as number;

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

function randomCriterion(random: () => number): CriterionConfig {
  const config: CriterionConfig = {};
  const r = random();
  if (r < 0.45) config.event_type = pick(random, GLOBS);
  else if (r < 0.85) config.event_type = [pick(random, GLOBS), pick(random, GLOBS)];
  if (random() < 0.6) config.number = Math.floor(random() * 4);
  if (random() < 0.2) config.timestamp = 'day($launched_at)';
  if (random() < 0.5) {
    const traits: Record<string, unknown> = {};
    if (random() < 0.5)
      traits.memory_mb = random() < 0.3 ? 2 : { int: `${pick(random, OPS)} ${Math.floor(random() * 5)}` };
    if (random() < 0.3) traits.weight = { float: `${pick(random, OPS)} ${(random() * 2).toFixed(1)}` };
    if (random() < 0.3) traits.state = pick(random, ['active', 'deleted']);
    config.traits = traits;
  }
  return config;
}

function randomEvent(random: () => number, index: number): WinchesterEvent {
  const fields: Parameters<typeof event>[0] = {
    event_type: pick(random, EVENT_TYPES),
    timestamp: { type: 'datetime', value: BASE + Math.floor(random() * 3 * MICROS_PER_DAY) },
    message_id: `e${index}`,
  };
  if (random() < 0.8) fields.memory_mb = Math.floor(random() * 5);
  if (random() < 0.5) fields.weight = { type: 'float', value: Math.round(random() * 20) / 10 };
  if (random() < 0.5) fields.state = pick(random, ['active', 'deleted', 'building']);
  if (random() < 0.6)
    fields.launched_at = { type: 'datetime', value: BASE + Math.floor(random() * 72) * MICROS_PER_HOUR };
  return event(fields);
}

// --- the reference: upstream's semantics, restated ------------------------------------------

function globMatches(pattern: string, text: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${regex}$`).test(text);
}

function compare(op: Op, a: number, b: number): boolean {
  return { '=': a === b, '!=': a !== b, '>': a > b, '<': a < b, '>=': a >= b, '<=': a <= b }[op];
}

function referenceMatches(config: CriterionConfig, e: WinchesterEvent): boolean {
  const types = config.event_type === undefined ? ['*'] : ([] as string[]).concat(config.event_type);
  const included = types.filter((t) => !t.startsWith('!'));
  const excluded = types.filter((t) => t.startsWith('!')).map((t) => t.slice(1));
  if (included.length === 0) included.push('*');
  if (
    !included.some((p) => globMatches(p, e.event_type)) ||
    excluded.some((p) => globMatches(p, e.event_type))
  ) {
    return false;
  }
  if (config.timestamp) {
    const launched = e.traits.launched_at;
    if (!launched || launched.type !== 'datetime') return false;
    const dayStart = Math.floor(launched.value / MICROS_PER_DAY) * MICROS_PER_DAY;
    if (!(e.timestamp >= dayStart && e.timestamp < dayStart + MICROS_PER_DAY)) return false;
  }
  for (const [name, criterion] of Object.entries(config.traits ?? {})) {
    const trait = e.traits[name];
    if (!trait) return false;
    if (typeof criterion === 'object' && criterion !== null) {
      const [op, value] = String(Object.values(criterion)[0]).split(' ');
      if (typeof trait.value !== 'number' || trait.type === 'datetime') return false;
      if (!compare(op as Op, trait.value, Number(value))) return false;
    } else if (trait.value !== criterion) {
      return false;
    }
  }
  return true;
}

/** Upstream's should_fire, over the whole stream. */
function referenceShouldFire(criteria: CriterionConfig[], events: WinchesterEvent[]): boolean {
  for (const c of criteria) {
    const number = c.number ?? 1;
    let matches = 0;
    for (const e of events) {
      if (referenceMatches(c, e)) {
        matches++;
        if (matches >= number) break;
      }
    }
    if (matches < number) return false;
  }
  return true;
}

describe('incremental fire check ≡ recompute-all should_fire', () => {
  it('agrees after every event of 12,000 random sequences', () => {
    const random = rng(20260322);
    let sequences = 0;
    let checks = 0;
    let fired = 0;
    for (let s = 0; s < 12_000; s++) {
      const fireCriteria = Array.from({ length: 1 + Math.floor(random() * 3) }, () =>
        randomCriterion(random),
      );
      const compiled = compileTriggerDefinitions({
        filename: 'property.yaml',
        value: [
          {
            name: `t${s}`,
            expiration: '$last + 1h',
            fire_pipeline: 'p',
            match_criteria: [{}],
            fire_criteria: fireCriteria,
          },
        ],
      });
      if (compiled.errors.length) throw new Error(compiled.errors.map(formatProblem).join('\n'));
      const trigger = compiled.triggers[0];
      const length = Math.floor(random() * 14);
      const events: WinchesterEvent[] = [];
      const counters = new Array<number>(trigger.fireCriteria.length).fill(0);
      // the empty stream first: number 0 criteria hold with no events at all
      expect(trigger.shouldFire(counters)).toBe(referenceShouldFire(fireCriteria, events));
      let firedAt = -1;
      for (let i = 0; i < length; i++) {
        const e = randomEvent(random, i);
        events.push(e);
        for (const index of trigger.fireCounters(e)) counters[index]++;
        const incremental = trigger.shouldFire(counters);
        const recomputed = trigger.shouldFireRecompute(events);
        const reference = referenceShouldFire(fireCriteria, events);
        if (incremental !== reference || recomputed !== reference) {
          throw new Error(
            `sequence ${s}, after event ${i}: incremental ${incremental}, recompute ${recomputed}, ` +
              `reference ${reference}\ncriteria ${JSON.stringify(fireCriteria)}\ncounters ${JSON.stringify(counters)}`,
          );
        }
        if (incremental && firedAt < 0) firedAt = i;
        checks++;
      }
      if (firedAt >= 0) fired++;
      sequences++;
    }
    expect(sequences).toBeGreaterThanOrEqual(10_000);
    expect(checks).toBeGreaterThan(60_000);
    // the generator must exercise both outcomes, or the property says little
    expect(fired).toBeGreaterThan(sequences / 10);
    expect(sequences - fired).toBeGreaterThan(sequences / 10);
  });
});
