/**
 * RabbitMQ bridge benchmark, on the local stack's RabbitMQ (AMQP_URL) and Kafka (KAFKA_BROKERS;
 * the stack is started when none is running). Queues are filled as oslo.messaging's rabbit
 * driver fills them: persistent JSON on a topic exchange, routing key `<topic>.info`, the sample
 * corpus's notifications with one in three inside oslo's v2 envelope.
 *
 *  1. throughput: a fresh queue of --messages drained into a fresh Kafka topic (3 partitions,
 *     acks all) by
 *     (a) a bare relay: amqplib consume with the same prefetch → batches of the same limits →
 *         kafkajs send → one ack of each batch's last delivery, and nothing else;
 *     (b) the bridge (startBridge in this process, with its metrics, as `winchester bridge`),
 *     --rounds of each, the order alternating. The rate runs from the first delivery to Kafka's
 *     acknowledgement of the last message; each drain is checked (every message in the topic,
 *     the queue empty). Target: the bridge's median ≥ 0.8× the bare relay's.
 *  2. soak: a queue prefilled with --prefill messages (default --backlog plus a tenth), then
 *     `winchester bridge` in its own process for --soak-minutes while three publishers here
 *     publish, flat out, whenever checkQueue (every 200 ms) finds the queue under that level;
 *     every 10 s the bridge's resident set (/proc), its V8 heap and the messages it forwarded
 *     (its /metrics), and the queue depth. The queue is a classic one as oslo declares it, so
 *     RabbitMQ holds the backlog in memory (about 1.6 GB at 550,000). RabbitMQ throttles
 *     publishers in favour of a consumer that keeps up with it (their connections go to `flow`),
 *     so on a small or busy machine the queue may shrink during the soak: --prefill then gives
 *     the margin, and the lowest depth seen says whether --backlog held.
 *
 *   npm run bench:bridge [-- --messages 200000 --rounds 3 --prefetch 2000 --batch 500
 *                          --batch-bytes 524288 --soak-minutes 10 --backlog 500000
 *                          --prefill 550000 --only throughput|soak --json]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { Admin, Kafka, Producer } from 'kafkajs';
import { withChannel } from '../src/amqp/declare';
import { amqpTarget } from '../src/amqp/errors';
import { startBridge } from '../src/bridge/bridge-role';
import { BridgeSettings, defaultBridgeSettings } from '../src/config/bridge-settings';
import { connectionSettings } from '../src/config/environment';
import { localStackDir, readStackEnvFile } from '../src/config/stack-env';
import { defaultTopologySettings } from '../src/config/topology-settings';
import { createKafka } from '../src/kafka/client';
import { registerCompressionCodecs } from '../src/kafka/codecs';
import { WinchesterMetrics } from '../src/metrics/metrics';
import { createProducer } from '../src/topology/role-runner';
import { freePort } from '../src/util/free-port';
import { corpusLines, metricValue, parseCountOptions, repoRoot, writeRoleConfig } from './support';
import { ensureStack, runBenchmark } from './support/run';

type Part = 'throughput' | 'soak';

interface Options {
  messages: number;
  rounds: number;
  prefetch: number;
  batch: number;
  batchBytes: number;
  soakMinutes: number;
  backlog: number;
  /** Messages in the soak's queue before the bridge starts, and the level the publishers keep. */
  prefill: number;
  only?: Part;
  json: boolean;
}

const NUMERIC_OPTIONS: Record<string, keyof Omit<Options, 'json' | 'only'>> = {
  '--messages': 'messages',
  '--rounds': 'rounds',
  '--prefetch': 'prefetch',
  '--batch': 'batch',
  '--batch-bytes': 'batchBytes',
  '--soak-minutes': 'soakMinutes',
  '--backlog': 'backlog',
  '--prefill': 'prefill',
};

