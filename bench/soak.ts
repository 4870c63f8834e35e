/**
 * Soak: the topology as processes (distiller, matcher, worker) under the wall clock, fed a
 * steady round-robin load over a large instance population for a long time, with
 * topologies/soak (one stream per instance, collecting its updates, fired by its
 * power_off.end, expired 5 minutes after its last event). Instance i's visit k carries a
 * power_off.end when (k + i) % 6 == 5, so a sixth of the streams fire in every round, spread
 * evenly over it, rather than all of them in the same round; every instance always holds an
 * active stream. Every sample interval it records each role's RSS, Redis memory, active
 * streams, timer lag, consumer lag and the fire latency (producing the power_off.end → its
 * stream record on `streams`), then prints the series and whether memory levelled off.
 *
 *   node dist/bench/soak.js [--minutes 30] [--rate 2620] [--instances 150000] [--sample-seconds 60]
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync } from 'node:fs';
import { repoRoot, writeRoleConfig } from './support';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import Redis from 'ioredis';
import { Kafka } from 'kafkajs';
import { connectionSettings } from '../src/config/environment';
import { createKafka } from '../src/kafka/client';
import { registerCompressionCodecs } from '../src/kafka/codecs';
import { groupLag } from '../src/kafka/group-lag';
import { PartitionKeys } from '../src/redis/keys';
import { defaultTopologySettings } from '../src/config/topology-settings';
import { ensureTopicsOnce } from '../src/topology/topics';
import { createProducer } from '../src/topology/role-runner';
import { ensureStack, runBenchmark } from './support/run';

const repo = repoRoot;
const cli = join(repo, 'dist', 'src', 'cli', 'main.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startRole(role: string, configFile: string, env: NodeJS.ProcessEnv, logDir: string): ChildProcess {
  const log = createWriteStream(join(logDir, `${role}.log`));
  // Node flags given to the harness (e.g. --cpu-prof, --max-old-space-size) apply to the roles too.
  const child = spawn(
    process.execPath,
    [...process.execArgv, cli, role, '-c', configFile, '-t', join(repo, 'topologies', 'soak')],
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  return child;
}

function rssMiB(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function lagOf(kafka: Kafka, groupId: string, topics: string[]): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await groupLag(admin, groupId, topics);
  } finally {
    await admin.disconnect();
  }
}

const percentile = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;

async function main() {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '30' },
      rate: { type: 'string', default: '2620' },
      instances: { type: 'string', default: '150000' },
      'sample-seconds': { type: 'string', default: '60' },
      json: { type: 'boolean', default: false },
    },
  });
  const minutes = Number(values.minutes);
  const rate = Number(values.rate);
  const instances = Number(values.instances);
  const sampleMs = Number(values['sample-seconds']) * 1000;
  ensureStack();
  await registerCompressionCodecs();
  const connection = connectionSettings();
  const kafka = createKafka(connection.kafkaBrokers, 'soak');
  const namespace = `soak${Date.now().toString(36)}`;
  const settings = defaultTopologySettings({ namespace, clock: 'wall' });
  await ensureTopicsOnce(kafka, settings);

  const runDir = mkdtempSync(join(tmpdir(), `winchester-${namespace}-`));
  // Duplicates are remembered for 15 minutes here (14 days by default), so the seen ids
  // level off within the run like everything else.
  const configFile = writeRoleConfig(runDir, { seenRetentionSeconds: 900 });
  const env = {
    KAFKA_BROKERS: connection.kafkaBrokers.join(','),
    REDIS_URL: connection.redisUrl,
    WINCHESTER_NAMESPACE: namespace,
    WINCHESTER_CLOCK: 'wall',
  };
  const roles = ['distiller', 'matcher', 'worker'].map((role) => ({
    role,
    child: startRole(role, configFile, env, runDir),
  }));
  await sleep(4000);

  // Fire latency: when each firing power_off.end was sent, matched on `streams`.
  const template = JSON.parse(
    gunzipSync(readFileSync(join(repo, 'data', 'notifications-openstack-26h.jsonl.gz')))
      .toString('utf8')
      .split('\n')
      .find((l) => l.includes('"event_type": "compute.instance.update"'))!,
  ) as Record<string, unknown> & { payload: Record<string, unknown> };
  const firingSentAt = new Map<string, number>();
  let latencies: number[] = [];
  let streamsSeen = 0;
  const consumer = kafka.consumer({ groupId: `${namespace}.soak-latency` });
  await consumer.connect();
  await consumer.subscribe({ topic: settings.topics.streams, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      streamsSeen++;
      const record = JSON.parse(message.value!.toString()) as {
        kind: string;
        events: Array<{ message_id: string }>;
      };
      if (record.kind !== 'fired') return;
      const last = record.events[record.events.length - 1];
      const sent = firingSentAt.get(last.message_id);
      if (sent !== undefined) {
        latencies.push(Date.now() - sent);
        firingSentAt.delete(last.message_id);
      }
    },
  });

  // Round robin over the population: each instance gets an update every instances/rate s.
  const producer = createProducer(kafka);
  await producer.connect();
  const perInstance = new Uint32Array(instances);
  let sent = 0;
  let producing = true;
  const started = Date.now();
  const producerLoop = (async () => {
    const tickMs = 100;
    let next = 0;
    while (producing) {
      const due = Math.floor(((Date.now() - started) / 1000) * rate);
      const messages = [];
      for (; sent < due; sent++) {
        const i = next;
        next = (next + 1) % instances;
        const visit = perInstance[i]++;
        const id = `soak-${sent}`;
        const now = new Date().toISOString().replace('T', ' ').replace('Z', '');
        // Every sixth visit of an instance fires its stream, offset by the instance so that
        // each round fires a sixth of the population.
        const fires = (visit + i) % 6 === 5;
        if (fires) firingSentAt.set(id, Date.now());
        messages.push({
          key: `i-${i}`,
          value: JSON.stringify({
            ...template,
            event_type: fires ? 'compute.instance.power_off.end' : template.event_type,
            message_id: id,
            timestamp: now,
            payload: { ...template.payload, instance_id: `soak-instance-${i}` },
          }),
        });
      }
      if (messages.length) await producer.send({ topic: settings.inputTopics[0], acks: -1, messages });
      await sleep(tickMs);
    }
  })();

  const redis = new Redis(connection.redisUrl);
  const samples: Array<Record<string, number>> = [];
  const sample = async () => {
    let active = 0;
    let oldestDue = Infinity;
    for (let p = 0; p < settings.partitions.repartition; p++) {
      const keys = new PartitionKeys(namespace, p);
      active += await redis.zcard(keys.expireTimers);
      for (const key of [keys.fireTimers, keys.expireTimers]) {
        const first = await redis.zrange(key, '0', '0', 'WITHSCORES');
        if (first.length) oldestDue = Math.min(oldestDue, Number(first[1]));
      }
    }
    const nowMicros = Date.now() * 1000;
    const info = await redis.info('memory');
    const sorted = [...latencies].sort((a, b) => a - b);
    latencies = [];
    const row: Record<string, number> = {
      minute: Number(((Date.now() - started) / 60000).toFixed(1)),
      sent,
      streamsOnTopic: streamsSeen,
      activeStreams: active,
      timerLagSeconds: oldestDue < nowMicros ? Number(((nowMicros - oldestDue) / 1e6).toFixed(2)) : 0,
      redisMiB: Number((Number(/used_memory:(\d+)/.exec(info)![1]) / 2 ** 20).toFixed(1)),
      fireP50Ms: percentile(sorted, 50),
      fireP99Ms: percentile(sorted, 99),
      fired: sorted.length,
      lagDistiller: await lagOf(kafka, `${namespace}.distiller`, settings.inputTopics),
      lagMatcher: await lagOf(kafka, `${namespace}.matcher`, [
        settings.topics.events,
        settings.topics.repartition,
      ]),
      lagWorker: await lagOf(kafka, `${namespace}.worker`, [settings.topics.streams]),
    };
    for (const { role, child } of roles) row[`${role}RssMiB`] = Number(rssMiB(child.pid).toFixed(1));
    samples.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  };
  const end = started + minutes * 60_000;
  while (Date.now() < end) {
    await sleep(Math.min(sampleMs, end - Date.now()));
    await sample();
    // Sends older than the expiry window can no longer fire: forget them (bounded memory).
    for (const [id, at] of firingSentAt) {
      if (Date.now() - at > 600_000) firingSentAt.delete(id);
      else break;
    }
  }
  producing = false;
  await producerLoop;
  await producer.disconnect();
  await consumer.disconnect();
  for (const { child } of roles) child.kill('SIGTERM');
  redis.disconnect();

  // Levelled off: the last third's maximum within 10% of the middle third's maximum.
  const third = Math.floor(samples.length / 3);
  const plateau = (field: string) => {
    const middle = Math.max(...samples.slice(third, 2 * third).map((s) => s[field]));
    const last = Math.max(...samples.slice(2 * third).map((s) => s[field]));
    return { middle, last, growth: Number(((last - middle) / middle).toFixed(3)) };
  };
  const summary = {
    minutes,
    rate,
    instances,
    sent,
    plateau: Object.fromEntries(
      ['distillerRssMiB', 'matcherRssMiB', 'workerRssMiB', 'redisMiB', 'activeStreams'].map((f) => [
        f,
        plateau(f),
      ]),
    ),
    worstTimerLagSeconds: Math.max(...samples.map((s) => s.timerLagSeconds)),
    worstFireP99Ms: Math.max(...samples.filter((s) => s.fired > 0).map((s) => s.fireP99Ms)),
    runDir,
  };
  if (values.json) process.stdout.write(`${JSON.stringify({ summary, samples })}\n`);
  else {
    const columns = Object.keys(samples[0] ?? {});
    process.stdout.write(`${columns.join('\t')}\n`);
    for (const s of samples) process.stdout.write(`${columns.map((c) => s[c]).join('\t')}\n`);
    process.stdout.write(`\n${JSON.stringify(summary, null, 2)}\n`);
  }
}

runBenchmark('soak', main);
