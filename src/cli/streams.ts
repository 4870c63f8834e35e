import { Command } from 'commander';
import { redisUrlFrom } from '../config/environment';
import { StreamLifecycleError } from '../redis/errors';
import { resetStream } from '../redis/lifecycle';
import { StreamState } from '../streams/model';
import { findStreams } from '../redis/query';
import { formatMicros } from '../time/micros';
import { PgCompletedStreams } from '../postgres/completed-streams';
import { CompletedStreamQuery } from '../store/completed-streams';
import { connectRedis } from './connect';
import { eventStoreUrl, requireEventStore, withPool } from './event-store';
import { CommandFailure, positiveNumber } from './errors';
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
        `${s.id}\t${s.trigger}\t${s.state}\t${s.eventCount} events\t${formatMicros(s.first)} … ${formatMicros(s.last)}\n`,
      );
    }
  } finally {
    redis.disconnect();
  }
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
    // A refused reset (no such stream, wrong state, …) is one line for the operator.
    if (error instanceof StreamLifecycleError) throw new CommandFailure(error.message);
    throw error;
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
  withConfigOptions(streams.command('reset'))
    .description('retry a failed stream: error → retry_fire, expire_error → retry_expire')
    .argument('<id>', 'stream id')
    .action(resetOne);
}
