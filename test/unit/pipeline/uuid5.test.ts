import { derivedMessageId, NAMESPACE_URL, parseUuid, uuidV5 } from '../../../src/pipeline/handlers/uuid5';

const NAMESPACE_DNS = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';
const NAMESPACE_OID = '6ba7b812-9dad-11d1-80b4-00c04fd430c8';

describe('uuid v5', () => {
  test('matches Python uuid.uuid5', () => {
    expect(uuidV5(NAMESPACE_DNS, 'python.org')).toBe('886313e1-3b8a-5372-9b90-0c9aee199e5d');
    expect(uuidV5(NAMESPACE_URL, 'http://python.org/')).toBe('4c565f0d-3f5a-5890-b41b-20cf47701c5e');
    expect(uuidV5(NAMESPACE_OID, '日本')).toBe('4441631d-d7cf-5a1d-a228-f981c3da77a6');
    expect(uuidV5('2b6b7d4a-6e5f-4c3a-9a0e-0123456789ab', 'compute.instance.exists.verified')).toBe(
      '603a66bc-f6df-5576-8ee6-829da1b071c5',
    );
  });

  test('accepts the namespace spellings Python does; refuses other text', () => {
    const plain = uuidV5(NAMESPACE_DNS, 'x');
    expect(uuidV5(NAMESPACE_DNS.toUpperCase(), 'x')).toBe(plain);
    expect(uuidV5(`{${NAMESPACE_DNS}}`, 'x')).toBe(plain);
    expect(uuidV5(`urn:uuid:${NAMESPACE_DNS}`, 'x')).toBe(plain);
    expect(uuidV5(NAMESPACE_DNS.replace(/-/g, ''), 'x')).toBe(plain);
    expect(parseUuid('not-a-uuid')).toBeUndefined();
    expect(() => uuidV5('not-a-uuid', 'x')).toThrow('not a UUID');
  });

  test('derived ids: uuid5 of a UUID source; any other source id works too, and stays distinct', () => {
    const source = '2b6b7d4a-6e5f-4c3a-9a0e-0123456789ab';
    expect(derivedMessageId(source, 'k')).toBe(uuidV5(source, 'k'));
    const a = derivedMessageId('msg-1', 'k');
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(derivedMessageId('msg-1', 'k')).toBe(a);
    expect(derivedMessageId('msg-2', 'k')).not.toBe(a);
    expect(derivedMessageId('msg-1', 'other')).not.toBe(a);
  });
});
