import { createWriteStream, openSync } from 'node:fs';
import { Writable } from 'node:stream';
import { Command } from 'commander';
import { Presets, SingleBar } from 'cli-progress';
import { Consumer, Kafka, Producer } from 'kafkajs';
import { loadWinchesterConfig } from '../config/winchester-config';
import {
  defaultInstanceCount,
  defaultTemplateDir,
  GeneratedNotification,
  generateNotifications,
  loadTemplates,
} from '../generate';
import { formatMicros, Micros, MICROS_PER_HOUR, MICROS_PER_SECOND, parseIso8601 } from '../time/micros';
import { loadTopology } from '../topology/bundle';
import { TopologySettings } from '../config/topology-settings';
import { ensureTopicsOnce } from '../topology/topics';
import { TopologyDecoders } from '../topology/serialization';
import { connect } from './connect';
import { CommandFailure, positiveNumber, UsageError } from './errors';
import { produceLines } from './produce';

/** Where generated lines go: a file, stdout, or a Kafka topic. */
interface LineSink {
  write(lines: string[]): Promise<void>;
  close(): Promise<void>;
  /** Set when the reader went away (e.g. `| head`): stop generating. */
  closed: boolean;
}

function streamSink(target: string): LineSink {
  // Opened at once, so an unwritable path fails before anything is generated.
  const stream: Writable =
    target === '-' ? process.stdout : createWriteStream(target, { fd: openSync(target, 'w') });
  let failure: Error | undefined;
  const sink: LineSink = {
    closed: false,
    async write(lines) {
      if (failure) throw new CommandFailure(`${target}: ${failure.message}`);
      if (sink.closed || lines.length === 0) return;
      if (stream.write(`${lines.join('\n')}\n`)) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          stream.off('drain', done);
          stream.off('close', done);
          resolve();
        };
        stream.on('drain', done);
        stream.on('close', done);
      });
    },
    async close() {
      if (failure) throw new CommandFailure(`${target}: ${failure.message}`);
      if (target === '-' || sink.closed) return;
      await new Promise<void>((resolve, reject) =>
        stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
      );
    },
  };
  stream.on('error', (error: NodeJS.ErrnoException) => {
    // A reader that stops early (`| head`) is the normal end of a pipe, not a failure.
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') failure = error;
    sink.closed = true;
  });
  return sink;
}

function kafkaSink(producer: Producer, topic: string): LineSink {
  return {
    closed: false,
    async write(lines) {
      await produceLines(producer, topic, lines);
    },
    async close() {
      await producer.disconnect();
    },
  };
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });

interface PumpOptions {
  /** Send each notification when the wall clock reaches its timestamp. */
  live: boolean;
  signal: AbortSignal;
  /** Lines per write when not pacing. */
  chunk: number;
  onProgress?: (sent: number, last: GeneratedNotification) => void;
}

/** Moves notifications from the generator to the sink; returns how many were written. */
async function pump(
  notifications: Iterable<GeneratedNotification>,
  sink: LineSink,
  options: PumpOptions,
): Promise<number> {
  let pending: string[] = [];
  let sent = 0;
  let last: GeneratedNotification | undefined;
  const flush = async () => {
    if (!pending.length) return;
    const lines = pending;
    pending = [];
    await sink.write(lines);
    sent += lines.length;
    if (last) options.onProgress?.(sent, last);
  };
  for (const notification of notifications) {
    if (options.signal.aborted || sink.closed) break;
    if (options.live) {
      const wait = notification.timestamp / 1000 - Date.now();
      if (wait > 0) {
        // What is due goes out now; then wait for this one's time.
        await flush();
        await sleep(wait, options.signal);
        if (options.signal.aborted) break;
      }
    }
    pending.push(notification.json);
    last = notification;
    if (pending.length >= options.chunk) await flush();
  }
  if (!sink.closed) await flush();
  return sent;
}

