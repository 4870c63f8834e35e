import { Command } from 'commander';
import {
  DlqListResult,
  DlqRecord,
  DlqShowResult,
  escapeText,
  listDlq,
  parseOffsets,
  redriveDlq,
  RedriveOptions,
  RedriveResult,
  showDlq,
} from '../ops/dlq';
import { ScanReport } from '../ops/scan';
import { RedisClient } from '../redis/client';
import { Connected, connectRedis } from './connect';
import { asUsageError, opsSetup, OpsOptions, positiveInt, withOpsOptions } from './ops-options';

const clip = (text: string, width: number) => (text.length > width ? `${text.slice(0, width - 1)}…` : text);

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd(),
  );
}

export function scanNotes(scan: ScanReport): string[] {
  return scan.notes.map((n) => `note: ${n}`);
}

function redrivenText(record: DlqRecord): string {
  const mark = record.redriven;
  const text =
    mark === undefined
      ? '?'
      : mark === null
        ? '-'
        : mark.target
          ? `${mark.target.topic}:${mark.target.partition}:${mark.target.offset}`
          : 'unconfirmed';
  return record.redriveOf ? `${text} (failed again after the redrive of ${record.redriveOf})` : text;
}

/** `dlq list` as lines. */
export function formatDlqList(result: DlqListResult): string[] {
  const rows = [['RECORD', 'TIME', 'REASON', 'SOURCE', 'MESSAGE_ID', 'BYTES', 'REDRIVEN']];
  for (const r of result.records) {
    rows.push([
      r.coordinates,
      r.timestamp,
      escapeText(clip(r.reason ?? '(none)', 60)),
      r.source ? escapeText(`${r.source.topic}:${r.source.partition ?? '?'}:${r.source.offset ?? '?'}`) : '-',
      escapeText(clip(r.messageId ?? r.streamId ?? '-', 40)),
      r.truncatedFrom === null ? String(r.bytes) : `${r.bytes}/${r.truncatedFrom}`,
      redrivenText(r),
    ]);
  }
  const lines = result.records.length ? table(rows) : [];
  const shown =
    result.matched > result.records.length
      ? `${result.records.length} newest of ${result.matched} matching records`
      : `${result.matched} matching record${result.matched === 1 ? '' : 's'}`;
  lines.push(`${shown} (${result.scan.recordsRead} read)`);
  return [...lines, ...scanNotes(result.scan)];
}

/**
 * Pretty JSON that is safe on a terminal: JSON.stringify escapes C0 controls but leaves C1
 * controls (a CSI introducer among them) and bidi overrides; those become \u escapes, so
 * the text stays valid JSON.
 */
export function safeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** `dlq show` as lines. */
export function formatDlqShow(shown: DlqShowResult): string[] {
  const { record, payload } = shown;
  const lines = [
    `record     ${record.coordinates}`,
    `time       ${record.timestamp}`,
    `reason     ${escapeText(record.reason ?? '(none)')}`,
    `source     ${record.source ? escapeText(`${record.source.topic}:${record.source.partition ?? '?'}:${record.source.offset ?? '?'}`) : '(unknown)'}`,
    `message_id ${escapeText(record.messageId ?? '-')}`,
    `key        ${record.key === null ? '(none)' : escapeText(record.key)}`,
    `redriven   ${redrivenText(record)}`,
    'headers:',
    ...Object.entries(record.headers).map(([k, v]) => `  ${escapeText(k)}: ${escapeText(v)}`),
  ];
  const size = record.truncatedFrom === null ? '' : ` (truncated from ${record.truncatedFrom})`;
  if (payload.avro) {
    lines.push(`payload (${payload.bytes} bytes${size}, Avro, schema id ${payload.avro.schemaId}):`);
    lines.push(safeJson(payload.json));
  } else if (payload.json !== undefined) {
    lines.push(`payload (${payload.bytes} bytes${size}, JSON):`);
    lines.push(safeJson(payload.json));
  } else {
    const head = payload.previewBytes! < payload.bytes ? `, first ${payload.previewBytes} shown` : '';
    lines.push(
      `payload (${payload.bytes} bytes${size}, not JSON${payload.utf8 ? '' : ', not UTF-8'}${head}, escaped):`,
    );
    lines.push(payload.preview ?? '');
  }
  return lines;
}

/** `dlq redrive` as lines. */
export function formatRedrive(result: RedriveResult, dryRun: boolean): string[] {
  const lines = result.outcomes.map(
    (o) =>
      `${o.action.padEnd(13)} ${o.coordinates}  ${escapeText(o.messageId ?? '-')}  ${escapeText(o.detail)}`,
  );
  const c = result.counts;
  lines.push(
    dryRun
      ? `dry run: ${c['would-redrive']} would be redriven, ${c.skipped} skipped`
      : `${c.redriven} redriven, ${c.skipped} skipped, ${c.failed} failed`,
  );
  return [...lines, ...scanNotes(result.scan)];
}

const out = (lines: string[]) => process.stdout.write(lines.map((l) => `${l}\n`).join(''));

