import { createInterface } from 'node:readline';
import { Readable, Writable } from 'node:stream';
import { once } from 'node:events';
import { Command } from 'commander';
import { toCanonicalJson } from '../events/event';
import { isEvent, loadEventDefinitions, loadTraitPlugins } from '../distiller';
import { openLines, requireSomeValid } from './input';

export interface DistillRunOptions {
  definitions: string;
  catchAll?: boolean;
  /** `name=module[#Export]` specs of user trait plugins. */
  plugins?: readonly string[];
  /** JSON lines: a stream, or lines already split (see openLines). */
  input: Readable | AsyncIterable<string>;
  /** Canonical events, one per line. */
  output: Writable;
  /** One JSON line per dropped or failed notification (and per configuration warning). */
  errors: Writable;
  /** A live count on `errors` (a terminal); off by default. */
  progress?: boolean;
  /** How often the count is refreshed; 500 ms by default. */
  progressIntervalMs?: number;
}

export interface DistillRunSummary {
  notifications: number;
  events: number;
  dropped: number;
  failed: number;
}

const FLUSH_BYTES = 64 * 1024;

/** Writes, waiting when the stream's buffer is full. */
async function write(stream: Writable, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

/**
 * `winchester distill`: notifications (JSON lines) in, canonical events out, in input order;
 * what does not become an event is reported on `errors`. Throws only when the definitions or a
 * plugin cannot be loaded (a ConfigurationError).
 */
export async function runDistill(options: DistillRunOptions): Promise<DistillRunSummary> {
  const plugins = loadTraitPlugins(options.plugins ?? []);
  const distiller = loadEventDefinitions(options.definitions, { catchAll: options.catchAll, plugins });
  const summary: DistillRunSummary = { notifications: 0, events: 0, dropped: 0, failed: 0 };
  let progressShown = false;
  let lastProgress = Date.now();
  const clearProgress = () => {
    if (progressShown) options.errors.write('\r\x1b[K');
    progressShown = false;
  };
  const showProgress = () => {
    options.errors.write(
      `\r\x1b[K${summary.notifications} notifications: ${summary.events} events, ` +
        `${summary.dropped} dropped, ${summary.failed} failed`,
    );
    progressShown = true;
  };

  for (const w of distiller.warnings) {
    options.errors.write(`${JSON.stringify({ warning: `${w.file}:${w.line}:${w.column}: ${w.message}` })}\n`);
  }

  let out = '';
  let err = '';
  const flush = async () => {
    if (out) await write(options.output, out);
    if (err) {
      clearProgress();
      await write(options.errors, err);
    }
    out = '';
    err = '';
  };

  let lineNumber = 0;
  const lines =
    options.input instanceof Readable
      ? createInterface({ input: options.input, crlfDelay: Infinity })
      : options.input;
  for await (const line of lines) {
    lineNumber++;
    if (!line.trim()) continue;
    summary.notifications++;
    const result = distiller.distillText(line);
    if (isEvent(result)) {
      summary.events++;
      out += `${toCanonicalJson(result)}\n`;
    } else {
      if (result.kind === 'dropped') summary.dropped++;
      else summary.failed++;
      err += `${JSON.stringify({
        line: lineNumber,
        message_id: result.messageId ?? null,
        event_type: result.eventType ?? null,
        outcome: result.kind,
        reason: result.reason,
      })}\n`;
    }
    if (out.length + err.length >= FLUSH_BYTES) await flush();
    if (options.progress && Date.now() - lastProgress >= (options.progressIntervalMs ?? 500)) {
      await flush();
      showProgress();
      lastProgress = Date.now();
    }
  }
  await flush();
  if (progressShown) {
    showProgress();
    options.errors.write('\n');
  }
  return summary;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerDistill(program: Command): void {
  program
    .command('distill')
    .description(
      'turn OpenStack notifications (JSON lines) into flat events with StackDistiller event definitions: ' +
        'one canonical event per line on stdout, one JSON line per dropped or failed notification on stderr',
    )
    .argument(
      '[file]',
      'notifications, one JSON object per line (.gz is decompressed); stdin when omitted or "-"',
    )
    .requiredOption('--definitions <file>', 'event definitions (event_definitions.yaml)')
    .option('--catch-all', 'also distill notifications no definition matches, with the default traits only')
    .option(
      '--plugin <name=module>',
      'load a trait plugin (a class or factory; module[#Export]); repeatable',
      collect,
      [],
    )
    .action(
      async (
        file: string | undefined,
        opts: { definitions: string; catchAll?: boolean; plugin: string[] },
      ) => {
        const input = openLines(file);
        const summary = await runDistill({
          definitions: opts.definitions,
          catchAll: opts.catchAll,
          plugins: opts.plugin,
          input: input.lines,
          output: process.stdout,
          errors: process.stderr,
          progress: process.stderr.isTTY === true,
        });
        requireSomeValid(input, summary.events + summary.dropped, summary.notifications, 'notification');
      },
    );
}
