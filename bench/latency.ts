/**
 * Fire latency under the soak's load at half the peak: measures the peak first (the
 * topology's rate as bench:engine measures it, on the corpus `--copies` times over) unless
 * --rate gives the load, then runs the soak's roles and load (bench/support/soak-load.ts:
 * `--instances` streams held active, a sixth of them firing per round) at that rate for
 * `--minutes`, with every instance given an active stream before the timing starts. Fire
 * latency is from just before a firing notification is produced to its stream record on
 * `<ns>.streams`, once per fired stream; printed per minute and over the whole run, with
 * each stage's p50/p99 as the roles' `winchester_stage_latency_seconds` (and the worker's
 * pipeline duration, as `worker`) tell them (`stages` in --json; see docs/metrics.md).
 *
 *   node dist/bench/latency.js --minutes N [--rate R] [--instances 150000] [--copies 3] [--keep] [--json]
 *
 * The runs' topics, groups and Redis keys are deleted at the end unless --keep.
 */
import { Kafka } from 'kafkajs';
import { connectionSettings, ConnectionSettings } from '../src/config/environment';
import { defaultTopologySettings } from '../src/config/topology-settings';
import { createKafka } from '../src/kafka/client';
import { registerCompressionCodecs } from '../src/kafka/codecs';
import { corpusCopies, parseCountOptions } from './support';
import { topologyRun } from './support/engine-runs';
import { dropNamespaces } from './support/namespaces';
import { ensureStack, runBenchmark } from './support/run';
import { SoakRun, startSoakRun, streamsAndTimerLag } from './support/soak-load';
import { latencySummary, rounded } from './support/stats';
import {
  listeningPorts,
  scrapeStages,
  StageFigures,
  stageFigures,
  StageSnapshot,
} from './support/stage-latency';

interface Options {
  minutes: number;
  rate: number;
  instances: number;
  copies: number;
  keep: boolean;
  json: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const progress = (line: string) => process.stderr.write(`${line}\n`);

function parseOptions(argv: string[]): Options {
  const defaults: Options = { minutes: 0, rate: 0, instances: 150_000, copies: 3, keep: false, json: false };
  const options = parseCountOptions<Options>(
    argv,
    defaults,
    { '--minutes': 'minutes', '--rate': 'rate', '--instances': 'instances', '--copies': 'copies' },
    { '--keep': 'keep' },
  );
  if (!options.minutes) throw new Error('--minutes N is required (how long to hold the load)');
  return options;
}

/** The topology's notifications/s on the corpus, as bench:engine's topology_per_s. */
async function peakRate(kafka: Kafka, connection: ConnectionSettings, options: Options): Promise<number> {
  const namespace = `latpeak${Date.now().toString(36)}`;
  const settings = defaultTopologySettings({ namespace, clock: 'event' });
  const run = await topologyRun(kafka, connection.redisUrl, settings, corpusCopies(options.copies));
  if (!options.keep) await dropNamespaces(kafka, connection.redisUrl, [namespace]);
  return run.perSecond;
}

interface MinuteRow {
  minute: number;
  sent: number;
  fired: number;
  fire_latency_p50_ms: number | null;
  fire_latency_p99_ms: number | null;
  /** Firing notifications sent whose stream record has not arrived yet. */
  awaited: number;
  active_streams: number;
  timer_lag_s: number;
  /** Each stage's p50/p99 over the minute, from the roles' /metrics. */
  stages: Record<string, StageFigures>;
}

/** The roles' /metrics, scraped for the stage histograms: one snapshot after another. */
class StageScraper {
  private readonly ports: number[];
  readonly first: Promise<StageSnapshot>;
  private last: StageSnapshot = new Map();

  constructor(run: SoakRun) {
    this.ports = run.roles.flatMap(({ child }) => (child.pid ? listeningPorts(child.pid) : []));
    this.first = this.scrape();
  }

  async scrape(): Promise<StageSnapshot> {
    this.last = await scrapeStages(this.ports);
    return this.last;
  }

  /** The stages since the previous scrape. */
  async sincePrevious(): Promise<Record<string, StageFigures>> {
    const before = this.last;
    return stageFigures(before, await this.scrape());
  }