interface ListOptions extends OpsOptions {
  topic?: string;
  reason?: string;
  messageId?: string;
  limit: string;
  maxRecords?: string;
  json?: boolean;
}

interface RedriveCliOptions extends OpsOptions {
  topic: string;
  reason?: string;
  messageId?: string;
  offsets?: string;
  all?: boolean;
  force?: boolean;
  dryRun?: boolean;
  maxRecords?: string;
  json?: boolean;
}

/** An operator command's connections, with a Redis client closed again however `use` ends. */
async function withOpsRedis(
  opts: OpsOptions,
  use: (connected: Connected, redis: RedisClient) => Promise<void>,
): Promise<void> {
  const { connected } = await opsSetup(opts);
  const redis = await connectRedis(connected.connection.redisUrl, { maxRetriesPerRequest: 3 });
  try {
    await use(connected, redis);
  } finally {
    redis.disconnect();
  }
}

async function runList(opts: ListOptions): Promise<void> {
  await withOpsRedis(opts, async (connected, redis) => {
    const result = await listDlq(connected.kafka, connected.settings, {
      topic: opts.topic,
      filter: { reason: opts.reason, messageId: opts.messageId },
      limit: positiveInt('--limit', opts.limit),
      maxRecordsPerPartition: positiveInt('--max-records', opts.maxRecords),
      redis,
      schemaRegistryUrl: connected.connection.schemaRegistryUrl,
    });
    if (opts.json) out([safeJson(result)]);
    else out(formatDlqList(result));
  });
}

async function runShow(coordinates: string, opts: OpsOptions & { json?: boolean }): Promise<void> {
  await withOpsRedis(opts, async (connected, redis) => {
    const { kafka, settings, connection } = connected;
    const shown = await showDlq(kafka, settings, coordinates, redis, connection.schemaRegistryUrl);
    if (!shown) {
      process.stderr.write(`winchester: no record at ${coordinates}\n`);
      process.exitCode = 1;
      return;
    }
    if (opts.json) out([safeJson(shown)]);
    else out(formatDlqShow(shown));
  });
}

/** The command line's choice of records, as `redriveDlq` takes it (parsing errors are usage errors). */
function redriveOptions(opts: RedriveCliOptions, schemaRegistryUrl: string | undefined): RedriveOptions {
  return {
    topic: opts.topic,
    filter: {
      reason: opts.reason,
      messageId: opts.messageId,
      offsets: opts.offsets === undefined ? undefined : parseOffsets(opts.offsets),
    },
    all: opts.all,
    force: opts.force,
    dryRun: opts.dryRun,
    maxRecordsPerPartition: positiveInt('--max-records', opts.maxRecords),
    schemaRegistryUrl,
  };
}

async function runRedrive(opts: RedriveCliOptions): Promise<void> {
  await withOpsRedis(opts, async (connected, redis) => {
    const options = redriveOptions(opts, connected.connection.schemaRegistryUrl);
    const result = await redriveDlq(connected.kafka, redis, connected.settings, options);
    if (opts.json) out([safeJson(result)]);
    else out(formatRedrive(result, !!opts.dryRun));
    if (result.counts.failed) process.exitCode = 1;
  });
}

function registerList(dlq: Command): void {
  withOpsOptions(
    dlq
      .command('list')
      .description('list dead-letter records: reason, source record, message id, size, redrive state')
      .option('--topic <stage>', 'notifications, events, streams or archiver (default: all four)')
      .option('--reason <text>', 'only records whose reason contains this (case-insensitive)')
      .option('--message-id <id>', 'only records of this message id')
      .option('--limit <n>', 'show the newest n matching records', '100')
      .option('--max-records <n>', 'read at most the newest n records of each partition')
      .option('--json', 'JSON instead of a table'),
  ).action(asUsageError(runList));
}

function registerShow(dlq: Command): void {
  withOpsOptions(
    dlq
      .command('show')
      .description('print one dead-letter record: headers and payload')
      .argument(
        '<record>',
        '<topic>:<partition>:<offset>, topic as notifications|events|streams|archiver or its full name',
      )
      .option('--json', 'JSON instead of text'),
  ).action(asUsageError(runShow));
}

function registerRedrive(dlq: Command): void {
  withOpsOptions(
    dlq
      .command('redrive')
      .description("send dead-letter records' original key and payload back to their source topic")
      .option('--topic <stage>', 'notifications, events, streams or archiver', 'notifications')
      .option('--reason <text>', 'records whose reason contains this (case-insensitive)')
      .option('--message-id <id>', 'records of this message id')
      .option('--offsets <list>', 'records at these DLQ offsets, partition:offset,…')
      .option('--all', 'every record the other options leave (required when none is given)')
      .option('--force', 'also records already redriven once')
      .option('--dry-run', 'say what would be sent, send nothing')
      .option('--max-records <n>', 'read at most the newest n records of each partition')
      .option('--json', 'JSON instead of text'),
  ).action(asUsageError(runRedrive));
}

export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('inspect dead-letter topics and send records back');
  registerList(dlq);
  registerShow(dlq);
  registerRedrive(dlq);
}
