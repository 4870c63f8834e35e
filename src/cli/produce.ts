import { Command } from 'commander';
import { Message, Producer } from 'kafkajs';
import { connect } from './connect';
import { opsConfig, OpsOptions, withConfigOptions } from './ops-options';
import { CommandFailure, UsageError } from './errors';
import { openLines, requireSomeValid } from './input';
import { ensureTopicsOnce } from '../topology/topics';
import { advanceEventClock, topicExists } from '../topology/event-clock';
import { notificationKey } from '../topology/records';
import { parseIso8601 } from '../time/micros';
import { END_OF_TIME } from '../streams/simulate';

/**
 * Sends notification lines to `topic` in batches of up to 1000 lines and 512 KiB (a batch per
 * partition must stay under the broker's default 1 MB record-batch limit), each acknowledged by
 * all in-sync replicas before the next, keyed by `notificationKey`; blank lines are skipped.
 * Returns the count.
 */
export async function produceLines(
  producer: Producer,
  topic: string,
  lines: AsyncIterable<string> | Iterable<string>,
  onBatch?: (sent: number) => void,
): Promise<number> {
  let batch: Message[] = [];
  let bytes = 0;
  let count = 0;
  for await (const line of lines) {
    if (!line.trim()) continue;
    batch.push({ key: notificationKey(line), value: line });
    bytes += line.length;
    if (batch.length >= 1000 || bytes >= 512 * 1024) {
      await producer.send({ topic, acks: -1, messages: batch });
      count += batch.length;
      batch = [];
      bytes = 0;
      onBatch?.(count);
    }
  }
  if (batch.length) await producer.send({ topic, acks: -1, messages: batch });
  count += batch.length;
  if (batch.length) onBatch?.(count);
  return count;
}

export function registerProduce(program: Command): void {
  withConfigOptions(program.command('produce'))
    .description('push a JSON-lines file of notifications (optionally .gz) to the notifications topic')
    .argument('<file>', 'JSON lines, one notification per line; "-" for stdin')
    .option('--topic <name>', 'target topic (default: the first input topic)')
    .action(async (file: string, opts: OpsOptions & { topic?: string }) => {
      const input = openLines(file);
      const { kafka, settings } = await connect(opsConfig(opts).topology);
      await ensureTopicsOnce(kafka, settings);
      const topic = opts.topic ?? settings.inputTopics[0];
      const producer = kafka.producer({ maxInFlightRequests: 1 });
      await producer.connect();
      const count = await produceLines(producer, topic, input.lines).finally(() => producer.disconnect());
      requireSomeValid(input, count, count, 'notification');
      process.stdout.write(`${count} notifications produced to ${topic}\n`);
    });
}

export function registerClock(program: Command): void {
  const clock = program.command('clock').description('the event clock of a replay');
  withConfigOptions(clock.command('advance'))
    .description('move the event clock of every repartition partition forward (end of a replay)')
    .option('--to <iso8601>', 'the time to move to')
    .option('--end', 'past every expiration')
    .action(async (opts: OpsOptions & { to?: string; end?: boolean }) => {
      if (!opts.end && !opts.to) throw new UsageError('give --to <iso8601> or --end');
      const to = opts.end ? END_OF_TIME : parseIso8601(opts.to!);
      if (to === undefined)
        throw new UsageError(`--to ${opts.to}: not an ISO-8601 datetime (e.g. 2026-11-02T02:00:00Z)`);
      const { kafka, settings } = await connect(opsConfig(opts).topology);
      if (!(await topicExists(kafka, settings.topics.repartition))) {
        throw new CommandFailure(
          `there is no topic ${settings.topics.repartition}: is the namespace right, and has a matcher run?`,
        );
      }
      await advanceEventClock(kafka, settings.topics.repartition, to);
      process.stdout.write(`event clock advanced to ${opts.end ? 'the end of time' : opts.to}\n`);
    });
}
