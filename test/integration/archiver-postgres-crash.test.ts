/**
 * The archiver while PostgreSQL crashes. A server of this file's own (the stack's is shared
 * with other files) is killed with an immediate stop while the archiver writes, and started
 * again on the same data: the archiver pauses (its lag grows, nothing is skipped), carries on
 * by itself once the server is back, and every event ends up stored exactly once. On the way
 * the role is also stopped and started once, so part of the stream is delivered again.
 */
import { Admin, Kafka, Message } from 'kafkajs';
import { openEventStore } from '../../src/cli/event-store';
import { TopologySettings } from '../../src/config/topology-settings';
import { newTraits, WinchesterEvent } from '../../src/events/event';
import { encodeEvent } from '../../src/events/wire';
import { groupLag } from '../../src/kafka/group-lag';
import { createPgPool, PgPool } from '../../src/postgres/client';
import { MICROS_PER_DAY } from '../../src/time/micros';
import { ArchiverCounters, ArchiverRole, startArchiver } from '../../src/topology/archiver-role';
import { shortReason } from '../../src/topology/records';
import { logger } from '../../src/util/logger';
import { testNamespace } from '../support/namespace';
import { PrivatePostgres, startPrivatePostgres } from '../support/private-postgres';
import { produce, waitFor, topologyFixture } from '../support/topology-harness';

const T0 = Date.UTC(2026, 10, 1) * 1000;
/** Duplicates are sent with a later time and other trait values: what is stored must be the first. */
const REPLAYED_LATER_BY = 10 * MICROS_PER_DAY;
const TRAITS_PER_EVENT = 4;

/** Unique events before the crash, unique events produced while the server is down, every how many a duplicate. */
const BEFORE = 27_000;
const WHILE_DOWN = 3_000;
const DUPLICATE_EVERY = 15;
/** How long the server stays down at least. */
const DOWN_MS = 2_000;

function event(index: number, replayed = false): WinchesterEvent {
  return {
    message_id: `crash-${index}`,
    event_type: index % 3 === 0 ? 'compute.instance.exists' : 'compute.instance.update',
    timestamp: T0 + index * 1_000_123 + (replayed ? REPLAYED_LATER_BY : 0),
    traits: Object.assign(newTraits(), {
      instance_id: { type: 'text', value: replayed ? 'replayed' : `i-${index % 50}` },
      memory_mb: { type: 'int', value: 512 * (index % 8) },
      load: { type: 'float', value: index / 7 },
      launched_at: { type: 'datetime', value: T0 - index },
    }),
  };
}

const message = (e: WinchesterEvent): Message => ({ key: e.message_id, value: encodeEvent(e) });

/**
 * Events `from`…`from + count - 1`, each `DUPLICATE_EVERY`-th one sent again a few records
 * after the first (same key, so the same partition, after it): what a producer's retry does.
 */
function eventMessages(from: number, count: number): { messages: Message[]; duplicates: number } {
  const messages: Message[] = [];
  let duplicates = 0;
  for (let index = from; index < from + count; index++) {
    messages.push(message(event(index)));
    const earlier = index - 7;
    if (earlier >= from && (earlier - from) % DUPLICATE_EVERY === 0) {
      messages.push(message(event(earlier, true)));
      duplicates++;
    }
  }
  return { messages, duplicates };
}

const sumCounter = (roles: ArchiverRole[], key: keyof Pick<ArchiverCounters, 'stored' | 'duplicates'>) =>
  roles.reduce((total, role) => total + role.counters[key], 0);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (since: number) => (Date.now() - since) / 1000;

