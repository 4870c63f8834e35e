/**
 * Stand-ins for kafkajs in the roles' unit tests: a batch shaped like EachBatchPayload that
 * records what the loop does with it, and a producer that records (or refuses) each request.
 */
import { KafkaMessage, Message, Producer, ProducerRecord } from 'kafkajs';

export interface FakeBatch {
  batch: { topic: string; partition: number; messages: KafkaMessage[] };
  resolveOffset: jest.Mock<void, [string]>;
  heartbeat: jest.Mock<Promise<void>, []>;
  isRunning: jest.Mock<boolean, []>;
  isStale: jest.Mock<boolean, []>;
  commitOffsetsIfNecessary: jest.Mock<Promise<void>, []>;
  /** Offsets passed to resolveOffset, in order. */
  resolved: string[];
}

/** A batch of `values` from `topic`/`partition`, at offsets from `firstOffset` on. */
export function fakeBatch(
  values: ReadonlyArray<string | Buffer | null>,
  { topic = 'in', partition = 0, firstOffset = 0, keys = [] as Array<string | null> } = {},
): FakeBatch {
  const resolved: string[] = [];
  const messages = values.map((value, i): KafkaMessage => ({
    key: keys[i] == null ? null : Buffer.from(keys[i]!),
    value: typeof value === 'string' ? Buffer.from(value) : value,
    offset: String(firstOffset + i),
    timestamp: '0',
    attributes: 0,
    headers: {},
  }));
  return {
    batch: { topic, partition, messages },
    resolveOffset: jest.fn((offset: string) => void resolved.push(offset)),
    heartbeat: jest.fn(async () => undefined),
    isRunning: jest.fn(() => true),
    isStale: jest.fn(() => false),
    commitOffsetsIfNecessary: jest.fn(async () => undefined),
    resolved,
  };
}

export interface FakeProducer {
  producer: Producer;
  /** Every request that succeeded, in order. */
  requests: ProducerRecord[];
  /** The messages produced to `topic`, in order. */
  sentTo(topic: string): Message[];
  /** Makes the next request to `topic` (or any topic) fail with `error`. */
  failNext(error: Error, topic?: string): void;
}

export function fakeProducer(): FakeProducer {
  const requests: ProducerRecord[] = [];
  let failure: { error: Error; topic?: string } | undefined;
  const send = jest.fn(async (record: ProducerRecord) => {
    if (failure && (failure.topic === undefined || failure.topic === record.topic)) {
      const { error } = failure;
      failure = undefined;
      throw error;
    }
    requests.push(record);
    return [];
  });
  return {
    producer: { send } as unknown as Producer,
    requests,
    sentTo: (topic) => requests.filter((r) => r.topic === topic).flatMap((r) => r.messages),
    failNext: (error, topic) => void (failure = { error, topic }),
  };
}

/** A header of a produced message, as a string. */
export function header(message: Message, name: string): string | undefined {
  const value = message.headers?.[name];
  return value === undefined ? undefined : String(value);
}