const nowMicros = (): Micros => Date.now() * 1000;
const currentHour = (): Micros => Math.floor(nowMicros() / MICROS_PER_HOUR) * MICROS_PER_HOUR;

function positive(name: string, text: string | undefined, integer = false): number | undefined {
  return text === undefined ? undefined : positiveNumber(`--${name}`, text, integer);
}

interface GenerateCommandOptions {
  rate: string;
  hours?: string;
  seed: string;
  start?: string;
  instances?: string;
  templates: string;
  output: string;
  produce?: boolean;
  config?: string;
  topology?: string;
  topic?: string;
  namespace?: string;
  live?: boolean;
}

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description(
      'deterministic load: OpenStack notifications of a simulated cloud (notigen templates), as JSON lines or to Kafka',
    )
    .requiredOption(
      '--rate <n>',
      'average notifications per second (of simulated time; of wall time with --live)',
    )
    .option('--hours <h>', 'hours of simulated time (with --live: how long to run; default until Ctrl-C)')
    .option('--seed <s>', 'the same seed and options give byte-identical output', '1')
    .option('--start <iso8601>', 'first timestamp, UTC (default: the start of the current hour)')
    .option('--instances <n>', 'instance population (default: 1800 × rate, within 20..50000)')
    .option('--templates <dir>', 'notigen template directory', defaultTemplateDir())
    .option('-o, --output <file>', 'JSON lines to this file, - for stdout', '-')
    .option('--produce', 'produce to the notifications topic instead of writing lines')
    .option('-c, --config <file>', 'winchester.yaml (with --produce)', process.env.WINCHESTER_CONFIG)
    .option('-t, --topology <dir>', 'topology bundle to check before producing')
    .option('--topic <name>', 'target topic (default: the first input topic)')
    .option('--namespace <ns>', 'topic namespace (default: the config file, WINCHESTER_NAMESPACE)')
    .option('--live', 'pace in real time, timestamps from the wall clock, until --hours or Ctrl-C')
    .action((opts: GenerateCommandOptions) => runGenerate(opts));
}

async function runGenerate(opts: GenerateCommandOptions): Promise<void> {
  const { rate, instances, hours, start } = readPlan(opts);
  const templates = loadTemplates(opts.templates);
  const population = instances ?? defaultInstanceCount(rate);
  const { sink, target } = await openOutput(opts);
  process.stderr.write(
    `generate: seed ${opts.seed}, start ${formatMicros(start)}, ${Number.isFinite(hours) ? `${hours} h` : 'until Ctrl-C'}` +
      `, ${rate}/s, ${population} instances\n`,
  );
  const interrupt = abortOnSignals();
  const began = Date.now();
  const bar = startProgressBar(start, hours);
  const sent = await pump(
    generateNotifications({ seed: opts.seed, start, hours, rate, instances, templates }),
    sink,
    {
      live: Boolean(opts.live),
      signal: interrupt.signal,
      chunk: opts.produce ? 1000 : 500,
      onProgress: progressUpdater(bar, start, began),
    },
  );
  bar?.stop();
  interrupt.release();
  await sink.close();
  const ending = interrupt.signal.aborted ? ', stopped' : sink.closed ? ', output closed early' : '';
  process.stderr.write(summaryLine(sent, Boolean(opts.produce), target, began, ending));
}

/** What to generate, from the command line. */
interface GeneratePlan {
  rate: number;
  /** As given (undefined: the generator's default for the rate). */
  instances?: number;
  hours: number;
  start: Micros;
}

function readPlan(opts: GenerateCommandOptions): GeneratePlan {
  const rate = positive('rate', opts.rate)!;
  const instances = positive('instances', opts.instances, true);
  const hours = positive('hours', opts.hours) ?? (opts.live ? Infinity : 1);
  return { rate, instances, hours, start: firstTimestamp(opts) };
}

