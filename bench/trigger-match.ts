/**
 * Trigger benchmark: what the matcher's stage 1 does per event, for a topology's triggers over
 * the events of the sample corpus, on one core (Node's JS thread).
 *
 *   npm run build && node dist/bench/trigger-match.js [--topology topologies/openstack-usage] [--rounds 7]
 *
 * The notifications are distilled first, outside the timing, with the topology's own event
 * definitions. Timed, per event and trigger: match + distinguishing values + stream key (what
 * the engine's `match` returns), then the same plus the fire-criteria counters.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { isEvent, loadEventDefinitions } from '../src/distiller';
import { WinchesterEvent } from '../src/events/event';
import { loadTriggerDefinitions, TriggerDefinition } from '../src/triggers';
import { runBenchmark } from './support/run';

const ROOT = join(__dirname, '..', '..');
const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const topology = resolve(ROOT, option('--topology', join('topologies', 'openstack-usage')));
const corpus = resolve(ROOT, option('--corpus', join('data', 'notifications-openstack-26h.jsonl.gz')));
const rounds = Number(option('--rounds', '7'));

/** Best rate over the rounds, after two warm-up rounds (JIT): events per second. */
function measure(count: number, body: () => number): number {
  let sink = 0;
  for (let i = 0; i < 2; i++) sink += body();
  let best = Infinity;
  for (let i = 0; i < rounds; i++) {
    const start = process.hrtime.bigint();
    sink += body();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  if (sink < 0) console.log(sink); // keeps the work observable
  return count / best;
}

function main(): void {
  const distiller = loadEventDefinitions(join(topology, 'event_definitions.yaml'));
  const { triggers } = loadTriggerDefinitions(join(topology, 'triggers.yaml'));
  const text = gunzipSync(readFileSync(corpus)).toString('utf8');
  const events: WinchesterEvent[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const result = distiller.distillText(line);
    if (isEvent(result)) events.push(result);
  }
  const n = events.length;

  const matchAndKey = (list: readonly TriggerDefinition[]) => () => {
    let keyed = 0;
    for (let i = 0; i < n; i++) {
      for (const trigger of list) {
        const found = trigger.matchStream(events[i]);
        if (found) keyed += found.key.length > 0 ? 1 : 0;
      }
    }
    return keyed;
  };
  const withFireCounters = (list: readonly TriggerDefinition[]) => () => {
    let counted = 0;
    for (let i = 0; i < n; i++) {
      for (const trigger of list) {
        if (trigger.matchStream(events[i])) counted += trigger.fireCounters(events[i]).length;
      }
    }
    return counted;
  };

  let matched = 0;
  const streams = new Set<string>();
  for (const event of events) {
    for (const trigger of triggers) {
      const found = trigger.matchStream(event);
      if (found) {
        matched++;
        streams.add(found.key);
      }
    }
  }
  for (const t of triggers) t.debug.reset();

  const figures = {
    topology,
    triggers: triggers.map((t) => `${t.name} (debug_level ${t.debugLevel})`),
    events: n,
    matched,
    streams: streams.size,
    rounds,
    node: process.version,
    match_and_key_per_s: Math.round(measure(n, matchAndKey(triggers))),
    match_key_and_fire_counters_per_s: Math.round(measure(n, withFireCounters(triggers))),
  };
  process.stdout.write(
    `${n} events (${matched} matches, ${streams.size} streams) through ${figures.triggers.join(', ')}:\n` +
      `  match + stream key:                  ${figures.match_and_key_per_s.toLocaleString('en')} events/s\n` +
      `  match + stream key + fire counters:  ${figures.match_key_and_fire_counters_per_s.toLocaleString('en')} events/s\n` +
      `${JSON.stringify(figures)}\n`,
  );
}

runBenchmark('bench:triggers', main);
