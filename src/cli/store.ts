import { Command } from 'commander';
import { DURATION_EXPECTED, durationSeconds } from '../config/winchester-config';
import { eventStoreUrl, openEventStore, upgradeEventStore } from './event-store';
import { UsageError } from './errors';
import { positiveInt } from './ops-options';

/** A duration option in seconds (`7d`, `12h`, `30m`, `3600s`, `3600`). */
function durationOption(option: string, text: string): number {
  const seconds = durationSeconds(text);
  if (seconds === undefined) throw new UsageError(`${option} ${JSON.stringify(text)}: ${DURATION_EXPECTED}`);
  return seconds;
}

async function expire(opts: { ttl: string; maxCount?: string }): Promise<void> {
  const ttlSeconds = durationOption('--ttl', opts.ttl);
  const maxCount = positiveInt('--max-count', opts.maxCount);
  const store = await openEventStore(eventStoreUrl());
  try {
    const { events, partitionsDropped } = await store.clearExpiredData(ttlSeconds, maxCount);
    process.stdout.write(`expired ${events} events (${partitionsDropped} day partitions dropped)\n`);
  } finally {
    await store.close();
  }
}

async function upgrade(): Promise<void> {
  const { from, to } = await upgradeEventStore(eventStoreUrl());
  process.stdout.write(
    from === to ? `schema already at version ${to}\n` : `schema upgraded from version ${from} to ${to}\n`,
  );
}

export function registerStore(program: Command): void {
  const store = program.command('store').description('the event store (EVENT_STORE_URL): schema and expiry');
  store
    .command('expire')
    .description('remove events generated before now − ttl (what event_ttl makes the archiver do)')
    .requiredOption('--ttl <duration>', 'keep this long: 7d, 12h, 30m, 3600s or seconds')
    .option('--max-count <n>', 'remove at most n events')
    .action(expire);
  store
    .command('upgrade')
    .description("bring the store's schema to this build's version (creates it in an empty database)")
    .action(upgrade);
}
