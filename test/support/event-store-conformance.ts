import { Trait } from '../../src/events/event';
import {
  EventFilter,
  EventStore,
  FilterOp,
  InvalidMarkerError,
  NamedTrait,
  SortSpec,
  StoredEvent,
  TraitFilter,
} from '../../src/store/model';
import {
  MICROS_PER_DAY,
  MICROS_PER_HOUR,
  MICROS_PER_SECOND,
  Micros,
  parseIso8601,
} from '../../src/time/micros';

/**
 * The behaviour every event store driver shares (Panko's storage rules, src/store/model.ts
 * and filter.ts): each driver's test file calls `eventStoreConformance` with a function
 * that opens a fresh, empty store; every test gets its own and closes it.
 */
export function eventStoreConformance(driver: string, openEmptyStore: () => Promise<EventStore>): void {
  describe(`${driver} event store conformance`, () => {
    const ctx = { store: undefined as unknown as EventStore };
    beforeEach(async () => {
      ctx.store = await openEmptyStore();
    });
    afterEach(async () => {
      await ctx.store.close();
    });
    for (const cases of [
      duplicateCases,
      roundTripCases,
      traitOrderCases,
      comparisonCases,
      textFilterCases,
      eventFilterCases,
      adminScopeCases,
      orderCases,
      paginationCases,
      eventTypeListingCases,
      traitListingCases,
      expiryCases,
      limitedExpiryCases,
    ])
      cases(ctx);
  });
}

interface Ctx {
  store: EventStore;
}

export const at = (iso: string): Micros => {
  const t = parseIso8601(iso);
  if (t === undefined) throw new Error(`bad test time ${iso}`);
  return t;
};

const T0 = at('2024-03-10T12:00:00.000000Z');

export const text = (value: string): Trait => ({ type: 'text', value });
export const int = (value: number): Trait => ({ type: 'int', value });
export const float = (value: number): Trait => ({ type: 'float', value });
export const datetime = (value: Micros): Trait => ({ type: 'datetime', value });

/** An event with traits given as [name, trait] pairs (a name may repeat with another type). */
export function event(
  message_id: string,
  generated: Micros = T0,
  traits: [string, Trait][] = [],
  event_type = 'compute.instance.update',
  raw: unknown = null,
): StoredEvent {
  return { message_id, event_type, generated, traits: traits.map(([name, trait]) => ({ name, trait })), raw };
}

const ids = (events: StoredEvent[]) => events.map((e) => e.message_id);
const stored = (ctx: Ctx, ...events: StoredEvent[]) => ctx.store.recordEvents(events);
const find = async (ctx: Ctx, filter: EventFilter = {}, page = {}) =>
  ids(await ctx.store.getEvents(filter, page));
const traitFilter = (key: string, op: FilterOp, trait: Trait): TraitFilter => ({ key, op, trait });

function duplicateCases(ctx: Ctx): void {
  describe('recordEvents: stored and duplicate', () => {
    test('a message_id already stored is a duplicate: in the same batch, in a later one, on another day', async () => {
      const first = await stored(ctx, event('a'), event('b', T0 + 1), event('a', T0 + 2 * MICROS_PER_DAY));
      expect(first.map((r) => [r.message_id, r.outcome])).toEqual([
        ['a', 'stored'],
        ['b', 'stored'],
        ['a', 'duplicate'],
      ]);
      const again = await stored(ctx, event('b', T0 + 1), event('a', T0 - 3 * MICROS_PER_DAY), event('c'));
      expect(again.map((r) => r.outcome)).toEqual(['duplicate', 'duplicate', 'stored']);
      const events = await ctx.store.getEvents({});
      expect(events.map((e) => [e.message_id, e.generated])).toEqual([
        ['a', T0],
        ['c', T0],
        ['b', T0 + 1],
      ]);
    });

    test('an empty batch records nothing', async () => {
      expect(await ctx.store.recordEvents([])).toEqual([]);
      expect(await find(ctx)).toEqual([]);
    });
  });
}

