import { Command } from 'commander';
import { connectionSettings } from '../config/environment';
import { resetStream } from '../streams/lifecycle';
import { StreamState } from '../streams/model';
import { findStreams } from '../streams/query';
import { formatMicros } from '../time/micros';
import { connectRedis } from './connect';
import { positiveNumber } from './errors';

const namespaceOption = [
  '--namespace <ns>',
  'namespace',
  process.env.WINCHESTER_NAMESPACE ?? 'winchester',
] as const;

async function listStreams(opts: { state?: string; trigger?: string; count: string; namespace: string }) {
  const count = positiveNumber('--count', opts.count, true);
  const redis = await connectRedis(connectionSettings().redisUrl);
  try {
    const found = await findStreams(redis, opts.namespace, {
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

async function resetOne(id: string, opts: { namespace: string }) {
  const redis = await connectRedis(connectionSettings().redisUrl);
  try {
    const meta = await resetStream(redis, opts.namespace, id);
    process.stdout.write(`${id} is now ${meta.state}; its matcher re-emits it\n`);
  } finally {
    redis.disconnect();
  }
}

export function registerStreams(program: Command): void {
  const streams = program.command('streams').description('inspect and retry streams in Redis');
  streams
    .command('list')
    .option('--state <state>', 'only streams in this state (e.g. error)')
    .option('--trigger <name>', 'only streams of this trigger')
    .option('--count <n>', 'at most this many', '100')
    .option(...namespaceOption)
    .action(listStreams);
  streams
    .command('reset')
    .description('retry a failed stream: error → retry_fire, expire_error → retry_expire')
    .argument('<id>', 'stream id')
    .option(...namespaceOption)
    .action(resetOne);
}
