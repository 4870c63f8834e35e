import { join } from 'node:path';
import { Command } from 'commander';
import { escapeText } from '../ops/dlq';
import { parseSince } from '../ops/scan';
import { traceMessage, TraceResult } from '../ops/trace';
import { loadTopology } from '../topology/bundle';
import { loadTriggerRuntimes } from '../topology/trigger-adapter';
import { logger } from '../util/logger';
import { safeJson } from './dlq';
import { asUsageError, opsSetup, OpsOptions, positiveInt, withOpsOptions } from './ops-options';
import { connectRedis } from './connect';

const e = escapeText;

/** `trace` as lines for a person. */
export function formatTrace(result: TraceResult): string[] {
  const lines = [e(result.summary)];
  const scan = result.scan;
  lines.push(
    `scan: ${scan.recordsRead} records of ${scan.topics.join(', ')}${scan.complete ? '' : ' (partial, see notes)'}`,
  );
  for (const n of result.notifications) {
    lines.push(
      `notification  ${n.topic}:${n.partition}:${n.offset}  ${n.timestamp}` +
        (n.redrivenFrom ? `  redriven from ${e(n.redrivenFrom)}` : ''),
    );
  }
  for (const ev of result.events) {
    lines.push(
      `event         ${ev.topic}:${ev.partition}:${ev.offset}  ${ev.timestamp}  ` +
        `${e(String(ev.event.event_type))} at ${String(ev.event.timestamp)}` +
        (ev.source ? `  from ${e(ev.source)}` : '') +
        (ev.hops ? `  (pipeline generation ${ev.hops})` : ''),
    );
  }
  for (const d of result.dlq) {
    const redriven = d.redriven?.target
      ? `  redriven to ${d.redriven.target.topic}:${d.redriven.target.partition}:${d.redriven.target.offset}`
      : d.redriven
        ? '  redrive unconfirmed'
        : '';
    lines.push(
      `dlq           ${d.coordinates}  ${d.timestamp}  ${e(d.reason ?? '(no reason)')}${redriven}` +
        (d.redriveOf ? `  (failed again after the redrive of ${d.redriveOf})` : '') +
        (d.exact ? '' : '  (the id appears in the payload only)'),
    );
  }
  if (result.localDistill) {
    const l = result.localDistill;
    lines.push(
      `distill now   ${l.outcome}${l.reason ? `: ${e(l.reason)}` : ''}  (current event definitions on ${l.from})`,
    );
  }
  if (result.triggers.length) lines.push('triggers:');
  for (const t of result.triggers) {
    if (t.matched) {
      lines.push(`  ${t.trigger}: matched by ${t.criterion}`);
      if (t.distinguished) lines.push(`    distinguished by ${e(JSON.stringify(t.distinguished))}`);
    } else {
      lines.push(`  ${t.trigger}: no match`);
      for (const a of t.attempts) {
        lines.push(`    ${a.criterion} (line ${a.line}: ${e(a.describe)}): ${e(a.reason ?? 'ok')}`);
        if (a.detail) lines.push(`      ${e(a.detail)}`);
      }
    }
    if (t.fireCriteria.length) lines.push(`    counts towards ${t.fireCriteria.join(', ')}`);
    const s = t.stream;
    if (s) {
      const state = s.state ?? 'unknown';
      lines.push(
        `    stream ${s.id} (partition ${s.partition}): ${state}` +
          (s.serial === null ? '' : `, serial ${s.serial}`) +
          (s.eventCount === null ? '' : `, ${s.eventCount} events`) +
          `  [found by ${s.foundBy}]`,
      );
      if (s.distinguished) lines.push(`      distinguishing traits ${e(JSON.stringify(s.distinguished))}`);
      if (s.firstEvent) lines.push(`      events ${s.firstEvent} … ${s.lastEvent}`);
      if (s.expireAt) lines.push(`      fire at ${s.fireAt ?? '(not ready)'}, expire at ${s.expireAt}`);
      if (s.tombstone) lines.push(`      finished: ${s.tombstone.state} (serial ${s.tombstone.serial})`);
    }
    if (t.seenInPartition !== null && !s)
      lines.push(`    seen by repartition partition ${t.seenInPartition}`);
    if (t.note) lines.push(`    ${e(t.note)}`);
  }
  if (result.completions.length) lines.push('completions:');
  for (const c of result.completions) {
    const r = c.record;
    lines.push(
      `  ${c.topic}:${c.partition}:${c.offset}  ${c.timestamp}  stream ${r.stream_id} (${r.trigger}) ` +
        `${r.kind} → ${r.outcome}${r.pipeline ? ` via ${r.pipeline}` : ''}${r.error ? `: ${e(r.error)}` : ''}`,
    );
  }
  for (const note of scan.notes) lines.push(`note: ${e(note)}`);
  return lines;
}

interface TraceCliOptions extends OpsOptions {
  topology: string;
  since?: string;
  maxRecords: string;
  json?: boolean;
}

export function registerTrace(program: Command): void {
  withOpsOptions(
    program
      .command('trace')
      .description(
        'follow a message id: distilled, dead-lettered or dropped; which triggers took it and why not; its stream and completion',
      )
      .argument('<message_id>', 'the notification / event message_id')
      .option(
        '--since <time>',
        'scan only records written since then (ISO-8601, or a duration such as 6h, 2d)',
      )
      .option('--max-records <n>', 'scan at most the newest n records of each partition', '200000')
      .option('--json', 'JSON instead of text'),
    true,
  ).action(
    asUsageError(async (messageId: string, opts: TraceCliOptions) => {
      const max = positiveInt('--max-records', opts.maxRecords);
      const sinceMs = opts.since === undefined ? undefined : parseSince(opts.since);
      const { config, connected } = await opsSetup(opts);
      const topology = loadTopology(opts.topology, config);
      for (const warning of topology.warnings) logger.debug(warning);
      const { definitions } = loadTriggerRuntimes(
        join(topology.dir, config.files.triggers),
        topology.pipelines,
      );
      const redis = await connectRedis(connected.connection.redisUrl, { maxRetriesPerRequest: 3 });
      try {
        const result = await traceMessage(
          {
            kafka: connected.kafka,
            redis,
            settings: connected.settings,
            definitions,
            distill: topology.distill,
            schemaRegistryUrl: connected.connection.schemaRegistryUrl,
          },
          messageId,
          { sinceMs, maxRecordsPerPartition: max },
        );
        const text = opts.json ? [safeJson(result)] : formatTrace(result);
        process.stdout.write(text.map((l) => `${l}\n`).join(''));
        if (result.verdict === 'not-found') process.exitCode = 1;
      } finally {
        redis.disconnect();
      }
    }),
  );
}