function roundTripCases(ctx: Ctx): void {
  describe('recordEvents: values kept exactly', () => {
    test('generated and datetime traits keep their microseconds', async () => {
      const times = [
        '2024-02-29T23:59:59.999999Z',
        '1970-01-01T00:00:00.000001Z',
        '1969-12-31T23:59:59.999999Z',
        '1900-01-01T00:00:00.000001Z',
        '2200-12-31T23:59:59.000010Z',
        '2024-01-01T00:00:00Z',
      ].map(at);
      await ctx.store.recordEvents(times.map((t, i) => event(`e${i}`, t, [['when', datetime(t + 1)]])));
      const back = await ctx.store.getEvents({});
      expect(back.map((e) => [e.generated, e.traits[0].trait.value])).toEqual(
        [...times].sort((a, b) => a - b).map((t) => [t, t + 1]),
      );
      for (const t of times) {
        expect(await find(ctx, { startTimestamp: t, endTimestamp: t })).toHaveLength(1);
        expect(await find(ctx, { traits: [traitFilter('when', 'eq', datetime(t + 1))] })).toHaveLength(1);
      }
    });

    test('every type keeps its values exactly, and raw comes back as given', async () => {
      const traits: [string, Trait][] = [
        ['i_zero', int(0)],
        ['i_neg', int(-1)],
        ['i_max', int(Number.MAX_SAFE_INTEGER)],
        ['i_min', int(-Number.MAX_SAFE_INTEGER)],
        ['i_big', int(2 ** 62)],
        ['f_tenth', float(0.1)],
        ['f_negzero', float(-0)],
        ['f_huge', float(1.7976931348623157e308)],
        ['f_tiny', float(5e-324)],
        ['f_nan', float(NaN)],
        ['f_inf', float(Infinity)],
        ['f_neginf', float(-Infinity)],
        ['s_empty', text('')],
        ['s_unicode', text('é 😀 \uFFFD 中文')],
        ['s_quotes', text(`'"\\ {},[]\n\t`)],
        ['s_json_like', text('["a","int",5]')],
      ];
      const raw = { payload: { nested: [1, 'two', null, { three: 3.5 }] }, 'key with space': true };
      await stored(ctx, event('all', T0, traits, 'x', raw), event('nothing', T0 + 1, [], 'x', null));
      const [all, nothing] = await ctx.store.getEvents({});
      const byName = new Map(all.traits.map(({ name, trait }) => [name, trait]));
      for (const [name, trait] of traits) {
        expect([name, byName.get(name)]).toEqual([name, trait]);
        if (trait.type === 'float') expect(Object.is(byName.get(name)!.value, trait.value)).toBe(true);
      }
      expect(all.raw).toEqual(raw);
      expect(nothing.raw).toBeNull();
      expect(nothing.traits).toEqual([]);
    });
  });
}

function traitOrderCases(ctx: Ctx): void {
  describe('recordEvents: traits by name', () => {
    test('traits come back sorted by name in code point order, then type; one name may carry two types', async () => {
      await stored(
        ctx,
        event('a', T0, [
          ['zeta', text('z')],
          ['dual', int(1)],
          ['Alpha', text('A')],
          ['dual', text('one')],
          ['émile', float(1.5)],
        ]),
      );
      const [back] = await ctx.store.getEvents({});
      expect(back.traits.map((t) => t.name)).toEqual(['Alpha', 'dual', 'dual', 'zeta', 'émile']);
      expect(back.traits.filter((t) => t.name === 'dual').map((t) => t.trait.type)).toEqual(['text', 'int']);
      expect(await find(ctx, { traits: [traitFilter('dual', 'eq', text('one'))] })).toEqual(['a']);
      expect(await find(ctx, { traits: [traitFilter('dual', 'eq', int(1))] })).toEqual(['a']);
    });
  });
}