function parseOptions(argv: string[]): Options {
  const rest = [...argv];
  const at = rest.indexOf('--only');
  let only: Part | undefined;
  if (at >= 0) {
    const part = rest[at + 1];
    if (part !== 'throughput' && part !== 'soak')
      throw new Error(`--only needs throughput or soak, got ${part ?? 'nothing'}`);
    only = part;
    rest.splice(at, 2);
  }
  const bridge = defaultBridgeSettings();
  const defaults: Options = {
    messages: 200_000,
    rounds: 3,
    prefetch: bridge.prefetch,
    batch: bridge.batchMessages,
    batchBytes: bridge.batchBytes,
    soakMinutes: 10,
    backlog: 500_000,
    prefill: 0,
    json: false,
  };
  let options: Options;
  try {
    options = parseCountOptions<Options>(rest, defaults, NUMERIC_OPTIONS);
  } catch (error) {
    const message = (error as Error).message.replace('--json)', '--only throughput|soak, --json)');
    throw new Error(message, { cause: error });
  }
  if (options.prefetch > 65535) throw new Error('--prefetch is at most 65535 (an AMQP short)');
  options.prefill ||= Math.ceil(options.backlog * 1.1);
  if (options.prefill < options.backlog) throw new Error('--prefill must be at least --backlog');
  return { ...options, only };
}

