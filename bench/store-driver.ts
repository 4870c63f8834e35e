/**
 * The event store benchmark's workload and its measurements of the PostgreSQL driver
 * (bench/store.ts runs them): nova-like events, loading with recordEvents, query latencies,
 * bytes per stored event and the expiry of one day.
 *
 * Events are unique, with 10 traits each (project_id, user_id, instance_id, host, state,
 * memory_mb, vcpus, root_gb, launched_at, load: 5 text, 3 int, 1 float, 1 datetime), of 12
 * event types, 200 projects and 50,000 instances, event i of `total` generated at
 * start + i/total of `days` days, so they spread evenly over the days in index order.
 */
import { randomUUID } from 'node:crypto';
import { encodeEvent } from '../src/events/wire';
import { newTraits } from '../src/events/event';
import { PgPool } from '../src/postgres/client';
import { EventFilter, EventStore, NamedTrait, Pagination, StoredEvent } from '../src/store/model';
import { MICROS_PER_DAY, MICROS_PER_HOUR, Micros } from '../src/time/micros';

const EVENT_TYPES = [
  'create.start',
  'create.end',
  'update',
  'exists',
  'delete.start',
  'delete.end',
  'power_off.end',
  'power_on.end',
  'resize.confirm.end',
  'rebuild.end',
  'shutdown.end',
  'reboot.end',
].map((suffix) => `compute.instance.${suffix}`);
const MEMORY = [512, 1024, 2048, 4096, 8192, 16384];
const STATES = ['active', 'building', 'deleted', 'error', 'stopped', 'paused'];
const PROJECTS = 200;

/** The workload: `total` events over `days` days from `start`, values from a seeded generator. */
export class NovaLikeEvents {
  readonly start: Micros = Date.UTC(2026, 0, 1) * 1000;
  readonly instanceIds = Array.from({ length: 50_000 }, () => randomUUID());
  readonly eventTypes = EVENT_TYPES;

  constructor(
    readonly total: number,
    readonly days: number,
    private seed = 42,
  ) {}

  /** Uniform in [0, 1), from a linear congruential generator: the same values every run. */
  random(): number {
    this.seed = (this.seed * 1103515245 + 12345) % 2 ** 31;
    return this.seed / 2 ** 31;
  }

  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.random() * list.length)];
  }

  /** Event `i` of the workload, with a message id of its own. */
  event(i: number): StoredEvent {
    const generated = this.start + Math.floor((i * this.days * MICROS_PER_DAY) / this.total);
    const t = (name: string, value: string) => ({ name, trait: { type: 'text' as const, value } });
    const n = (name: string, value: number) => ({ name, trait: { type: 'int' as const, value } });
    const project = Math.floor(this.random() * PROJECTS);
    const traits: NamedTrait[] = [
      t('project_id', `project-${project}`),
      t('user_id', `user-${project}-${Math.floor(this.random() * 5)}`),
      t('instance_id', this.pick(this.instanceIds)),
      t('host', `compute-${Math.floor(this.random() * 100)}.example.net`),
      t('state', this.pick(STATES)),
      n('memory_mb', this.pick(MEMORY)),
      n('vcpus', 1 + Math.floor(this.random() * 16)),
      n('root_gb', 10 * Math.floor(this.random() * 20)),
      {
        name: 'launched_at',
        trait: { type: 'datetime', value: generated - Math.floor(this.random() * 1e12) },
      },
      { name: 'load', trait: { type: 'float', value: this.random() * 4 } },
    ];
    return { message_id: randomUUID(), event_type: this.pick(EVENT_TYPES), generated, raw: null, traits };
  }

  events(from: number, count: number): StoredEvent[] {
    return Array.from({ length: count }, (_, k) => this.event(from + k));
  }

  /** The filters the latency figures are taken for: a name, and a maker of random instances. */
  queryShapes(): [string, () => [EventFilter, Pagination]][] {
    const text = (value: string) => ({ type: 'text' as const, value });
    const project = () => Math.floor(this.random() * PROJECTS);
    const page = { limit: 100 };
    return [
      [
        'event_type = X and memory_mb > 4096 (int, 33% match)',
        () => [
          {
            eventType: this.pick(EVENT_TYPES),
            traits: [{ key: 'memory_mb', op: 'gt', trait: { type: 'int', value: 4096 } }],
          },
          page,
        ],
      ],
      [
        'instance_id = X (text)',
        () => [
          { traits: [{ key: 'instance_id', op: 'eq', trait: text(this.pick(this.instanceIds)) }] },
          page,
        ],
      ],
      [
        "member's scope: project_id = P and user_id = U",
        () => {
          const p = project();
          const traits = [
            { key: 'project_id', op: 'eq' as const, trait: text(`project-${p}`) },
            { key: 'user_id', op: 'eq' as const, trait: text(`user-${p}-1`) },
          ];
          return [{ traits }, page];
        },
      ],
      [
        "admin's scope (project P), generated desc",
        () => [
          { adminProject: `project-${project()}` },
          { ...page, sort: [{ key: 'generated', direction: 'desc' }] },
        ],
      ],
      [
        'event_type = X and load > 3.9 (float, 2.5% match)',
        () => [
          {
            eventType: this.pick(EVENT_TYPES),
            traits: [{ key: 'load', op: 'gt', trait: { type: 'float', value: 3.9 } }],
          },
          page,
        ],
      ],
      [
        'event_type = X within one hour',
        () => {
          const from = this.start + Math.floor(this.random() * (this.days * 24 - 1)) * MICROS_PER_HOUR;
          return [
            { eventType: this.pick(EVENT_TYPES), startTimestamp: from, endTimestamp: from + MICROS_PER_HOUR },
            page,
          ];
        },
      ],
    ];
  }
}