/** Three events with `v` of one type below, at and above `mid`, one with `v` of another type, one without. */
const COMPARISON_CASES: { type: string; low: Trait; mid: Trait; high: Trait; other: Trait }[] = [
  { type: 'text', low: text('A'), mid: text('a'), high: text('é'), other: int(5) },
  { type: 'int', low: int(-7), mid: int(5), high: int(4097), other: text('5') },
  { type: 'float', low: float(-0.5), mid: float(5), high: float(1e300), other: int(5) },
  {
    type: 'datetime',
    low: datetime(T0 - 1),
    mid: datetime(T0),
    high: datetime(T0 + 1),
    other: text('2024-03-10T12:00:00Z'),
  },
];

const EXPECTED: Record<FilterOp, string[]> = {
  lt: ['low'],
  le: ['low', 'mid'],
  eq: ['mid'],
  ne: ['low', 'high'],
  ge: ['mid', 'high'],
  gt: ['high'],
};

function comparisonCases(ctx: Ctx): void {
  describe('getEvents: trait comparisons', () => {
    describe.each(COMPARISON_CASES)('a $type trait filter', ({ low, mid, high, other }) => {
      test.each(Object.keys(EXPECTED) as FilterOp[])(
        '%s compares in the trait type only; events without the key, or with it in another type, never match',
        async (op) => {
          await stored(
            ctx,
            event('low', T0, [['v', low]]),
            event('mid', T0 + 1, [['v', mid]]),
            event('high', T0 + 2, [['v', high]]),
            event('other', T0 + 3, [['v', other]]),
            event('none', T0 + 4, [['w', mid]]),
          );
          expect(await find(ctx, { traits: [traitFilter('v', op, mid)] })).toEqual(EXPECTED[op]);
        },
      );
    });

    test('an int filter does not match the string "5", nor a string filter the int 5', async () => {
      await stored(ctx, event('as-int', T0, [['n', int(5)]]), event('as-text', T0 + 1, [['n', text('5')]]));
      expect(await find(ctx, { traits: [traitFilter('n', 'eq', int(5))] })).toEqual(['as-int']);
      expect(await find(ctx, { traits: [traitFilter('n', 'eq', text('5'))] })).toEqual(['as-text']);
      expect(await find(ctx, { traits: [traitFilter('n', 'ne', int(4))] })).toEqual(['as-int']);
      expect(await find(ctx, { traits: [traitFilter('n', 'eq', float(5))] })).toEqual([]);
    });

    test('float comparisons: NaN equals NaN and sorts above every number; -0 equals 0', async () => {
      await stored(
        ctx,
        event('nan', T0, [['f', float(NaN)]]),
        event('inf', T0 + 1, [['f', float(Infinity)]]),
        event('zero', T0 + 2, [['f', float(0)]]),
        event('negzero', T0 + 3, [['f', float(-0)]]),
      );
      expect(await find(ctx, { traits: [traitFilter('f', 'eq', float(NaN))] })).toEqual(['nan']);
      expect(await find(ctx, { traits: [traitFilter('f', 'gt', float(Infinity))] })).toEqual(['nan']);
      expect(await find(ctx, { traits: [traitFilter('f', 'lt', float(NaN))] })).toEqual([
        'inf',
        'zero',
        'negzero',
      ]);
      expect(await find(ctx, { traits: [traitFilter('f', 'eq', float(-0))] })).toEqual(['zero', 'negzero']);
    });

    test('int filters with values a bigint cannot hold still compare exactly', async () => {
      await stored(ctx, event('small', T0, [['n', int(-5)]]), event('large', T0 + 1, [['n', int(2 ** 62)]]));
      expect(await find(ctx, { traits: [traitFilter('n', 'lt', int(1e30))] })).toEqual(['small', 'large']);
      expect(await find(ctx, { traits: [traitFilter('n', 'gt', int(-1e30))] })).toEqual(['small', 'large']);
      expect(await find(ctx, { traits: [traitFilter('n', 'eq', int(1e30))] })).toEqual([]);
      expect(await find(ctx, { traits: [traitFilter('n', 'gt', int(-5.5))] })).toEqual(['small', 'large']);
      expect(await find(ctx, { traits: [traitFilter('n', 'le', int(-5.5))] })).toEqual([]);
    });
  });
}

