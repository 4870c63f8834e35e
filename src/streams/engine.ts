import { WinchesterEvent } from '../events/event';
import { Micros, MICROS_PER_SECOND } from '../time/micros';
import {
  DistinguishedValues,
  DueTimer,
  StreamKind,
  StreamMeta,
  StreamRecord,
  compareStreamOrder,
} from './model';
import { TriggerRuntime } from './trigger-runtime';

export type ClockMode = 'wall' | 'event';

/** The state of one stream key as read from a store, before a batch is applied. */
export interface KeySnapshot {
  active: StreamMeta | null;
  /** message_ids this trigger has already taken for this key (kept beyond purges). */
  alreadySeen: ReadonlySet<string>;
}

export interface StreamChange {
  meta: StreamMeta;
  added: WinchesterEvent[];
  created: boolean;
}

export interface KeyApplyResult {
  changes: StreamChange[];
  /** The active pointer after the batch (null: unchanged and there was none). */
  activeId: string | null;
  duplicates: number;
  newlySeen: string[];
}

/**
 * Applies, in arrival order, a batch of one stream key's events to its active stream.
 * Pure: the caller reads the snapshot and writes the result atomically (Redis WATCH/MULTI
 * or the in-memory store), so both stores share one set of rules.
 *
 * Joining rule — wall clock (Winchester's): the active stream takes the event unless its
 * expire time has passed. Event clock: the event joins if its own timestamp is before the
 * stream's expire time and not after its fire time (when set); otherwise a new stream opens
 * and the old one is left to its timers.
 */
export function applyEventsToKey(
  snapshot: KeySnapshot,
  batch: ReadonlyArray<{ event: WinchesterEvent; distinguished: DistinguishedValues }>,
  trigger: TriggerRuntime,
  ctx: { clock: ClockMode; now: Micros; partition: number; key: string; newStreamId: () => string },
): KeyApplyResult {
  const changes = new Map<string, StreamChange>();
  const seenNow = new Set<string>();
  let current = snapshot.active ? { ...snapshot.active, counters: [...snapshot.active.counters] } : null;
  let duplicates = 0;
  const delayMicros = Math.round(trigger.fireDelaySeconds * MICROS_PER_SECOND);

  for (const { event, distinguished } of batch) {
    if (snapshot.alreadySeen.has(event.message_id) || seenNow.has(event.message_id)) {
      duplicates++;
      continue;
    }
    seenNow.add(event.message_id);
    if (!current || !admits(current, event, ctx.clock, ctx.now)) {
      current = {
        id: ctx.newStreamId(),
        trigger: trigger.name,
        key: ctx.key,
        partition: ctx.partition,
        state: 'active',
        serial: 0,
        first: event.timestamp,
        last: event.timestamp,
        expireAt: 0,
        fireAt: null,
        counters: new Array<number>(trigger.fireCriteriaCount).fill(0),
        distinguished,
        eventCount: 0,
      };
      changes.set(current.id, { meta: current, added: [], created: true });
    }
    let change = changes.get(current.id);
    if (!change) {
      change = { meta: current, added: [], created: false };
      changes.set(current.id, change);
    }
    change.added.push(event);
    current.first = Math.min(current.first, event.timestamp);
    current.last = Math.max(current.last, event.timestamp);
    current.eventCount++;
    current.serial++;
    for (const index of trigger.fireCounters(event)) current.counters[index]++;
    current.expireAt = trigger.expiration(current.first, current.last, ctx.now);
    if (current.fireAt === null && trigger.shouldFire(current.counters)) {
      current.fireAt = (ctx.clock === 'event' ? event.timestamp : ctx.now) + delayMicros;
    }
  }
  return {
    changes: [...changes.values()],
    activeId: current ? current.id : null,
    duplicates,
    newlySeen: [...seenNow],
  };
}

function admits(stream: StreamMeta, event: WinchesterEvent, clock: ClockMode, now: Micros): boolean {
  if (stream.state !== 'active') return false;
  if (clock === 'wall') return !(stream.expireAt < now);
  return event.timestamp < stream.expireAt && (stream.fireAt === null || event.timestamp <= stream.fireAt);
}

/**
 * Decides what a due timer does to a stream: the new meta (firing/expiring) or null when
 * the timer is stale (stream left `active`, or the fire time moved).
 */
export function transitionForTimer(meta: StreamMeta | null, timer: DueTimer): StreamMeta | null {
  if (!meta || meta.state !== 'active') return null;
  if (timer.kind === 'fired' && meta.fireAt !== timer.due) return null;
  if (timer.kind === 'expired' && meta.expireAt !== timer.due) return null;
  return { ...meta, state: timer.kind === 'fired' ? 'firing' : 'expiring', serial: meta.serial + 1 };
}

export function kindOfState(state: StreamMeta['state']): StreamKind {
  return state === 'expiring' || state === 'retry_expire' || state === 'expire_error' ? 'expired' : 'fired';
}

export function buildStreamRecord(
  meta: StreamMeta,
  events: WinchesterEvent[],
  trigger: Pick<TriggerRuntime, 'firePipeline' | 'expirePipeline'>,
): StreamRecord {
  const kind = kindOfState(meta.state);
  return {
    stream_id: meta.id,
    partition: meta.partition,
    trigger: meta.trigger,
    kind,
    pipeline: kind === 'fired' ? trigger.firePipeline : trigger.expirePipeline,
    distinguished_by: meta.distinguished,
    first: meta.first,
    last: meta.last,
    expire: meta.expireAt,
    serial: meta.serial,
    events: [...events].sort(compareStreamOrder),
  };
}

/** A timer is due when its time is strictly before the clock (upstream compares with `<`). */
export function isDue(due: Micros, now: Micros): boolean {
  return due < now;
}