describe('archiver while PostgreSQL crashes and restarts', () => {
  const ns = testNamespace();
  let server: PrivatePostgres | undefined;
  let kafka: Kafka;
  let settings: TopologySettings;
  let admin: Admin;
  let reader: PgPool | undefined;
  /** Every archiver started (their counters add up), and those still running. */
  const roles: ArchiverRole[] = [];
  const running = new Set<ArchiverRole>();
  const storeErrors = new Set<string>();

  const archiver = async () => {
    const store = await openEventStore(server!.url, { createSchema: true });
    const role = await startArchiver(kafka, settings, store, { backOff: { initialMs: 200, maxMs: 1000 } });
    role.events.on('storeError', ({ error }) => void storeErrors.add(shortReason(error)));
    roles.push(role);
    running.add(role);
    return role;
  };
  const stop = async (role: ArchiverRole) => {
    running.delete(role);
    await role.stop();
  };
  const lag = () => groupLag(admin, `${ns.prefix}.archiver`, [settings.topics.events]);
  const count = async (sql: string, values: unknown[] = []) =>
    Number((await reader!.query<{ n: string }>(sql, values)).rows[0].n);
  const storedCount = () => count('SELECT count(*) AS n FROM events');
  const storedByRoles = () => sumCounter(roles, 'stored');
  /** The group's lag once commits already on their way have landed: two reads agree. */
  const steadyLag = async () => {
    for (let last = await lag(); ;) {
      await sleep(300);
      const now = await lag();
      if (now === last) return now;
      last = now;
    }
  };

  // Failed writes are logged on every attempt; they are what this file provokes.
  const level = logger.level;
  beforeAll(async () => {
    logger.level = 'silent';
    server = await startPrivatePostgres();
    ({ kafka, settings } = await topologyFixture(ns));
    admin = kafka.admin();
    await admin.connect();
    reader = createPgPool(server.url, { max: 1, applicationName: 'crash-test-reader' });
  }, 180_000);

  afterAll(async () => {
    try {
      for (const role of running) await role.stop().catch(() => undefined);
      await reader?.end().catch(() => undefined);
      await admin?.disconnect().catch(() => undefined);
    } finally {
      // Always, failed test or not: the private server and its data go.
      await server?.remove();
      logger.level = level;
    }
  }, 120_000);

  test('every event is stored exactly once and the archiver carries on by itself', async () => {
    const first = eventMessages(0, BEFORE);
    await produce(kafka, settings.topics.events, first.messages);

    // A stop and a start part-way: the new member resumes from the committed offsets.
    const started = Date.now();
    const early = await archiver();
    await waitFor(async () => (await storedCount()) >= 3_000, 120_000);
    await stop(early);
    const role = await archiver();
    const atSecondStart = await storedCount();
    let atKill = 0;
    await waitFor(async () => (atKill = await storedCount()) >= atSecondStart + 4_000, 120_000);

    const outage = await crashAndRestart(role, first.messages.length);
    const drainStarted = Date.now();
    await waitFor(async () => (await lag()) === 0, 240_000);
    const drainSeconds = seconds(drainStarted);
    // The same archiver went on by itself: its paused writes went through once the server was back.
    expect(outage.resumed.length).toBeGreaterThan(0);

    const unique = BEFORE + WHILE_DOWN;
    const duplicates = first.duplicates + outage.duplicates;
    await expectStoredOnce(unique);
    expectCounters(roles, unique, duplicates);
    process.stdout.write(
      `archiver across a PostgreSQL crash: ${unique} events + ${duplicates} duplicates; ` +
        `killed at ${atKill} in the database (${outage.storedBefore} once it was down); ` +
        `duplicates counted ${sumCounter(roles, 'duplicates')}; down ${outage.downSeconds.toFixed(1)} s ` +
        `(${outage.failedWrites} failed writes, writes paused up to ` +
        `${Math.max(...outage.resumed).toFixed(1)} s); drained ${outage.lagWhileDown} records in ` +
        `${drainSeconds.toFixed(1)} s after the restart; ${seconds(started).toFixed(1)} s in all; ` +
        `store errors seen: ${[...storeErrors].join(' | ')}\n`,
    );
  }, 420_000);

  /**
   * Kills the server with writes in flight, checks the archiver is paused (failing writes,
   * nothing stored, the lag growing with what is produced meanwhile), and starts it again.
   */
  async function crashAndRestart(role: ArchiverRole, produced: number) {
    const errorsBefore = role.counters.storeErrors;
    const resumed: number[] = [];
    role.events.on('resumed', ({ pausedSeconds }) => void resumed.push(pausedSeconds));
    const killedAt = Date.now();
    await server!.kill();
    // A reply or a commit already on its way when the server died lands before this.
    const lagAtCrash = await steadyLag();
    const storedBefore = role.counters.stored;
    expect(storedByRoles()).toBeLessThan(BEFORE);
    expect(lagAtCrash).toBeGreaterThan(0);
    expect(lagAtCrash).toBeLessThan(produced);

    const meanwhile = eventMessages(BEFORE, WHILE_DOWN);
    await produce(kafka, settings.topics.events, meanwhile.messages);
    await sleep(Math.max(0, killedAt + DOWN_MS - Date.now()));
    const lagWhileDown = await lag();
    expect(lagWhileDown).toBe(lagAtCrash + meanwhile.messages.length);
    expect(role.counters.storeErrors).toBeGreaterThan(errorsBefore);
    expect(role.counters.stored).toBe(storedBefore);

    const url = await server!.restart();
    expect(url).toBe(server!.url);
    return {
      resumed,
      storedBefore: storedByRoles(),
      lagWhileDown,
      duplicates: meanwhile.duplicates,
      failedWrites: role.counters.storeErrors - errorsBefore,
      downSeconds: seconds(killedAt),
    };
  }

  /** The database's own account: each produced event once, as first sent, with its traits. */
  async function expectStoredOnce(unique: number): Promise<void> {
    expect(await storedCount()).toBe(unique);
    const twice = await reader!.query(
      'SELECT message_id FROM events GROUP BY message_id HAVING count(*) > 1 LIMIT 10',
    );
    expect(twice.rows).toEqual([]);
    const present = new Set(
      (await reader!.query<{ message_id: string }>('SELECT message_id FROM events')).rows.map(
        (row) => row.message_id,
      ),
    );
    const missing = Array.from({ length: unique }, (_, i) => `crash-${i}`).filter((id) => !present.has(id));
    expect(missing.slice(0, 10)).toEqual([]);

    const traitCount = 'SELECT sum((SELECT count(*) FROM jsonb_object_keys(traits))) AS n FROM events';
    expect(await count(traitCount)).toBe(unique * TRAITS_PER_EVENT);
    // The duplicates' later times and trait values were never stored.
    const replayedFrom = new Date((T0 + REPLAYED_LATER_BY) / 1000).toISOString();
    expect(
      await count('SELECT count(*) AS n FROM events WHERE generated >= $1::timestamp', [replayedFrom]),
    ).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM events WHERE traits::text LIKE '%"replayed"%'`)).toBe(0);
  }
});

/**
 * The archivers' own account. A chunk whose commit reached the disk but whose answer was lost
 * in the crash counts as duplicates when written again, so `stored` may fall short of
 * `unique`, never exceed it; every record was written at least once, and each duplicate
 * produced was counted as one.
 */
function expectCounters(roles: ArchiverRole[], unique: number, duplicates: number): void {
  const sum = (key: 'stored' | 'duplicates') => sumCounter(roles, key);
  expect(sum('stored')).toBeLessThanOrEqual(unique);
  expect(sum('stored') + sum('duplicates')).toBeGreaterThanOrEqual(unique + duplicates);
  expect(sum('duplicates')).toBeGreaterThanOrEqual(duplicates);
  for (const role of roles) expect(role.counters.rejected.size).toBe(0);
}
