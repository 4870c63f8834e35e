import { IHeaders, KafkaMessage, Message } from 'kafkajs';
import { WinchesterEvent } from '../events/event';
import { decodeEvent, encodeEvent, fromWire, toWire, WireEvent, WireFormatError } from '../events/wire';
import { DistinguishedValues, MatchedEvent, StreamRecord } from '../streams/model';
import { Micros } from '../time/micros';

/** What travels on the matcher's repartition topic. */
export type RepartitionRecord =
  | { type: 'event'; matched: MatchedEvent }
  /** Event clock: source partition `source` of the events topic has sent everything up to `watermark`. */
  | { type: 'marker'; source: number; watermark: Micros }
  /** Event clock: `clock advance`, a floor for the partition clock. */
  | { type: 'advance'; to: Micros };

interface RepartitionWire {
  t?: string;
  k?: string;
  d?: DistinguishedValues;
  /** The topology version the event was routed under; absent for version 0. */
  v?: number;
  e?: WireEvent;
  marker?: { source: number; watermark: number };
  advance?: number;
}

/**
 * An event record is its routing header, a newline, then the event's wire JSON (which
 * JSON.stringify never breaks with a raw newline): the event's text passes through stage 2
 * into Redis without being encoded again.
 */
export function encodeRepartition(record: RepartitionRecord): string {
  switch (record.type) {
    case 'event': {
      const { trigger, key, distinguished, event, wire, version } = record.matched;
      const header = { t: trigger, k: key, d: distinguished, ...(version ? { v: version } : {}) };
      return `${JSON.stringify(header)}\n${wire ?? encodeEvent(event)}`;
    }
    case 'marker':
      return JSON.stringify({ marker: { source: record.source, watermark: record.watermark } });
    case 'advance':
      return JSON.stringify({ advance: record.to });
  }
}

export function decodeRepartition(value: Buffer | null): RepartitionRecord {
  if (!value) throw new WireFormatError('empty repartition record');
  const text = value.toString('utf8');
  const newline = text.indexOf('\n');
  const raw = JSON.parse(newline < 0 ? text : text.slice(0, newline)) as RepartitionWire;
  if (newline >= 0) {
    if (typeof raw.t !== 'string' || typeof raw.k !== 'string' || !raw.d) {
      throw new WireFormatError('repartition record lacks trigger, key or distinguishing values');
    }
    const wire = text.slice(newline + 1);
    return {
      type: 'event',
      matched: {
        trigger: raw.t,
        key: raw.k,
        distinguished: raw.d,
        event: decodeEvent(wire),
        wire,
        ...routedVersion(raw.v),
      },
    };
  }
  if (raw.marker) return { type: 'marker', source: raw.marker.source, watermark: raw.marker.watermark };
  if (typeof raw.advance === 'number') return { type: 'advance', to: raw.advance };
  if (typeof raw.t !== 'string' || typeof raw.k !== 'string' || !raw.d) {
    throw new WireFormatError('repartition record lacks trigger, key or distinguishing values');
  }
  return {
    type: 'event',
    matched: {
      trigger: raw.t,
      key: raw.k,
      distinguished: raw.d,
      event: fromWire(raw.e),
      ...routedVersion(raw.v),
    },
  };
}

/** The routing version of a repartition header, checked: absent (version 0) or a version number. */
function routedVersion(v: unknown): { version?: number } {
  if (v === undefined) return {};
  if (!Number.isSafeInteger(v) || (v as number) < 0) {
    throw new WireFormatError(`repartition record has topology version ${JSON.stringify(v)}`);
  }
  return { version: v as number };
}

export function encodeStreamRecord(record: StreamRecord): string {
  return JSON.stringify({ ...record, events: record.events.map(toWire) });
}

export function decodeStreamRecord(value: Buffer | string): StreamRecord {
  const raw = JSON.parse(value.toString()) as StreamRecord & { events: unknown[] };
  return { ...raw, events: raw.events.map((e) => fromWire(e)) as WinchesterEvent[] };
}

/** Longest DLQ header value: reasons and ids come from the bad input and may be megabytes. */
export const DLQ_HEADER_MAX_CHARS = 1024;

/** Head and tail of a long value: a reason's "why" often comes after the bad input it quotes. */
const headerValue = (v: string) =>
  v.length > DLQ_HEADER_MAX_CHARS
    ? `${v.slice(0, DLQ_HEADER_MAX_CHARS - 301)}…${v.slice(v.length - 300)}`
    : v;

