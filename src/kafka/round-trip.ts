import { Consumer, Kafka, EachBatchHandler, Partitioners } from 'kafkajs';
import { createTopicsAndWait } from './create-topics';

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
  const tally = new DeliveryTally(count, members);
  const started = process.hrtime.bigint();
  await createTopic(kafka, topic, partitions);
  await produceNumbered(kafka, topic, count);
  const consumers = await startGroup(kafka, topic, tally);
  await within(tally.done, opts.timeoutMs ?? 60000);
  await Promise.all(consumers.map((c) => c.disconnect()));
  return {
    topic,
    produced: count,
    uniqueReceived: tally.unique,
    redelivered: tally.redelivered,
    lost: count - tally.unique,
    receivedByMember: tally.receivedByMember,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
  };
}

/** What the group received: each record's first delivery, redeliveries, and who got what. */
class DeliveryTally {
  unique = 0;
  redelivered = 0;
  readonly receivedByMember: number[];
  /** Whether each member has joined the group. */
  readonly joined: boolean[];
  /**
   * Member 0 consumes this many records alone, then holds until every member has joined, so
   * the rebalance happens mid-stream and every member gets work.
   */
  readonly soloRecords: number;
  /** Resolves once every record has been received. */
  readonly done: Promise<void>;
  private readonly seen: Uint8Array;
  private resolveDone!: () => void;

  constructor(
    private readonly count: number,
    members: number,
  ) {
    this.soloRecords = Math.min(Math.floor(count / 10), 1000);
    this.joined = new Array<boolean>(members).fill(false);
    this.receivedByMember = new Array<number>(members).fill(0);
    this.seen = new Uint8Array(count);
    this.done = new Promise<void>((resolve) => (this.resolveDone = resolve));
  }

  /** Member 0 has had its solo share and the group is not complete yet. */
  mustHold(member: number): boolean {
    return member === 0 && this.receivedByMember[0] >= this.soloRecords && !this.joined.every(Boolean);
  }

  receive(member: number, n: number): void {
    this.receivedByMember[member]++;
    if (this.seen[n]) this.redelivered++;
    else {
      this.seen[n] = 1;
      this.unique++;
    }
  }

  checkDone(): void {
    if (this.unique === this.count) this.resolveDone();
  }
}

async function createTopic(kafka: Kafka, topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await createTopicsAndWait(admin, [{ topic, numPartitions: partitions }]);
  await admin.disconnect();
}

/** Records `0` … `count - 1`, in batches, keyed over 97 keys so they spread over the partitions. */
async function produceNumbered(kafka: Kafka, topic: string, count: number): Promise<void> {
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
}

async function startGroup(kafka: Kafka, topic: string, tally: DeliveryTally): Promise<Consumer[]> {
  const groupId = `${topic}.group`;
  const members = tally.joined.length;
  const consumers = [];
  for (let m = 0; m < members; m++) {
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: 10000,
      heartbeatInterval: 500,
      maxBytesPerPartition: 16384,
    });
    consumer.on(consumer.events.GROUP_JOIN, () => (tally.joined[m] = true));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachBatchAutoResolve: false, eachBatch: memberBatchHandler(m, tally) });
    consumers.push(consumer);
    // Let the first member get going before the next joins and forces a rebalance mid-stream.
    if (m === 0 && members > 1) {
      while (tally.receivedByMember[0] < tally.soloRecords) await new Promise((r) => setTimeout(r, 20));
    }
  }
  return consumers;
}

function memberBatchHandler(member: number, tally: DeliveryTally): EachBatchHandler {
  return async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) break;
      if (tally.mustHold(member)) {
        // Unresolved records are fetched again later; heartbeat() lets the group rebalance.
        await heartbeat();
        await new Promise((r) => setTimeout(r, 100));
        break;
      }
      tally.receive(member, Number(message.value?.toString()));
      resolveOffset(message.offset);
    }
    await heartbeat();
    tally.checkDone();
  };
}

/** Waits for `done`, or `timeoutMs` at most. */
async function within(done: Promise<void>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
  clearTimeout(timer);
}