function firstTimestamp(opts: GenerateCommandOptions): Micros {
  if (opts.live && opts.start)
    throw new UsageError('--start and --live do not go together: live time is now');
  if (opts.live) return nowMicros();
  if (!opts.start) return currentHour();
  const parsed = parseIso8601(opts.start);
  if (parsed === undefined) {
    throw new UsageError(`--start ${opts.start}: not an ISO-8601 datetime (e.g. 2026-11-01T21:00:00Z)`);
  }
  return parsed;
}

/** Where the lines go, and how the summary names it. */
interface Output {
  sink: LineSink;
  target: string;
}

async function openOutput(opts: GenerateCommandOptions): Promise<Output> {
  if (opts.produce) return openTopicOutput(opts);
  const target = opts.output === '-' ? 'stdout' : opts.output;
  return { target, sink: streamSink(opts.output) };
}

/** `--produce`: the topology's notifications topic (created if missing) unless `--topic` names another. */
async function openTopicOutput(opts: GenerateCommandOptions): Promise<Output> {
  const env = opts.namespace ? { ...process.env, WINCHESTER_NAMESPACE: opts.namespace } : process.env;
  const config = loadWinchesterConfig(opts.config, env);
  if (opts.topology) {
    const topology = loadTopology(opts.topology, config);
    for (const warning of topology.warnings) process.stderr.write(`${warning}\n`);
  }
  const { kafka, settings } = await connect(config.topology);
  await ensureTopicsOnce(kafka, settings);
  const target = opts.topic ?? settings.inputTopics[0];
  const producer = kafka.producer({ maxInFlightRequests: 1 });
  await producer.connect();
  return { target, sink: kafkaSink(producer, target) };
}

/** An abort signal raised by SIGINT (Ctrl-C) or SIGTERM; `release` stops listening for them. */
function abortOnSignals(): { signal: AbortSignal; release: () => void } {
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const release = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  return { signal: abort.signal, release };
}

/** A bar over the simulated time, shown only on a terminal and for a run of known length. */
function startProgressBar(start: Micros, hours: number): SingleBar | undefined {
  if (!process.stderr.isTTY || !Number.isFinite(hours)) return undefined;
  const bar = new SingleBar(
    {
      format: 'generate [{bar}] {percentage}% | {sent} notifications | {speed}/s | {time}',
      hideCursor: true,
      stream: process.stderr,
    },
    Presets.shades_classic,
  );
  const end = start + hours * MICROS_PER_HOUR;
  bar.start(Math.round((end - start) / MICROS_PER_SECOND), 0, {
    sent: 0,
    speed: 0,
    time: formatMicros(start),
  });
  return bar;
}

function progressUpdater(bar: SingleBar | undefined, start: Micros, began: number) {
  return (count: number, last: GeneratedNotification) =>
    bar?.update(Math.round((last.timestamp - start) / MICROS_PER_SECOND), {
      sent: count,
      speed: Math.round(count / Math.max(0.001, (Date.now() - began) / 1000)),
      time: formatMicros(last.timestamp),
    });
}

/** The closing stderr line; `ending` says why the run stopped early, if it did. */
function summaryLine(sent: number, produced: boolean, target: string, began: number, ending: string): string {
  const seconds = (Date.now() - began) / 1000;
  return (
    `${sent} notifications ${produced ? 'produced' : 'written'} to ${target} in ${seconds.toFixed(1)} s` +
    ` (${Math.round(sent / Math.max(seconds, 0.001))}/s)` +
    `${ending}\n`
  );
}

// ---------------------------------------------------------------------------------------------
// `dev --live`: the generator feeding a running topology in real time.

export interface LiveDemoOptions {
  kafka: Kafka;
  settings: TopologySettings;
  /** How the topology's records are read back: JSON or Avro. */
  decoders: Pick<TopologyDecoders, 'events' | 'completions'>;
  rate: number;
  seed?: string;
  instances?: number;
  /** The distiller's counters, for the status line. */
  distiller: { consumed: number; distilled: number };
  /** Stops everything the demo's caller started. */
  stopAll: () => Promise<void>;
  statusIntervalMs?: number;
}