/**
 * A record for a dead-letter topic: the original bytes, the reason and the source in headers.
 * Header values are capped, and key plus value are cut to fit `maxBytes` (with the original
 * length in a header): a DLQ record the broker refuses would fail the batch forever.
 */
export function deadLetter(
  source: { topic: string; partition: number; message: KafkaMessage },
  reason: string,
  detail: Record<string, string | undefined> = {},
  maxBytes = Infinity,
): Message {
  const headers: IHeaders = {
    'dlq.reason': headerValue(reason),
    'dlq.source.topic': source.topic,
    'dlq.source.partition': String(source.partition),
    'dlq.source.offset': source.message.offset,
    'dlq.time': new Date().toISOString(),
  };
  for (const [k, v] of Object.entries(detail)) if (v !== undefined) headers[`dlq.${k}`] = headerValue(v);
  // 4 KB for the capped headers; the DLQ topics also allow 64 KB over maxBytes (topics.ts).
  const budget = Math.max(0, maxBytes - 4096);
  let key = source.message.key;
  if (key && key.length > budget) {
    headers['dlq.key-truncated-from'] = String(key.length);
    key = key.subarray(0, budget);
  }
  let value = source.message.value;
  const room = budget - (key?.length ?? 0);
  if (value && value.length > maxBytes - (key?.length ?? 0)) {
    // The original cannot travel whole; keep its head so an operator can identify it.
    headers['dlq.truncated-from'] = String(value.length);
    value = value.subarray(0, Math.max(0, room));
  }
  return { key, value, headers };
}

/** An error's message cut for a log line: the bad input it may quote can be megabytes. */
export function shortReason(error: unknown): string {
  return headerValue(error instanceof Error ? error.message : String(error));
}

export function headerString(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? String(value[0]) : String(value);
}

/**
 * Kafka key of a raw notification: its instance, so one instance's notifications stay in order,
 * else its message id. Inside oslo's v2 envelope the notification is a JSON string, so its
 * quotes are escaped (`\"instance_id\": \"…\"`): both spellings are read, without parsing.
 */
export function notificationKey(line: string): string | null {
  const found =
    /"instance_id"\s*:\s*"([^"]+)"/.exec(line) ??
    /\\"instance_id\\"\s*:\s*\\"([^"\\]+)\\"/.exec(line) ??
    /"message_id"\s*:\s*"([^"]+)"/.exec(line) ??
    /\\"message_id\\"\s*:\s*\\"([^"\\]+)\\"/.exec(line);
  return found ? found[1] : null;
}

/** The four spellings notificationKey looks for, in its order: plain, then inside an envelope. */
const KEY_NEEDLES = [
  { needle: Buffer.from('"instance_id"'), escaped: false },
  { needle: Buffer.from('\\"instance_id\\"'), escaped: true },
  { needle: Buffer.from('"message_id"'), escaped: false },
  { needle: Buffer.from('\\"message_id\\"'), escaped: true },
];
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const isJsonSpace = (byte: number) => byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;

/**
 * notificationKey on the bytes of a notification, without decoding them into a string: the
 * bridge keys every message it forwards, and the decode would cost as much as the search.
 */
export function notificationKeyOfBytes(body: Buffer): string | null {
  for (const { needle, escaped } of KEY_NEEDLES) {
    for (let at = body.indexOf(needle); at >= 0; at = body.indexOf(needle, at + 1)) {
      const value = quotedValueAfter(body, at + needle.length, escaped);
      if (value !== null) return value;
    }
  }
  return null;
}

/** After a key: `\s*:\s*"value"` (quotes escaped inside an envelope), the value non-empty. */
function quotedValueAfter(body: Buffer, from: number, escaped: boolean): string | null {
  let i = from;
  while (i < body.length && isJsonSpace(body[i])) i++;
  if (body[i] !== 0x3a) return null;
  i++;
  while (i < body.length && isJsonSpace(body[i])) i++;
  if (escaped && body[i++] !== BACKSLASH) return null;
  if (body[i++] !== QUOTE) return null;
  const start = i;
  while (i < body.length && body[i] !== QUOTE && !(escaped && body[i] === BACKSLASH)) i++;
  if (i === start || i >= body.length) return null;
  if (escaped && (body[i] !== BACKSLASH || body[i + 1] !== QUOTE)) return null;
  return body.toString('utf8', start, i);
}