function textFilterCases(ctx: Ctx): void {
  describe('getEvents: text and names', () => {
    test('text filters with a NUL or a lone surrogate compare by code point', async () => {
      await stored(
        ctx,
        event('a', T0, [['s', text('a')]]),
        event('ab', T0 + 1, [['s', text('ab')]]),
        event('a-private', T0 + 2, [['s', text('a\uE000')]]),
        event('a-emoji', T0 + 3, [['s', text('a😀')]]),
      );
      const where = (op: FilterOp, value: string) =>
        find(ctx, { traits: [traitFilter('s', op, text(value))] });
      expect(await where('lt', 'a\u0000')).toEqual(['a']);
      expect(await where('gt', 'a\u0000')).toEqual(['ab', 'a-private', 'a-emoji']);
      expect(await where('eq', 'a\u0000')).toEqual([]);
      expect(await where('ne', 'a\u0000')).toEqual(['a', 'ab', 'a-private', 'a-emoji']);
      expect(await where('lt', 'a\uD800')).toEqual(['a', 'ab']);
      expect(await where('ge', 'a\uDFFF')).toEqual(['a-private', 'a-emoji']);
      expect(await find(ctx, { messageId: 'a\u0000' })).toEqual([]);
      expect(await find(ctx, { eventType: 'x\uD800' })).toEqual([]);
    });

    test('names and values that need escaping in JSON are found exactly, and only where they are', async () => {
      const tricky = 'line\nbreak ] , ["x","text","y"]';
      await stored(
        ctx,
        event('q', T0, [
          ['na"me', text('va"l\\ue')],
          ['tab\tname', int(5)],
          ['ünï', float(1.5)],
          ['😀', datetime(T0)],
          ['s', text(tricky)],
        ]),
        event('plain', T0 + 1, [
          ['x', text('y')],
          ['s', text('plain')],
        ]),
      );
      const where = (key: string, op: FilterOp, trait: Trait) =>
        find(ctx, { traits: [traitFilter(key, op, trait)] });
      expect(await where('na"me', 'eq', text('va"l\\ue'))).toEqual(['q']);
      expect(await where('na"me', 'ne', text('va"l'))).toEqual(['q']);
      expect(await where('na"me', 'lt', text('va"m'))).toEqual(['q']);
      expect(await where('tab\tname', 'ge', int(5))).toEqual(['q']);
      expect(await where('ünï', 'gt', float(1.25))).toEqual(['q']);
      expect(await where('😀', 'le', datetime(T0))).toEqual(['q']);
      expect(await where('s', 'eq', text(tricky))).toEqual(['q']);
      expect(await where('s', 'lt', text('line\nbreak ^'))).toEqual(['q']);
      expect(await where('x', 'eq', text('y'))).toEqual(['plain']);
      expect(await where('x', 'ne', text('z'))).toEqual(['plain']);
    });
  });
}

