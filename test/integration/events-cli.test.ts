/**
 * `winchester events …` and `winchester store …` against the real PostgreSQL, in this process,
 * on a database of this file's own (created on the stack's server, dropped afterwards). What
 * the commands print is checked against the in-memory store given the same events.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Command } from 'commander';
import { registerEvents } from '../../src/cli/events';
import { registerStore } from '../../src/cli/store';
import { loadEventDefinitions } from '../../src/distiller';
import { newTraits, toCanonicalJson, WinchesterEvent } from '../../src/events/event';
import { storedEventOf } from '../../src/store/canonical-events';
import { MemoryEventStore } from '../../src/store/memory-store';
import { EventFilter, Pagination } from '../../src/store/model';
import { pankoEvent } from '../../src/store/panko-format';
import { MICROS_PER_DAY, parseIso8601 } from '../../src/time/micros';
import { sampleCorpus } from '../support/corpus';
import { FreshDatabase, freshDatabase } from '../support/fresh-database';
import { runInProcess } from '../support/in-process-cli';
import { repoRoot } from '../support/stack';

const register = (program: Command) => {
  registerEvents(program);
  registerStore(program);
};
const winchester = (...args: string[]) => runInProcess(register, args);

const dir = mkdtempSync(join(tmpdir(), 'winchester-events-'));
const file = (name: string, content: string | Buffer) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

/** The sample corpus's first events, as the openstack-usage definitions make them. */
function corpusEvents(count: number): WinchesterEvent[] {
  const distiller = loadEventDefinitions(
    join(repoRoot, 'topologies', 'openstack-usage', 'event_definitions.yaml'),
  );
  const events: WinchesterEvent[] = [];
  for (const line of sampleCorpus()) {
    const outcome = distiller.outcome(line);
    if (outcome.kind === 'event') events.push(outcome.event);
    if (events.length === count) break;
  }
  return events;
}

/** One event with a trait of every type, the ones whose canonical form is easy to misread included. */
const everyType: WinchesterEvent = {
  message_id: 'every-type',
  event_type: 'test.types',
  timestamp: parseIso8601('2026-11-01T12:00:00.000001Z')!,
  traits: Object.assign(newTraits(), {
    count: { type: 'int', value: 5 },
    ratio: { type: 'float', value: 5 },
    small: { type: 'float', value: 1.5e-7 },
    when: { type: 'datetime', value: parseIso8601('2026-11-01T00:00:00Z')! },
    project_id: { type: 'text', value: 'p1' },
    note: { type: 'text', value: 'ünïcode "quoted"' },
  }),
};

const lines = (events: WinchesterEvent[]) => events.map((e) => `${toCanonicalJson(e)}\n`).join('');
const listed = (stdout: string[]) => stdout.map((l) => JSON.parse(l) as ReturnType<typeof pankoEvent>);

