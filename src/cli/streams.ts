import { Command } from 'commander';
import { redisUrlFrom } from '../config/environment';
import { StreamLifecycleError } from '../redis/errors';
import { resetStream } from '../redis/lifecycle';
import { StreamState } from '../streams/model';
import { findStreams } from '../redis/query';
import { formatMicros } from '../time/micros';
import { connectRedis } from './connect';
import { CommandFailure, positiveNumber } from './errors';
import { opsConfig, OpsOptions, withConfigOptions } from './ops-options';

async function listStreams(opts: OpsOptions & { state?: string; trigger?: string; count: string }) {
  const count = positiveNumber('--count', opts.count, true);
  const { namespace } = opsConfig(opts).topology;
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
    .option('--state <state>', 'only streams in this state (e.g. error)')
    .option('--trigger <name>', 'only streams of this trigger')
    .option('--count <n>', 'at most this many', '100')
    .action(listStreams);
  withConfigOptions(streams.command('reset'))
    .description('retry a failed stream: error → retry_fire, expire_error → retry_expire')
    .argument('<id>', 'stream id')
    .action(resetOne);
}
