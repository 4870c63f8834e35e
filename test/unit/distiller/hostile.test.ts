/**
 * The hostile corpus (test/support/hostile.ts) through the distiller as the distiller role runs
 * it: the record's bytes decoded (`notificationText`), then `Distiller.distillText` with the
 * openstack-usage definitions. Every case returns its expected outcome and reason, nothing is
 * thrown, no prototype is touched, and every DLQ record it would make fits the DLQ topic.
 */
import { join } from 'node:path';
import { KafkaMessage } from 'kafkajs';
import {
  DistillDropped,
  DistillError,
  DistillResult,
  isDistillError,
  isDropped,
  loadEventDefinitions,
} from '../../../src/distiller';
import { decodeEvent, encodeEvent } from '../../../src/events/wire';
import { DistillOutcome, notificationText } from '../../../src/topology/distiller-role';
import { deadLetter, DLQ_HEADER_MAX_CHARS } from '../../../src/topology/records';
import { messageBytes } from '../../../src/topology/role-runner';
import { defaultTopologySettings } from '../../../src/config/topology-settings';
import { parseIso8601Python } from '../../../src/time/micros';
import {
  BASE_TIMESTAMP_MICROS,
  HostileCase,
  hostileBytes,
  hostileNotifications,
  roleExpectation,
} from '../../../bench/support/hostile';

const NOW = parseIso8601Python('2030-01-01T00:00:00Z') as number;
const definitions = join(
  __dirname,
  '..',
  '..',
  '..',
  'topologies',
  'openstack-usage',
  'event_definitions.yaml',
);
const distiller = loadEventDefinitions(definitions, { now: () => NOW });
const { maxRecordBytes } = defaultTopologySettings();
const cases = hostileNotifications({ maxRecordBytes });
const prototypeNames = Object.getOwnPropertyNames(Object.prototype).sort();

/** The role's first step: bytes to text, or the DLQ outcome for bytes that are no text. */
type Decoded = Exclude<DistillOutcome, { kind: 'event' }>;

function distillCase(c: HostileCase): DistillResult | Decoded {
  const text = notificationText(hostileBytes(c));
  return typeof text === 'string' ? distiller.distillText(text) : text;
}

const results = new Map<string, DistillResult | Decoded>();

describe('hostile notifications through Distiller.distillText (openstack-usage)', () => {
  afterAll(() => {
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeNames);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('the corpus covers every family the brief names', () => {
    const groups = new Set(cases.map((c) => c.group));
    for (const g of [
      'json',
      'bytes',
      'shape',
      'message_id',
      'event_type',
      'timestamp',
      'traits',
      'nesting',
      'prototype',
      'size',
    ]) {
      expect(groups).toContain(g);
    }
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    let result: DistillResult | Decoded | undefined;
    expect(() => {
      result = distillCase(c);
    }).not.toThrow();
    results.set(c.name, result!);
    const expected = c.distiller;
    const r = result!;

    if (expected.outcome === 'dlq') {
      // Either the distiller's typed error, or the decoding step's error outcome.
      const reason = isDistillError(r as DistillResult) ? (r as DistillError).reason : (r as Decoded).reason;
      expect({ kind: (r as { kind?: string }).kind, reason }).toEqual({
        kind: 'error',
        reason: expect.any(String),
      });
      expect(reason.split(':')[0]).toBe(expected.category);
      if (expected.detail) expect(reason.slice(expected.category.length + 2)).toMatch(expected.detail);
      if (expected.trait) expect((r as DistillError).trait).toBe(expected.trait);
      // A reason quotes at most a bounded part of the bad input.
      expect(reason.length).toBeLessThanOrEqual(1100);
      return;
    }
    if (expected.outcome === 'dropped') {
      expect(isDropped(r as DistillResult)).toBe(true);
      expect((r as DistillDropped).reason).toBe(expected.reason);
      return;
    }
    expect((r as { kind?: string }).kind).toBeUndefined(); // an event, not an error or a drop
    const event = r as Exclude<DistillResult, DistillError | DistillDropped>;
    expect(typeof event.message_id).toBe('string');
    expect(event.event_type).toMatch(/^compute\.instance\./);
    const at = expected.timestamp === 'now' ? NOW : (expected.timestamp ?? BASE_TIMESTAMP_MICROS);
    expect(event.timestamp).toBe(at);
    for (const [name, value] of Object.entries(expected.traits ?? {})) {
      expect(event.traits[name]?.value).toBe(value);
    }
    for (const name of expected.absent ?? []) expect(Object.hasOwn(event.traits, name)).toBe(false);
    // Traits are prototype-less data and the event survives the wire.
    expect(Object.getPrototypeOf(event.traits)).toBeNull();
    expect(decodeEvent(encodeEvent(event))).toEqual(event);
  });

  it('the distiller counted every outcome by category', () => {
    const stats = distiller.stats;
    // Records that are not UTF-8 text never reach the distiller.
    const expectedErrors = cases.filter(
      (c) => c.distiller.outcome === 'dlq' && typeof notificationText(hostileBytes(c)) === 'string',
    ).length;
    const counted = Object.values(stats.errors).reduce((a, b) => a + b, 0);
    expect(counted).toBe(expectedErrors);
    expect(stats.errors.internal).toBe(0);
    expect(stats.dropped.unmatched).toBe(cases.filter((c) => c.distiller.outcome === 'dropped').length);
    expect(stats.distilled).toBe(cases.filter((c) => c.distiller.outcome === 'event').length);
  });

  it('every DLQ record the role would make fits the DLQ topic (maxRecordBytes + 64 KB)', () => {
    for (const c of cases) {
      const expected = roleExpectation(c);
      if (expected.outcome !== 'dlq') continue;
      const r = results.get(c.name)!;
      const error = isDistillError(r as DistillResult) ? (r as DistillError) : undefined;
      const reason = expected.category === 'oversized' ? 'oversized' : (r as { reason: string }).reason;
      const message: KafkaMessage = {
        key: Buffer.from(c.key),
        value: hostileBytes(c),
        offset: '42',
        timestamp: '0',
        attributes: 0,
        headers: {},
      } as KafkaMessage;
      const record = deadLetter(
        { topic: 'notifications', partition: 0, message },
        reason,
        { 'message-id': error?.messageId, 'event-type': error?.eventType, trait: error?.trait },
        maxRecordBytes,
      );
      expect(messageBytes(record)).toBeLessThanOrEqual(maxRecordBytes + 64 * 1024);
      for (const v of Object.values(record.headers ?? {})) {
        expect(String(v).length).toBeLessThanOrEqual(DLQ_HEADER_MAX_CHARS);
      }
      const header = String(record.headers?.['dlq.reason']);
      if (reason.length <= DLQ_HEADER_MAX_CHARS) expect(header).toBe(reason);
      else expect(header).toBe(`${reason.slice(0, DLQ_HEADER_MAX_CHARS - 301)}…${reason.slice(-300)}`);
    }
  });
});