interface LiveTally {
  fired: number;
  expired: number;
  errored: number;
  verified: number;
  failed: number;
}

/** Counts completed streams and audit verdicts from the topology's own output topics. */
async function watchOutcomes(
  { kafka, settings, decoders }: Pick<LiveDemoOptions, 'kafka' | 'settings' | 'decoders'>,
  tally: LiveTally,
): Promise<Consumer> {
  const consumer = kafka.consumer({ groupId: `${settings.topics.completed}.live-status.${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({
    topics: [settings.topics.completed, settings.topics.events],
    fromBeginning: true,
  });
  const streams = new Set<string>();
  const verdicts = new Set<string>();
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      if (!message.value) return;
      try {
        if (topic === settings.topics.completed) {
          const c = await decoders.completions.decode(message.value);
          if (streams.has(c.stream_id)) return;
          streams.add(c.stream_id);
          tally[c.kind]++;
          if (c.outcome !== 'completed') tally.errored++;
        } else {
          const event = await decoders.events.decode(message.value);
          if (!event.hops || verdicts.has(event.message_id)) return;
          if (event.event_type === 'compute.instance.exists.verified') tally.verified++;
          else if (event.event_type === 'compute.instance.exists.failed') tally.failed++;
          else return;
          verdicts.add(event.message_id);
        }
      } catch {
        // A record the status line cannot read is no reason to stop the demo.
      }
    },
  });
  return consumer;
}

/**
 * Produces generated notifications at `rate` per second with wall-clock timestamps to the
 * topology's input topic and prints a status line periodically, until SIGINT/SIGTERM; then
 * stops its producer and consumer, calls `stopAll` and exits (130, as for Ctrl-C).
 */
export async function runLiveDemo(options: LiveDemoOptions): Promise<never> {
  const { kafka, settings } = options;
  const tally: LiveTally = { fired: 0, expired: 0, errored: 0, verified: 0, failed: 0 };
  const consumer = await watchOutcomes(options, tally);
  const producer = kafka.producer({ maxInFlightRequests: 1 });
  await producer.connect();
  const topic = settings.inputTopics[0];
  // Never released: the demo ends the process.
  const { signal } = abortOnSignals();
  let sent = 0;
  // How late the latest batch went out compared with its timestamps (the pacing keeps it near 0).
  let lagSeconds = 0;
  let before = { sent: 0, at: Date.now() };
  const status = () => {
    const now = Date.now();
    const rate = ((sent - before.sent) * 1000) / Math.max(1, now - before.at);
    before = { sent, at: now };
    process.stdout.write(
      `${new Date(now).toISOString().slice(11, 19)} sent ${sent} (${rate.toFixed(1)}/s` +
        `, ${lagSeconds.toFixed(1)} s late)` +
        ` · distilled ${options.distiller.distilled}` +
        ` · streams fired ${tally.fired}, expired ${tally.expired}, errored ${tally.errored}` +
        ` · verified ${tally.verified}, failed ${tally.failed}\n`,
    );
  };
  const timer = setInterval(status, options.statusIntervalMs ?? 5000);
  try {
    await pump(
      generateNotifications({
        seed: options.seed ?? String(Date.now()),
        start: nowMicros(),
        hours: Infinity,
        rate: options.rate,
        instances: options.instances,
      }),
      kafkaSink(producer, topic),
      {
        live: true,
        signal,
        chunk: 1000,
        onProgress: (count, last) => {
          sent = count;
          lagSeconds = Math.max(0, (nowMicros() - last.timestamp) / 1e6);
        },
      },
    );
  } finally {
    clearInterval(timer);
    status();
    process.stderr.write('stopping\n');
    await producer.disconnect().catch(() => undefined);
    await consumer.disconnect().catch(() => undefined);
    await options.stopAll();
  }
  process.exit(130);
}
