/**
 * The distiller against reference vectors produced by upstream StackDistiller 0.12 (PyPI) with
 * scripts/vectors/make-distiller-vectors.sh. Each vector line answers the input line of the same
 * number: the event in canonical JSON, or {"outcome": "dropped" | "error", ...}.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { runDistill } from '../../../src/cli/distill';
import {
  DistillErrorCategory,
  DistillResult,
  isDistillError,
  isDropped,
  isEvent,
  loadEventDefinitions,
} from '../../../src/distiller';
import { toCanonicalJson } from '../../../src/events/event';
import { parseIso8601Python } from '../../../src/time/micros';

const ROOT = join(__dirname, '..', '..', '..');
const VECTORS = join(ROOT, 'test', 'vectors', 'distiller');
const SAMPLE_DEFINITIONS = join(ROOT, 'topologies', 'openstack-usage', 'event_definitions.yaml');
const CORPUS = join(ROOT, 'data', 'notifications-openstack-26h.jsonl.gz');
/** The time upstream was given for notifications without any (make-distiller-vectors.sh's NOW). */
const UPSTREAM_NOW = parseIso8601Python('2000-01-01T00:00:00Z') as number;

interface UpstreamRecord {
  outcome: 'dropped' | 'error';
  message_id?: string | null;
  event_type?: string | null;
  reason?: string;
  exception?: string;
}

const readLines = (path: string): string[] => {
  const raw = readFileSync(path);
  const text = path.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  return text.split('\n').filter((line) => line.trim() !== '');
};

const isRecord = (line: string) => line.startsWith('{"outcome"');

async function collect(stream: PassThrough): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

describe('the sample definitions over the 26-hour corpus (7,943 notifications)', () => {
  const notifications = readLines(CORPUS);
  const expected = readLines(join(VECTORS, 'openstack-usage-26h.jsonl.gz'));

  it('has one vector per notification', () => {
    expect(notifications).toHaveLength(7943);
    expect(expected).toHaveLength(notifications.length);
  });

  it('winchester distill prints exactly upstream events, in order, and reports every other notification', async () => {
    const output = new PassThrough();
    const errors = new PassThrough();
    const [out, err, summary] = await Promise.all([
      collect(output),
      collect(errors),
      runDistill({
        definitions: SAMPLE_DEFINITIONS,
        input: Readable.from([notifications.join('\n') + '\n']),
        output,
        errors,
      }).finally(() => {
        output.end();
        errors.end();
      }),
    ]);
    const upstreamEvents = expected.filter((line) => !isRecord(line));
    const upstreamOthers = expected.filter(isRecord).map((line) => JSON.parse(line) as UpstreamRecord);
    expect(upstreamEvents.length).toBeGreaterThan(7000);
    const events = out.split('\n').filter(Boolean);
    expect(events).toHaveLength(upstreamEvents.length);
    events.forEach((line, i) => expect(line).toBe(upstreamEvents[i]));

    const reported = err
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { message_id: string; outcome: string; reason: string });
    expect(reported.map((r) => [r.message_id, r.outcome, r.reason])).toEqual(
      upstreamOthers.map((r) => [r.message_id, r.outcome, r.reason]),
    );
    expect(summary).toEqual({
      notifications: 7943,
      events: upstreamEvents.length,
      dropped: upstreamOthers.length,
      failed: 0,
    });
  });

  it('gives the same events from parsed objects (distill) as from text (distillText)', () => {
    const distiller = loadEventDefinitions(SAMPLE_DEFINITIONS);
    notifications.forEach((line, i) => {
      const fromText = distiller.distillText(line);
      const fromObject = distiller.distill(JSON.parse(line));
      if (isRecord(expected[i])) {
        expect(isDropped(fromText) && isDropped(fromObject)).toBe(true);
      } else {
        expect(isEvent(fromObject) && toCanonicalJson(fromObject)).toBe(expected[i]);
        expect(isEvent(fromText) && toCanonicalJson(fromText)).toBe(expected[i]);
      }
    });
    expect(distiller.stats.distilled).toBe(2 * expected.filter((l) => !isRecord(l)).length);
  });
});