/** An event in the wire form of the `events` topic (src/events/wire.ts), as upstream's harness reads it too. */
export function wireLine(event: StoredEvent): string {
  const traits = newTraits();
  for (const { name, trait } of event.traits) traits[name] = trait;
  return encodeEvent({
    message_id: event.message_id,
    event_type: event.event_type,
    timestamp: event.generated,
    traits,
  });
}

/**
 * Records events `from`..`from + count - 1` in batches of `batch`; events/s of recordEvents
 * alone (each batch is made before its call). Any event not stored is an error.
 */
export async function loadEvents(
  store: EventStore,
  workload: NovaLikeEvents,
  from: number,
  count: number,
  batch: number,
): Promise<number> {
  let seconds = 0;
  for (let i = from; i < from + count; i += batch) {
    const events = workload.events(i, Math.min(batch, from + count - i));
    const started = performance.now();
    const results = await store.recordEvents(events);
    seconds += (performance.now() - started) / 1000;
    const notStored = results.find((r) => r.outcome !== 'stored');
    if (notStored) throw new Error(`an event was not stored: ${JSON.stringify(notStored)}`);
  }
  return count / seconds;
}

export interface Latency {
  p50Ms: number;
  p99Ms: number;
}

/** p50 and p99 of `count` sequential runs. */
export async function latencies(count: number, run: () => Promise<unknown>): Promise<Latency> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  return { p50Ms: at(0.5), p99Ms: at(0.99) };
}

/** Every partition of `events` with its indexes and TOAST, over the events stored. */
export async function storedSize(pool: PgPool): Promise<{ events: number; bytesPerEvent: number }> {
  const size = await pool.query<{ bytes: string; events: string }>(
    `SELECT (SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i
              WHERE i.inhparent = 'events'::regclass) AS bytes,
            (SELECT count(*) FROM events) AS events`,
  );
  const events = Number(size.rows[0].events);
  return { events, bytesPerEvent: Number(size.rows[0].bytes) / events };
}

/** Expires the workload's first day: its partition detached, counted and dropped. */
export async function expireFirstDay(store: EventStore, workload: NovaLikeEvents) {
  const started = performance.now();
  const report = await store.clearExpiredData(0, undefined, workload.start + MICROS_PER_DAY);
  return { ms: performance.now() - started, ...report };
}