const progress = (message: string) => process.stderr.write(`${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const grouped = (n: number) => Math.round(n).toLocaleString('en-US');
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** The corpus as message bodies, one in three inside oslo's v2 envelope as the rabbit driver sends it. */
function corpusBodies(): Buffer[] {
  return corpusLines().map((line, i) =>
    Buffer.from(i % 3 === 2 ? JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': line }) : line),
  );
}

/** AMQP_URL, else the local stack's (.stack/env), which ensureStack does not export. */
function amqpUrl(): string {
  const url = process.env.AMQP_URL ?? readStackEnvFile(join(localStackDir(), 'env')).AMQP_URL;
  if (!url) throw new Error('no AMQP_URL, and the local stack names none: run `bash scripts/stack.sh start`');
  return url;
}

/** One oslo notification queue, `<topic>.info` on the run's exchange, and the Kafka topics it feeds. */
interface Lane {
  exchange: string;
  osloTopic: string;
  queue: string;
  namespace: string;
  kafkaTopic: string;
  dlqTopic: string;
}

function laneOf(run: string, name: string): Lane {
  const exchange = `bench-bridge-${run}`;
  const osloTopic = `${exchange}.${name}`;
  const settings = defaultTopologySettings({ namespace: `benchbridge-${run}-${name}` });
  return {
    exchange,
    osloTopic,
    queue: `${osloTopic}.info`,
    namespace: settings.namespace,
    kafkaTopic: settings.inputTopics[0],
    dlqTopic: settings.topics.notificationsDlq,
  };
}

/** What the run shares: its clients, the corpus, the options. */
interface Context {
  run: string;
  options: Options;
  bodies: Buffer[];
  url: string;
  model: ChannelModel;
  kafka: Kafka;
  admin: Admin;
  metrics: WinchesterMetrics;
}

/** The exchange and queue as oslo's driver declares them (durable), bound by `<topic>.info`. */
function declareLane(model: ChannelModel, lane: Lane): Promise<void> {
  return withChannel(model, async (channel) => {
    await channel.assertExchange(lane.exchange, 'topic', { durable: true, autoDelete: false });
    await channel.assertQueue(lane.queue, { durable: true, autoDelete: false });
    await channel.bindQueue(lane.queue, lane.exchange, lane.queue);
  });
}

const queueState = (model: ChannelModel, queue: string) =>
  withChannel(model, (channel) => channel.checkQueue(queue));

async function removeLane(ctx: Context, lane: Lane): Promise<void> {
  await withChannel(ctx.model, (channel) => channel.deleteQueue(lane.queue)).catch(() => undefined);
  const topics = (await ctx.admin.listTopics()).filter((t) => t.startsWith(`${lane.namespace}.`));
  if (topics.length) await ctx.admin.deleteTopics({ topics }).catch(() => undefined);
}

/** Publishes as oslo's rabbit driver does (persistent JSON), cycling through the corpus. */
class Publisher {
  published = 0;

  private constructor(
    private readonly channel: ConfirmChannel,
    private readonly lane: Lane,
    private readonly bodies: Buffer[],
    private next: number,
  ) {}

  /** A publisher on a confirm channel of `model`, starting at the corpus's `first` body. */
  static async open(model: ChannelModel, lane: Lane, bodies: Buffer[], first = 0): Promise<Publisher> {
    return new Publisher(await model.createConfirmChannel(), lane, bodies, first);
  }

  /** `count` more messages, confirmed by the broker (waiting every 2000 bounds what is in flight). */
  async publish(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const body = this.bodies[this.next++ % this.bodies.length];
      this.published++;
      const room = this.channel.publish(this.lane.exchange, this.lane.queue, body, {
        persistent: true,
        contentType: 'application/json',
        contentEncoding: 'utf-8',
      });
      if (!room) await once(this.channel, 'drain');
      if (this.published % 2000 === 0) await this.channel.waitForConfirms();
    }
    await this.channel.waitForConfirms();
  }

  close(): Promise<void> {
    return this.channel.close();
  }
}

/** A relay under measurement: its progress and how to stop it. */
interface Relay {
  counters: { received: number; produced: number };
  failure?: unknown;
  stop(): Promise<void>;
}

type Limits = Pick<BridgeSettings, 'prefetch' | 'batchMessages' | 'batchBytes' | 'lingerMs'>;

/**
 * The least a relay can do: amqplib consume with the bridge's prefetch, batches of the bridge's
 * limits, kafkajs send with acks all, then one ack of the batch's last delivery. No keys, no
 * checks, no DLQ, no metrics, no reconnection.
 */
class BareRelay implements Relay {
  readonly counters = { received: 0, produced: 0 };
  failure?: unknown;
  private held: ConsumeMessage[] = [];
  private heldBytes = 0;
  private sending?: Promise<void>;
  private timer?: NodeJS.Timeout;

  private constructor(
    private readonly producer: Producer,
    private readonly model: ChannelModel,
    private readonly channel: Channel,
    private readonly topic: string,
    private readonly limits: Limits,
  ) {}

  static async start(kafka: Kafka, url: string, lane: Lane, limits: Limits): Promise<BareRelay> {
    const producer = createProducer(kafka);
    await producer.connect();
    const model = await amqp.connect(url);
    const channel = await model.createChannel();
    await channel.prefetch(limits.prefetch, false);
    const relay = new BareRelay(producer, model, channel, lane.kafkaTopic, limits);
    await channel.consume(lane.queue, (message) => message && relay.received(message));
    return relay;
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    await this.sending;
    await this.model.close();
    await this.producer.disconnect();
  }

  private received(message: ConsumeMessage): void {
    this.counters.received++;
    this.held.push(message);
    this.heldBytes += message.content.length;
    const full = this.held.length >= this.limits.batchMessages || this.heldBytes >= this.limits.batchBytes;
    if (full) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.limits.lingerMs);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.sending && this.held.length) this.sending = this.sendAll();
  }

  /** Batches one at a time until none is held; what arrives meanwhile makes the next batch. */
  private async sendAll(): Promise<void> {
    try {
      for (let batch = this.take(); batch.length; batch = this.take()) {
        const messages = batch.map((message) => ({ value: message.content }));
        await this.producer.send({ topic: this.topic, acks: -1, messages });
        this.channel.ack(batch[batch.length - 1], true);
        this.counters.produced += batch.length;
      }
    } catch (error) {
      this.failure = error;
    } finally {
      this.sending = undefined;
    }
  }

  /** The oldest held deliveries, up to batchMessages and batchBytes (at least one). */
  private take(): ConsumeMessage[] {
    let count = 0;
    let bytes = 0;
    while (count < this.held.length && count < this.limits.batchMessages) {
      const size = this.held[count].content.length;
      if (count > 0 && bytes + size > this.limits.batchBytes) break;
      bytes += size;
      count++;
    }
    this.heldBytes -= bytes;
    return this.held.splice(0, count);
  }
}

type Side = 'bare' | 'bridge';

const limitsOf = (options: Options): Limits => ({
  prefetch: options.prefetch,
  batchMessages: options.batch,
  batchBytes: options.batchBytes,
  lingerMs: defaultBridgeSettings().lingerMs,
});

async function startRelay(ctx: Context, side: Side, lane: Lane): Promise<Relay> {
  const limits = limitsOf(ctx.options);
  if (side === 'bare') return BareRelay.start(ctx.kafka, ctx.url, lane, limits);
  const settings = defaultTopologySettings({ namespace: lane.namespace });
  const layout = defaultBridgeSettings({
    exchanges: [lane.exchange],
    topics: [lane.osloTopic],
    priorities: ['info'],
    ...limits,
  });
  const role = await startBridge(ctx.kafka, ctx.url, settings, layout, { metrics: ctx.metrics });
  return { counters: role.counters, stop: role.stop };
}

interface Drain {
  round: number;
  side: Side;
  /** 1: drained first in its round; 2: second. */
  turn: number;
  seconds: number;
  perSecond: number;
  /** This process's CPU time (user + system) per message while draining. */
  cpuMicrosPerMessage: number;
}

/** Waits until the relay produced `count`; the time from its first delivery. A minute without progress fails. */
async function timeDrain(relay: Relay, count: number, side: Side): Promise<{ seconds: number }> {
  let first: number | undefined;
  let last = -1;
  let progressAt = performance.now();
  while (relay.counters.produced < count) {
    if (relay.failure) throw relay.failure;
    const now = performance.now();
    if (first === undefined && relay.counters.received > 0) first = now;
    if (relay.counters.produced !== last) {
      last = relay.counters.produced;
      progressAt = now;
    } else if (now - progressAt > 60_000) {
      throw new Error(`${side}: ${last} of ${count} messages produced, then nothing for a minute`);
    }
    await sleep(5);
  }
  return { seconds: (performance.now() - first!) / 1000 };
}

async function recordsIn(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
}

/** Nothing lost: the topic has every message, and the queue has none left. */
async function checkDrained(ctx: Context, lane: Lane, side: Side): Promise<void> {
  const records = await recordsIn(ctx.admin, lane.kafkaTopic);
  const left = (await queueState(ctx.model, lane.queue)).messageCount;
  if (records !== ctx.options.messages || left !== 0) {
    throw new Error(
      `${side}: ${records} records in ${lane.kafkaTopic} of ${ctx.options.messages} sent, ${left} left in ${lane.queue}`,
    );
  }
}

async function fillLane(ctx: Context, lane: Lane, count: number): Promise<void> {
  await declareLane(ctx.model, lane);
  const publisher = await Publisher.open(ctx.model, lane, ctx.bodies);
  await publisher.publish(count);
  await publisher.close();
  const depth = (await queueState(ctx.model, lane.queue)).messageCount;
  if (depth !== count) throw new Error(`${lane.queue} holds ${depth} messages of ${count} published`);
}

/** One side's drain of a fresh queue into a fresh topic, both removed afterwards. */
async function measureDrain(ctx: Context, side: Side, round: number, turn: number): Promise<Drain> {
  const lane = laneOf(ctx.run, `r${round}-${side}`);
  try {
    await ctx.admin.createTopics({
      topics: [
        { topic: lane.kafkaTopic, numPartitions: 3 },
        { topic: lane.dlqTopic, numPartitions: 1 },
      ],
      waitForLeaders: true,
    });
    progress(
      `round ${round}, ${side}: filling ${lane.queue} with ${grouped(ctx.options.messages)} messages…`,
    );
    await fillLane(ctx, lane, ctx.options.messages);
    await sleep(2000); // the broker's disk writes of the fill settle before the clock starts
    progress(`round ${round}, ${side}: draining into ${lane.kafkaTopic}…`);
    const cpuBefore = process.cpuUsage();
    const relay = await startRelay(ctx, side, lane);
    let seconds: number;
    try {
      ({ seconds } = await timeDrain(relay, ctx.options.messages, side));
    } finally {
      await relay.stop();
    }
    const cpu = process.cpuUsage(cpuBefore);
    await checkDrained(ctx, lane, side);
    const perSecond = ctx.options.messages / seconds;
    progress(`round ${round}, ${side}: ${grouped(perSecond)} messages/s`);
    const cpuMicrosPerMessage = (cpu.user + cpu.system) / ctx.options.messages;
    return { round, side, turn, seconds, perSecond, cpuMicrosPerMessage };
  } finally {
    await removeLane(ctx, lane);
  }
}

interface Throughput {
  messages: number;
  meanBodyBytes: number;
  limits: Limits;
  drains: Drain[];
  median: Record<Side, number>;
  /** The bridge's median over the bare relay's. */
  ratio: number;
}

async function measureThroughput(ctx: Context): Promise<Throughput> {
  const drains: Drain[] = [];
  for (let round = 1; round <= ctx.options.rounds; round++) {
    const order: Side[] = round % 2 ? ['bare', 'bridge'] : ['bridge', 'bare'];
    for (const [i, side] of order.entries()) drains.push(await measureDrain(ctx, side, round, i + 1));
  }
  const rates = (side: Side) => drains.filter((d) => d.side === side).map((d) => d.perSecond);
  const medians = { bare: median(rates('bare')), bridge: median(rates('bridge')) };
  const bytes = ctx.bodies.reduce((sum, body) => sum + body.length, 0);
  return {
    messages: ctx.options.messages,
    meanBodyBytes: bytes / ctx.bodies.length,
    limits: limitsOf(ctx.options),
    drains,
    median: medians,
    ratio: medians.bridge / medians.bare,
  };
}

interface SoakSample {
  atSeconds: number;
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  /** Memory of Buffers and other objects outside the V8 heap. */
  externalBytes: number;
  forwarded: number;
  queueDepth: number;
}

/** The bridge as its command runs it, in a process of its own. */
interface BridgeProcess {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

function bridgeSection(lane: Lane, options: Options): string {
  return [
    '',
    'bridge:',
    `  exchanges: [${lane.exchange}]`,
    `  topics: [${lane.osloTopic}]`,
    '  priorities: [info]',
    `  prefetch: ${options.prefetch}`,
    `  batch_messages: ${options.batch}`,
    `  batch_bytes: ${options.batchBytes}`,
    '',
  ].join('\n');
}

/** `winchester bridge` on the lane, once its consumer is on the queue. */
async function startBridgeProcess(ctx: Context, lane: Lane, dir: string): Promise<BridgeProcess> {
  const config = writeRoleConfig(dir);
  appendFileSync(config, bridgeSection(lane, ctx.options));
  const port = await freePort();
  const args = [
    join(repoRoot, 'dist/src/cli/main.js'),
    'bridge',
    '-c',
    config,
    '--metrics-port',
    String(port),
  ];
  const env = { ...process.env, AMQP_URL: ctx.url, WINCHESTER_NAMESPACE: lane.namespace };
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  for (let tries = 0; ; tries++) {
    if (child.exitCode !== null) throw new Error(`winchester bridge exited with ${child.exitCode} at start`);
    if (tries > 600) {
      await stop();
      throw new Error('winchester bridge did not consume within a minute');
    }
    if ((await queueState(ctx.model, lane.queue)).consumerCount > 0) break;
    await sleep(100);
  }
  return { pid: child.pid!, port, stop };
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** CPU seconds (user + system) a process used so far; clock ticks are 1/100 s. */
function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Publishers the soak tops the queue up with, each on a connection of its own. */
const SOAK_PUBLISHERS = 3;
/** Messages a soak publisher sends between looks at the depth: the level is overshot by at most 3 of these. */
const PUBLISH_CHUNK = 10_000;

/**
 * Keeps the queue at `level` ready messages or more: checkQueue every 200 ms, and publishers
 * that publish while the last depth seen is under the level. Remembers the lowest depth seen.
 */
class BacklogKeeper {
  depth = Infinity;
  lowest = Infinity;
  published = 0;
  private stopped = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly ctx: Context,
    private readonly lane: Lane,
    private readonly level: number,
  ) {}

  start(): void {
    const publishers = Array.from({ length: SOAK_PUBLISHERS }, (_, i) => this.publishWhileLow(i));
    this.loops = [this.watchDepth(), ...publishers];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  private async watchDepth(): Promise<void> {
    await withChannel(this.ctx.model, async (channel) => {
      while (!this.stopped) {
        this.depth = (await channel.checkQueue(this.lane.queue)).messageCount;
        this.lowest = Math.min(this.lowest, this.depth);
        await sleep(200);
      }
    });
  }

  private async publishWhileLow(index: number): Promise<void> {
    const model = await connectAmqp(this.ctx.url);
    try {
      const spread = Math.floor((index * this.ctx.bodies.length) / SOAK_PUBLISHERS);
      const publisher = await Publisher.open(model, this.lane, this.ctx.bodies, spread);
      while (!this.stopped) {
        if (this.depth >= this.level) {
          await sleep(100);
          continue;
        }
        await publisher.publish(PUBLISH_CHUNK);
        this.published += PUBLISH_CHUNK;
      }
    } finally {
      await model.close();
    }
  }
}

async function scrape(bridge: BridgeProcess, keeper: BacklogKeeper, atSeconds: number): Promise<SoakSample> {
  const text = await (await fetch(`http://127.0.0.1:${bridge.port}/metrics`)).text();
  const value = (name: string, labels?: string) => metricValue(text, name, labels) ?? NaN;
  return {
    atSeconds,
    rssBytes: rssOf(bridge.pid),
    heapUsedBytes: value('nodejs_heap_size_used_bytes'),
    heapTotalBytes: value('nodejs_heap_size_total_bytes'),
    externalBytes: value('nodejs_external_memory_bytes'),
    forwarded: value('winchester_bridge_messages_total', 'outcome="produced"'),
    queueDepth: keeper.depth,
  };
}

