/**
 * The PostgreSQL event store: the conformance suite every driver passes, then what only
 * this driver has (schema checks on open, values PostgreSQL cannot hold, daily partitions,
 * concurrent writers). Everything runs in a database of this file's own whose default
 * collation is ICU English, where 'a' < 'B': any text comparison that is not in C order shows.
 */
import { randomBytes } from 'node:crypto';
import { PgPool, createPgPool } from '../../src/postgres/client';
import { createDatabase, ScratchDatabase } from '../../src/postgres/databases';
import { PgEventStore } from '../../src/postgres/event-store';
import { MIGRATIONS, upgradeSchema } from '../../src/postgres/migrations';
import { StoredEvent } from '../../src/store/model';
import { MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_SECOND } from '../../src/time/micros';
import {
  at,
  datetime,
  event,
  eventStoreConformance,
  float,
  int,
  text,
} from '../support/event-store-conformance';

const server = process.env.EVENT_STORE_URL!;
const name = `t_event_store_${randomBytes(4).toString('hex')}`;
let database: ScratchDatabase;

/** Whether the database got ICU English as its default collation (PostgreSQL 15 with ICU). */
let icuDatabase = true;
beforeAll(async () => {
  database = await createDatabase(server, name, 'icu-en').catch(() => {
    icuDatabase = false;
    return createDatabase(server, name);
  });
});
afterAll(() => database?.drop());

let schemas = 0;
/** A pool on a new, empty schema of this file's database. */
async function freshSchema(migrate = true): Promise<{ pool: PgPool; schema: string }> {
  const schema = `s${++schemas}_${randomBytes(2).toString('hex')}`;
  const pool = createPgPool(database.url, { schema, max: 4 });
  await pool.query(`CREATE SCHEMA ${schema}`);
  if (migrate) await upgradeSchema(pool);
  return { pool, schema };
}

const freshStore = async () => new PgEventStore((await freshSchema()).pool);
/** Another store, with its own pool and partition cache, on a schema. */
const storeOn = (schema: string) => new PgEventStore(createPgPool(database.url, { schema, max: 2 }));

eventStoreConformance('PostgreSQL', freshStore);
// The same cases with every trait filter checked in the event rows, as filters matching many events are.
eventStoreConformance(
  'PostgreSQL, trait filters read row by row,',
  async () => new PgEventStore((await freshSchema()).pool, { indexedFilterLimit: 0 }),
);

