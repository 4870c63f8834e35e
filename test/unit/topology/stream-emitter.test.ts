/** The matcher's output stage, and the counters its outcomes (and stage 2's) feed. */
import { CompressionTypes } from 'kafkajs';
import { StreamRecord } from '../../../src/streams/model';
import {
  PartitionCounters,
  PartitionOutcomes,
  recordPartitionOutcomes,
} from '../../../src/topology/partition-outcomes';
import { decodeStreamRecord } from '../../../src/topology/records';
import { RoleEvents } from '../../../src/topology/role-events';
import { StreamEmitter } from '../../../src/topology/stream-emitter';
import { logger } from '../../../src/util/logger';
import { testEvent } from '../../support/simple-trigger';
import { fakeProducer, header } from './fakes';

const topics = { streams: 'streams', streamsDlq: 'streams.dlq' };

function streamRecord(id: string, events: number): StreamRecord {
  return {
    stream_id: id,
    partition: 0,
    trigger: 't',
    kind: 'fired',
    pipeline: 'fire_pipe',
    distinguished_by: { instance_id: { type: 'text', value: 'i-1' } },
    first: 0,
    last: 0,
    expire: 0,
    serial: 3,
    events: Array.from({ length: events }, (_, i) =>
      testEvent('compute.instance.update', 'i-1', i, `${id}-${i}`),
    ),
  };
}

function recorded() {
  const counters: PartitionCounters = {
    dlq: new Map(),
    lockRetries: new Map(),
    streamsTooLarge: 0,
    reemitted: 0,
  };
  const events = new RoleEvents<PartitionOutcomes>();
  recordPartitionOutcomes(events, { counters, log: logger.child({}, { level: 'silent' }) });
  return { counters, events };
}

describe('StreamEmitter', () => {
  it('produces stream records compressed; one too large goes to the DLQ with its message ids', async () => {
    const kafka = fakeProducer();
    const { counters, events } = recorded();
    const emitter = new StreamEmitter(kafka.producer, { topics, maxRecordBytes: 4000 }, events);
    await emitter.emit([streamRecord('small', 1), streamRecord('large', 40)]);

    const [sent] = kafka.sentTo('streams');
    expect(decodeStreamRecord(String(sent.value)).stream_id).toBe('small');
    expect(kafka.requests.map((r) => [r.topic, r.compression])).toEqual([
      ['streams.dlq', CompressionTypes.None],
      ['streams', CompressionTypes.GZIP],
    ]);
    const [dead] = kafka.sentTo('streams.dlq');
    expect(dead.key).toBe('large');
    expect(header(dead, 'dlq.reason')).toBe('stream record too large');
    expect(Number(header(dead, 'dlq.bytes'))).toBeGreaterThan(4000);
    const summary = JSON.parse(String(dead.value)) as Record<string, unknown>;
    expect(summary).toMatchObject({ stream_id: 'large', serial: 3, event_count: 40 });
    expect(summary.message_ids).toHaveLength(40);
    expect(summary.events).toBeUndefined();
    expect(counters.streamsTooLarge).toBe(1);
  });

  it('resolves only once the records are acknowledged', async () => {
    const kafka = fakeProducer();
    kafka.failNext(new Error('not enough replicas'), 'streams');
    const emitter = new StreamEmitter(kafka.producer, { topics, maxRecordBytes: 1 << 20 }, recorded().events);
    await expect(emitter.emit([streamRecord('s', 1)])).rejects.toThrow('not enough replicas');
  });
});

describe('recordPartitionOutcomes', () => {
  it("keeps the matcher's stage-2 counters", () => {
    const { counters, events } = recorded();
    events.emit('lockRetry', { trigger: 't' });
    events.emit('lockRetry', { trigger: 't' });
    events.emit('reemitted', { partition: 0, records: 3 });
    events.emit('undecodable', {
      source: { topic: 'r', partition: 0, message: { offset: '1' } as never },
      error: new Error('x'),
    });
    expect(counters).toEqual({
      dlq: new Map([['undecodable repartition record', 1]]),
      lockRetries: new Map([['t', 2]]),
      streamsTooLarge: 0,
      reemitted: 3,
    });
  });
});