/** A sample every 10 s for `minutes`, while the keeper tops the queue up. */
async function sampleSoak(
  bridge: BridgeProcess,
  keeper: BacklogKeeper,
  minutes: number,
): Promise<SoakSample[]> {
  const samples: SoakSample[] = [];
  const started = performance.now();
  for (let at = 10; at <= minutes * 60; at += 10) {
    await sleep(started + at * 1000 - performance.now());
    const sample = await scrape(bridge, keeper, at);
    samples.push(sample);
    progress(
      `soak ${at} s: rss ${mib(sample.rssBytes)} MiB, heap ${mib(sample.heapUsedBytes)} MiB, ` +
        `${grouped(sample.forwarded)} forwarded, ${grouped(sample.queueDepth)} queued`,
    );
  }
  return samples;
}

interface MemoryWindow {
  rssMeanBytes: number;
  heapUsedMeanBytes: number;
  rssMaxBytes: number;
  heapUsedMaxBytes: number;
}

function memoryOver(samples: SoakSample[]): MemoryWindow {
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  return {
    rssMeanBytes: mean(samples.map((s) => s.rssBytes)),
    heapUsedMeanBytes: mean(samples.map((s) => s.heapUsedBytes)),
    rssMaxBytes: Math.max(...samples.map((s) => s.rssBytes)),
    heapUsedMaxBytes: Math.max(...samples.map((s) => s.heapUsedBytes)),
  };
}

