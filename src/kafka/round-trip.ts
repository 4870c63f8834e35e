import { Kafka, EachBatchPayload, Partitioners } from 'kafkajs';

export interface RoundTripReport {
  topic: string;
  produced: number;
  uniqueReceived: number;
  redelivered: number;
  lost: number;
  receivedByMember: number[];
  seconds: number;
}

/**
 * Produces `count` numbered records to a fresh topic and consumes them with a consumer
 * group of `members` members, the second joining while the first is already consuming, so
 * the group rebalances mid-stream. Redeliveries (at-least-once) are counted, losses too.
 */
export async function roundTrip(
  kafka: Kafka,
  opts: {
    topic: string;
    partitions: number;
    count: number;
    members: number;
    timeoutMs?: number;
  },
): Promise<RoundTripReport> {
  const { topic, partitions, count, members } = opts;
  // Member 0 consumes this many records alone, then holds until every member has joined,
  // so the rebalance happens mid-stream and every member gets work.
  const soloRecords = Math.min(Math.floor(count / 10), 1000);
  const joined = new Array<boolean>(members).fill(false);
  const started = process.hrtime.bigint();
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  await admin.disconnect();

  const producer = kafka.producer({
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const batchSize = 1000;
  for (let i = 0; i < count; i += batchSize) {
    const messages = [];
    for (let j = i; j < Math.min(count, i + batchSize); j++) {
      messages.push({ key: `k${j % 97}`, value: String(j) });
    }
    await producer.send({ topic, acks: -1, messages });
  }
  await producer.disconnect();

  const seen = new Uint8Array(count);
  let unique = 0;
  let redelivered = 0;
  const receivedByMember = new Array<number>(members).fill(0);
  const groupId = `${topic}.group`;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));

  const consumers = [];
  for (let m = 0; m < members; m++) {
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: 10000,
      heartbeatInterval: 500,
      maxBytesPerPartition: 16384,
    });
    consumer.on(consumer.events.GROUP_JOIN, () => (joined[m] = true));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload) => {
        for (const message of batch.messages) {
          if (!isRunning() || isStale()) break;
          if (m === 0 && receivedByMember[0] >= soloRecords && !joined.every(Boolean)) {
            // Unresolved records are fetched again later; heartbeat() lets the group rebalance.
            await heartbeat();
            await new Promise((r) => setTimeout(r, 100));
            break;
          }
          const n = Number(message.value?.toString());
          receivedByMember[m]++;
          if (seen[n]) redelivered++;
          else {
            seen[n] = 1;
            unique++;
          }
          resolveOffset(message.offset);
        }
        await heartbeat();
        if (unique === count) resolveDone();
      },
    });
    consumers.push(consumer);
    // Let the first member get going before the next joins and forces a rebalance mid-stream.
    if (m === 0 && members > 1) {
      while (receivedByMember[0] < soloRecords) await new Promise((r) => setTimeout(r, 20));
    }
  }
  const timeoutMs = opts.timeoutMs ?? 60000;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
  clearTimeout(timer);
  await Promise.all(consumers.map((c) => c.disconnect()));
  return {
    topic,
    produced: count,
    uniqueReceived: unique,
    redelivered,
    lost: count - unique,
    receivedByMember,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
  };
}
