/**
 * Event store benchmark: the PostgreSQL driver on EVENT_STORE_URL, in a schema of its own
 * (dropped at the end unless --keep).
 *
 *   npm run build && node dist/bench/store-driver.js [--events 1000000] [--days 5] [--queries 300] [--keep]
 *
 * Loads unique events with 10 traits each (nova-like: project, user, instance, host, state,
 * memory_mb, vcpus, root_gb, launched_at, load) spread evenly over the days, in batches of
 * 5000; after a VACUUM, times the last 100,000 in batches of 500 and of 5000 (events/s of
 * recordEvents alone). Then reports bytes per stored event (all partitions with their
 * indexes and TOAST), p50/p99 of filtered queries, and the time to expire one day.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createPgPool } from '../src/postgres/client';
import { PgEventStore } from '../src/postgres/event-store';
import { upgradeSchema } from '../src/postgres/migrations';
import { EventFilter, Pagination, StoredEvent } from '../src/store/model';
import { MICROS_PER_DAY, MICROS_PER_SECOND } from '../src/time/micros';
import { runBenchmark } from './support/run';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const total = Number(option('--events', '1000000'));
const days = Number(option('--days', '5'));
const queries = Number(option('--queries', '300'));

const EVENT_TYPES = [
  'create.start',
  'create.end',
  'update',
  'exists',
  'delete.start',
  'delete.end',
  'power_off.end',
]
  .concat(['power_on.end', 'resize.confirm.end', 'rebuild.end', 'shutdown.end', 'reboot.end'])
  .map((suffix) => `compute.instance.${suffix}`);
const MEMORY = [512, 1024, 2048, 4096, 8192, 16384];
const STATES = ['active', 'building', 'deleted', 'error', 'stopped', 'paused'];
const START = Date.UTC(2026, 0, 1) * 1000;

let seed = 42;
const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)];
const instanceIds = Array.from({ length: 50_000 }, () => randomUUID());

function makeEvent(i: number): StoredEvent {
  const generated = START + Math.floor((i * days * MICROS_PER_DAY) / total);
  const t = (name: string, value: string) => ({ name, trait: { type: 'text' as const, value } });
  const n = (name: string, value: number) => ({ name, trait: { type: 'int' as const, value } });
  const project = Math.floor(random() * 200);
  return {
    message_id: randomUUID(),
    event_type: pick(EVENT_TYPES),
    generated,
    raw: null,
    traits: [
      t('project_id', `project-${project}`),
      t('user_id', `user-${project}-${Math.floor(random() * 5)}`),
      t('instance_id', pick(instanceIds)),
      t('host', `compute-${Math.floor(random() * 100)}.example.net`),
      t('state', pick(STATES)),
      n('memory_mb', pick(MEMORY)),
      n('vcpus', 1 + Math.floor(random() * 16)),
      n('root_gb', 10 * Math.floor(random() * 20)),
      { name: 'launched_at', trait: { type: 'datetime', value: generated - Math.floor(random() * 1e12) } },
      { name: 'load', trait: { type: 'float', value: random() * 4 } },
    ],
  };
}

/** events/s of recordEvents alone (the events are made before each call). */
async function load(store: PgEventStore, from: number, count: number, batch: number): Promise<number> {
  let seconds = 0;
  for (let i = from; i < from + count; i += batch) {
    const events = Array.from({ length: Math.min(batch, from + count - i) }, (_, k) => makeEvent(i + k));
    const started = performance.now();
    const results = await store.recordEvents(events);
    seconds += (performance.now() - started) / 1000;
    const notStored = results.filter((r) => r.outcome !== 'stored');
    if (notStored.length) throw new Error(`not stored: ${JSON.stringify(notStored[0])}`);
  }
  return count / seconds;
}

