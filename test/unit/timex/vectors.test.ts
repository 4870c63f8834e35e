import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  applyOperation,
  Duration,
  durationLess,
  Operator,
  parseTimex,
  PinUnit,
  sumDurations,
  TimexError,
  TimexRange,
  TimexTimestamp,
  TimexValue,
} from '../../../src/timex';
import { formatMicros, Micros, parseIso8601 } from '../../../src/time/micros';

/*
 * The vectors of test/vectors/timex/vectors.json: upstream's own test cases and ours, with
 * upstream timex's answers (basis "upstream") or, where upstream crashes or we differ on
 * purpose, upstream patched with our rules (basis "defined"). scripts/vectors/make-timex-vectors.sh
 * makes them.
 */

type Expected =
  | { timestamp: string; contains?: boolean[] }
  | { begin: string; end: string; pinned?: { at: string; unit: PinUnit }; contains?: boolean[] }
  | { error: 'parse' | 'variable' | 'eval' };

interface Common {
  name: string;
  from: string;
  probes?: string[];
  basis: 'upstream' | 'defined';
  expect: Expected;
  why?: string[];
}
interface ExpressionVector extends Common {
  expr: string;
  vars: Record<string, string>;
}
interface OperationVector extends Common {
  value: { timestamp: string } | { begin: string; end: string; pinned?: { at: string; unit: PinUnit } };
  op: Operator;
  duration: Duration;
}
interface Vectors {
  expressions: ExpressionVector[];
  operations: OperationVector[];
  duration_comparisons: { name: string; a: Duration; b: Duration; lt: boolean; gt: boolean }[];
  duration_sums: { name: string; terms: Duration[]; sum: Duration }[];
}

const vectors = JSON.parse(
  readFileSync(join(__dirname, '..', '..', 'vectors', 'timex', 'vectors.json'), 'utf8'),
) as Vectors;

const micros = (iso: string): Micros => {
  const t = parseIso8601(iso);
  if (t === undefined) throw new Error(`bad datetime in vectors: ${iso}`);
  return t;
};

function describeValue(value: TimexValue, probes: string[] | undefined): Expected {
  const contains = probes?.length ? { contains: probes.map((p) => value.contains(micros(p))) } : {};
  if (!value.isRange) return { timestamp: formatMicros(value.timestamp), ...contains };
  const pinned = value.pin ? { pinned: { at: formatMicros(value.pin.at), unit: value.pin.unit } } : {};
  return { begin: formatMicros(value.begin), end: formatMicros(value.end), ...pinned, ...contains };
}

function outcome(run: () => TimexValue, probes: string[] | undefined): Expected {
  try {
    return describeValue(run(), probes);
  } catch (error) {
    if (error instanceof TimexError) return { error: error.kind };
    throw error;
  }
}

describe('timex vectors', () => {
  it('cover upstream tests, every operator and the defined behaviours', () => {
    const all = [...vectors.expressions, ...vectors.operations];
    expect(all.filter((v) => v.from.startsWith('upstream')).length).toBeGreaterThanOrEqual(60);
    expect(all.filter((v) => v.basis === 'defined').length).toBeGreaterThan(50);
    // Upstream's own cases never need a defined answer: we agree with all of them.
    expect(all.filter((v) => v.from.startsWith('upstream') && v.basis !== 'upstream')).toEqual([]);
  });

  describe('expressions', () => {
    it.each(vectors.expressions.map((v) => [v.name, v] as const))('%s', (_name, v) => {
      const vars = Object.fromEntries(Object.entries(v.vars).map(([k, iso]) => [k, micros(iso)]));
      expect(outcome(() => parseTimex(v.expr).evaluate(vars), v.probes)).toEqual(v.expect);
    });
  });

  describe('operations on values', () => {
    it.each(vectors.operations.map((v) => [v.name, v] as const))('%s', (_name, v) => {
      const value =
        'timestamp' in v.value
          ? new TimexTimestamp(micros(v.value.timestamp))
          : new TimexRange(
              micros(v.value.begin),
              micros(v.value.end),
              v.value.pinned ? { at: micros(v.value.pinned.at), unit: v.value.pinned.unit } : undefined,
            );
      expect(outcome(() => applyOperation(value, v.op, v.duration), v.probes)).toEqual(v.expect);
    });
  });

  describe('duration comparison (decides wrapping)', () => {
    it.each(vectors.duration_comparisons.map((v) => [v.name, v] as const))('%s', (_name, v) => {
      expect(durationLess(v.a, v.b)).toBe(v.lt);
      expect(durationLess(v.b, v.a)).toBe(v.gt);
    });
  });

  describe('ganged durations', () => {
    it.each(vectors.duration_sums.map((v) => [v.name, v] as const))('%s', (_name, v) => {
      expect(v.terms.reduce((a, b) => sumDurations(a, b))).toEqual(v.sum);
    });
  });
});
