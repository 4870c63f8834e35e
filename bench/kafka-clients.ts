/**
 * kafkajs against @platformatic/kafka on the same broker in the same run (issue #21's "Kafka
 * client" point: the client changes only if the other is at least 1.3× faster). Rounds
 * alternate the clients (kafkajs first in even rounds, @platformatic/kafka first in odd ones,
 * so that drift on a shared machine falls on both), and each round measures per client:
 *  1. relay chain: the corpus loaded into `in`, relayed in → h1 → h2 → out by three consumer
 *     groups sharing one producer (bench:engine's baseline; relayChainRate for kafkajs):
 *     records/s from the start to the last record out;
 *  2. produce only: the corpus to a new topic in sendAll's requests;
 *  3. consume only: a new group reads that topic from the start, committing as it goes.
 * CPU µs per record come from process.cpuUsage over each run; the relay chain's include
 * loading `in` (so 4 produces and 3 consumes per record). Last, the topology itself (distiller
 * and matcher, bench:engine's run, on kafkajs) once, for its CPU per record: what the client
 * saves on the relay chain bounds what it could save the topology.
 *
 * Settings, both clients: 3 partitions per topic, acks -1, no idempotence, no compression
 * (the topology's notifications → events → streams hops produce uncompressed), one produce
 * request in flight per producer, relay chunks of 500 records, fetches of at most 1 MiB per
 * partition and 10 MiB in all, min 1 byte, max wait 5 s, offsets committed by hand per chunk.
 *
 *   node dist/bench/kafka-clients.js [--copies 3] [--rounds 3] [--json]
 *
 * The broker is KAFKA_BROKERS (plaintext) and REDIS_URL, or the local stack's; the run's
 * topics, groups and Redis keys are deleted at the end. --json prints one JSON object on stdout; progress goes to stderr.
 */
import { performance } from 'node:perf_hooks';
import { Kafka } from 'kafkajs';
import { connectionSettings } from '../src/config/environment';
import { createKafka } from '../src/kafka/client';
import { corpusCopies, parseCountOptions } from './support';
import { defaultTopologySettings } from '../src/config/topology-settings';
import { registerCompressionCodecs } from '../src/kafka/codecs';
import { relayChainRate, topologyRun } from './support/engine-runs';
import { dropNamespaces } from './support/namespaces';
import { createTopics, deleteRunLeftovers, kafkajsConsumeRate, kafkajsProduce } from './support/kafkajs-runs';
import {
  platformaticConsumeRate,
  platformaticProduce,
  platformaticRelayRate,
} from './support/platformatic-runs';
import { ensureStack, runBenchmark } from './support/run';
import { clientFigures, ClientName, CLIENTS, Measured, RoundFigures } from './support/client-figures';

interface Options {
  copies: number;
  rounds: number;
  json: boolean;
}

const progress = (line: string) => process.stderr.write(`${line}\n`);

/** What `run` returns (a rate, or nothing when the time is taken here), with its CPU. */
async function measured(count: number, run: () => Promise<number | void>): Promise<Measured> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const rate = await run();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { perSecond: rate ?? count / seconds, cpuUsPerRecord: (used.user + used.system) / count };
}

interface Target {
  kafka: Kafka;
  brokers: string[];
  lines: string[];
}

/** One client's three runs, on topics of their own under `prefix`. */
async function clientRound(client: ClientName, t: Target, prefix: string): Promise<RoundFigures> {
  const n = t.lines.length;
  const onKafkajs = client === 'kafkajs';
  const relay = await measured(n, () =>
    onKafkajs
      ? relayChainRate(t.kafka, `${prefix}.relay`, t.lines)
      : platformaticRelayRate(t.kafka, t.brokers, `${prefix}.relay`, t.lines),
  );
  const topic = `${prefix}.load`;
  await createTopics(t.kafka, [topic]);
  const produce = await measured(n, () =>
    onKafkajs ? kafkajsProduce(t.kafka, topic, t.lines) : platformaticProduce(t.brokers, topic, t.lines),
  );
  const consume = await measured(n, () =>
    onKafkajs ? kafkajsConsumeRate(t.kafka, topic, n) : platformaticConsumeRate(t.brokers, topic, n),
  );
  return { relay, produce, consume };
}

async function measure(options: Options) {
  ensureStack();
  await registerCompressionCodecs();
  const connection = connectionSettings();
  if (connection.kafkaSecurity.protocol !== 'PLAINTEXT')
    throw new Error('bench:kafka-clients runs on a plaintext broker only (unset KAFKA_SECURITY_PROTOCOL)');
  const target = {
    kafka: createKafka(connection, 'bench'),
    brokers: connection.kafkaBrokers,
    lines: corpusCopies(options.copies),
  };
  const runId = `bench${Date.now()}.clients`;
  const rounds: Record<ClientName, RoundFigures[]> = { kafkajs: [], platformatic: [] };
  try {
    for (let r = 0; r < options.rounds; r++) {
      const order = r % 2 === 0 ? CLIENTS : [...CLIENTS].reverse();
      for (const client of order) {
        progress(`round ${r + 1}/${options.rounds}: ${client}…`);
        rounds[client].push(await clientRound(client, target, `${runId}.${client}${r}`));
      }
    }
    progress('topology (kafkajs)…');
    const settings = defaultTopologySettings({ namespace: `${runId}.topo`, clock: 'event' });
    const topology = await measured(target.lines.length, async () => {
      const run = await topologyRun(target.kafka, connection.redisUrl, settings, target.lines);
      return run.perSecond;
    });
    return clientFigures(target.lines.length, rounds, topology);
  } finally {
    await dropNamespaces(target.kafka, connection.redisUrl, [`${runId}.topo`]);
    await deleteRunLeftovers(target.kafka, runId);
  }
}

/** The figures for a person: one line each. */
function table(f: ReturnType<typeof clientFigures>): string {
  const rows = (['relay', 'produce', 'consume'] as const).map((run) => {
    const k = f.kafkajs[run];
    const p = f.platformatic[run];
    const vs = f.platformatic_vs_kafkajs[run];
    return (
      `${run.padEnd(8)} kafkajs ${k.per_s}/s ${k.cpu_us_per_record} µs/rec · ` +
      `@platformatic/kafka ${p.per_s}/s ${p.cpu_us_per_record} µs/rec · ` +
      `rate ${vs.rate}× (rounds ${vs.rate_min}–${vs.rate_max}), CPU ${vs.cpu}× (${vs.cpu_min}–${vs.cpu_max})\n`
    );
  });
  const head = `${f.records} records, ${f.rounds} rounds per client (medians)\n`;
  const t = f.topology_kafkajs;
  const topology =
    `topology (kafkajs) ${t.per_s}/s ${t.cpu_us_per_record} µs/rec; ` +
    `with @platformatic/kafka's CPU saving at most ${t.speedup_at_most_with_platformatic}×\n`;
  return `${head}${rows.join('')}${topology}${f.verdict}\n`;
}

async function main() {
  const options = parseCountOptions<Options>(
    process.argv.slice(2),
    { copies: 3, rounds: 3, json: false },
    { '--copies': 'copies', '--rounds': 'rounds' },
  );
  const result = await measure(options);
  process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : table(result));
}

runBenchmark('bench:kafka-clients', main);
