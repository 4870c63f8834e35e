import { WinchesterEvent } from './event';
import { WireFormatError } from './wire';

/*
 * How the matcher keeps a stream's events in Redis: the event's JSON wire text (typed traits,
 * microsecond times) with the pieces every event repeats (the wire form's field names, a
 * trait's type and brackets, common trait names and values) each replaced by a control
 * character. JSON text never holds a raw control character other than tab, line feed and
 * carriage return, so the replacement is undone exactly, the value stays valid UTF-8 text,
 * and the wire text (so the event, and the stream record built from it) comes back byte for
 * byte. A string pass, several times cheaper than deflating each event.
 *
 * A value whose first character is `{` is plain wire text: what earlier versions stored, and
 * what is stored for a wire text that holds a control character of its own.
 */

/** First character of a value whose pieces are replaced by TOKENS_V1. */
const TOKENISED_V1 = '\x01';
/** First character of plain wire text. */
const PLAIN_WIRE_TEXT = '{';

/**
 * The pieces, in code order. Part of the stored format: a value tagged TOKENISED_V1 reads
 * back only with exactly this list, so pieces may be appended (taking the next codes), never
 * changed, removed or reordered.
 */
const TOKENS_V1 = [
  '{"message_id":"',
  '","event_type":"',
  '","timestamp":',
  ',"traits":{"',
  '":["text","',
  '":["int",',
  '":["datetime",',
  '":["float",',
  '"],"',
  '],"',
  '"]}}',
  ']}}',
  'compute.instance.',
  'instance_id',
  'tenant_id',
  'user_id',
  'request_id":["text","req-',
  'service":["text","publisher-',
  'memory_mb',
  'disk_gb',
  'root_gb',
  'ephemeral_gb',
  'vcpus',
  'instance_type_id',
  'instance_type',
  'state":["text","',
  'os_architecture',
  'os_version',
  'os_distro":["text","org.centos',
  'launched_at',
  'audit_period_beginning',
  'audit_period_ending',
  'deleted_at',
  ' Standard Instance',
  'update',
  'exists',
  'active',
  'deleted',
];

/** The control characters (code 0 to 31) JSON may hold between its tokens. */
const JSON_WHITESPACE = '\t\n\r';
const controlCharacters = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => String.fromCharCode(from + i)).filter(
    (c) => !JSON_WHITESPACE.includes(c),
  );

/**
 * One character for each of the first pieces (the control characters but JSON's whitespace,
 * the tag and ESCAPE); two, ESCAPE and a printable character, for the rest.
 */
const ESCAPE = '\x1f';
const SINGLE_CODES = controlCharacters(0x02, 0x1e);
const codeOf = (index: number) =>
  index < SINGLE_CODES.length
    ? SINGLE_CODES[index]
    : ESCAPE + String.fromCharCode(0x20 + index - SINGLE_CODES.length);

const CODES = new Map(TOKENS_V1.map((token, i) => [token, codeOf(i)]));
const PIECES = new Map(TOKENS_V1.map((token, i) => [codeOf(i), token]));
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Longest first: an alternation takes the first piece that matches where it stands. */
const PIECE_PATTERN = new RegExp(
  [...TOKENS_V1]
    .sort((a, b) => b.length - a.length)
    .map(escapeRegExp)
    .join('|'),
  'g',
);
const CODE_PATTERN = new RegExp(`${ESCAPE}[ -~]|[${SINGLE_CODES.join('')}]`, 'g');
/** What TOKENISED_V1 cannot store: a control character of the text's own. */
const OWN_CONTROL = new RegExp(`[${controlCharacters(0x00, 0x1f).join('')}]`);

/** The value stored for an event of this wire text. */
export function encodeStoredEvent(wireText: string): string {
  if (OWN_CONTROL.test(wireText)) return wireText;
  return TOKENISED_V1 + wireText.replace(PIECE_PATTERN, (piece) => CODES.get(piece)!);
}

/** The wire text of a stored value, of either form, read as bytes or as text. */
export function storedEventWireText(stored: Buffer | string): string {
  const text = typeof stored === 'string' ? stored : stored.toString('utf8');
  if (text.startsWith(PLAIN_WIRE_TEXT)) return text;
  if (!text.startsWith(TOKENISED_V1)) {
    const first = text.length ? `code ${text.charCodeAt(0)}` : 'empty';
    throw new WireFormatError(`stored event has an unknown format (first character ${first})`);
  }
  return text.slice(1).replace(CODE_PATTERN, (code) => {
    const piece = PIECES.get(code);
    if (piece === undefined)
      throw new WireFormatError(`stored event has an unknown piece (code ${code.charCodeAt(1)})`);
    return piece;
  });
}

/**
 * One event per message id, the one stored last. Events were once fields of a hash keyed by
 * message id, where a later write replaced an earlier one; they are now appended, and an id
 * seen again after the seen-id retention (a new event by then) is appended a second time.
 */
export function lastOfEachMessageId(events: WinchesterEvent[]): WinchesterEvent[] {
  return lastOfEach(events, (event) => event.message_id);
}

/** lastOfEachMessageId for wire texts; a text that is not JSON is kept, to fail where it is decoded. */
export function lastWireTextOfEachMessageId(texts: string[]): string[] {
  return texts.length < 2 ? texts : lastOfEach(texts, wireMessageId);
}

function wireMessageId(text: string): string {
  try {
    const id = (JSON.parse(text) as { message_id?: unknown }).message_id;
    return typeof id === 'string' ? id : text;
  } catch {
    return text;
  }
}

function lastOfEach<T>(items: T[], idOf: (item: T) => string): T[] {
  const byId = new Map<string, T>();
  for (const item of items) {
    const id = idOf(item);
    // Deleted first, so the last one stored also takes the last place.
    byId.delete(id);
    byId.set(id, item);
  }
  return byId.size === items.length ? items : [...byId.values()];
}
