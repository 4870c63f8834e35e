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
import { parseArgs } from 'node:util';
import { Kafka } from 'kafkajs';
import { connectionSettings } from '../src/config/environment';
import { createKafka } from '../src/kafka/client';
import { registerCompressionCodecs } from '../src/kafka/codecs';
import { ensureStack, runBenchmark } from './support/run';
import { lagOf, rssMiB, SoakRun, startSoakRun, streamsAndTimerLag } from './support/soak-load';
import { latencySummary } from './support/stats';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
  const kafka = createKafka(connection, 'soak');
  // Duplicates are remembered for 15 minutes here (14 days by default), so the seen ids
  // level off within the run like everything else.
  const run = await startSoakRun(kafka, connection, { rate, instances, seenRetentionSeconds: 900 });
  const samples: Sample[] = [];
  const end = run.load.startedAt + minutes * 60_000;
  while (Date.now() < end) {
    await sleep(Math.min(sampleMs, end - Date.now()));
    const row = await sampleRow(kafka, run);
    samples.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
    // Sends older than the expiry window can no longer fire: forget them (bounded memory).
    run.probe.forgetOlderThan(600_000);
  }
  await run.stop();
  const summary = {
    minutes,
    rate,
    instances,
    sent: run.load.sent,
    ...summarize(samples),
    runDir: run.runDir,
  };
  if (values.json) process.stdout.write(`${JSON.stringify({ summary, samples })}\n`);
  else {
    const columns = Object.keys(samples[0] ?? {});
    process.stdout.write(`${columns.join('\t')}\n`);
    for (const s of samples) process.stdout.write(`${columns.map((c) => s[c]).join('\t')}\n`);
    process.stdout.write(`\n${JSON.stringify(summary, null, 2)}\n`);
  }
}

type Sample = Record<string, number>;

/** One sample interval: load, streams, Redis memory, fire latency, consumer lags, RSS. */
async function sampleRow(kafka: Kafka, run: SoakRun): Promise<Sample> {
  const { settings, load, probe, redis } = run;
  const namespace = settings.namespace;
  const info = await redis.info('memory');
  const fire = latencySummary(probe.take());
  const row: Sample = {
    minute: Number(((Date.now() - load.startedAt) / 60000).toFixed(1)),
    sent: load.sent,
    streamsOnTopic: probe.streamRecords,
    ...(await streamsAndTimerLag(redis, settings)),
    redisMiB: Number((Number(/used_memory:(\d+)/.exec(info)![1]) / 2 ** 20).toFixed(1)),
    fireP50Ms: Number(fire.p50Ms.toFixed(1)),
    fireP99Ms: Number(fire.p99Ms.toFixed(1)),
    fired: fire.count,
    lagDistiller: await lagOf(kafka, `${namespace}.distiller`, settings.inputTopics),
    lagMatcher: await lagOf(kafka, `${namespace}.matcher`, [
      settings.topics.events,
      settings.topics.repartition,
    ]),
    lagWorker: await lagOf(kafka, `${namespace}.worker`, [settings.topics.streams]),
  };
  for (const { role, child } of run.roles) row[`${role}RssMiB`] = Number(rssMiB(child.pid).toFixed(1));
  return row;
}

/** Whether memory levelled off (the last third's maximum against the middle third's), worst lag and p99. */
function summarize(samples: Sample[]) {
  const third = Math.floor(samples.length / 3);
  const plateau = (field: string) => {
    const middle = Math.max(...samples.slice(third, 2 * third).map((s) => s[field]));
    const last = Math.max(...samples.slice(2 * third).map((s) => s[field]));
    return { middle, last, growth: Number(((last - middle) / middle).toFixed(3)) };
  };
  const fields = ['distillerRssMiB', 'matcherRssMiB', 'workerRssMiB', 'redisMiB', 'activeStreams'];
  return {
    plateau: Object.fromEntries(fields.map((f) => [f, plateau(f)])),
    worstTimerLagSeconds: Math.max(...samples.map((s) => s.timerLagSeconds)),
    worstFireP99Ms: Math.max(...samples.filter((s) => s.fired > 0).map((s) => s.fireP99Ms)),
  };
}

runBenchmark('soak', main);
