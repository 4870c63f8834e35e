import { TraitType, WinchesterEvent } from '../events/event';
import { Micros } from '../time/micros';

/** Winchester's stream states, with its names. */
export type StreamState =
  'active' | 'firing' | 'expiring' | 'completed' | 'error' | 'expire_error' | 'retry_fire' | 'retry_expire';

export type StreamKind = 'fired' | 'expired';

/** A distinguishing value as stored and printed: a typed trait value, or a timex range. */
export type DistinguishedValue = { type: TraitType; value: string | number } | { begin: Micros; end: Micros };

export type DistinguishedValues = Record<string, DistinguishedValue>;

/** What the matcher keeps per stream besides its events. */
export interface StreamMeta {
  id: string;
  trigger: string;
  key: string;
  partition: number;
  state: StreamState;
  /** Bumped by every change; a stream record carries it so workers can spot stale copies. */
  serial: number;
  first: Micros;
  last: Micros;
  expireAt: Micros;
  fireAt: Micros | null;
  /** One counter per fire criterion, updated incrementally. */
  counters: number[];
  distinguished: DistinguishedValues;
  eventCount: number;
  /**
   * The topology version the stream was opened with: its counters, timers and record use
   * that version's trigger. Absent in meta written before live changes: version 0.
   */
  version?: number;
  /**
   * The `distinguished_by` fingerprint of that version's trigger. Absent in meta written
   * before live changes: taken as the same as any event's.
   */
  fingerprint?: string;
  /**
   * The version current at the matcher when a timer took the stream: its record (and any
   * re-emission of it) names it as `pipeline_version`.
   */
  pipelineVersion?: number;
}

/** The version a stream was opened with (0 for meta written before live changes). */
export function streamVersion(meta: Pick<StreamMeta, 'version'>): number {
  return meta.version ?? 0;
}

/** One (event, matching trigger) pair, as it travels on the repartition topic. */
export interface MatchedEvent {
  trigger: string;
  key: string;
  distinguished: DistinguishedValues;
  event: WinchesterEvent;
  /** The event's JSON wire text when it arrived as such: stored as is, not encoded again. */
  wire?: string;
  /** The topology version whose triggers routed it (absent: 0, the role's own bundle). */
  version?: number;
}

/** A fired or expired stream, as published to the `streams` topic. */
export interface StreamRecord {
  stream_id: string;
  partition: number;
  trigger: string;
  /** The topology version the stream was opened with: its trigger definition and pipelines. */
  trigger_version?: number;
  kind: StreamKind;
  pipeline: string | null;
  distinguished_by: DistinguishedValues;
  first: Micros;
  last: Micros;
  expire: Micros;
  serial: number;
  events: WinchesterEvent[];
  /**
   * The topology version current at the matcher when it emitted the record: the worker runs
   * that version's pipelines. Absent in records of matchers from before versions.
   */
  pipeline_version?: number;
}

export interface DueTimer {
  kind: StreamKind;
  due: Micros;
  streamId: string;
}

/** Events in stream order: timestamp, then message_id (upstream left ties to the database). */
export function compareStreamOrder(a: WinchesterEvent, b: WinchesterEvent): number {
  if (a.timestamp !== b.timestamp) return a.timestamp - b.timestamp;
  return a.message_id < b.message_id ? -1 : a.message_id > b.message_id ? 1 : 0;
}

/** Due timers run in due-time order, fire before expire at equal times (upstream's worker order). */
export function compareDueTimers(a: DueTimer, b: DueTimer): number {
  if (a.due !== b.due) return a.due - b.due;
  if (a.kind !== b.kind) return a.kind === 'fired' ? -1 : 1;
  return a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : 0;
}

/** A distinguishing value as text, the way the /v1/streams `traits` filter compares it. */
export function distinguishedText(values: DistinguishedValues, name: string): string | undefined {
  const value = values[name];
  if (!value) return undefined;
  return 'begin' in value ? String(value.begin) : String(value.value);
}