/**
 * Where this distiller deliberately differs from upstream (docs/distiller.md),
 * by message id: it returns this error category where upstream made an event.
 */
const DEVIATIONS: Record<string, { category: DistillErrorCategory; why: string }> = {
  'int-beyond-2-53': { category: 'conversion', why: 'ints beyond ±2^53 are refused, not rounded' },
  'int-string-beyond-2-53': { category: 'conversion', why: 'ints beyond ±2^53 are refused, not rounded' },
  'float-inf-string': { category: 'conversion', why: 'inf cannot travel as JSON' },
  'float-nan-string': { category: 'conversion', why: 'nan cannot travel as JSON' },
  'float-nan-literal': { category: 'invalid-json', why: "NaN is not JSON (Python's json accepts it)" },
  '123': { category: 'invalid-notification', why: 'message_id must be a string' },
  '': { category: 'invalid-notification', why: 'message_id must not be empty' },
  'ts-empty': { category: 'invalid-timestamp', why: 'an empty timestamp got "now" upstream' },
  'ts-null': { category: 'invalid-timestamp', why: 'a null timestamp got "now" upstream' },
  'ts-zero': { category: 'invalid-timestamp', why: 'a timestamp must be a string (0 got "now" upstream)' },
  'dt-far-future-micros': { category: 'conversion', why: 'µs are exact only within 1685–2255 (doubles)' },
};

/** The error category that answers an exception upstream raised for this notification. */
function categoryOf(record: UpstreamRecord): DistillErrorCategory {
  const exception = record.exception ?? '';
  if (exception.startsWith('JSONDecodeError')) return 'invalid-json';
  if (
    /KeyError: '(event_type|message_id)'|list indices must be integers|expected str, bytes or os.PathLike/.test(
      exception,
    )
  ) {
    return 'invalid-notification';
  }
  if (/^IndexError|has no len\(\)|^KeyError: 0/.test(exception)) return 'path';
  if (record.message_id?.startsWith('ts-')) return 'invalid-timestamp';
  return 'conversion';
}

describe.each([
  ['edge-expected.jsonl', false],
  ['edge-catch-all-expected.jsonl', true],
])('edge cases against upstream (%s)', (file, catchAll) => {
  const notifications = readLines(join(VECTORS, 'edge-notifications.jsonl'));
  const expected = readLines(join(VECTORS, file));
  const distiller = loadEventDefinitions(join(VECTORS, 'edge-definitions.yaml'), {
    catchAll,
    now: () => UPSTREAM_NOW,
  });
  const cases = notifications.map((line, i) => {
    const id = (() => {
      try {
        return String((JSON.parse(line) as { message_id?: unknown }).message_id);
      } catch {
        // Not JSON to JS (NaN): the id as written, else the line number.
        return /"message_id": "([^"]*)"/.exec(line)?.[1] ?? `line ${i + 1}`;
      }
    })();
    return { id, line, expected: expected[i] };
  });

  it('has one vector per notification and loads without warnings', () => {
    expect(expected).toHaveLength(notifications.length);
    expect(distiller.warnings).toEqual([]);
  });

  it.each(cases)('$id', ({ id, line, expected: vector }) => {
    const result: DistillResult = distiller.distillText(line);
    const deviation = DEVIATIONS[id];
    if (deviation) {
      expect(isDistillError(result) && result.category).toBe(deviation.category);
      return;
    }
    if (!isRecord(vector)) {
      expect(isEvent(result) ? toCanonicalJson(result) : result).toBe(vector);
      return;
    }
    const record = JSON.parse(vector) as UpstreamRecord;
    if (record.outcome === 'dropped') {
      expect(isDropped(result) && result.reason).toBe(record.reason);
    } else {
      expect(isDistillError(result) && result.category).toBe(categoryOf(record));
    }
  });

  it('lists only deviations that the vectors still show', () => {
    for (const { id, expected: vector } of cases) {
      if (DEVIATIONS[id]) expect(isRecord(vector) && JSON.parse(vector).outcome === 'error').toBe(false);
    }
    expect(Object.keys(DEVIATIONS).every((id) => cases.some((c) => c.id === id))).toBe(true);
  });
});