function eventFilterCases(ctx: Ctx): void {
  describe('getEvents: combined filters, times, types and scope', () => {
    test('several trait filters must all hold', async () => {
      await stored(
        ctx,
        event('both', T0, [
          ['memory_mb', int(8192)],
          ['state', text('active')],
        ]),
        event('memory-only', T0 + 1, [
          ['memory_mb', int(8192)],
          ['state', text('error')],
        ]),
        event('state-only', T0 + 2, [
          ['memory_mb', int(512)],
          ['state', text('active')],
        ]),
      );
      const filters = [traitFilter('memory_mb', 'gt', int(4096)), traitFilter('state', 'eq', text('active'))];
      expect(await find(ctx, { traits: filters })).toEqual(['both']);
      // One event by id under trait filters: how /v2/events/{id} scopes a non-admin.
      for (const op of ['eq', 'ne', 'lt'] as const) {
        const state = [traitFilter('state', op, text('active'))];
        expect(await find(ctx, { messageId: 'both', traits: state })).toEqual(op === 'eq' ? ['both'] : []);
      }
      expect(await find(ctx, { messageId: 'memory-only', traits: filters })).toEqual([]);
    });

    test('start and end timestamps are inclusive bounds, to the microsecond', async () => {
      await stored(ctx, event('t0', T0), event('t1', T0 + 1), event('t2', T0 + 2));
      expect(await find(ctx, { startTimestamp: T0 + 1 })).toEqual(['t1', 't2']);
      expect(await find(ctx, { endTimestamp: T0 + 1 })).toEqual(['t0', 't1']);
      expect(await find(ctx, { startTimestamp: T0 + 1, endTimestamp: T0 + 1 })).toEqual(['t1']);
      expect(await find(ctx, { startTimestamp: T0 + 2, endTimestamp: T0 + 1 })).toEqual([]);
      expect(await find(ctx, { startTimestamp: -1e18, endTimestamp: 1e18 })).toEqual(['t0', 't1', 't2']);
    });

    test('event_type and message_id filters match exactly', async () => {
      await stored(
        ctx,
        event('a', T0, [], 'compute.instance.create.end'),
        event('b', T0 + 1, [], 'compute.instance.delete.end'),
      );
      expect(await find(ctx, { eventType: 'compute.instance.delete.end' })).toEqual(['b']);
      expect(await find(ctx, { eventType: 'compute.instance' })).toEqual([]);
      expect(await find(ctx, { messageId: 'a' })).toEqual(['a']);
      expect(await find(ctx, { messageId: 'a', eventType: 'compute.instance.delete.end' })).toEqual([]);
    });
  });
}

function adminScopeCases(ctx: Ctx): void {
  describe('getEvents: admin scope', () => {
    test("an admin's project scope: the project's events, and events with text traits but no text project_id", async () => {
      await stored(
        ctx,
        event('own', T0, [['project_id', text('p1')]]),
        event('foreign', T0 + 1, [['project_id', text('p2')]]),
        event('unowned-text', T0 + 2, [['host', text('h1')]]),
        event('no-traits', T0 + 3),
        event('numbers-only', T0 + 4, [['memory_mb', int(1)]]),
        event('int-project-and-text', T0 + 5, [
          ['project_id', int(1)],
          ['host', text('h2')],
        ]),
        event('int-project-only', T0 + 6, [['project_id', int(1)]]),
        event('two-projects', T0 + 7, [
          ['project_id', text('p1')],
          ['project_id', float(2)],
        ]),
      );
      expect(await find(ctx, { adminProject: 'p1' })).toEqual([
        'own',
        'unowned-text',
        'int-project-and-text',
        'two-projects',
      ]);
      expect(await find(ctx, { adminProject: 'p3' })).toEqual(['unowned-text', 'int-project-and-text']);
      const otherProject = [traitFilter('project_id', 'eq', text('p2'))];
      expect(await find(ctx, { adminProject: 'p1', traits: otherProject })).toEqual([]);
      expect(await find(ctx, { traits: otherProject })).toEqual(['foreign']);
    });
  });
}

/** Nine events, three to a timestamp, recorded out of order. */
const nine = () =>
  ['h', 'b', 'e', 'a', 'i', 'd', 'c', 'g', 'f'].map((id) =>
    event(id, T0 + Math.floor(('abcdefghi'.indexOf(id) * 1) / 3) * MICROS_PER_SECOND),
  );
