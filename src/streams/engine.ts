import { WinchesterEvent } from '../events/event';
import { Micros, MICROS_PER_SECOND } from '../time/micros';
import {
  DistinguishedValues,
  DueTimer,
  StreamKind,
  StreamMeta,
  StreamRecord,
  compareStreamOrder,
  streamVersion,
} from './model';
import { TriggerLookup, TriggerRuntime, versioned, VersionedTrigger } from './trigger-runtime';

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

/** One event of a key's batch, with the topology version whose triggers routed it (absent: 0). */
export interface KeyBatchEvent {
  event: WinchesterEvent;
  distinguished: DistinguishedValues;
  version?: number;
}

export interface KeyApplyContext {
  clock: ClockMode;
  now: Micros;
  partition: number;
  key: string;
  newStreamId: () => string;
}

/**
 * Applies, in arrival order, a batch of one stream key's events to its active stream.
 * Pure: the caller reads the snapshot and writes the result atomically (Redis WATCH/MULTI
 * or the in-memory store), so both stores share one set of rules.
 *
 * Joining rule — wall clock (Winchester's): the active stream takes the event unless its
 * expire time has passed. Event clock: the event joins if its own timestamp is before the
 * stream's expire time and not after its fire time (when set). Either way, the stream's
 * `distinguished_by` fingerprint must also be that of the version the event was routed under.
 * Otherwise a new stream opens, with that version, and the old one is left to its timers.
 * An event that joins is counted, and the stream's fire and expire times computed, with the
 * definition of the version the stream was opened with.
 */
export function applyEventsToKey(
  snapshot: KeySnapshot,
  batch: ReadonlyArray<KeyBatchEvent>,
  trigger: TriggerRuntime | VersionedTrigger,
  ctx: KeyApplyContext,
): KeyApplyResult {
  const definitions = versioned(trigger);
  const changes = new Map<string, StreamChange>();
  const seenNow = new Set<string>();
  let current = snapshot.active ? { ...snapshot.active, counters: [...snapshot.active.counters] } : null;
  let duplicates = 0;

  for (const { event, distinguished, version = 0 } of batch) {
    if (snapshot.alreadySeen.has(event.message_id) || seenNow.has(event.message_id)) {
      duplicates++;
      continue;
    }
    seenNow.add(event.message_id);
    const routed = definitions.at(version);
    if (!current || !admits(current, event, ctx.clock, ctx.now) || !sameDistinguishing(current, routed)) {
      current = openStream(routed, version, event, distinguished, ctx);
      changes.set(current.id, { meta: current, added: [], created: true });
    }
    let change = changes.get(current.id);
    if (!change) {
      change = { meta: current, added: [], created: false };
      changes.set(current.id, change);
    }
    change.added.push(event);
    const own = streamVersion(current) === version ? routed : definitions.at(streamVersion(current));
    addEvent(current, event, own, ctx);
  }
  return {
    changes: [...changes.values()],
    activeId: current ? current.id : null,
    duplicates,
    newlySeen: [...seenNow],
  };
}

/** A new active stream of `trigger`'s `version`, before its first event is added. */
function openStream(
  trigger: TriggerRuntime,
  version: number,
  event: WinchesterEvent,
  distinguished: DistinguishedValues,
  ctx: KeyApplyContext,
): StreamMeta {
  const meta: StreamMeta = {
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
    version,
  };
  if (trigger.distinguishedByFingerprint !== undefined) meta.fingerprint = trigger.distinguishedByFingerprint;
  return meta;
}

/** Counts the event into the stream and moves its times, by the stream's own definition. */
function addEvent(stream: StreamMeta, event: WinchesterEvent, trigger: TriggerRuntime, ctx: KeyApplyContext) {
  stream.first = Math.min(stream.first, event.timestamp);
  stream.last = Math.max(stream.last, event.timestamp);
  stream.eventCount++;
  stream.serial++;
  for (const index of trigger.fireCounters(event)) stream.counters[index]++;
  stream.expireAt = trigger.expiration(stream.first, stream.last, ctx.now);
  if (stream.fireAt === null && trigger.shouldFire(stream.counters)) {
    const delayMicros = Math.round(trigger.fireDelaySeconds * MICROS_PER_SECOND);
    stream.fireAt = (ctx.clock === 'event' ? event.timestamp : ctx.now) + delayMicros;
  }
}

function admits(stream: StreamMeta, event: WinchesterEvent, clock: ClockMode, now: Micros): boolean {
  if (stream.state !== 'active') return false;
  if (clock === 'wall') return !(stream.expireAt < now);
  return event.timestamp < stream.expireAt && (stream.fireAt === null || event.timestamp <= stream.fireAt);
}

/**
 * Whether an event routed under `routed` may join the stream: the same `distinguished_by`
 * fingerprint. Meta written before live changes has none and counts as the same.
 */
function sameDistinguishing(stream: StreamMeta, routed: TriggerRuntime): boolean {
  return stream.fingerprint === undefined || stream.fingerprint === routed.distinguishedByFingerprint;
}

/**
 * Decides what a due timer does to a stream: the new meta (firing/expiring, with the
 * `pipelineVersion` current as it is taken) or null when the timer is stale (stream left
 * `active`, or the fire time moved).
 */
export function transitionForTimer(
  meta: StreamMeta | null,
  timer: DueTimer,
  pipelineVersion = 0,
): StreamMeta | null {
  if (!meta || meta.state !== 'active') return null;
  if (timer.kind === 'fired' && meta.fireAt !== timer.due) return null;
  if (timer.kind === 'expired' && meta.expireAt !== timer.due) return null;
  const state = timer.kind === 'fired' ? 'firing' : 'expiring';
  return { ...meta, state, serial: meta.serial + 1, pipelineVersion };
}

/** A taken stream's record, with the pipelines of its own version's trigger. */
export function takenStreamRecord(
  meta: StreamMeta,
  events: WinchesterEvent[],
  triggers: TriggerLookup,
): StreamRecord | null {
  const trigger = triggers.get(meta.trigger, streamVersion(meta));
  return trigger ? buildStreamRecord(meta, events, trigger, meta.pipelineVersion) : null;
}

export function kindOfState(state: StreamMeta['state']): StreamKind {
  return state === 'expiring' || state === 'retry_expire' || state === 'expire_error' ? 'expired' : 'fired';
}

export function buildStreamRecord(
  meta: StreamMeta,
  events: WinchesterEvent[],
  trigger: Pick<TriggerRuntime, 'firePipeline' | 'expirePipeline'>,
  /** The topology version current at the matcher as it emits the record. */
  pipelineVersion = 0,
): StreamRecord {
  const kind = kindOfState(meta.state);
  return {
    stream_id: meta.id,
    partition: meta.partition,
    trigger: meta.trigger,
    // Absent for version 0: records read as they did before live changes.
    ...(streamVersion(meta) === 0 ? {} : { trigger_version: streamVersion(meta) }),
    kind,
    pipeline: kind === 'fired' ? trigger.firePipeline : trigger.expirePipeline,
    distinguished_by: meta.distinguished,
    first: meta.first,
    last: meta.last,
    expire: meta.expireAt,
    serial: meta.serial,
    events: [...events].sort(compareStreamOrder),
    pipeline_version: pipelineVersion,
  };
}

/** A timer is due when its time is strictly before the clock (upstream compares with `<`). */
export function isDue(due: Micros, now: Micros): boolean {
  return due < now;
}
