import { once } from 'node:events';
import { Command } from 'commander';
import { consumeTopic, resolveTopic, topologyTopics } from '../ops/consume';
import { asUsageError, opsSetup, OpsOptions, withOpsOptions } from './ops-options';
import { positiveNumber, UsageError } from './errors';

interface ConsumeCliOptions extends OpsOptions {
  fromBeginning?: boolean;
  follow?: boolean;
  count?: string;
}

/**
 * One JSON line that is safe on a terminal: JSON.stringify escapes C0 controls but leaves
 * C1 controls (a CSI introducer among them), bidi overrides and line separators; those
 * become \u escapes, so the line stays valid JSON.
 */
export function terminalSafeJsonLine(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)).replace(
    /[\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Ctrl-C, SIGTERM, or a closed stdout (`consume … | head`) end the read cleanly. */
function stopOnSignals(): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const abort = () => controller.abort();
  process.on('SIGINT', abort);
  process.on('SIGTERM', abort);
  process.stdout.on('error', abort);
  return {
    signal: controller.signal,
    release: () => {
      process.off('SIGINT', abort);
      process.off('SIGTERM', abort);
      process.stdout.off('error', abort);
    },
  };
}

/** Writes a line, waiting while a slow reader of stdout catches up (unless the read is stopped). */
async function writeLine(line: string, signal: AbortSignal): Promise<void> {
  if (!process.stdout.write(`${line}\n`))
    await once(process.stdout, 'drain', { signal }).catch(() => undefined);
}

export function registerConsume(program: Command): void {
  withOpsOptions(
    program
      .command('consume')
      .description(
        "print a topic's records as JSON lines (kcat-style): from the end, following until Ctrl-C; " +
          'with --from-beginning what the topic holds, then exit (or keep following with --follow)',
      )
      .argument(
        '[topic]',
        'notifications, events, streams, streams.completed, notifications.dlq, … or a full topic name',
      )
      .option('--from-beginning', 'start at the oldest record instead of the end')
      .option('--follow', 'with --from-beginning: keep following new records after the end')
      .option('-n, --count <n>', 'stop after n records'),
  ).action(
    asUsageError(async (topicName: string | undefined, opts: ConsumeCliOptions) => {
      const maxRecords = opts.count === undefined ? undefined : positiveNumber('-n', opts.count, true);
      const { connected } = await opsSetup(opts);
      const { kafka, settings, connection } = connected;
      if (topicName === undefined) {
        throw new UsageError(`give a topic: one of ${[...topologyTopics(settings).keys()].join(', ')}`);
      }
      const admin = kafka.admin();
      await admin.connect();
      const existing = await admin.listTopics().finally(() => admin.disconnect());
      const topic = resolveTopic(settings, topicName, new Set(existing));
      const { signal, release } = stopOnSignals();
      try {
        const summary = await consumeTopic(
          kafka,
          {
            topic,
            fromBeginning: opts.fromBeginning,
            follow: opts.follow,
            maxRecords,
            signal,
            schemaRegistryUrl: connection.schemaRegistryUrl,
            groupPrefix: settings.namespace || 'winchester',
          },
          (record) => writeLine(terminalSafeJsonLine(record), signal),
        );
        for (const note of summary.notes) process.stderr.write(`note: ${note}\n`);
      } finally {
        release();
      }
    }),
  );
}