interface Soak {
  bridgeProcess: 'child';
  minutes: number;
  backlogTarget: number;
  prefilled: number;
  lowestBacklog: number;
  backlogHeld: boolean;
  forwarded: number;
  perSecond: number;
  publishedDuringSoak: number;
  bridgeCpuMicrosPerMessage: number;
  firstMinute: MemoryWindow;
  lastMinute: MemoryWindow;
  samples: SoakSample[];
}

async function soakWith(ctx: Context, lane: Lane, dir: string, prefilled: number): Promise<Soak> {
  const minutes = ctx.options.soakMinutes;
  const bridge = await startBridgeProcess(ctx, lane, dir);
  const cpuBefore = cpuSecondsOf(bridge.pid);
  const keeper = new BacklogKeeper(ctx, lane, prefilled);
  keeper.start();
  progress(`soak: winchester bridge for ${minutes} min, the queue kept at ${grouped(prefilled)}…`);
  let samples: SoakSample[];
  let cpuSeconds: number;
  try {
    samples = await sampleSoak(bridge, keeper, minutes);
    cpuSeconds = cpuSecondsOf(bridge.pid) - cpuBefore;
  } finally {
    await keeper.stop();
    await bridge.stop();
  }
  const end = minutes * 60;
  const forwarded = samples.at(-1)!.forwarded;
  return {
    bridgeProcess: 'child',
    minutes,
    backlogTarget: ctx.options.backlog,
    prefilled,
    lowestBacklog: keeper.lowest,
    backlogHeld: keeper.lowest >= ctx.options.backlog,
    forwarded,
    perSecond: forwarded / end,
    publishedDuringSoak: keeper.published,
    bridgeCpuMicrosPerMessage: (cpuSeconds * 1e6) / forwarded,
    firstMinute: memoryOver(samples.filter((s) => s.atSeconds <= 60)),
    lastMinute: memoryOver(samples.filter((s) => s.atSeconds > end - 60)),
    samples,
  };
}

