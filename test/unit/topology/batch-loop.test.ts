/** The batch loop every role runs its stages in, driven by a fake batch and a fake producer. */
import { BatchLoop, BatchStages, CHUNK_SIZE, ChunkOutput } from '../../../src/topology/batch-loop';
import { fakeBatch, FakeProducer, fakeProducer, header } from './fakes';

const OUT = 'out';
const DLQ = 'dlq';

/** Stages over numbers: decode parses JSON (throwing on anything else), route sends the double. */
function numberStages(overrides: Partial<BatchStages<number>> = {}): BatchStages<number> {
  return {
    decode: ({ message }) => {
      const n: unknown = JSON.parse(message.value!.toString());
      if (typeof n !== 'number') throw new Error(`not a number: ${String(n)}`);
      return n;
    },
    undecodable: (_source, error) => ({ reason: (error as Error).message, detail: { kind: 'number' } }),
    route: (n, _source, out) => out.send({ value: String(n * 2) }),
    ...overrides,
  };
}

function loopOf(stages: BatchStages<number>, kafka: FakeProducer, chunkSize?: number) {
  return new BatchLoop(stages, {
    producer: kafka.producer,
    topics: { output: OUT, dlq: DLQ },
    maxRecordBytes: 1024 * 1024,
    chunkSize,
  });
}

const values = (kafka: FakeProducer, topic: string) => kafka.sentTo(topic).map((m) => String(m.value));
const numbers = (n: number, from = 0) => Array.from({ length: n }, (_, i) => String(from + i));

