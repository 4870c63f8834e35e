import { createHash } from 'node:crypto';

/** RFC 4122 name-based UUIDs (version 5, SHA-1): node:crypto only has random (v4) ones. */

const UUID_TEXT =
  /^(?:urn:uuid:)?\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}?$/i;

/** The 16 bytes of a UUID written as Python's `uuid.UUID()` accepts it, or undefined. */
export function parseUuid(text: string): Buffer | undefined {
  const m = UUID_TEXT.exec(text.trim());
  return m ? Buffer.from(m.slice(1).join(''), 'hex') : undefined;
}

function formatUuid(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** `uuid.uuid5(namespace, name)` of Python: SHA-1 of namespace bytes + UTF-8 name, version and variant set. */
export function uuidV5(namespace: string, name: string): string {
  const ns = parseUuid(namespace);
  if (!ns) throw new Error(`uuidV5: namespace "${namespace}" is not a UUID`);
  const digest = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  digest[6] = (digest[6] & 0x0f) | 0x50;
  digest[8] = (digest[8] & 0x3f) | 0x80;
  return formatUuid(digest);
}

export const NAMESPACE_URL = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';

/** The namespace of ids derived from message ids that are not UUIDs themselves. */
const MESSAGE_ID_NAMESPACE = uuidV5(
  NAMESPACE_URL,
  'https://github.com/openstack/stacktach-winchester#message_id',
);

/**
 * The id of an event a handler derives from a source message: `uuid5(source, kind)` as upstream
 * does when the source id is a UUID; any other source id is first mapped to a UUID by name.
 * The same source and kind give the same id, so a replayed stream cannot emit a second copy.
 */
export function derivedMessageId(sourceMessageId: string, kind: string): string {
  const namespace = parseUuid(sourceMessageId)
    ? sourceMessageId
    : uuidV5(MESSAGE_ID_NAMESPACE, sourceMessageId);
  return uuidV5(namespace, kind);
}