async function measureSoak(ctx: Context): Promise<Soak> {
  const lane = laneOf(ctx.run, 'soak');
  const prefilled = ctx.options.prefill;
  const dir = mkdtempSync(join(tmpdir(), 'bench-bridge-'));
  try {
    progress(`soak: prefilling ${lane.queue} with ${grouped(prefilled)} messages…`);
    await fillLane(ctx, lane, prefilled);
    return await soakWith(ctx, lane, dir, prefilled);
  } finally {
    await removeLane(ctx, lane);
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Result {
  machine: string;
  throughput?: Throughput;
  soak?: Soak;
}

const row = (label: string, value: string) => `${label.padEnd(34)} ${value}`;

function throughputRows(t: Throughput): string[] {
  const { limits } = t;
  const drain = (d: Drain) =>
    `${grouped(d.perSecond).padStart(7)} msg/s (${d.seconds.toFixed(1)} s, ${d.cpuMicrosPerMessage.toFixed(0)} µs CPU/msg)`;
  const rounds = [...new Set(t.drains.map((d) => d.round))].map((round) => {
    const of = (side: Side) => t.drains.find((d) => d.round === round && d.side === side)!;
    const first = of('bare').turn === 1 ? 'bare' : 'bridge';
    return row(
      `  round ${round} (${first} first)`,
      `bare ${drain(of('bare'))}   bridge ${drain(of('bridge'))}`,
    );
  });
  return [
    `throughput: ${grouped(t.messages)} messages a drain (mean body ${grouped(t.meanBodyBytes)} bytes, ` +
      `1 in 3 in oslo's v2 envelope), prefetch ${limits.prefetch}, batches ≤ ${limits.batchMessages} ` +
      `messages and ≤ ${grouped(limits.batchBytes)} bytes, acks all, 3 partitions`,
    ...rounds,
    row('  median', `bare ${grouped(t.median.bare)} msg/s, bridge ${grouped(t.median.bridge)} msg/s`),
    row('  bridge / bare', `${t.ratio.toFixed(2)}× (target ≥ 0.80×)`),
  ];
}

function soakRows(s: Soak): string[] {
  const memory = (w: MemoryWindow) =>
    `RSS mean ${mib(w.rssMeanBytes)} MiB (max ${mib(w.rssMaxBytes)}), heap used mean ` +
    `${mib(w.heapUsedMeanBytes)} MiB (max ${mib(w.heapUsedMaxBytes)})`;
  const samples = s.samples.map(
    (x) =>
      `  ${String(x.atSeconds).padStart(5)} ${mib(x.rssBytes).padStart(8)} ${mib(x.heapUsedBytes).padStart(9)} ` +
      `${mib(x.heapTotalBytes).padStart(10)} ${mib(x.externalBytes).padStart(13)} ${grouped(x.forwarded).padStart(11)} ${grouped(x.queueDepth).padStart(10)}`,
  );
  return [
    `soak: winchester bridge in its own process for ${s.minutes} min, queue prefilled to ` +
      `${grouped(s.prefilled)} and topped up (target ≥ ${grouped(s.backlogTarget)})`,
    '      t s  RSS MiB  heap MiB  heap total  external MiB   forwarded     queued',
    ...samples,
    row('  first minute', memory(s.firstMinute)),
    row('  last minute', memory(s.lastMinute)),
    row(
      '  lowest backlog (checkQueue)',
      `${grouped(s.lowestBacklog)}: ${s.backlogHeld ? 'held' : 'NOT held'} ≥ ${grouped(s.backlogTarget)}`,
    ),
    row(
      '  forwarded',
      `${grouped(s.forwarded)} (${grouped(s.perSecond)} msg/s, ${s.bridgeCpuMicrosPerMessage.toFixed(0)} µs ` +
        `bridge CPU/msg); ${grouped(s.publishedDuringSoak)} published meanwhile`,
    ),
  ];
}

function table(r: Result): string {
  const lines = [r.machine];
  if (r.throughput) lines.push(...throughputRows(r.throughput));
  if (r.soak) lines.push(...soakRows(r.soak));
  return `${lines.join('\n')}\n`;
}

async function connectAmqp(url: string): Promise<ChannelModel> {
  try {
    return await amqp.connect(url);
  } catch (error) {
    throw new Error(`cannot reach RabbitMQ at ${amqpTarget(url)}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  ensureStack();
  const url = amqpUrl();
  await registerCompressionCodecs();
  const kafka = createKafka(connectionSettings(), 'bench-bridge');
  const model = await connectAmqp(url);
  const admin = kafka.admin();
  await admin.connect();
  const run = randomBytes(4).toString('hex');
  const version = String(model.connection.serverProperties.version ?? '?');
  const machine =
    `${cpus().length} CPUs, Node.js ${process.version}, RabbitMQ ${version}, ` +
    `load average ${loadavg()[0].toFixed(2)} at the start`;
  const ctx: Context = {
    ...{ run, options, url, model, kafka, admin },
    bodies: corpusBodies(),
    metrics: new WinchesterMetrics('bridge'),
  };
  try {
    const result: Result = { machine };
    if (options.only !== 'soak') result.throughput = await measureThroughput(ctx);
    if (options.only !== 'throughput') result.soak = await measureSoak(ctx);
    process.stdout.write(options.json ? `${JSON.stringify({ options, ...result })}\n` : table(result));
  } finally {
    await withChannel(model, (channel) => channel.deleteExchange(`bench-bridge-${run}`)).catch(
      () => undefined,
    );
    await admin.disconnect();
    await model.close();
  }
}

runBenchmark('bench:bridge', main);
