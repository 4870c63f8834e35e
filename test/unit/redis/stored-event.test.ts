import { WinchesterEvent, newTraits } from '../../../src/events/event';
import {
  encodeStoredEvent,
  lastOfEachMessageId,
  lastWireTextOfEachMessageId,
  storedEventWireText,
} from '../../../src/events/stored-event';
import { decodeEvent, encodeEvent, WireFormatError } from '../../../src/events/wire';

function event(messageId: string, extra: Record<string, string> = {}): WinchesterEvent {
  const traits = newTraits();
  traits.tenant_id = { type: 'text', value: 't-1' };
  traits.memory_mb = { type: 'int', value: 512 };
  traits.ratio = { type: 'float', value: 1.0 };
  traits.launched_at = { type: 'datetime', value: 1767304578543001 };
  traits.__proto__ = { type: 'text', value: 'a trait named __proto__' };
  for (const [name, value] of Object.entries(extra)) traits[name] = { type: 'text', value };
  return {
    message_id: messageId,
    event_type: 'compute.instance.update',
    timestamp: 1793491500000001,
    traits,
  };
}

/** A typical distilled event, as the shipped openstack-usage topology stores them. */
const USAGE_WIRE =
  '{"message_id":"35bf992d-c9e9-4616-a12e-7696a6cecc1b","event_type":"compute.instance.update",' +
  '"timestamp":1793491500000000,"traits":{"service":["text","publisher-442621"],' +
  '"request_id":["text","req-cd613e30-d8f1-4adf-91b7-584a2265b1f5"],"tenant_id":["text","132075"],' +
  '"user_id":["text","123406"],"instance_id":["text","1e2feb89-414c-443c-9027-c4d1c386bbc4"],' +
  '"memory_mb":["int",1024],"disk_gb":["int",40],"root_gb":["int",40],"ephemeral_gb":["int",0],' +
  '"vcpus":["int",1],"instance_type_id":["int",3],"instance_type":["text","1GB Standard Instance"],' +
  '"state":["text","active"],"os_architecture":["text","x64"],"os_version":["text","6.4"],' +
  '"os_distro":["text","org.centos"],"launched_at":["datetime",1767304578543000]}}';

describe('stored events', () => {
  test('a stored event gives back its wire text byte for byte: trait types, microseconds, odd names', () => {
    const wire = encodeEvent(event('m-1', { note: 'ünïcødé ✓ "quoted"\n' }));
    const stored = encodeStoredEvent(wire);
    expect(storedEventWireText(stored)).toBe(wire);
    expect(decodeEvent(storedEventWireText(stored))).toEqual(decodeEvent(wire));
    expect(decodeEvent(storedEventWireText(stored)).traits.launched_at).toEqual({
      type: 'datetime',
      value: 1767304578543001,
    });
  });

  test('a typical event is kept in under half its wire text, as valid UTF-8 text', () => {
    const stored = encodeStoredEvent(USAGE_WIRE);
    expect(Buffer.byteLength(stored)).toBeLessThan(Buffer.byteLength(USAGE_WIRE) * 0.5);
    expect(Buffer.from(stored, 'utf8').toString('utf8')).toBe(stored);
    expect(storedEventWireText(stored)).toBe(USAGE_WIRE);
    expect(storedEventWireText(Buffer.from(stored))).toBe(USAGE_WIRE);
  });

  test('whitespace JSON may hold between its tokens passes through', () => {
    const wire = '{\n\t"message_id": "m-ws",\r\n "event_type": "x", "timestamp": 1, "traits": {}}';
    expect(storedEventWireText(encodeStoredEvent(wire))).toBe(wire);
  });

  test('a text holding a control character of its own is stored as it is', () => {
    const odd = '{"message_id":"m-\x02"}';
    expect(encodeStoredEvent(odd)).toBe(odd);
    expect(storedEventWireText(odd)).toBe(odd);
  });

  test('the plain wire text stored by earlier versions is read too, as bytes or as text', () => {
    const wire = encodeEvent(event('m-old'));
    expect(storedEventWireText(Buffer.from(wire))).toBe(wire);
    expect(storedEventWireText(wire)).toBe(wire);
    expect(decodeEvent(storedEventWireText(Buffer.from(wire)))).toEqual(decodeEvent(wire));
  });

  test('the version 1 pieces keep their codes (values already stored depend on them)', () => {
    const wire =
      '{"message_id":"m-1","event_type":"compute.instance.update","timestamp":1793491500000001,' +
      '"traits":{"tenant_id":["text","t-1"],"memory_mb":["int",512],"launched_at":["datetime",1767304578543001]}}';
    const stored =
      '\u0001\u0002m-1\u0003\u0011\u001f(\u00041793491500000001\u0005\u0013\u0006t-1\f\u0017\u0007512' +
      '\u000e\u001f#\b1767304578543001\u0010';
    expect(storedEventWireText(stored)).toBe(wire);
    expect(encodeStoredEvent(wire)).toBe(stored);
  });

  test('a value of no known form is a WireFormatError naming what is wrong', () => {
    expect(() => storedEventWireText(Buffer.of(0x09, 1, 2))).toThrow(
      new WireFormatError('stored event has an unknown format (first character code 9)'),
    );
    expect(() => storedEventWireText('')).toThrow(/unknown format \(first character empty\)/);
    expect(() => storedEventWireText('\u0001\u001f~')).toThrow(
      /stored event has an unknown piece \(code 126\)/,
    );
    expect(() => storedEventWireText('not json')).toThrow(WireFormatError);
  });

  test('one event per message id, the last stored, as a hash field rewritten would hold', () => {
    const first = event('m-1', { v: 'first' });
    const other = event('m-2');
    const again = event('m-1', { v: 'again' });
    expect(lastOfEachMessageId([first, other, again])).toEqual([other, again]);
    const unique = [first, other];
    expect(lastOfEachMessageId(unique)).toBe(unique);
  });

  test('wire texts keep one per message id too; a text that is not JSON is kept to fail where decoded', () => {
    const first = encodeEvent(event('m-1', { v: 'first' }));
    const again = encodeEvent(event('m-1', { v: 'again' }));
    expect(lastWireTextOfEachMessageId([first, 'garbage', again])).toEqual(['garbage', again]);
    expect(lastWireTextOfEachMessageId([first])).toEqual([first]);
  });
});
