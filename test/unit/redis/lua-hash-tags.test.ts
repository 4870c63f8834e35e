import { RedisClient } from '../../../src/redis/client';
import { LUA_COMMANDS } from '../../../src/redis/commands';
import { PartitionKeys } from '../../../src/redis/keys';
import { scripts } from '../../../src/redis/scripts';

/*
 * On a Redis Cluster a script runs only when all its KEYS hash to one slot: a key outside its
 * partition's hash tag would fail there with CROSSSLOT. Each wrapper of src/redis/scripts.ts is
 * called here on a fake client that records the KEYS it is given, with stream ids and stream
 * keys that carry braces of their own (user input reaches both), and every key must hash by
 * the partition's tag.
 */

type CommandName = keyof typeof LUA_COMMANDS;

/** What a script replies, as far as its wrapper reads it. */
const REPLIES: Record<CommandName, unknown> = {
  applyStreamChange: 1,
  claimStream: 1,
  finishStream: 1,
  readRetryRecord: [null, null],
  readStreamEvents: [],
  releaseRetry: 1,
  renewClaim: 1,
  resetStream: 1,
  scheduleRetry: 1,
  setClock: 1,
  storeOffset: 1,
  takeDueTimer: [0],
  takeRetry: 1,
};

/** A client that records each command's KEYS, as ioredis splits them off by `numberOfKeys`. */
function recordingClient() {
  const calls: Array<{ name: string; keys: string[] }> = [];
  const client: Record<string, unknown> = {
    defineCommand(name: CommandName, { numberOfKeys }: { numberOfKeys: number }) {
      client[name] = (...args: unknown[]) => {
        calls.push({ name, keys: args.slice(0, numberOfKeys) as string[] });
        return Promise.resolve(REPLIES[name]);
      };
    },
  };
  return { client: client as unknown as RedisClient, calls };
}

/** The part of a key Redis Cluster hashes: its first non-empty {…}, else all of it. */
function hashedPart(key: string): string {
  const open = key.indexOf('{');
  if (open === -1) return key;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

test('every Lua command is given keys of one partition only, whatever its stream ids and keys hold', async () => {
  const { client, calls } = recordingClient();
  const keys = new PartitionKeys('ns', 3);
  const id = '3.{elsewhere}';
  const streamKey = 'usage|s:{other}';
  const epoch = '7';
  await scripts.claimStream(client, keys, id, { metaText: '{}', value: 'w|1', ttlMs: 1000 });
  await scripts.renewClaim(client, keys, id, { value: 'w|1', ttlMs: 1000 });
  await scripts.finishStream(client, keys, id, {
    metaText: '{}',
    nextMetaText: null,
    tombstoneText: '{}',
    tombstoneSeconds: 60,
    failureText: null,
  });
  await scripts.resetStream(client, keys, id, { metaText: '{}', nextMetaText: '{}' });
  await scripts.scheduleRetry(client, keys, id, {
    metaText: '{}',
    nextMetaText: '{}',
    failureText: '{}',
    due: 1,
  });
  await scripts.takeRetry(client, keys, id, { now: 1, leaseUntil: 2 });
  await scripts.releaseRetry(client, keys, id, 2);
  await scripts.readRetryRecord(client, keys, id);
  await scripts.readStreamEvents(client, keys, id);
  await scripts.applyStreamChange(client, keys, epoch, {
    key: streamKey,
    expectedPointer: '3.{previous}',
    expectedMetaText: '{}',
    streamId: id,
    metaText: '{}',
    created: true,
    expireAt: 2,
    fireAt: null,
    events: [['m-1', '{}']],
    seenAt: 1,
    forgetSeenBefore: 0,
    seenRetentionSeconds: 60,
  });
  await scripts.takeDueTimer(client, keys, epoch, {
    streamId: id,
    streamKey,
    metaText: '{}',
    nextMetaText: null,
    dropFireTimer: true,
    dropExpireTimer: false,
  });
  await scripts.setClock(client, keys, epoch, { read: { now: '1' }, updates: { floor: '2' } });
  await scripts.storeOffset(client, keys, epoch, '42');

  expect(new Set(calls.map((c) => c.name))).toEqual(new Set(Object.keys(LUA_COMMANDS)));
  for (const { name, keys: given } of calls) {
    expect(given).toHaveLength(LUA_COMMANDS[name as CommandName].numberOfKeys);
    expect([name, given.map(hashedPart)]).toEqual([name, given.map(() => 'ns.p3')]);
  }
});

test('the hash tag is read as Redis Cluster reads it', () => {
  expect(hashedPart('a:{ns.p1}:s:{x}')).toBe('ns.p1');
  expect(hashedPart('a:{}:b{c}')).toBe('a:{}:b{c}');
  expect(hashedPart('plain')).toBe('plain');
});
