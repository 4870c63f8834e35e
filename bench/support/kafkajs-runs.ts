/**
 * The kafkajs side of `npm run bench:kafka-clients` besides relayChainRate (engine-runs.ts):
 * produce-only and consume-only, and what both clients' runs share.
 */
import { performance } from 'node:perf_hooks';
import { Kafka, Message } from 'kafkajs';
import { notificationKey } from '../../src/topology/records';
import { messageBytes, produceAll } from '../../src/topology/role-runner';

/** Records a relay forwards per produce request (relayChainRate's chunk). */
export const RELAY_CHUNK = 500;

/** sendAll's limits on one produce request: messages, and (uncompressed) bytes. */
const SEND_MAX_MESSAGES = 2000;
const SEND_MAX_BYTES = 4 * 1024 * 1024;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for `done`; throws what `failure` returns as soon as it returns something. */
export async function until(done: () => boolean, failure: () => unknown = () => undefined): Promise<void> {
  while (!done()) {
    const error = failure();
    if (error !== undefined) throw error instanceof Error ? error : new Error(String(error));
    await sleep(20);
  }
}

/** `messages` cut as sendAll cuts them into produce requests, whatever the client. */
export function chunked<M extends { key?: unknown; value?: unknown }>(messages: M[]): M[][] {
  const chunks: M[][] = [];
  let chunk: M[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = messageBytes(message as Message);
    if (chunk.length && (chunk.length >= SEND_MAX_MESSAGES || bytes + size > SEND_MAX_BYTES)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(message);
    bytes += size;
  }
  if (chunk.length) chunks.push(chunk);
  return chunks;
}

/** Topics of 3 partitions, as relayChainRate's; made with kafkajs for both clients' runs. */
export async function createTopics(kafka: Kafka, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: topics.map((topic) => ({ topic, numPartitions: 3 })),
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}

/** `lines` produced to `topic` keyed as the `produce` command keys them (sendAll, acks -1). */
export async function kafkajsProduce(kafka: Kafka, topic: string, lines: string[]): Promise<void> {
  await produceAll(
    kafka,
    topic,
    lines.map((value) => ({ key: notificationKey(value), value })),
  );
}

/** A new group reads `count` records of `topic` from the start, committing each batch: records/s. */
export async function kafkajsConsumeRate(kafka: Kafka, topic: string, count: number): Promise<number> {
  let seen = 0;
  const started = performance.now();
  const consumer = kafka.consumer({ groupId: `${topic}.read` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch }) => {
      seen += batch.messages.length;
    },
  });
  await until(() => seen >= count);
  const seconds = (performance.now() - started) / 1000;
  await consumer.disconnect();
  return count / seconds;
}

/** Every topic and consumer group whose name starts with `prefix`, deleted. */
export async function deleteRunLeftovers(kafka: Kafka, prefix: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    const { groups } = await admin.listGroups();
    const groupIds = groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    if (groupIds.length) await admin.deleteGroups(groupIds);
    if (topics.length) await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
}
