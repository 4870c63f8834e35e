/**
 * The runs of `npm run bench:kafka-clients` with @platformatic/kafka, shaped as the kafkajs
 * runs are (bench/support/engine-runs.ts relayChainRate, bench/support/kafkajs-runs.ts): the same
 * topics, keys, chunks, acks and one produce request in flight, so that only the client differs.
 */
import { performance } from 'node:perf_hooks';
import {
  compatibilityPartitioner,
  Consumer,
  Message,
  MessagesStream,
  MessageToProduce,
  Producer,
  stringSerializers,
} from '@platformatic/kafka';
import { Kafka } from 'kafkajs';
import { notificationKey } from '../../src/topology/records';
import { chunked, createTopics, RELAY_CHUNK, until } from './kafkajs-runs';

/** Fetch sizes and wait as kafkajs's consumer defaults, which the topology's consumers keep. */
const FETCH = {
  minBytes: 1,
  maxBytes: 10 * 1024 * 1024,
  maxBytesPerPartition: 1024 * 1024,
  maxWaitTime: 5000,
};

/**
 * acks from every in-sync replica, no idempotence and no compression, as sendAll produces. Keys
 * go to kafkajs's (Java's) partitions: the default partitioner here places about half of them
 * elsewhere, and the topology relies on a key's partition.
 */
const PRODUCE = {
  acks: -1,
  idempotent: false,
  compression: 'none' as const,
  autocreateTopics: false,
  partitioner: compatibilityPartitioner,
};

/**
 * One request in flight for the whole producer, as kafkajs's `maxInFlightRequests: 1` gives the
 * topology (one broker here): sends queue behind each other instead of being pipelined.
 */
class SerialProducer<K, V> {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(readonly producer: Producer<K, V, string, string>) {}

  send(messages: MessageToProduce<K, V, string, string>[]): Promise<unknown> {
    const sent = this.tail.then(() => this.producer.send({ messages }));
    this.tail = sent.catch(() => undefined);
    return sent;
  }
}

const client = (brokers: string[], name: string) => ({
  clientId: `bench-${name}`,
  bootstrapBrokers: brokers,
});

/** `lines` produced to `topic` keyed as the `produce` command keys them, in sendAll's chunks. */
export async function platformaticProduce(brokers: string[], topic: string, lines: string[]): Promise<void> {
  const producer = new Producer({ ...client(brokers, 'load'), ...PRODUCE, serializers: stringSerializers });
  try {
    const messages = lines.map((value) => ({ topic, key: notificationKey(value) ?? undefined, value }));
    for (const chunk of chunked(messages)) await producer.send({ messages: chunk });
  } finally {
    await producer.close();
  }
}

/** The committing callback of a message as a promise. */
const commit = (message: Message) =>
  new Promise<void>((resolve, reject) => message.commit((error) => (error ? reject(error) : resolve())));

/** The last message of each partition in `messages`: committing it commits the partition. */
function lastOfEachPartition(messages: Message[]): Message[] {
  const last = new Map<number, Message>();
  for (const m of messages) last.set(m.partition, m);
  return [...last.values()];
}

/** A group consumer of `topic` from its committed offsets (the start for a new group), committing by hand. */
async function openStream(brokers: string[], groupId: string, topic: string) {
  const consumer = new Consumer({ ...client(brokers, groupId), groupId, ...FETCH });
  const stream = await consumer.consume({
    topics: [topic],
    mode: 'committed',
    fallbackMode: 'earliest',
    autocommit: false,
  });
  return { consumer, stream };
}

/**
 * Hands `handle` what the stream has buffered, in chunks of RELAY_CHUNK, with the stream paused
 * meanwhile: the nearest this client comes to kafkajs's eachBatch. A failure goes to `failed`.
 */
function drainInChunks(
  stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>,
  handle: (chunk: Message[]) => Promise<void>,
  failed: (error: unknown) => void,
): void {
  const pending: Message[] = [];
  let draining = false;
  const drain = async () => {
    stream.pause();
    while (pending.length) await handle(pending.splice(0, RELAY_CHUNK));
    draining = false;
    stream.resume();
  };
  stream.on('data', (message: Message) => {
    pending.push(message);
    if (draining) return;
    draining = true;
    // A flowing stream emits what it holds in one go: the chunk forms before the drain starts.
    setImmediate(() => drain().catch(failed));
  });
  stream.on('error', failed);
}

type Relay = { consumer: Consumer; stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> };

async function startRelay(
  brokers: string[],
  producer: SerialProducer<Buffer, Buffer>,
  hop: { from: string; to: string },
  relayed: (n: number) => void,
  failed: (error: unknown) => void,
): Promise<Relay> {
  const relay = await openStream(brokers, `${hop.from}.relay`, hop.from);
  const forward = async (chunk: Message[]) => {
    await producer.send(chunk.map((m) => ({ topic: hop.to, key: m.key, value: m.value })));
    relayed(chunk.length);
    await Promise.all(lastOfEachPartition(chunk).map(commit));
  };
  drainInChunks(relay.stream, forward, failed);
  return relay;
}

/** The relay chain of relayChainRate with this client: records/s from the start to the last record out. */
export async function platformaticRelayRate(
  kafka: Kafka,
  brokers: string[],
  prefix: string,
  lines: string[],
): Promise<number> {
  const hops = ['in', 'h1', 'h2', 'out'].map((h) => `${prefix}.${h}`);
  await createTopics(kafka, hops);
  await platformaticProduce(brokers, hops[0], lines);
  const producer = new SerialProducer(
    new Producer<Buffer, Buffer, string, string>({ ...client(brokers, 'relay'), ...PRODUCE }),
  );
  let delivered = 0;
  let failure: unknown;
  const started = performance.now();
  const relays: Relay[] = [];
  for (let i = 0; i < 3; i++) {
    const last = i === 2;
    const count = (n: number) => (delivered += last ? n : 0);
    const hop = { from: hops[i], to: hops[i + 1] };
    relays.push(await startRelay(brokers, producer, hop, count, (e) => (failure ??= e)));
  }
  await until(
    () => delivered >= lines.length,
    () => failure,
  );
  const seconds = (performance.now() - started) / 1000;
  await closeAll(relays);
  await producer.producer.close();
  return lines.length / seconds;
}

async function closeAll(consumers: Relay[]): Promise<void> {
  for (const { consumer, stream } of consumers) {
    await stream.close();
    await consumer.close(true);
  }
}

/** A new group reads `count` records of `topic` from the start, committing each chunk: records/s. */
export async function platformaticConsumeRate(
  brokers: string[],
  topic: string,
  count: number,
): Promise<number> {
  let seen = 0;
  let failure: unknown;
  const started = performance.now();
  const reader = await openStream(brokers, `${topic}.read`, topic);
  const read = async (chunk: Message[]) => {
    seen += chunk.length;
    await Promise.all(lastOfEachPartition(chunk).map(commit));
  };
  drainInChunks(reader.stream, read, (e) => (failure ??= e));
  await until(
    () => seen >= count,
    () => failure,
  );
  const seconds = (performance.now() - started) / 1000;
  await closeAll([reader]);
  return count / seconds;
}