describe('PgEventStore on PostgreSQL', () => {
  const T = at('2025-06-01T10:00:00.000001Z');

  test("the database's own collation puts 'a' before 'B', so the suite's code point order comes from the store", async () => {
    if (!icuDatabase) console.warn('no ICU on this server: the suite ran in a C-ordered database');
    const { pool } = await freshSchema(false);
    const order = await pool.query<{ locale_order: boolean }>(`SELECT 'a' < 'B' AS locale_order`);
    await pool.end();
    expect(order.rows[0].locale_order).toBe(icuDatabase);
  });

  describe('open', () => {
    test('opens a store whose schema is current, and refuses one with no schema or a newer one', async () => {
      const current = await freshSchema();
      await current.pool.end();
      const store = await PgEventStore.open(database.url, { schema: current.schema });
      expect(await store.getEventTypes()).toEqual([]);
      await store.close();

      const empty = await freshSchema(false);
      await expect(PgEventStore.open(database.url, { schema: empty.schema })).rejects.toThrow(
        /has no schema yet: run winchester store upgrade$/,
      );
      await upgradeSchema(empty.pool);
      await empty.pool.query("INSERT INTO schema_migrations (version, name) VALUES (99, 'from the future')");
      await empty.pool.end();
      await expect(PgEventStore.open(database.url, { schema: empty.schema })).rejects.toThrow(
        /has schema version 99, newer than this build knows \(2\): upgrade winchester$/,
      );
    });

    test('upgrading a version 1 store with events keeps every trait, typed, and its filters', async () => {
      const { pool, schema } = await freshSchema(false);
      expect(await upgradeSchema(pool, MIGRATIONS.slice(0, 1))).toMatchObject({ from: 0, to: 1 });
      await pool.query(`CREATE TABLE events_p20250601 PARTITION OF events
        FOR VALUES FROM ('2025-06-01') TO ('2025-06-02')`);
      await pool.query(`CREATE TABLE traits_p20250601 PARTITION OF traits
        FOR VALUES FROM ('2025-06-01') TO ('2025-06-02')`);
      const v1Traits = [
        ['dual', 'int', 7],
        ['dual', 'text', 'seven'],
        ['load', 'float', '-0'],
        ['seen', 'datetime', '2025-06-01 10:00:00.000001'],
      ];
      await pool.query(
        `INSERT INTO events (generated, message_id, event_type, project, has_text, traits)
         VALUES ('2025-06-01 10:00:00.000001', 'old', 'compute.instance.update', NULL, true, $1::json)`,
        [JSON.stringify(v1Traits)],
      );
      expect(await upgradeSchema(pool)).toMatchObject({ from: 1, to: 2 });
      const store = new PgEventStore(pool);
      const [old] = await store.getEvents({});
      expect(old.traits).toEqual([
        { name: 'dual', trait: text('seven') },
        { name: 'dual', trait: int(7) },
        { name: 'load', trait: float(-0) },
        { name: 'seen', trait: datetime(T) },
      ]);
      expect(Object.is(old.traits[2].trait.value, -0)).toBe(true);
      const found = await store.getEvents({ traits: [{ key: 'dual', op: 'ge', trait: int(7) }] });
      expect(found.map((e) => e.message_id)).toEqual(['old']);
      expect(await store.getEvents({ traits: [{ key: 'load', op: 'eq', trait: float(0) }] })).toHaveLength(1);
      const tables = await pool.query('SELECT to_regclass($1) AS traits', [`${schema}.traits`]);
      expect(tables.rows).toEqual([{ traits: null }]);
      await store.close();
    });

    test('an unreachable server is one clear error', async () => {
      await expect(PgEventStore.open('postgres://nobody@127.0.0.1:1/none')).rejects.toThrow(
        /^cannot reach the event store at 127\.0\.0\.1:1\/none: /,
      );
    });

    test('a schema name that is not a plain identifier is refused before connecting', async () => {
      await expect(PgEventStore.open(database.url, { schema: 'x; DROP TABLE events' })).rejects.toThrow(
        /not a lower-case identifier/,
      );
    });
  });

  describe('recordEvents', () => {
    let store: PgEventStore;
    let schema: string;
    beforeEach(async () => {
      const fresh = await freshSchema();
      store = new PgEventStore(fresh.pool);
      schema = fresh.schema;
    });
    afterEach(() => store.close());

    const withTrait = (id: string, name: string, trait: StoredEvent['traits'][0]['trait']) =>
      event(id, T, [[name, trait]]);

    test('an event PostgreSQL cannot hold is an unknown_problem with its reason; the rest are stored', async () => {
      const incompressible = randomBytes(12_000).toString('base64');
      const batch: StoredEvent[] = [
        event('good-1', T, [['s', text('fine')]]),
        withTrait('nul-value', 's', text('a\u0000b')),
        withTrait('nul-name', 'a\u0000', text('x')),
        event('lone-\uD800', T),
        withTrait('too-big-int', 'n', int(2 ** 63)),
        withTrait('fraction-int', 'n', int(1.5)),
        withTrait('far-datetime', 'd', datetime(at('9999-12-31T23:59:59Z') + MICROS_PER_DAY)),
        event('bad-generated', NaN),
        event('twice', T, [
          ['s', text('1')],
          ['s', text('2')],
        ]),
        { ...event('bigint-raw'), raw: { n: BigInt(1) } },
        { ...event('long-type'), event_type: incompressible },
        event('good-2', T + 1, [['s', text('fine too')]]),
        // A trait value is not limited by a B-tree row: the traits' GIN index hashes it.
        withTrait('long-text', 's', text(incompressible)),
      ];
      const results = await store.recordEvents(batch);
      const outcome = Object.fromEntries(results.map((r) => [r.message_id, [r.outcome, r.reason]]));
      expect(outcome['good-1']).toEqual(['stored', undefined]);
      expect(outcome['good-2']).toEqual(['stored', undefined]);
      const reasons: Record<string, RegExp> = {
        'nul-value': /^trait s contains a NUL character/,
        'nul-name': /^a trait name contains a NUL character/,
        'lone-\uD800': /^message_id is not valid Unicode/,
        'too-big-int': /^trait n = 9223372036854776000 is not an integer a bigint can hold$/,
        'fraction-int': /^trait n = 1\.5 is not an integer/,
        'far-datetime': /^trait d = .* is not a whole microsecond between years 1 and 9999$/,
        'bad-generated': /^generated = NaN is not a whole microsecond/,
        twice: /^trait s appears twice with type text$/,
        'bigint-raw': /^raw is not JSON: /,
        'long-type': /^PostgreSQL refused it: index row/,
      };
      for (const [id, reason] of Object.entries(reasons)) {
        expect([id, outcome[id]?.[0]]).toEqual([id, 'unknown_problem']);
        expect(outcome[id][1]).toMatch(reason);
      }
      const events = await store.getEvents({});
      expect(events.map((e) => e.message_id)).toEqual(['good-1', 'long-text', 'good-2']);
      expect(await store.getTraits('compute.instance.update', 's')).toHaveLength(3);
      const long = await store.getEvents({ traits: [{ key: 's', op: 'eq', trait: text(incompressible) }] });
      expect(long.map((e) => e.message_id)).toEqual(['long-text']);
    });

    test('a server that cannot be reached throws instead of reporting outcomes', async () => {
      const unreachable = new PgEventStore(createPgPool('postgres://nobody@127.0.0.1:1/none'));
      await expect(unreachable.recordEvents([event('a', T)])).rejects.toThrow();
      await expect(unreachable.getEvents({})).rejects.toThrow();
      await unreachable.close();
    });

    test('concurrent writers of the same new days create each partition once and store each event once', async () => {
      const days = [0, 1, 2, 3].map((d) => T + d * MICROS_PER_DAY);
      const batch = (prefix: string) =>
        days.flatMap((t, d) => [event(`${prefix}-${d}`, t), event(`shared-${d}`, t)]);
      const others = [0, 1, 2].map(() => storeOn(schema));
      const writers = [store, ...others];
      const results = await Promise.all(writers.map((w, i) => w.recordEvents(batch(`w${i}`))));
      await Promise.all(others.map((o) => o.close()));
      const storedShared = results
        .flat()
        .filter((r) => r.message_id.startsWith('shared-') && r.outcome === 'stored');
      expect(storedShared).toHaveLength(days.length);
      expect(results.flat().filter((r) => r.outcome === 'unknown_problem')).toEqual([]);
      expect(await store.getEvents({})).toHaveLength(days.length * (writers.length + 1));
    });
  });

  describe('daily partitions and expiry', () => {
    let store: PgEventStore;
    let pool: PgPool;
    let schema: string;
    beforeEach(async () => {
      ({ pool, schema } = await freshSchema());
      store = new PgEventStore(pool);
    });
    afterEach(() => store.close());

    const partitionsOf = async (table: string) =>
      (
        await pool.query<{ name: string }>(
          `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = $1::regclass ORDER BY 1`,
          [table],
        )
      ).rows.map((r) => r.name);

    const DAY1 = at('2025-06-01T00:00:00Z');
    const threeDays = () =>
      store.recordEvents(
        [0, 1, 2].flatMap((d) =>
          [3, 15].map((h) =>
            event(`d${d}-h${h}`, DAY1 + d * MICROS_PER_DAY + h * MICROS_PER_HOUR, [
              ['n', int(d)],
              ['f', float(h)],
            ]),
          ),
        ),
      );

    test('events get one partition per day, made on demand, each event with its traits object', async () => {
      await threeDays();
      expect(await partitionsOf('events')).toEqual([
        'events_p20250601',
        'events_p20250602',
        'events_p20250603',
      ]);
      const rows = await pool.query<{ traits: unknown }>(
        'SELECT traits FROM events_p20250602 ORDER BY generated',
      );
      expect(rows.rows.map((r) => r.traits)).toEqual([
        { 'i:n': 1, 'f:f': 3 },
        { 'i:n': 1, 'f:f': 15 },
      ]);
    });

    test('expiry drops the days before the cutoff whole and trims the day that straddles it', async () => {
      await threeDays();
      const now = DAY1 + 30 * MICROS_PER_DAY;
      const cutoff = DAY1 + MICROS_PER_DAY + 15 * MICROS_PER_HOUR; // d1-h15 is at the cutoff: it stays
      const report = await store.clearExpiredData((now - cutoff) / MICROS_PER_SECOND, undefined, now);
      expect(report).toEqual({ events: 3, partitionsDropped: 1 });
      expect(await partitionsOf('events')).toEqual(['events_p20250602', 'events_p20250603']);
      expect((await store.getEvents({})).map((e) => e.message_id)).toEqual(['d1-h15', 'd2-h3', 'd2-h15']);
    });

    test('days a previous expiry detached but did not drop are counted and dropped by the next', async () => {
      await threeDays();
      await pool.query('ALTER TABLE events DETACH PARTITION events_p20250601');
      await pool.query('ALTER TABLE events_p20250601 RENAME TO expired_events_p20250601');
      // And a traits day that schema version 1 detached: the upgrade leaves it, expiry drops it.
      await pool.query('CREATE TABLE expired_traits_p20250531 (n int)');
      const now = DAY1 + 30 * MICROS_PER_DAY;
      const nothingElse = (now - DAY1) / MICROS_PER_SECOND;
      expect(await store.clearExpiredData(nothingElse, undefined, now)).toEqual({
        events: 2,
        partitionsDropped: 0,
      });
      const left = await pool.query(`SELECT relname FROM pg_class WHERE relname LIKE 'expired%'
        AND relnamespace = current_schema()::regnamespace`);
      expect(left.rows).toEqual([]);
      expect(await store.getEvents({})).toHaveLength(4);
    });

    test('expiry with maxCount deletes rows and keeps the partitions', async () => {
      await threeDays();
      const now = DAY1 + 30 * MICROS_PER_DAY;
      expect(await store.clearExpiredData(0, 3, now)).toEqual({ events: 3, partitionsDropped: 0 });
      expect(await partitionsOf('events')).toHaveLength(3);
      expect(await store.clearExpiredData(0, undefined, now)).toEqual({ events: 3, partitionsDropped: 3 });
      expect(await partitionsOf('events')).toEqual([]);
    });

    test('a writer whose cached day another process dropped makes it again', async () => {
      await threeDays();
      const expirer = storeOn(schema);
      const now = DAY1 + 30 * MICROS_PER_DAY;
      await expirer.clearExpiredData(0, undefined, now);
      await expirer.close();
      const again = await store.recordEvents([event('late', DAY1 + MICROS_PER_HOUR)]);
      expect(again).toEqual([{ message_id: 'late', outcome: 'stored' }]);
      expect(await partitionsOf('events')).toEqual(['events_p20250601']);
    });
  });
});
