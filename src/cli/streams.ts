import { Command } from 'commander';
import { redisUrlFrom } from '../config/environment';
import { StreamLifecycleError } from '../redis/errors';
import { retryFailedStreams } from '../redis/failed-streams';
import { resetStream } from '../redis/lifecycle';
import { StreamState } from '../streams/model';
import { findStreams, StreamView } from '../redis/query';
import { formatMicros } from '../time/micros';
import { PgCompletedStreams } from '../postgres/completed-streams';
import { CompletedStreamQuery } from '../store/completed-streams';
import { connectRedis } from './connect';
import { eventStoreUrl, requireEventStore, withPool } from './event-store';
import { CommandFailure, positiveNumber, UsageError } from './errors';
import { opsConfig, OpsOptions, withConfigOptions } from './ops-options';

type ListOptions = OpsOptions & { state?: string; trigger?: string; count: string };

async function listStreams(opts: ListOptions) {
  const count = positiveNumber('--count', opts.count, true);
  const { namespace } = opsConfig(opts).topology;
  // Completed streams leave Redis when purged; with an event store the archiver keeps them.
  if (opts.state === 'completed' && process.env.EVENT_STORE_URL) {
    return listCompletedStreams({ namespace, trigger: opts.trigger, outcome: 'completed', count });
  }
  const redis = await connectRedis(redisUrlFrom());
  try {
    const found = await findStreams(redis, namespace, {
      state: opts.state as StreamState | undefined,
      trigger: opts.trigger,
      count,
    });
    for (const s of found) {
      process.stdout.write(
        `${s.id}\t${s.trigger}\t${s.state}\t${s.eventCount} events\t${formatMicros(s.first)} … ${formatMicros(s.last)}${failureColumn(s)}\n`,
      );
    }
  } finally {
    redis.disconnect();
  }
}

/** A failed stream's attempts, what failed last and, while it waits, when it runs again. */
function failureColumn({ failure }: StreamView): string {
  if (!failure) return '';
  const next = failure.retry_at === null ? '' : `; retry at ${formatMicros(failure.retry_at)}`;
  const what = failure.handler ? `${failure.handler}: ${failure.error}` : failure.error;
  // One line per stream, whatever the error's text holds.
  return `\t${failure.attempts} failed attempts${next}\t${what.replace(/\s+/g, ' ')}`;
}

async function listCompletedStreams(query: CompletedStreamQuery) {
  const url = eventStoreUrl();
  await requireEventStore(url);
  const found = await withPool(url, (pool) => new PgCompletedStreams(pool).findCompletedStreams(query));
  for (const s of found) {
    process.stdout.write(
      `${s.stream_id}\t${s.trigger}\t${s.outcome}\t${s.message_ids.length} events\t${formatMicros(s.first)} … ${formatMicros(s.last)}\n`,
    );
  }
}

async function resetOne(id: string, opts: OpsOptions) {
  const { namespace } = opsConfig(opts).topology;
  const redis = await connectRedis(redisUrlFrom());
  try {
    const meta = await resetStream(redis, namespace, id);
    process.stdout.write(`${id} is now ${meta.state}; its matcher re-emits it\n`);
  } catch (error) {
    // A refused retry (no such stream, wrong state, …) is one line for the operator.
    if (error instanceof StreamLifecycleError) throw new CommandFailure(error.message);
    throw error;
  } finally {
    redis.disconnect();
  }
}

type RetryOptions = OpsOptions & { allErrors?: boolean };

/** `streams retry ID` or `streams retry --all-errors`: failed streams run again, with fresh attempts. */
async function retry(id: string | undefined, opts: RetryOptions) {
  if ((id === undefined) === !opts.allErrors) {
    throw new UsageError('streams retry: give a stream id or --all-errors (not both)');
  }
  if (id !== undefined) return resetOne(id, opts);
  const { namespace } = opsConfig(opts).topology;
  const redis = await connectRedis(redisUrlFrom());
  try {
    const { retried, refused } = await retryFailedStreams(redis, namespace);
    for (const meta of retried) process.stdout.write(`${meta.id} is now ${meta.state}\n`);
    for (const { reason } of refused) process.stderr.write(`${reason}\n`);
    process.stdout.write(
      `${retried.length} failed streams retried; their matchers re-emit them` +
        (refused.length ? `; ${refused.length} refused` : '') +
        '\n',
    );
    if (refused.length) throw new CommandFailure(`${refused.length} of the failed streams were not retried`);
  } finally {
    redis.disconnect();
  }
}

export function registerStreams(program: Command): void {
  const streams = program.command('streams').description('inspect and retry streams in Redis');
  withConfigOptions(streams.command('list'))
    .option(
      '--state <state>',
      'only streams in this state (e.g. error; completed streams come from the event store when EVENT_STORE_URL is set)',
    )
    .option('--trigger <name>', 'only streams of this trigger')
    .option('--count <n>', 'at most this many', '100')
    .action(listStreams);
  withConfigOptions(streams.command('retry'))
    .description(
      'run failed streams again, with fresh attempts: error → retry_fire, expire_error → retry_expire',
    )
    .argument('[id]', 'stream id')
    .option('--all-errors', 'every stream in error or expire_error')
    .action(retry);
  withConfigOptions(streams.command('reset'))
    .description(
      'retry a failed stream (as streams retry ID): error → retry_fire, expire_error → retry_expire',
    )
    .argument('<id>', 'stream id')
    .action(resetOne);
}