describe('winchester events and store commands on the real PostgreSQL', () => {
  const saved = process.env.EVENT_STORE_URL;
  let database: FreshDatabase;
  const events = corpusEvents(1200);
  const reference = new MemoryEventStore();

  beforeAll(async () => {
    database = await freshDatabase();
    process.env.EVENT_STORE_URL = database.url;
    await reference.recordEvents([...events, everyType].map((e) => storedEventOf(e)));
  });
  afterAll(async () => {
    process.env.EVENT_STORE_URL = saved;
    await database?.drop();
  });

  test('store upgrade creates the schema, then finds nothing to do', async () => {
    expect((await winchester('store', 'upgrade')).lines).toEqual(['schema upgraded from version 0 to 2']);
    expect((await winchester('store', 'upgrade')).lines).toEqual(['schema already at version 2']);
  });

  test('events import stores canonical lines, reports a bad line by its number, and exits 1', async () => {
    const good = lines(events.slice(0, 600)).split('\n');
    const envelope = '"event_type": "x", "timestamp": "2026-11-01T00:00:00.000000Z"';
    const input = [
      ...good.slice(0, 2),
      '{"message_id": "broken", ',
      '',
      '{"message_id": "no-time", "event_type": "x"}',
      `{"message_id": "huge", ${envelope}, "n": 12345678901234567890}`,
      `{"message_id": "nested", ${envelope}, "n": {"a": 1}}`,
      '[1, 2]',
      ...good.slice(2),
    ].join('\n');
    const run = await winchester('events', 'import', '--batch', '100', file('events.jsonl', input));

    expect(run.lines).toEqual([
      '605 events from ' + join(dir, 'events.jsonl') + ': 600 stored, 0 duplicates, 5 rejected',
    ]);
    const reports = run.stderr.trimEnd().split('\n');
    expect(reports.slice(0, 5).map((line) => JSON.parse(line) as unknown)).toEqual([
      { line: 3, message_id: null, reason: expect.stringMatching(/^not JSON/) },
      { line: 5, message_id: 'no-time', reason: 'no timestamp (an ISO 8601 string)' },
      {
        line: 6,
        message_id: 'huge',
        reason: 'trait "n": int value 12345678901234567890 is out of the supported range (±2^53)',
      },
      {
        line: 7,
        message_id: 'nested',
        reason: 'trait "n": object is not a trait value (text, integer, float or datetime)',
      },
      { line: 8, message_id: null, reason: 'not a JSON object' },
    ]);
    expect(reports.slice(5)).toEqual(['winchester: 5 of 605 lines rejected (each reported above)']);
    expect(run.code).toBe(1);
  });

  test('importing again stores only what is new; .gz input is read too', async () => {
    const gz = file('events.jsonl.gz', gzipSync(lines([...events, everyType])));
    const run = await winchester('events', 'import', gz);
    expect(run.lines).toEqual([
      `${events.length + 1} events from ${gz}: ${events.length - 600 + 1} stored, 600 duplicates, 0 rejected`,
    ]);
    expect(run.code).toBe(0);
  });

  test('events list answers as the in-memory store does, in Panko’s shape', async () => {
    const type = events[0].event_type;
    const [from, to] = [events[100].timestamp, events[900].timestamp].sort((a, b) => a - b);
    const cases: Array<{ args: string[]; filter: EventFilter; page: Pagination }> = [
      { args: [], filter: {}, page: { limit: 100 } },
      { args: ['--event-type', type, '--limit', '0'], filter: { eventType: type }, page: { limit: 100 } },
      {
        args: ['--trait', 'memory_mb:ge:integer:2048', '--limit', '5000'],
        filter: { traits: [{ key: 'memory_mb', op: 'ge', trait: { type: 'int', value: 2048 } }] },
        page: { limit: 5000 },
      },
      {
        args: [
          '--start',
          new Date(from / 1000).toISOString(),
          '--end',
          new Date(to / 1000).toISOString(),
          '--limit',
          '5000',
        ],
        filter: {
          startTimestamp: Math.floor(from / 1000) * 1000,
          endTimestamp: Math.floor(to / 1000) * 1000,
        },
        page: { limit: 5000 },
      },
      {
        args: ['--sort', 'generated:desc', '--sort', 'message_id', '--limit', '7'],
        filter: {},
        page: {
          limit: 7,
          sort: [
            { key: 'generated', direction: 'desc' },
            { key: 'message_id', direction: 'asc' },
          ],
        },
      },
      { args: ['--project', 'p1', '--limit', '5000'], filter: { adminProject: 'p1' }, page: { limit: 5000 } },
      { args: ['--message-id', 'every-type'], filter: { messageId: 'every-type' }, page: { limit: 100 } },
    ];
    for (const { args, filter, page } of cases) {
      const run = await winchester('events', 'list', ...args);
      const expected = (await reference.getEvents(filter, page)).map(pankoEvent);
      expect({ args, code: run.code, events: listed(run.lines) }).toEqual({
        args,
        code: 0,
        events: expected,
      });
    }
  });

  test('pages with --marker cover every event once, and a full page says how to get the next', async () => {
    const seen: string[] = [];
    let marker: string[] = [];
    for (;;) {
      const run = await winchester('events', 'list', '--limit', '250', ...marker);
      seen.push(...listed(run.lines).map((e) => e.message_id));
      if (run.lines.length < 250) break;
      const last = seen[seen.length - 1];
      expect(run.stderr).toContain(`--marker ${last}`);
      marker = ['--marker', last];
    }
    expect(seen).toEqual((await reference.getEvents({})).map((e) => e.message_id));
  });

  test('every trait type round-trips through import and list as Panko prints it', async () => {
    const run = await winchester('events', 'show', 'every-type');
    expect(JSON.parse(run.lines[0])).toEqual({
      message_id: 'every-type',
      event_type: 'test.types',
      traits: [
        { name: 'count', value: '5', type: 'integer' },
        { name: 'note', value: 'ünïcode "quoted"', type: 'string' },
        { name: 'project_id', value: 'p1', type: 'string' },
        { name: 'ratio', value: '5.0', type: 'float' },
        { name: 'small', value: '1.5e-07', type: 'float' },
        { name: 'when', value: '2026-11-01T00:00:00', type: 'datetime' },
      ],
      generated: '2026-11-01T12:00:00.000001',
      raw: null,
    });
  });

  test('events show, types and traits', async () => {
    const missing = await winchester('events', 'show', 'nope');
    expect([missing.code, missing.stderr]).toEqual([1, 'winchester: Event nope Not Found\n']);

    const types = await winchester('events', 'types');
    expect(types.lines).toEqual(await reference.getEventTypes());

    const traitTypes = await winchester('events', 'traits', 'test.types');
    expect(traitTypes.lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      { type: 'string', name: 'note' },
      { type: 'string', name: 'project_id' },
      { type: 'integer', name: 'count' },
      { type: 'float', name: 'ratio' },
      { type: 'float', name: 'small' },
      { type: 'datetime', name: 'when' },
    ]);
    const values = await winchester('events', 'traits', 'test.types', 'ratio');
    expect(values.lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      { name: 'ratio', value: '5.0', type: 'float' },
    ]);
    expect((await winchester('events', 'traits', 'no.such.type')).lines).toEqual([]);
  });

  test.each([
    [
      ['--trait', 'memory_mb:gte:integer:5'],
      /Operator gte is not supported\. The supported operators are: \('lt', 'le', 'eq', 'ne', 'ge', 'gt'\)$/,
    ],
    [
      ['--trait', 'memory_mb:ge:boolean:true'],
      /The data type boolean is not supported\. The supported data type list is: \['integer', 'float', 'string', 'datetime'\]$/,
    ],
    [
      ['--trait', 'memory_mb:ge:integer:5.0'],
      /Unable to convert the value 5\.0 to the expected data type integer\.$/,
    ],
    [
      ['--trait', 'launched_at:ge:datetime:soon'],
      /Unable to convert the value soon to the expected data type datetime\.$/,
    ],
    [['--trait', 'memory_mb'], /expected NAME:OP:TYPE:VALUE/],
    [['--start', 'garbage'], /--start "garbage": Unable to parse date string 'garbage'/],
    [['--sort', 'size'], /Value: 'size'\. .*the supported sort keys are: \('message_id', 'generated'\)$/],
    [['--sort', 'generated:up'], /sort direction\. Value: 'generated:up'\./],
    [
      ['--limit', 'abc'],
      /Value: 'abc'\. unable to convert to int\. Error: invalid literal for int\(\) with base 10: 'abc'$/,
    ],
    [['--limit', '-2'], /the limit should be a positive integer\.$/],
    [['--marker', 'nope'], /--marker: Marker nope not found\.$/],
  ])('events list %j: one line, exit 2', async (args, says) => {
    const run = await winchester('events', 'list', ...args);
    expect(run.code).toBe(2);
    expect(run.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^winchester: /)]);
    expect(run.stderr.trimEnd()).toMatch(says);
  });

  test('store expire removes events generated before now − ttl, and only those', async () => {
    const now = Date.now() * 1000;
    const aged = (id: string, days: number): WinchesterEvent => ({
      ...everyType,
      message_id: id,
      timestamp: now - days * MICROS_PER_DAY,
    });
    const agedEvents = [aged('old-1', 10), aged('old-2', 8), aged('recent', 1), aged('recent-2', 6.9)];
    await winchester('events', 'import', file('aged.jsonl', lines(agedEvents)));
    await reference.recordEvents(agedEvents.map((e) => storedEventOf(e)));
    const expected = await reference.clearExpiredData(7 * 86400, undefined, now);
    expect(expected.events).toBeGreaterThanOrEqual(2);

    const run = await winchester('store', 'expire', '--ttl', '7d');
    expect(run.lines).toEqual([
      expect.stringMatching(
        new RegExp(`^expired ${expected.events} events \\(\\d+ day partitions dropped\\)$`),
      ),
    ]);
    const left = listed((await winchester('events', 'list', '--limit', '100000')).lines);
    expect(left).toEqual((await reference.getEvents({})).map(pankoEvent));
    expect(left.map((e) => e.message_id)).toEqual(expect.arrayContaining(['recent', 'recent-2']));
    expect((await winchester('events', 'show', 'old-2')).code).toBe(1);

    const bad = await winchester('store', 'expire', '--ttl', 'a week');
    expect([bad.code, bad.stderr]).toEqual([
      2,
      expect.stringMatching(/--ttl "a week": expected a positive duration/),
    ]);
  });

  test('EVENT_STORE_URL unset or wrong is exit 2; a store that does not answer is exit 1', async () => {
    const url = process.env.EVENT_STORE_URL;
    try {
      process.env.EVENT_STORE_URL = '';
      expect(await winchester('events', 'types')).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/EVENT_STORE_URL is not set/),
      });
      process.env.EVENT_STORE_URL = 'mysql://localhost/panko';
      expect(await winchester('events', 'types')).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/not a postgres:\/\/ URL/),
      });
      process.env.EVENT_STORE_URL = 'postgres://winchester@127.0.0.1:1/none';
      expect(await winchester('events', 'types')).toMatchObject({
        code: 1,
        stderr: expect.stringMatching(/cannot reach the event store at 127\.0\.0\.1:1\/none/),
      });
    } finally {
      process.env.EVENT_STORE_URL = url;
    }
  });
});