describe('BatchLoop', () => {
  it('sends a record decode throws on to the DLQ with its reason and source, and the rest on', async () => {
    const kafka = fakeProducer();
    const payload = fakeBatch(['1', '{oops', '3', '"text"'], { topic: 'in', partition: 2, firstOffset: 40 });
    await loopOf(numberStages(), kafka).run(payload);

    expect(values(kafka, OUT)).toEqual(['2', '6']);
    const dead = kafka.sentTo(DLQ);
    expect(dead.map((m) => String(m.value))).toEqual(['{oops', '"text"']);
    expect(header(dead[0], 'dlq.reason')).toMatch(/JSON/);
    expect(header(dead[1], 'dlq.reason')).toBe('not a number: text');
    expect(header(dead[1], 'dlq.kind')).toBe('number');
    expect([header(dead[1], 'dlq.source.topic'), header(dead[1], 'dlq.source.partition')]).toEqual([
      'in',
      '2',
    ]);
    expect(header(dead[1], 'dlq.source.offset')).toBe('43');
    // The chunk's records are produced before its DLQ records, and both before its offset is resolved.
    expect(kafka.requests.map((r) => r.topic)).toEqual([OUT, DLQ]);
    expect(payload.resolved).toEqual(['43']);
  });

  it('produces, resolves and heartbeats chunk by chunk', async () => {
    const kafka = fakeProducer();
    const chunkDone = jest.fn();
    const batchDone = jest.fn();
    const payload = fakeBatch(numbers(7), { firstOffset: 100 });
    payload.resolveOffset.mockImplementation((offset) => {
      // Each chunk's records are acknowledged before its last offset is resolved.
      payload.resolved.push(`${offset} after ${kafka.sentTo(OUT).length} sent`);
    });
    await loopOf(numberStages({ chunkDone, batchDone }), kafka, 3).run(payload);

    expect(payload.resolved).toEqual(['102 after 3 sent', '105 after 6 sent', '106 after 7 sent']);
    expect(kafka.requests.map((r) => r.messages.length)).toEqual([3, 3, 1]);
    expect(payload.heartbeat).toHaveBeenCalledTimes(3);
    expect(chunkDone.mock.calls).toEqual([[3], [3], [1]]);
    expect(batchDone).toHaveBeenCalledTimes(1);
  });

  it('heartbeats after every chunk of a long batch (500 records a chunk)', async () => {
    const kafka = fakeProducer();
    const payload = fakeBatch(numbers(2 * CHUNK_SIZE + 1));
    await loopOf(numberStages(), kafka).run(payload);

    expect(CHUNK_SIZE).toBe(500);
    expect(payload.resolved).toEqual(['499', '999', '1000']);
    expect(payload.heartbeat).toHaveBeenCalledTimes(3);
    expect(kafka.sentTo(OUT)).toHaveLength(1001);
  });

  it('stops when the partition goes stale mid-batch, resolving nothing further', async () => {
    const kafka = fakeProducer();
    const decode = jest.fn(numberStages().decode);
    const batchDone = jest.fn();
    const payload = fakeBatch(numbers(9));
    // A seek (a rebalance) after the first chunk: the rest belongs to whoever reads from there.
    payload.isStale.mockImplementation(() => payload.resolved.length > 0);
    await loopOf(numberStages({ decode, batchDone }), kafka, 3).run(payload);

    expect(payload.resolved).toEqual(['2']);
    expect(decode).toHaveBeenCalledTimes(3);
    expect(values(kafka, OUT)).toEqual(['0', '2', '4']);
    expect(batchDone).not.toHaveBeenCalled();
  });

  it('stops when the consumer is no longer running', async () => {
    const kafka = fakeProducer();
    const stopped = fakeBatch(numbers(4));
    stopped.isRunning.mockReturnValue(false);
    await loopOf(numberStages(), kafka, 3).run(stopped);
    expect(stopped.resolved).toEqual([]);
    expect(kafka.requests).toEqual([]);

    const stopping = fakeBatch(numbers(7));
    stopping.isRunning.mockImplementation(() => stopping.resolved.length < 2);
    await loopOf(numberStages(), kafka, 3).run(stopping);
    expect(stopping.resolved).toEqual(['2', '5']);
    expect(kafka.sentTo(OUT)).toHaveLength(6);
  });

  it('a failed send throws and leaves the offsets of the unsent chunk unresolved', async () => {
    const kafka = fakeProducer();
    const payload = fakeBatch(['1', '2', 'x', '4', '5', 'y']);
    let chunks = 0;
    const failing = numberStages({
      chunkDone: () => void (++chunks === 1 && kafka.failNext(new Error('no leader'))),
    });
    await expect(loopOf(failing, kafka, 3).run(payload)).rejects.toThrow('no leader');

    // kafkajs commits what was resolved and delivers the rest again; the failed chunk's DLQ
    // record was never sent, and no heartbeat followed the failure.
    expect(payload.resolved).toEqual(['2']);
    expect(values(kafka, OUT)).toEqual(['2', '4']);
    expect(kafka.sentTo(DLQ).map((m) => String(m.value))).toEqual(['x']);
    expect(payload.heartbeat).toHaveBeenCalledTimes(1);

    // Delivered again from the first unresolved offset, the chunk goes through whole.
    const again = fakeBatch(['4', '5', 'y'], { firstOffset: 3 });
    await loopOf(numberStages(), kafka, 3).run(again);
    expect(again.resolved).toEqual(['5']);
    expect(values(kafka, OUT)).toEqual(['2', '4', '8', '10']);
  });

  it('a failed DLQ send also leaves the chunk unresolved, so its records are produced again', async () => {
    const kafka = fakeProducer();
    kafka.failNext(new Error('dlq down'), DLQ);
    const payload = fakeBatch(['1', 'x']);
    await expect(loopOf(numberStages(), kafka).run(payload)).rejects.toThrow('dlq down');
    expect(payload.resolved).toEqual([]);
    expect(values(kafka, OUT)).toEqual(['2']);

    await loopOf(numberStages(), kafka).run(fakeBatch(['1', 'x']));
    // At least once: the chunk's records twice, its DLQ record once.
    expect(values(kafka, OUT)).toEqual(['2', '2']);
    expect(kafka.sentTo(DLQ)).toHaveLength(1);
  });

  it('a throw from route is not a record problem: the batch fails, nothing of the chunk is sent', async () => {
    const kafka = fakeProducer();
    const route = jest.fn(() => {
      throw new Error('schema registry unreachable');
    });
    const payload = fakeBatch(['1', '2']);
    await expect(loopOf(numberStages({ route }), kafka).run(payload)).rejects.toThrow('unreachable');
    expect(kafka.requests).toEqual([]);
    expect(payload.resolved).toEqual([]);
  });

  it("endChunk sees the chunk's decoded records and sends after them", async () => {
    const kafka = fakeProducer();
    const endChunk = jest.fn<void, Parameters<NonNullable<BatchStages<number>['endChunk']>>>(
      ({ batch, records, out }) =>
        out.send({ partition: batch.partition, value: `sum ${records.join('+')}` }),
    );
    await loopOf(numberStages({ endChunk }), kafka, 2).run(fakeBatch(['1', 'bad', '3'], { partition: 1 }));
    expect(values(kafka, OUT)).toEqual(['2', 'sum 1', '6', 'sum 3']);
    expect(kafka.sentTo(OUT)[1].partition).toBe(1);
  });

  it('awaits an async endChunk before the chunk is sent and resolved, handing it the batch liveness', async () => {
    const kafka = fakeProducer();
    const payload = fakeBatch(numbers(5));
    const seen: Array<{ records: number[]; resolved: string[]; sent: number }> = [];
    const endChunk = jest.fn<Promise<void>, Parameters<NonNullable<BatchStages<number>['endChunk']>>>(
      async ({ records, liveness }) => {
        // A slow write elsewhere: the chunk's offsets must wait for it.
        await new Promise((resolve) => setTimeout(resolve, 5));
        await liveness.heartbeat();
        seen.push({ records, resolved: [...payload.resolved], sent: kafka.sentTo(OUT).length });
      },
    );
    await loopOf(numberStages({ endChunk }), kafka, 2).run(payload);

    expect(seen).toEqual([
      { records: [0, 1], resolved: [], sent: 0 },
      { records: [2, 3], resolved: ['1'], sent: 2 },
      { records: [4], resolved: ['1', '3'], sent: 4 },
    ]);
    expect(payload.resolved).toEqual(['1', '3', '4']);
    expect([
      endChunk.mock.calls[0][0].liveness.isRunning(),
      endChunk.mock.calls[0][0].liveness.isStale(),
    ]).toEqual([true, false]);
    // Its own heartbeats, besides the loop's one per chunk.
    expect(payload.heartbeat).toHaveBeenCalledTimes(3 + 3);
  });

  it('an async endChunk that throws fails the batch with the chunk unsent and its offsets unresolved', async () => {
    const kafka = fakeProducer();
    const batchDone = jest.fn();
    const chunkDone = jest.fn();
    const payload = fakeBatch(['1', '2', 'x', '4', '5', '6']);
    const endChunk = jest.fn(async ({ records }: { records: number[] }) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (records.includes(4)) throw new Error('store unreachable');
    });
    await expect(
      loopOf(numberStages({ endChunk, batchDone, chunkDone }), kafka, 3).run(payload),
    ).rejects.toThrow('store unreachable');

    // The first chunk went through whole; nothing of the second was sent or resolved, so
    // kafkajs commits offset 2 and delivers the rest again.
    expect(payload.resolved).toEqual(['2']);
    expect(values(kafka, OUT)).toEqual(['2', '4']);
    expect(kafka.sentTo(DLQ).map((m) => String(m.value))).toEqual(['x']);
    expect(chunkDone.mock.calls).toEqual([[3]]);
    expect(batchDone).not.toHaveBeenCalled();
  });

  it('an endChunk that abandons its chunk stops the batch with nothing of the chunk sent or resolved', async () => {
    const kafka = fakeProducer();
    const payload = fakeBatch(['1', 'x', '3', '4']);
    const endChunk = jest.fn(async ({ records, out }: { records: number[]; out: ChunkOutput }) => {
      if (records.includes(3)) out.abandon();
    });
    await loopOf(numberStages({ endChunk }), kafka, 2).run(payload);

    expect(payload.resolved).toEqual(['1']);
    expect(values(kafka, OUT)).toEqual(['2']);
    expect(kafka.sentTo(DLQ)).toHaveLength(1);
  });

  it('a chunk a stage abandons is neither sent nor resolved, and the batch stops there', async () => {
    const kafka = fakeProducer();
    const batchDone = jest.fn();
    const route = jest.fn<void, Parameters<BatchStages<number>['route']>>((n, _source, out) =>
      n === 4 ? out.abandon() : out.send({ value: String(n * 2) }),
    );
    const payload = fakeBatch(numbers(7));
    await loopOf(numberStages({ route, batchDone }), kafka, 3).run(payload);

    expect(values(kafka, OUT)).toEqual(['0', '2', '4']);
    expect(route).toHaveBeenCalledTimes(5);
    expect(payload.resolved).toEqual(['2']);
    expect(batchDone).not.toHaveBeenCalled();
  });

  it('with commitEachChunk, lets kafkajs commit after each chunk; route sees the batch liveness', async () => {
    const kafka = fakeProducer();
    const payload = fakeBatch(numbers(3));
    const route = jest.fn<void, Parameters<BatchStages<number>['route']>>();
    const loop = new BatchLoop(numberStages({ route }), {
      producer: kafka.producer,
      topics: { output: OUT, dlq: DLQ },
      maxRecordBytes: 1024 * 1024,
      chunkSize: 1,
      commitEachChunk: true,
    });
    await loop.run(payload);

    expect(payload.commitOffsetsIfNecessary).toHaveBeenCalledTimes(3);
    const liveness = route.mock.calls[0][3];
    await liveness.heartbeat();
    expect([liveness.isRunning(), liveness.isStale()]).toEqual([true, false]);
    // Without the option the loop leaves committing to kafkajs.
    const other = fakeBatch(numbers(3));
    await loopOf(numberStages(), kafka, 1).run(other);
    expect(other.commitOffsetsIfNecessary).not.toHaveBeenCalled();
  });

  it('keeps produce requests within the record limit', async () => {
    const kafka = fakeProducer();
    const loop = new BatchLoop(
      numberStages({ route: (_n, _s, out) => out.send({ value: 'x'.repeat(400) }) }),
      {
        producer: kafka.producer,
        topics: { output: OUT, dlq: DLQ },
        maxRecordBytes: 1000,
      },
    );
    await loop.run(fakeBatch(numbers(5)));
    expect(kafka.requests.map((r) => r.messages.length)).toEqual([2, 2, 1]);
    expect(kafka.requests.every((r) => r.acks === -1)).toBe(true);
  });
});