const SORTS: [string, SortSpec[] | undefined, string[]][] = [
  ['default', undefined, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']],
  [
    'generated desc',
    [{ key: 'generated', direction: 'desc' }],
    ['g', 'h', 'i', 'd', 'e', 'f', 'a', 'b', 'c'],
  ],
  [
    'generated desc, message_id desc',
    [
      { key: 'generated', direction: 'desc' },
      { key: 'message_id', direction: 'desc' },
    ],
    ['i', 'h', 'g', 'f', 'e', 'd', 'c', 'b', 'a'],
  ],
  [
    'message_id desc',
    [{ key: 'message_id', direction: 'desc' }],
    ['i', 'h', 'g', 'f', 'e', 'd', 'c', 'b', 'a'],
  ],
  [
    'message_id asc, then generated desc',
    [
      { key: 'message_id', direction: 'asc' },
      { key: 'generated', direction: 'desc' },
    ],
    ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'],
  ],
];

function orderCases(ctx: Ctx): void {
  describe('getEvents: order and limit', () => {
    test.each(SORTS)(
      '%s order, whole and page by page (pages of 2 across equal timestamps)',
      async (_, sort, expected) => {
        await ctx.store.recordEvents(nine());
        expect(await find(ctx, {}, { sort })).toEqual(expected);
        const pages: string[][] = [];
        let marker: string | undefined;
        for (;;) {
          const page = await find(ctx, {}, { sort, limit: 2, marker });
          if (page.length === 0) break;
          pages.push(page);
          marker = page.at(-1);
        }
        expect(pages.flat()).toEqual(expected);
        expect(pages.map((p) => p.length)).toEqual([2, 2, 2, 2, 1]);
      },
    );

    test('a limit of 0 gives nothing; a limit above the count gives everything', async () => {
      await ctx.store.recordEvents(nine());
      expect(await find(ctx, {}, { limit: 0 })).toEqual([]);
      expect(await find(ctx, {}, { limit: 100 })).toHaveLength(9);
      expect(await find(ctx, {}, { limit: 4 })).toEqual(['a', 'b', 'c', 'd']);
    });
  });
}

function paginationCases(ctx: Ctx): void {
  describe('getEvents: pagination', () => {
    test('pages stay exact while events are inserted between them', async () => {
      await ctx.store.recordEvents(nine());
      const first = await find(ctx, {}, { limit: 4 });
      expect(first).toEqual(['a', 'b', 'c', 'd']);
      // Before the marker (skipped), tied with it on both sides of its id, and after it.
      await stored(
        ctx,
        event('0-early', T0),
        event('c2', T0 + MICROS_PER_SECOND),
        event('e2', T0 + MICROS_PER_SECOND),
      );
      await stored(ctx, event('z-late', T0 + 9 * MICROS_PER_SECOND));
      const rest = await find(ctx, {}, { marker: 'd' });
      expect(rest).toEqual(['e', 'e2', 'f', 'g', 'h', 'i', 'z-late']);
    });

    test('the marker is looked up without the filter: an event outside it still marks a position', async () => {
      await stored(
        ctx,
        event('a', T0, [], 'x'),
        event('b', T0 + 1, [], 'y'),
        event('c', T0 + 2, [], 'x'),
        event('d', T0 + 3, [], 'x'),
      );
      expect(await find(ctx, { eventType: 'x' }, { marker: 'b' })).toEqual(['c', 'd']);
      expect(await find(ctx, { eventType: 'x', adminProject: 'p' }, { marker: 'a' })).toEqual([]);
    });

    test('an unknown marker is an InvalidMarkerError', async () => {
      await stored(ctx, event('a'));
      const attempt = ctx.store.getEvents({}, { marker: 'nope' });
      await expect(attempt).rejects.toBeInstanceOf(InvalidMarkerError);
      await expect(ctx.store.getEvents({}, { marker: 'nope' })).rejects.toThrow('Marker nope not found.');
    });

    test('strings sort by code point: Z < a < é < U+FFFD < 😀 (message ids and text traits)', async () => {
      const names = ['😀', 'a', '\uFFFD', 'Z', 'é', 'aa'];
      await ctx.store.recordEvents(names.map((id) => event(id, T0, [['s', text(id)]])));
      expect(await find(ctx)).toEqual(['Z', 'a', 'aa', 'é', '\uFFFD', '😀']);
      expect(await find(ctx, { traits: [traitFilter('s', 'gt', text('a'))] })).toEqual([
        'aa',
        'é',
        '\uFFFD',
        '😀',
      ]);
      expect(await find(ctx, { traits: [traitFilter('s', 'lt', text('😀'))] })).toEqual([
        'Z',
        'a',
        'aa',
        'é',
        '\uFFFD',
      ]);
      const page = await find(ctx, {}, { marker: '\uFFFD' });
      expect(page).toEqual(['😀']);
    });
  });
}

function eventTypeListingCases(ctx: Ctx): void {
  describe('getEventTypes', () => {
    test('event types are listed once each, in code point order', async () => {
      const types = ['b', 'B', 'a', 'é', '😀', '\uFFFD', 'a'];
      await ctx.store.recordEvents(types.map((type, i) => event(`e${i}`, T0 + i, [], type)));
      expect(await ctx.store.getEventTypes()).toEqual(['B', 'a', 'b', 'é', '\uFFFD', '😀']);
    });

    // e2 is recorded first: within a type and name, traits come in event order (generated, message_id).
  });
}

function traitListingCases(ctx: Ctx): void {
  describe('getTraitTypes and getTraits', () => {
    const recordTypedTraits = async () => {
      await ctx.store.recordEvents([
        event('e2', T0 + 1, [
          ['Alpha', text('A2')],
          ['dual', int(2)],
          ['count', int(4)],
        ]),
      ]);
      await ctx.store.recordEvents([
        event('e1', T0, [
          ['zeta', text('z1')],
          ['Alpha', text('A1')],
          ['count', int(3)],
          ['ratio', float(0.5)],
          ['when', datetime(T0)],
          ['dual', text('one')],
        ]),
        event('e3', T0 + 2, [['other', text('o')]], 'another.type'),
      ]);
    };

    test('trait types: text, then int, float, datetime; names in code point order; a name with two types twice', async () => {
      await recordTypedTraits();
      expect(await ctx.store.getTraitTypes('compute.instance.update')).toEqual([
        { name: 'Alpha', type: 'text' },
        { name: 'dual', type: 'text' },
        { name: 'zeta', type: 'text' },
        { name: 'count', type: 'int' },
        { name: 'dual', type: 'int' },
        { name: 'ratio', type: 'float' },
        { name: 'when', type: 'datetime' },
      ]);
      expect(await ctx.store.getTraitTypes('another.type')).toEqual([{ name: 'other', type: 'text' }]);
      expect(await ctx.store.getTraitTypes('unknown')).toEqual([]);
    });

    test('traits: every stored value, grouped by type and then name', async () => {
      await recordTypedTraits();
      const all = await ctx.store.getTraits('compute.instance.update');
      const expected: NamedTrait[] = [
        { name: 'Alpha', trait: text('A1') },
        { name: 'Alpha', trait: text('A2') },
        { name: 'dual', trait: text('one') },
        { name: 'zeta', trait: text('z1') },
        { name: 'count', trait: int(3) },
        { name: 'count', trait: int(4) },
        { name: 'dual', trait: int(2) },
        { name: 'ratio', trait: float(0.5) },
        { name: 'when', trait: datetime(T0) },
      ];
      expect(all).toEqual(expected);
      expect(await ctx.store.getTraits('compute.instance.update', 'dual')).toEqual([
        { name: 'dual', trait: text('one') },
        { name: 'dual', trait: int(2) },
      ]);
      expect(await ctx.store.getTraits('compute.instance.update', 'missing')).toEqual([]);
      expect(await ctx.store.getTraits('unknown')).toEqual([]);
    });
  });
}

/** Times for the expiry cases: `day(n, hour)` after T0, and a `now` after all of them. */
const day = (n: number, hour = 0) => T0 + n * MICROS_PER_DAY + hour * MICROS_PER_HOUR;
const now = day(10);
const ttlTo = (cutoff: Micros) => (now - cutoff) / MICROS_PER_SECOND;

/** Five events over four days, with event types and trait keys that expire at different days. */
const recordDays = (ctx: Ctx) =>
  ctx.store.recordEvents([
    event('d0', day(0), [['old_only', text('x')]], 'old.type'),
    event('d1', day(1), [['shared', int(1)]]),
    event('d2-early', day(2, 1), [['shared', int(2)]]),
    event('d2-late', day(2, 5), [['late', float(1)]]),
    event('d3', day(3), [['shared', int(3)]]),
  ]);

function expiryCases(ctx: Ctx): void {
  describe('clearExpiredData', () => {
    test('removes every event strictly before now − ttl, and catalogue entries nothing remaining has', async () => {
      await recordDays(ctx);
      const cutoff = day(2, 5);
      const report = await ctx.store.clearExpiredData(ttlTo(cutoff), undefined, now);
      expect(report.events).toBe(3);
      expect(await find(ctx)).toEqual(['d2-late', 'd3']);
      expect(await ctx.store.getEventTypes()).toEqual(['compute.instance.update']);
      expect(await ctx.store.getTraitTypes('compute.instance.update')).toEqual([
        { name: 'shared', type: 'int' },
        { name: 'late', type: 'float' },
      ]);
      expect(await ctx.store.getTraitTypes('old.type')).toEqual([]);
      expect(await ctx.store.clearExpiredData(ttlTo(cutoff), undefined, now)).toEqual({
        events: 0,
        partitionsDropped: 0,
      });
    });

    test('events recorded after an expiry, on days it removed, are stored and expire again', async () => {
      await recordDays(ctx);
      await ctx.store.clearExpiredData(ttlTo(day(3)), undefined, now);
      const late = await stored(ctx, event('late-d1', day(1, 3), [['shared', int(9)]]), event('d1', day(1)));
      expect(late.map((r) => r.outcome)).toEqual(['stored', 'stored']);
      expect(await find(ctx)).toEqual(['d1', 'late-d1', 'd3']);
      expect((await ctx.store.clearExpiredData(ttlTo(day(3)), undefined, now)).events).toBe(2);
      expect(await find(ctx)).toEqual(['d3']);
    });
  });
}

function limitedExpiryCases(ctx: Ctx): void {
  describe('clearExpiredData with maxCount', () => {
    test('with maxCount removes at most that many, oldest first, until none are left', async () => {
      await recordDays(ctx);
      const ttl = ttlTo(day(3));
      expect((await ctx.store.clearExpiredData(ttl, 2, now)).events).toBe(2);
      expect(await find(ctx)).toEqual(['d2-early', 'd2-late', 'd3']);
      expect(await ctx.store.getEventTypes()).toEqual(['compute.instance.update']);
      expect((await ctx.store.getTraitTypes('compute.instance.update')).map((t) => t.name)).toEqual([
        'shared',
        'late',
      ]);
      expect((await ctx.store.clearExpiredData(ttl, 1, now)).events).toBe(1);
      expect((await ctx.store.getTraitTypes('compute.instance.update')).map((t) => t.name)).toEqual([
        'shared',
        'late',
      ]);
      expect((await ctx.store.clearExpiredData(ttl, 5, now)).events).toBe(1);
      expect((await ctx.store.getTraitTypes('compute.instance.update')).map((t) => t.name)).toEqual([
        'shared',
      ]);
      expect((await ctx.store.clearExpiredData(ttl, 5, now)).events).toBe(0);
      expect(await find(ctx)).toEqual(['d3']);
    });

    test('with maxCount, events of the same time go in message_id order', async () => {
      await ctx.store.recordEvents([
        event('c', day(0)),
        event('a', day(0)),
        event('b', day(0)),
        event('d', day(1)),
      ]);
      expect((await ctx.store.clearExpiredData(ttlTo(day(3)), 2, now)).events).toBe(2);
      expect(await find(ctx)).toEqual(['c', 'd']);
    });
  });
}