  /** The stages since the first scrape, up to the last. */
  async overall(): Promise<Record<string, StageFigures>> {
    return stageFigures(await this.first, this.last);
  }
}

/** Holds the load for `minutes`, a row a minute; every latency measured goes into `all`. */
async function minuteByMinute(
  run: SoakRun,
  minutes: number,
  all: number[],
  stages: StageScraper,
): Promise<MinuteRow[]> {
  const rows: MinuteRow[] = [];
  await stages.first;
  for (let minute = 1; minute <= minutes; minute++) {
    await sleep(Math.max(0, run.load.startedAt + minute * 60_000 - Date.now()));
    const samples = run.probe.take();
    all.push(...samples);
    const fire = latencySummary(samples);
    const { activeStreams, timerLagSeconds } = await streamsAndTimerLag(run.redis, run.settings);
    const row: MinuteRow = {
      minute,
      sent: run.load.sent,
      fired: fire.count,
      fire_latency_p50_ms: rounded(fire.p50Ms, 1),
      fire_latency_p99_ms: rounded(fire.p99Ms, 1),
      awaited: run.probe.awaited,
      active_streams: activeStreams,
      timer_lag_s: timerLagSeconds,
      stages: await stages.sincePrevious(),
    };
    progress(JSON.stringify(row));
    rows.push(row);
    // Sends older than the expiry window can no longer fire: forget them (bounded memory).
    run.probe.forgetOlderThan(600_000);
  }
  return rows;
}

async function measure(options: Options) {
  ensureStack();
  await registerCompressionCodecs();
  const connection = connectionSettings();
  const kafka = createKafka(connection, 'bench-latency');
  let peak: number | null = null;
  if (!options.rate) {
    progress(`peak: the topology on the corpus ${options.copies}× over…`);
    peak = await peakRate(kafka, connection, options);
  }
  const rate = options.rate || Math.max(1, Math.round(peak! / 2));
  progress(
    `${options.instances} instances given an active stream each, then ${rate}/s for ${options.minutes} min…`,
  );
  const run = await startSoakRun(kafka, connection, {
    rate,
    instances: options.instances,
    seenRetentionSeconds: 900,
    prefill: true,
  });
  const all: number[] = [];
  const stages = new StageScraper(run);
  const minutes = await minuteByMinute(run, options.minutes, all, stages).finally(() => run.stop());
  if (!options.keep) await dropNamespaces(kafka, connection.redisUrl, [run.settings.namespace]);
  const overall = latencySummary(all);
  return {
    fire_latency_p50_ms: rounded(overall.p50Ms, 1),
    fire_latency_p99_ms: rounded(overall.p99Ms, 1),
    fired: overall.count,
    // Not in the percentiles: a run that falls behind leaves its slowest fires here.
    fires_still_awaited: run.probe.awaited,
    rate_per_s: rate,
    peak_per_s: peak === null ? null : rounded(peak),
    sent_per_s: rounded(run.load.sent / (options.minutes * 60)),
    active_streams: minutes.at(-1)?.active_streams ?? 0,
    instances: options.instances,
    stages: await stages.overall(),
    minutes,
    run_dir: run.runDir,
  };
}

type Result = Awaited<ReturnType<typeof measure>>;

function table(r: Result): string {
  const head = 'minute\tsent\tfired\tp50 ms\tp99 ms\tawaited\tactive streams\ttimer lag s\n';
  const rows = r.minutes.map(
    (m) =>
      `${m.minute}\t${m.sent}\t${m.fired}\t${m.fire_latency_p50_ms}\t${m.fire_latency_p99_ms}\t${m.awaited}\t${m.active_streams}\t${m.timer_lag_s}\n`,
  );
  const peak = r.peak_per_s === null ? 'given' : `half the measured peak of ${r.peak_per_s}/s`;
  return (
    head +
    rows.join('') +
    `\nrate ${r.rate_per_s}/s (${peak}; ${r.sent_per_s}/s sent), ${r.active_streams} active streams\n` +
    `fire latency over the run: p50 ${r.fire_latency_p50_ms} ms, p99 ${r.fire_latency_p99_ms} ms (${r.fired} fired streams; ${r.fires_still_awaited} firing notifications without their stream record at the end)\n` +
    `roles' logs: ${r.run_dir}\n\n` +
    stageTable(r)
  );
}

/** A row per stage: p50/p99 (ms) of each minute, then over the run. */
function stageTable(r: Result): string {
  const names = Object.keys(r.stages);
  const cell = (f: StageFigures | undefined) => (f ? `${f.p50_ms ?? '-'}/${f.p99_ms ?? '-'}` : '-');
  const head = `stage p50/p99 ms\t${r.minutes.map((m) => `min ${m.minute}`).join('\t')}\toverall\tsamples\n`;
  const rows = names.map(
    (stage) =>
      `${stage}\t${r.minutes.map((m) => cell(m.stages[stage])).join('\t')}\t${cell(r.stages[stage])}\t${r.stages[stage].count}\n`,
  );
  return head + rows.join('');
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const result = await measure(options);
  process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : table(result));
}

runBenchmark('bench:latency', main);
