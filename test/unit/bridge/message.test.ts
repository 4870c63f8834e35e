import { brotliCompressSync, deflateSync } from 'node:zlib';
import { classifyDelivery, Delivery } from '../../../src/bridge/message';
import { notificationKey, notificationKeyOfBytes } from '../../../src/topology/records';
import { sampleCorpus } from '../../support/corpus';

const notification = JSON.stringify({
  message_id: 'm-1',
  event_type: 'compute.instance.update',
  payload: { instance_id: 'i-1', memory_mb: 512 },
});
const delivery = (body: Buffer | string, headers?: Record<string, unknown>): Delivery => ({
  body: Buffer.isBuffer(body) ? body : Buffer.from(body),
  headers,
  exchange: 'nova',
  routingKey: 'notifications.info',
  redelivered: false,
});

describe('classifyDelivery', () => {
  test('a JSON object goes through byte for byte, keyed by its instance', () => {
    const outcome = classifyDelivery(delivery(notification), 1 << 20);
    expect(outcome).toEqual({ kind: 'record', key: 'i-1', value: Buffer.from(notification) });
  });

  test("oslo's v2 envelope goes through unchanged, keyed by the instance inside it", () => {
    const envelope = JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': notification });
    const outcome = classifyDelivery(delivery(envelope), 1 << 20);
    expect(outcome).toEqual({ kind: 'record', key: 'i-1', value: Buffer.from(envelope) });
  });

  test.each([
    ['application/x-gzip', deflateSync],
    ['application/x-brotli', brotliCompressSync],
  ])("kombu's %s compression is undone", (compression, compress) => {
    const outcome = classifyDelivery(delivery(compress(Buffer.from(notification)), { compression }), 1 << 20);
    expect(outcome).toEqual({ kind: 'record', key: 'i-1', value: Buffer.from(notification) });
  });

  test.each([
    ['', 'invalid-json', 'the message body is empty'],
    ['{"a": ', 'invalid-json', 'the message is not JSON'],
    ['[1]', 'invalid-json', 'the message is JSON but not an object'],
    ['"text"', 'invalid-json', 'the message is JSON but not an object'],
    [Buffer.from([0xff, 0xfe]), 'invalid-json', 'the message body is not valid UTF-8'],
    [JSON.stringify({ blob: 'x'.repeat(2000) }), 'oversized', 'over max_record_bytes 1024'],
  ])('%j is refused: %s', (body, category, reason) => {
    const outcome = classifyDelivery(delivery(body), 1024);
    expect(outcome).toMatchObject({ kind: 'reject', category });
    expect(outcome.kind === 'reject' && outcome.reason).toContain(reason);
  });

  test('a compressed message that inflates past the limit is oversized, not inflated whole', () => {
    const bomb = deflateSync(Buffer.alloc(10 << 20, 0x20));
    const outcome = classifyDelivery(delivery(bomb, { compression: 'application/x-gzip' }), 1 << 20);
    expect(outcome).toMatchObject({ kind: 'reject', category: 'oversized' });
  });

  test('unknown or corrupt compression is a compression rejection', () => {
    expect(classifyDelivery(delivery('BZh9', { compression: 'application/x-bz2' }), 1024)).toMatchObject({
      kind: 'reject',
      category: 'compression',
      reason: expect.stringContaining('application/x-bz2 is not supported'),
    });
    expect(classifyDelivery(delivery('not zlib', { compression: 'application/x-gzip' }), 1024)).toMatchObject(
      { kind: 'reject', category: 'compression' },
    );
  });
});

describe('classifyDelivery with json_check: shape (the default)', () => {
  test.each([
    ['{"a": ', 'it does not end with } (truncated?)'],
    ['[1]', 'the message is JSON but not an object'],
    ['hello', 'it starts with "hello"'],
  ])('%j is refused: %s', (body, reason) => {
    const outcome = classifyDelivery(delivery(body), 1024, 'shape');
    expect(outcome).toMatchObject({ kind: 'reject', category: 'invalid-json' });
    expect(outcome.kind === 'reject' && outcome.reason).toContain(reason);
  });

  test('an object-shaped body goes through unparsed, even one that would not parse', () => {
    expect(classifyDelivery(delivery(notification), 1024, 'shape')).toMatchObject({
      kind: 'record',
      key: 'i-1',
    });
    expect(classifyDelivery(delivery(' {"a": } \n'), 1024, 'shape')).toMatchObject({ kind: 'record' });
  });
});

describe('notificationKey', () => {
  test('plain and enveloped notifications get the same key', () => {
    const plain = JSON.stringify({ message_id: 'm-2', payload: { instance_id: 'abc' } });
    expect(notificationKey(plain)).toBe('abc');
    expect(notificationKey(JSON.stringify({ 'oslo.message': plain }))).toBe('abc');
  });

  test('without an instance, the message id, plain or enveloped', () => {
    const plain = JSON.stringify({ message_id: 'm-3', payload: {} });
    expect(notificationKey(plain)).toBe('m-3');
    expect(notificationKey(JSON.stringify({ 'oslo.message': plain }))).toBe('m-3');
    expect(notificationKey('{}')).toBeNull();
  });
});

describe('notificationKeyOfBytes', () => {
  const corpus = sampleCorpus();
  const envelope = (line: string) => JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': line });

  test('gives what notificationKey gives, for every notification of the corpus, plain and enveloped', () => {
    for (const line of corpus) {
      expect(notificationKeyOfBytes(Buffer.from(line))).toBe(notificationKey(line));
      expect(notificationKeyOfBytes(Buffer.from(envelope(line)))).toBe(notificationKey(envelope(line)));
    }
  });

  test.each([
    '{"instance_id": ""}',
    '{"instance_id" :  "a\\\\b", "message_id": "m"}',
    '{"instance_id": 7, "message_id": "m"}',
    '{"instance_id": "unterminated',
    '{"x": "\\"instance_id\\": \\"inner\\"", "instance_id": "outer"}',
    '{"oslo.message": "{\\"instance_id\\": \\"a\\\\\\"b\\", \\"message_id\\": \\"m\\"}"}',
    '{"oslo.message": "{\\"instance_id\\":\\n\\t \\"x\\"}"}',
    '{"message_id": "m", "instance_id": "i"}',
    '"instance_id"',
    '',
  ])('edge case %j agrees with notificationKey', (text) => {
    expect(notificationKeyOfBytes(Buffer.from(text))).toBe(notificationKey(text));
  });
});
