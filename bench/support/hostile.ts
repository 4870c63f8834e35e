/**
 * A corpus of hostile notifications, built in code (the largest are megabytes and are sized
 * from the topology's record limit, so they are not committed). Each case says what the
 * distiller should make of it with topologies/openstack-usage/event_definitions.yaml:
 *
 * - `distiller`: the outcome of `decodeNotificationValue` + `Distiller.distillText`, as the
 *   distiller role runs them (no size limit at that layer);
 * - `role`: the outcome at the distiller role when it differs (the record-size limit).
 *
 * Every record carries the Kafka key `hostile:<name>`; the role keeps the key on the event or
 * the DLQ record, so a test can find each case's result whatever its message_id.
 */
import { DistillErrorCategory, DropReason } from '../../src/distiller';
import { defaultTopologySettings } from '../../src/config/topology-settings';

export type HostileExpectation =
  | {
      outcome: 'event';
      /** Traits whose value must be exactly this (text, number or µs). */
      traits?: Record<string, string | number>;
      /** Traits that must be absent. */
      absent?: string[];
      /** The event time: a fixed instant, or `now` (the distiller's clock). */
      timestamp?: number | 'now';
    }
  | { outcome: 'dropped'; reason: DropReason }
  | {
      outcome: 'dlq';
      /** The first word of the DLQ reason: a distiller category, or `oversized` (the role's size check). */
      category: DistillErrorCategory | 'oversized';
      /** Matched against the reason's detail. */
      detail?: RegExp;
      /** The trait the error names, if any. */
      trait?: string;
    };

export interface HostileCase {
  name: string;
  /** The family it belongs to (the docs table groups by it). */
  group: string;
  description: string;
  /** The Kafka record value: text (sent as UTF-8), raw bytes, or null (a tombstone). */
  value: string | Buffer | null;
  key: string;
  distiller: HostileExpectation;
  role?: HostileExpectation;
  /** Megabytes: built only when asked for. */
  large?: boolean;
}

export interface HostileOptions {
  /** The topology's record limit that the large cases straddle (default: the topology default). */
  maxRecordBytes?: number;
  /** Build the multi-megabyte cases (default true). */
  large?: boolean;
}

/** The timestamp every base notification carries, and what it reads as. */
export const BASE_TIMESTAMP = '2026-11-01 00:10:58.869000';
export const BASE_TIMESTAMP_MICROS = Date.UTC(2026, 10, 1, 0, 10, 58, 869) * 1000;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A well-formed compute.instance.update that the openstack-usage definitions distill. */
export function baseNotification(messageId: string): { [key: string]: Json } & {
  payload: { [key: string]: Json };
} {
  return {
    _context_request_id: 'req-cd613e30-d8f1-4adf-91b7-584a2265b1f5',
    _context_tenant: '132075',
    event_type: 'compute.instance.update',
    message_id: messageId,
    priority: 'INFO',
    publisher_id: 'compute.host-1.example.org',
    timestamp: BASE_TIMESTAMP,
    payload: {
      tenant_id: '132075',
      user_id: '123406',
      instance_id: '1e2feb89-414c-443c-9027-c4d1c386bbc4',
      instance_type: '1GB Standard Instance',
      instance_type_id: 3,
      memory_mb: 1024,
      disk_gb: 40,
      root_gb: 40,
      ephemeral_gb: 0,
      vcpus: 1,
      state: 'active',
      launched_at: '2026-01-01 21:56:18.543000',
      deleted_at: '',
      image_meta: {
        'org.openstack__1__architecture': 'x64',
        'org.openstack__1__os_distro': 'org.centos',
        'org.openstack__1__os_version': '6.4',
      },
    },
  };
}

/** Marks a place in a notification whose raw JSON text `raw` replaces. */
const RAW = '\u0000raw\u0000';

/** JSON text of a notification in which the RAW marker (as a string value) becomes `raw`. */
function withRaw(notification: object, raw: string): string {
  const text = JSON.stringify(notification);
  const marker = JSON.stringify(RAW);
  const at = text.indexOf(marker);
  if (at < 0) throw new Error('no RAW marker in the notification');
  return text.slice(0, at) + raw + text.slice(at + marker.length);
}

const nested = (depth: number, leaf = '0') => '['.repeat(depth) + leaf + ']'.repeat(depth);
const nestedObjects = (depth: number) => '{"a":'.repeat(depth) + '0' + '}'.repeat(depth);

const id = (name: string) => `hostile-${name}`;
const event = (extra: Omit<Extract<HostileExpectation, { outcome: 'event' }>, 'outcome'> = {}) =>
  ({ outcome: 'event', ...extra }) as const;