async function latencies(run: () => Promise<unknown>): Promise<string> {
  const times: number[] = [];
  for (let i = 0; i < queries; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(1);
  return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`;
}

const QUERIES: [string, () => [EventFilter, Pagination]][] = [
  [
    'event_type = X and memory_mb > 4096, limit 100',
    () => [
      {
        eventType: pick(EVENT_TYPES),
        traits: [{ key: 'memory_mb', op: 'gt', trait: { type: 'int', value: 4096 } }],
      },
      { limit: 100 },
    ],
  ],
  [
    'instance_id = X (text), limit 100',
    () => [
      { traits: [{ key: 'instance_id', op: 'eq', trait: { type: 'text', value: pick(instanceIds) } }] },
      { limit: 100 },
    ],
  ],
  [
    "a member's scope: project_id = P and user_id = U, limit 100",
    () => {
      const p = Math.floor(random() * 200);
      const text = (value: string) => ({ type: 'text' as const, value });
      return [
        {
          traits: [
            { key: 'project_id', op: 'eq', trait: text(`project-${p}`) },
            { key: 'user_id', op: 'eq', trait: text(`user-${p}-1`) },
          ],
        },
        { limit: 100 },
      ];
    },
  ],
  [
    "an admin's scope (project P), generated desc, limit 100",
    () => [
      { adminProject: `project-${Math.floor(random() * 200)}` },
      { limit: 100, sort: [{ key: 'generated', direction: 'desc' }] },
    ],
  ],
  [
    'event_type = X and load > 3.9 (a float, 2.5% of events), limit 100',
    () => [
      {
        eventType: pick(EVENT_TYPES),
        traits: [{ key: 'load', op: 'gt', trait: { type: 'float', value: 3.9 } }],
      },
      { limit: 100 },
    ],
  ],
  [
    'event_type = X within one hour, limit 100',
    () => {
      const start = START + Math.floor(random() * (days * 24 - 1)) * 3600 * MICROS_PER_SECOND;
      return [
        {
          eventType: pick(EVENT_TYPES),
          startTimestamp: start,
          endTimestamp: start + 3600 * MICROS_PER_SECOND,
        },
        { limit: 100 },
      ];
    },
  ],
];

runBenchmark('store-driver', async () => {
  const url = process.env.EVENT_STORE_URL;
  if (!url)
    throw new Error('EVENT_STORE_URL is not set (bash scripts/stack.sh start writes it to .stack/env)');
  const schema = `bench_${randomBytes(3).toString('hex')}`;
  const pool = createPgPool(url, { schema, max: 4 });
  await pool.query(`CREATE SCHEMA ${schema}`);
  try {
    await upgradeSchema(pool);
    const store = new PgEventStore(pool);
    const tail = Math.min(100_000, Math.floor(total / 10));
    const loaded = total - tail;
    console.log(
      `loading ${loaded} events in batches of 5000: ${(await load(store, 0, loaded, 5000)).toFixed(0)} events/s`,
    );
    // Measured once autovacuum has nothing left to do, so it does not compete for the CPUs.
    for (const table of ['events', 'traits']) await pool.query(`VACUUM ANALYZE ${table}`);
    const half = Math.floor(tail / 2);
    console.log(
      `recordEvents, batches of 500:  ${(await load(store, loaded, half, 500)).toFixed(0)} events/s`,
    );
    console.log(
      `recordEvents, batches of 5000: ${(await load(store, loaded + half, tail - half, 5000)).toFixed(0)} events/s`,
    );
    await pool.query('ANALYZE events; ANALYZE traits');
    const size = await pool.query<{ bytes: string; events: string }>(
      `SELECT (SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i
                WHERE i.inhparent IN ('events'::regclass, 'traits'::regclass)) AS bytes,
              (SELECT count(*) FROM events) AS events`,
    );
    const { bytes, events } = size.rows[0];
    console.log(`stored: ${events} events, ${(Number(bytes) / Number(events)).toFixed(0)} bytes per event`);
    for (const [name, query] of QUERIES) {
      console.log(`${name}: ${await latencies(() => store.getEvents(...query()))}`);
    }
    const started = performance.now();
    const report = await store.clearExpiredData(0, undefined, START + MICROS_PER_DAY);
    console.log(
      `expire one day: ${(performance.now() - started).toFixed(0)} ms (${report.events} events, ${report.partitionsDropped} partition)`,
    );
  } finally {
    if (!args.includes('--keep')) await pool.query(`DROP SCHEMA ${schema} CASCADE`);
    await pool.end();
  }
});
