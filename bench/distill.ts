/**
 * Distiller benchmark: this distiller against upstream StackDistiller 0.12 on the same corpus,
 * on the same machine, in the same run (one core each: Node's JS thread, CPython's).
 *
 *   npm run bench:distill [-- --rounds 7 --no-upstream --check]
 *
 * (a) JSON text in → event out, against upstream's json.loads + distill;
 * (b) distill only, notifications already parsed, against upstream's distill alone.
 * Targets: (a) ≥ 20,000/s and ≥ 5× upstream, (b) ≥ 20× upstream. `--check` exits 1
 * when one is missed. The upstream side runs scripts/vectors/bench-upstream.sh (a temporary
 * Python virtualenv, created on first use).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { isEvent, loadEventDefinitions } from '../src/distiller';
import { toCanonicalJson } from '../src/events/event';
import { runBenchmark } from './support/run';

const ROOT = join(__dirname, '..', '..');
const DEFINITIONS = join(ROOT, 'topologies', 'openstack-usage', 'event_definitions.yaml');
const CORPUS = join(ROOT, 'data', 'notifications-openstack-26h.jsonl.gz');

interface UpstreamFigures {
  notifications: number;
  rounds: number;
  python: string;
  parse_distill_per_s: number;
  distill_per_s: number;
  json_parse_per_s: number;
}

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const rounds = option('--rounds', 7);

/** Best rate over the rounds, after two warm-up rounds (JIT, caches): notifications per second. */
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

function upstream(): UpstreamFigures | string {
  const script = join(ROOT, 'scripts', 'vectors', 'bench-upstream.sh');
  const run = spawnSync('bash', [script, DEFINITIONS, CORPUS, String(Math.max(3, Math.min(rounds, 5)))], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (run.status !== 0) return `upstream benchmark failed (exit ${run.status ?? run.signal})`;
  try {
    return JSON.parse(run.stdout.trim().split('\n').pop()!) as UpstreamFigures;
  } catch {
    return `upstream benchmark printed no figures: ${run.stdout}`;
  }
}

function main(): number {
  const lines = gunzipSync(readFileSync(CORPUS))
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const parsed = lines.map((l) => JSON.parse(l) as unknown);
  const distiller = loadEventDefinitions(DEFINITIONS);
  const n = lines.length;

  const textToEvent = measure(n, () => {
    let events = 0;
    for (let i = 0; i < n; i++) if (isEvent(distiller.distillText(lines[i]))) events++;
    return events;
  });
  const distillOnly = measure(n, () => {
    let events = 0;
    for (let i = 0; i < n; i++) if (isEvent(distiller.distill(parsed[i]))) events++;
    return events;
  });
  const parseOnly = measure(n, () => {
    let objects = 0;
    for (let i = 0; i < n; i++) if (JSON.parse(lines[i])) objects++;
    return objects;
  });
  const textToCanonical = measure(n, () => {
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const r = distiller.distillText(lines[i]);
      if (isEvent(r)) bytes += toCanonicalJson(r).length;
    }
    return bytes;
  });

  const f = (x: number) => Math.round(x).toLocaleString('en-US').padStart(10);
  const r = (x: number) => `${x.toFixed(1)}×`;
  console.log(`corpus: ${n} notifications (${CORPUS.slice(ROOT.length + 1)}), best of ${rounds} rounds`);
  console.log(`node ${process.version}`);
  console.log('                                      notifications/s');
  console.log(`  this distiller, JSON text → event   ${f(textToEvent)}   (a)`);
  console.log(`  this distiller, distill only        ${f(distillOnly)}   (b)`);
  console.log(`  JSON.parse alone                    ${f(parseOnly)}`);
  console.log(
    `  JSON text → canonical JSON line     ${f(textToCanonical)}   (what winchester distill does per line)`,
  );

  const failures: string[] = [];
  if (textToEvent < 20_000) failures.push(`(a) ${Math.round(textToEvent)}/s is below 20,000/s`);
  if (!flag('--no-upstream')) {
    const up = upstream();
    if (typeof up === 'string') {
      console.log(`  upstream: ${up}`);
      failures.push('no upstream figures to compare with');
    } else {
      const a = textToEvent / up.parse_distill_per_s;
      const b = distillOnly / up.distill_per_s;
      console.log(`  upstream StackDistiller 0.12 on CPython ${up.python}:`);
      console.log(`  upstream, json.loads + distill      ${f(up.parse_distill_per_s)}`);
      console.log(`  upstream, distill only              ${f(up.distill_per_s)}`);
      console.log(`  upstream, json.loads alone          ${f(up.json_parse_per_s)}`);
      console.log('ratios');
      console.log(`  (a) text → event vs json.loads + distill   ${r(a)}   (target ≥ 5×)`);
      console.log(`  (b) distill only vs distill only           ${r(b)}   (target ≥ 20×)`);
      if (a < 5) failures.push(`(a) is ${r(a)} upstream, below 5×`);
      if (b < 20) failures.push(`(b) is ${r(b)} upstream, below 20×`);
    }
  }
  console.log(failures.length ? `targets missed: ${failures.join('; ')}` : 'targets met');
  return flag('--check') && failures.length ? 1 : 0;
}

runBenchmark('bench:distill', main);