const dlq = (category: DistillErrorCategory | 'oversized', detail?: RegExp, trait?: string) =>
  ({ outcome: 'dlq', category, detail, trait }) as const;

/**
 * The hostile corpus, in a fixed order. Cases are independent: each is one Kafka record.
 */
export function hostileNotifications(options: HostileOptions = {}): HostileCase[] {
  const maxRecordBytes = options.maxRecordBytes ?? defaultTopologySettings().maxRecordBytes;
  const cases: HostileCase[] = [];
  const add = (c: Omit<HostileCase, 'key'>) => cases.push({ ...c, key: `hostile:${c.name}` });
  const good = (name: string) => baseNotification(id(name));
  /** A base notification with `change` applied to a copy. */
  const mutate = (name: string, change: (n: ReturnType<typeof good>) => void) => {
    const n = good(name);
    change(n);
    return n;
  };
  const text = (name: string, change: (n: ReturnType<typeof good>) => void) =>
    JSON.stringify(mutate(name, change));

  // --- Not JSON at all -------------------------------------------------------------------
  const whole = JSON.stringify(good('truncated'));
  add({
    group: 'json',
    name: 'json-truncated',
    description: 'a notification cut off half way',
    value: whole.slice(0, whole.length >> 1),
    distiller: dlq('invalid-json', /^not JSON/),
  });
  add({
    group: 'json',
    name: 'json-trailing-garbage',
    description: 'a complete notification followed by more text',
    value: `${JSON.stringify(good('trailing-garbage'))} trailing`,
    distiller: dlq('invalid-json', /^not JSON/),
  });
  add({
    group: 'json',
    name: 'json-two-documents',
    description: 'two notifications in one record (JSON lines)',
    value: `${JSON.stringify(good('two-a'))}\n${JSON.stringify(good('two-b'))}`,
    distiller: dlq('invalid-json'),
  });
  add({
    group: 'json',
    name: 'json-nan-literal',
    description: 'Python json.dumps writes NaN for float("nan"); it is not JSON',
    value: withRaw(
      mutate('nan-literal', (n) => (n.payload.memory_mb = RAW)),
      'NaN',
    ),
    distiller: dlq('invalid-json'),
  });
  add({
    group: 'json',
    name: 'json-infinity-literal',
    description: 'Infinity, as Python writes float("inf")',
    value: withRaw(
      mutate('infinity-literal', (n) => (n.payload.disk_gb = RAW)),
      '-Infinity',
    ),
    distiller: dlq('invalid-json'),
  });
  add({
    group: 'json',
    name: 'json-single-quotes',
    description: "Python's repr of a dict instead of JSON",
    value: `{'event_type': 'compute.instance.update', 'message_id': '${id('single-quotes')}'}`,
    distiller: dlq('invalid-json'),
  });
  add({
    group: 'json',
    name: 'json-raw-control-character',
    description: 'an unescaped control character (a raw newline and NUL) inside a string',
    value: JSON.stringify(good('raw-control')).replace('1GB Standard Instance', '1GB\n\u0000Instance'),
    distiller: dlq('invalid-json'),
  });
  add({
    group: 'json',
    name: 'json-byte-order-mark',
    description: 'a UTF-8 byte order mark before the JSON',
    value: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(good('bom')))]),
    distiller: dlq('invalid-json'),
  });
  add({
    group: 'json',
    name: 'json-whitespace-only',
    description: 'a value of spaces and newlines',
    value: '  \n\t ',
    distiller: dlq('invalid-json'),
  });
  add({
    group: 'json',
    name: 'json-lone-surrogate-escape',
    description: 'a lone surrogate written as a \\ud800 escape: legal JSON (JSON.parse and Python accept it)',
    value: JSON.stringify(good('lone-surrogate-escape')).replace(
      '1GB Standard Instance',
      '1GB \\ud800 Instance',
    ),
    distiller: event({ traits: { instance_type: '1GB \ud800 Instance' } }),
  });

  // --- Bytes that are not UTF-8, and records without a value --------------------------------
  const valid = Buffer.from(JSON.stringify(good('invalid-utf8')));
  const at = valid.indexOf('1GB Standard Instance');
  add({
    group: 'bytes',
    name: 'bytes-invalid-utf8',
    description: 'bytes 0xFF 0xFE inside a string of otherwise valid JSON',
    value: Buffer.concat([valid.subarray(0, at), Buffer.from([0xff, 0xfe]), valid.subarray(at)]),
    distiller: dlq('invalid-json', /UTF-8/),
  });
  const cesu = Buffer.from(JSON.stringify(good('surrogate-bytes')));
  const at2 = cesu.indexOf('1GB Standard Instance');
  add({
    group: 'bytes',
    name: 'bytes-encoded-surrogate',
    description: 'a surrogate encoded as UTF-8 bytes (ED A0 80, CESU-8): not UTF-8',
    value: Buffer.concat([cesu.subarray(0, at2), Buffer.from([0xed, 0xa0, 0x80]), cesu.subarray(at2)]),
    distiller: dlq('invalid-json', /UTF-8/),
  });
  add({
    group: 'bytes',
    name: 'bytes-overlong-encoding',
    description: 'an overlong UTF-8 encoding of "/" (C0 AF), the classic filter bypass',
    value: Buffer.concat([
      Buffer.from('{"event_type": "compute'),
      Buffer.from([0xc0, 0xaf]),
      Buffer.from('"}'),
    ]),
    distiller: dlq('invalid-json', /UTF-8/),
  });
  add({
    group: 'bytes',
    name: 'bytes-binary-garbage',
    description: '256 bytes of every value 0x00–0xFF',
    value: Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
    distiller: dlq('invalid-json'),
  });
  add({
    group: 'bytes',
    name: 'record-null-value',
    description: 'a record with a null value (a tombstone)',
    value: null,
    distiller: dlq('invalid-json', /has no value/),
  });
  add({
    group: 'bytes',
    name: 'record-empty-value',
    description: 'a record with an empty value',
    value: '',
    distiller: dlq('invalid-json', /empty/),
  });

  // --- JSON that is not a notification ------------------------------------------------------
  const notObject = /must be a JSON object/;
  add({
    group: 'shape',
    name: 'shape-array',
    description: 'a JSON array of notifications',
    value: JSON.stringify([good('array-item')]),
    distiller: dlq('invalid-notification', notObject),
  });
  add({
    group: 'shape',
    name: 'shape-number',
    description: 'a JSON number',
    value: '42',
    distiller: dlq('invalid-notification', notObject),
  });
  add({
    group: 'shape',
    name: 'shape-string',
    description: 'a JSON string holding a notification',
    value: JSON.stringify(JSON.stringify(good('string-of-json'))),
    distiller: dlq('invalid-notification', notObject),
  });
  add({
    group: 'shape',
    name: 'shape-null',
    description: 'the JSON literal null',
    value: 'null',
    distiller: dlq('invalid-notification', notObject),
  });
  add({
    group: 'shape',
    name: 'shape-empty-object',
    description: '{}',
    value: '{}',
    distiller: dlq('invalid-notification', /event_type/),
  });
  add({
    group: 'shape',
    name: 'oslo-message-not-a-string',
    description: 'an oslo.messaging envelope whose oslo.message is an object',
    value: JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': good('oslo-object') }),
    distiller: dlq('invalid-notification', /oslo\.message must be a JSON string/),
  });
  add({
    group: 'shape',
    name: 'oslo-message-not-json',
    description: 'an oslo.messaging envelope whose message is truncated JSON',
    value: JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': whole.slice(0, 40) }),
    distiller: dlq('invalid-json', /oslo\.message is not JSON/),
  });
  add({
    group: 'shape',
    name: 'oslo-double-envelope',
    description: 'an envelope inside an envelope (only one is unwrapped, as oslo does)',
    value: JSON.stringify({
      'oslo.version': '2.0',
      'oslo.message': JSON.stringify({
        'oslo.version': '2.0',
        'oslo.message': JSON.stringify(good('double-envelope')),
      }),
    }),
    distiller: dlq('invalid-notification', /event_type/),
  });
  add({
    group: 'shape',
    name: 'oslo-unknown-version',
    description: 'oslo.version 3.0',
    value: JSON.stringify({ 'oslo.version': '3.0', 'oslo.message': JSON.stringify(good('oslo-v3')) }),
    distiller: dlq('invalid-notification', /oslo\.version/),
  });

  // --- message_id -----------------------------------------------------------------------
  const messageIdError = /message_id must be a non-empty string/;
  add({
    group: 'message_id',
    name: 'message-id-missing',
    description: 'no message_id',
    value: text('x', (n) => delete n.message_id),
    distiller: dlq('invalid-notification', messageIdError),
  });
  add({
    group: 'message_id',
    name: 'message-id-number',
    description: 'message_id 12345',
    value: text('x', (n) => (n.message_id = 12345)),
    distiller: dlq('invalid-notification', messageIdError),
  });
  add({
    group: 'message_id',
    name: 'message-id-null',
    description: 'message_id null',
    value: text('x', (n) => (n.message_id = null)),
    distiller: dlq('invalid-notification', messageIdError),
  });
  add({
    group: 'message_id',
    name: 'message-id-empty',
    description: 'message_id ""',
    value: text('x', (n) => (n.message_id = '')),
    distiller: dlq('invalid-notification', messageIdError),
  });
  add({
    group: 'message_id',
    name: 'message-id-object',
    description: 'message_id {"$ne": null} (a query-injection shape)',
    value: text('x', (n) => (n.message_id = { $ne: null })),
    distiller: dlq('invalid-notification', messageIdError),
  });
  add({
    group: 'message_id',
    name: 'message-id-10kb',
    description: 'a 10 KB message_id: odd, but a string; it is the event key',
    value: text('x', (n) => (n.message_id = `hostile-message-id-10kb-${'m'.repeat(10 * 1024)}`)),
    distiller: event(),
  });

  // --- event_type -----------------------------------------------------------------------
  const eventTypeError = /event_type must be a non-empty string/;
  add({
    group: 'event_type',
    name: 'event-type-missing',
    description: 'no event_type',
    value: text('event-type-missing', (n) => delete n.event_type),
    distiller: dlq('invalid-notification', eventTypeError),
  });
  add({
    group: 'event_type',
    name: 'event-type-number',
    description: 'event_type 7',
    value: text('event-type-number', (n) => (n.event_type = 7)),
    distiller: dlq('invalid-notification', eventTypeError),
  });
  add({
    group: 'event_type',
    name: 'event-type-empty',
    description: 'event_type ""',
    value: text('event-type-empty', (n) => (n.event_type = '')),
    distiller: dlq('invalid-notification', eventTypeError),
  });
  add({
    group: 'event_type',
    name: 'event-type-list',
    description: 'event_type ["compute.instance.update"]',
    value: text('event-type-list', (n) => (n.event_type = ['compute.instance.update'])),
    distiller: dlq('invalid-notification', eventTypeError),
  });
  add({
    group: 'event_type',
    name: 'event-type-unknown',
    description: 'an event type no definition matches',
    value: text('event-type-unknown', (n) => (n.event_type = 'image.upload')),
    distiller: { outcome: 'dropped', reason: 'unmatched' },
  });
  add({
    group: 'event_type',
    name: 'event-type-64kb',
    description: 'a 64 KB event type under compute.instance.* (matches the glob; not cached)',
    value: text('event-type-64kb', (n) => (n.event_type = `compute.instance.${'x'.repeat(64 * 1024)}`)),
    distiller: event(),
  });
  add({
    group: 'event_type',
    name: 'event-type-glob-characters',
    description: 'an event type spelled like a glob: data, not a pattern',
    value: text('event-type-glob', (n) => (n.event_type = 'compute.instance.*[!a]?')),
    distiller: event(),
  });

  // --- timestamp ------------------------------------------------------------------------
  add({
    group: 'timestamp',
    name: 'timestamp-missing',
    description: 'neither timestamp nor _context_timestamp: the time of processing (upstream)',
    value: text('timestamp-missing', (n) => delete n.timestamp),
    distiller: event({ timestamp: 'now' }),
  });
  add({
    group: 'timestamp',
    name: 'timestamp-not-a-date',
    description: 'timestamp "yesterday"',
    value: text('timestamp-not-a-date', (n) => (n.timestamp = 'yesterday')),
    distiller: dlq('invalid-timestamp', /Unable to parse date string/),
  });
  add({
    group: 'timestamp',
    name: 'timestamp-empty',
    description: 'timestamp "" (upstream: now; here an error, it would drag the event clock)',
    value: text('timestamp-empty', (n) => (n.timestamp = '')),
    distiller: dlq('invalid-timestamp', /present but empty/),
  });
  add({
    group: 'timestamp',
    name: 'timestamp-null',
    description: 'timestamp null',
    value: text('timestamp-null', (n) => (n.timestamp = null)),
    distiller: dlq('invalid-timestamp', /present but empty/),
  });
  add({
    group: 'timestamp',
    name: 'timestamp-year-0',
    description: 'year 0000',
    value: text('timestamp-year-0', (n) => (n.timestamp = '0000-01-01 00:00:00.000000')),
    distiller: dlq('invalid-timestamp', /year 0 is out of range/),
  });
  add({
    group: 'timestamp',
    name: 'timestamp-year-10000',
    description: 'year 10000',
    value: text('timestamp-year-10000', (n) => (n.timestamp = '10000-01-01T00:00:00Z')),
    distiller: dlq('invalid-timestamp', /Unable to parse/),
  });
  add({
    group: 'timestamp',
    name: 'timestamp-last-microsecond',
    description: '9999-12-31 23:59:59.999999: a valid Python datetime, but its µs are not exact in a double',
    value: text('timestamp-last-us', (n) => (n.timestamp = '9999-12-31 23:59:59.999999')),
    distiller: dlq('invalid-timestamp', /cannot be held exactly/),
  });
  add({
    group: 'timestamp',
    name: 'timestamp-year-1',
    description: '0001-01-01 00:00:00: a Python datetime, but beyond the ±2^53 µs an event time carries',
    value: text('timestamp-year-1', (n) => (n.timestamp = '0001-01-01 00:00:00')),
    distiller: dlq('invalid-timestamp', /between 1684 and 2255/),
  });
  add({
    group: 'timestamp',
    name: 'timestamp-number-1e30',
    description: 'timestamp 1e30 (a number)',
    value: withRaw(
      mutate('timestamp-1e30', (n) => (n.timestamp = RAW)),
      '1e30',
    ),
    distiller: dlq('invalid-timestamp', /must be a string/),
  });
  add({
    group: 'timestamp',
    name: 'timestamp-text-1e30',
    description: 'timestamp "1e30"',
    value: text('timestamp-text-1e30', (n) => (n.timestamp = '1e30')),
    distiller: dlq('invalid-timestamp'),
  });
  add({
    group: 'timestamp',
    name: 'timestamp-epoch-seconds',
    description: 'timestamp 1762000000 (epoch seconds, not ISO 8601)',
    value: text('timestamp-epoch', (n) => (n.timestamp = 1762000000)),
    distiller: dlq('invalid-timestamp', /must be a string/),
  });
  add({
    group: 'timestamp',
    name: 'timestamp-february-30',
    description: '2026-02-30',
    value: text('timestamp-feb-30', (n) => (n.timestamp = '2026-02-30 00:00:00')),
    distiller: dlq('invalid-timestamp', /day is out of range/),
  });
  add({
    group: 'timestamp',
    name: 'timestamp-offset-24h',
    description: 'a zone offset of +24:00',
    value: text('timestamp-offset-24h', (n) => (n.timestamp = '2026-11-01T00:00:00+24:00')),
    distiller: dlq('invalid-timestamp', /offset must be a timedelta/),
  });
  add({
    group: 'timestamp',
    name: 'timestamp-100k-fraction-digits',
    description: 'a fraction of 100,000 digits: valid (truncated to µs, as iso8601 does)',
    value: text(
      'timestamp-long-fraction',
      (n) => (n.timestamp = `2026-11-01 00:10:58.869${'0'.repeat(100_000)}`),
    ),
    distiller: event({ timestamp: BASE_TIMESTAMP_MICROS }),
  });
  add({
    group: 'timestamp',
    name: 'timestamp-backtracking-probe',
    description: 'a long run of digits then a bad character, against the datetime pattern',
    value: text('timestamp-backtrack', (n) => (n.timestamp = `2026-11-01T00:10:58.${'9'.repeat(100_000)}x`)),
    distiller: dlq('invalid-timestamp', /Unable to parse/),
  });
  add({
    group: 'timestamp',
    name: 'context-timestamp-object',
    description: 'no timestamp, and a _context_timestamp that is an object',
    value: text('context-ts-object', (n) => {
      delete n.timestamp;
      n._context_timestamp = { $date: 1762000000000 };
    }),
    distiller: dlq('invalid-timestamp', /_context_timestamp must be a string/),
  });

  // --- Trait values of the wrong type (openstack-usage: memory_mb int, launched_at datetime…) ---
  add({
    group: 'traits',
    name: 'trait-int-from-text',
    description: 'memory_mb "lots"',
    value: text('int-from-text', (n) => (n.payload.memory_mb = 'lots')),
    distiller: dlq('conversion', /invalid literal for int\(\)/, 'memory_mb'),
  });
  add({
    group: 'traits',
    name: 'trait-int-from-decimal-text',
    description: 'memory_mb "12.5" (Python int() refuses it)',
    value: text('int-from-decimal-text', (n) => (n.payload.memory_mb = '12.5')),
    distiller: dlq('conversion', /invalid literal/, 'memory_mb'),
  });
  add({
    group: 'traits',
    name: 'trait-int-from-object',
    description: 'vcpus {"count": 2}',
    value: text('int-from-object', (n) => (n.payload.vcpus = { count: 2 })),
    distiller: dlq('conversion', /not 'dict'/, 'vcpus'),
  });
  add({
    group: 'traits',
    name: 'trait-int-from-list',
    description: 'disk_gb [40]',
    value: text('int-from-list', (n) => (n.payload.disk_gb = [40])),
    distiller: dlq('conversion', /not 'list'/, 'disk_gb'),
  });
  add({
    group: 'traits',
    name: 'trait-int-beyond-2-53',
    description: 'memory_mb 9007199254740993 (2^53 + 1): a JS number would round it',
    value: withRaw(
      mutate('int-2-53', (n) => (n.payload.memory_mb = RAW)),
      '9007199254740993',
    ),
    distiller: dlq('conversion', /int value 9007199254740993 is out of the supported range/, 'memory_mb'),
  });
  add({
    group: 'traits',
    name: 'trait-int-1e400',
    description: 'root_gb 1e400 (reads as infinity)',
    value: withRaw(
      mutate('int-1e400', (n) => (n.payload.root_gb = RAW)),
      '1e400',
    ),
    distiller: dlq('conversion', /infinity/, 'root_gb'),
  });
  add({
    group: 'traits',
    name: 'trait-int-from-bool',
    description: 'vcpus true: Python int(True) is 1',
    value: text('int-from-bool', (n) => (n.payload.vcpus = true)),
    distiller: event({ traits: { vcpus: 1 } }),
  });
  add({
    group: 'traits',
    name: 'trait-int-from-float',
    description: 'memory_mb 12.7: Python int() truncates to 12',
    value: text('int-from-float', (n) => (n.payload.memory_mb = 12.7)),
    distiller: event({ traits: { memory_mb: 12 } }),
  });
  add({
    group: 'traits',
    name: 'trait-datetime-from-object',
    description: 'launched_at {"$date": 0}',
    value: text('datetime-from-object', (n) => (n.payload.launched_at = { $date: 0 })),
    distiller: dlq('conversion', /expected string or bytes-like object/, 'launched_at'),
  });
  add({
    group: 'traits',
    name: 'trait-datetime-from-number',
    description: 'launched_at 1762000000',
    value: text('datetime-from-number', (n) => (n.payload.launched_at = 1762000000)),
    distiller: dlq('conversion', /got 'int'/, 'launched_at'),
  });
  add({
    group: 'traits',
    name: 'trait-datetime-year-0',
    description: 'deleted_at "0000-00-00 00:00:00" (a MySQL zero date)',
    value: text('datetime-year-0', (n) => (n.payload.deleted_at = '0000-00-00 00:00:00')),
    distiller: dlq('conversion', /year 0 is out of range/, 'deleted_at'),
  });
  add({
    group: 'traits',
    name: 'trait-datetime-empty',
    description: 'launched_at "": absent for a non-text trait (Nova sends it for unset dates)',
    value: text('datetime-empty', (n) => (n.payload.launched_at = '')),
    distiller: event({ absent: ['launched_at'] }),
  });
  add({
    group: 'traits',
    name: 'trait-text-from-container',
    description: 'instance_type {"a": [1, 5.0, null]}: text is Python str()',
    value: withRaw(
      mutate('text-from-container', (n) => (n.payload.instance_type = RAW)),
      '{"a": [1, 5.0, null, true]}',
    ),
    distiller: event({ traits: { instance_type: "{'a': [1, 5.0, None, True]}" } }),
  });
  add({
    group: 'traits',
    name: 'trait-null',
    description: 'instance_id null: no trait',
    value: text('trait-null', (n) => (n.payload.instance_id = null)),
    distiller: event({ absent: ['instance_id'] }),
  });
  add({
    group: 'traits',
    name: 'payload-not-an-object',
    description: 'payload is a string: every payload trait is absent, the envelope traits remain',
    value: text('payload-string', (n) => (n.payload = 'payload' as never)),
    distiller: event({ absent: ['instance_id', 'memory_mb', 'tenant_id'], traits: { service: 'compute' } }),
  });

  // --- Nesting, width ------------------------------------------------------------------------
  add({
    group: 'nesting',
    name: 'nesting-200-unread',
    description: '200 levels of arrays in a payload field no trait reads',
    value: withRaw(
      mutate('nest-200', (n) => (n.payload.extra = RAW)),
      nested(200),
    ),
    distiller: event(),
  });
  add({
    group: 'nesting',
    name: 'nesting-200-in-text-trait',
    description: '200 levels of objects where a text trait reads (str() of it)',
    value: withRaw(
      mutate('nest-200-trait', (n) => (n.payload.instance_type = RAW)),
      nestedObjects(200),
    ),
    distiller: event({ traits: { instance_type: `${"{'a': ".repeat(200)}0${'}'.repeat(200)}` } }),
  });
  add({
    group: 'nesting',
    name: 'nesting-100k-unread',
    description: '100,000 levels of arrays that no trait reads',
    value: withRaw(
      mutate('nest-100k', (n) => (n.payload.extra = RAW)),
      nested(100_000),
    ),
    distiller: event(),
  });
  add({
    group: 'nesting',
    name: 'nesting-100k-exact-read',
    description: '100,000 levels of arrays in a notification that must be read exactly (a float as text)',
    value: withRaw(
      mutate('nest-100k-exact', (n) => {
        n.payload.extra = RAW;
        n.payload.instance_type = 'placeholder';
      }),
      nested(100_000),
    ).replace('"placeholder"', '5.0'),
    distiller: dlq('invalid-json', /nested deeper than 1000 levels/),
  });
  add({
    group: 'nesting',
    name: 'array-1m-unread',
    description: 'a 1,000,000-element array no trait reads',
    value: withRaw(
      mutate('array-1m', (n) => (n.payload.extra = RAW)),
      `[${new Array(1_000_000).fill('0').join(',')}]`,
    ),
    distiller: event(),
  });
  add({
    group: 'nesting',
    name: 'array-1m-in-text-trait',
    description: 'a 1,000,000-element array where a text trait reads (a 3 MB str())',
    value: withRaw(
      mutate('array-1m-trait', (n) => (n.payload.state = RAW)),
      `[${new Array(1_000_000).fill('1').join(',')}]`,
    ),
    distiller: event(),
  });
  add({
    group: 'nesting',
    name: 'object-100k-keys',
    description: 'a payload with 100,000 extra keys',
    value: text('wide-object', (n) => {
      for (let i = 0; i < 100_000; i++) n.payload[`k${i}`] = i;
    }),
    distiller: event(),
  });

  // --- Prototype keys -----------------------------------------------------------------------
  const pollute = '{"polluted": "yes", "instance_id": "from-prototype"}';
  add({
    group: 'prototype',
    name: 'proto-top-level',
    description: '"__proto__" at the top level',
    value: withRaw({ __marker: RAW, ...good('proto-top') }, pollute).replace('"__marker"', '"__proto__"'),
    distiller: event({ traits: { instance_id: '1e2feb89-414c-443c-9027-c4d1c386bbc4' } }),
  });
  add({
    group: 'prototype',
    name: 'proto-in-payload',
    description: '"__proto__" in the payload, where instance_id is missing',
    value: withRaw(
      mutate('proto-payload', (n) => {
        delete n.payload.instance_id;
        n.payload.__marker = RAW;
      }),
      pollute,
    ).replace('"__marker"', '"__proto__"'),
    distiller: event({ absent: ['instance_id'] }),
  });
  add({
    group: 'prototype',
    name: 'constructor-prototype-in-payload',
    description: '"constructor": {"prototype": {...}} in the payload',
    value: text('constructor-payload', (n) => {
      n.payload['constructor'] = { prototype: { polluted: 'yes' } };
      n.payload.prototype = { polluted: 'yes' };
    }),
    distiller: event(),
  });
  add({
    group: 'prototype',
    name: 'proto-in-context',
    description: '"_context": {"__proto__": ...} (flattened to _context___proto__)',
    value: withRaw(
      mutate('proto-context', (n) => {
        delete n._context_request_id;
        n._context = { request_id: 'req-1', __marker: RAW };
      }),
      pollute,
    ).replace('"__marker"', '"__proto__"'),
    distiller: event({ traits: { request_id: 'req-1' } }),
  });
  add({
    group: 'prototype',
    name: 'proto-as-oslo-message',
    description: 'an oslo envelope whose message carries "__proto__" and "constructor"',
    value: JSON.stringify({
      'oslo.version': '2.0',
      'oslo.message': withRaw(
        { __marker: RAW, constructor: { prototype: {} }, ...good('proto-oslo') },
        pollute,
      ).replace('"__marker"', '"__proto__"'),
    }),
    distiller: event(),
  });
  add({
    group: 'prototype',
    name: 'proto-exact-read',
    description: '"__proto__" in a notification that must be read exactly (memory_mb 5.0 as text elsewhere)',
    value: withRaw(
      mutate('proto-exact', (n) => {
        n.payload.__marker = RAW;
        n.payload.instance_type = 'placeholder';
      }),
      pollute,
    )
      .replace('"__marker"', '"__proto__"')
      .replace('"placeholder"', '5.0'),
    distiller: event({ traits: { instance_type: '5.0' } }),
  });
  add({
    group: 'prototype',
    name: 'proto-keys-as-values',
    description: 'trait values spelled __proto__, constructor, toString',
    value: text('proto-values', (n) => {
      n.payload.instance_id = '__proto__';
      n.payload.state = 'constructor';
      n.payload.user_id = 'toString';
    }),
    distiller: event({ traits: { instance_id: '__proto__', state: 'constructor', user_id: 'toString' } }),
  });

  // --- Size: megabytes, around the topology's record limit ----------------------------------
  if (options.large ?? true) {
    /** A notification of `size` bytes whose bulk sits in `field` of the payload. */
    const sized = (name: string, size: number, field: string) => {
      const n = good(name);
      n.payload[field] = '';
      const bulk = Math.max(0, size - Buffer.byteLength(JSON.stringify(n)));
      n.payload[field] = 'x'.repeat(bulk);
      return JSON.stringify(n);
    };
    const margin = 64 * 1024;
    add({
      group: 'size',
      name: 'size-under-limit-unread',
      description: `a notification 64 KB under the record limit (${maxRecordBytes} bytes), its bulk unread`,
      value: sized('size-under-unread', maxRecordBytes - margin, 'console_log'),
      distiller: event(),
      large: true,
    });
    add({
      group: 'size',
      name: 'size-over-limit-unread',
      description: 'a notification 64 KB over the record limit, its bulk unread: the event is small',
      value: sized('size-over-unread', maxRecordBytes + margin, 'console_log'),
      distiller: event(),
      large: true,
    });
    add({
      group: 'size',
      name: 'size-under-limit-in-trait',
      description: 'a notification 64 KB under the limit whose bulk is a text trait: the event fits',
      value: sized('size-under-trait', maxRecordBytes - margin, 'instance_type'),
      distiller: event(),
      large: true,
    });
    add({
      group: 'size',
      name: 'size-over-limit-in-trait',
      description: 'a notification 64 KB over the limit whose bulk is a text trait: the event does not fit',
      value: sized('size-over-trait', maxRecordBytes + margin, 'instance_type'),
      distiller: event(),
      role: dlq('oversized'),
      large: true,
    });
    const garbage = 'x'.repeat(Math.floor(maxRecordBytes * 0.6));
    add({
      group: 'size',
      name: 'size-huge-bad-timestamp',
      description: 'a timestamp of 0.6 × the limit in garbage: the reason must not quote it whole',
      value: text('huge-bad-timestamp', (n) => (n.timestamp = garbage)),
      distiller: dlq('invalid-timestamp', /Unable to parse date string/),
      large: true,
    });
    add({
      group: 'size',
      name: 'size-huge-bad-int',
      description: 'an int trait of 0.6 × the limit in letters: the reason must not quote it whole',
      value: text('huge-bad-int', (n) => (n.payload.memory_mb = garbage)),
      distiller: dlq('conversion', /invalid literal/, 'memory_mb'),
      large: true,
    });
    add({
      group: 'size',
      name: 'size-huge-message-id-bad-type',
      description: 'a message_id of 0.6 × the limit and a bad event_type: the DLQ headers must stay small',
      value: text('x', (n) => {
        n.message_id = `hostile-huge-id-${garbage}`;
        n.event_type = 5;
      }),
      distiller: dlq('invalid-notification', eventTypeError),
      large: true,
    });
  }
  return cases;
}

/** The value of a hostile case as the bytes a producer would send. */
export function hostileBytes(c: HostileCase): Buffer | null {
  if (c.value === null) return null;
  return Buffer.isBuffer(c.value) ? c.value : Buffer.from(c.value, 'utf8');
}

/** What the distiller role should do with a case: its role outcome, else its distiller outcome. */
export function roleExpectation(c: HostileCase): HostileExpectation {
  return c.role ?? c.distiller;
}

/** `clean` with `hostile` spread evenly through it (all of both, each in its own order). */
export function interleave<T>(clean: readonly T[], hostile: readonly T[]): T[] {
  const out: T[] = [];
  const every = clean.length / Math.max(1, hostile.length);
  let next = 0;
  clean.forEach((item, i) => {
    out.push(item);
    while (next < hostile.length && next * every <= i) out.push(hostile[next++]);
  });
  while (next < hostile.length) out.push(hostile[next++]);
  return out;
}
