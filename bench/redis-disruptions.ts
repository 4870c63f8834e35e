/**
 * What the chaos harness does to a Redis Cluster while the roles run (bench/chaos.ts): a slot
 * migration that carries a live partition's keys to another master (`redis-cli --cluster
 * reshard`), and a failover of the master serving a live partition (SIGKILL; its replica takes
 * over; the killed node is started again and rejoins as a replica). Both go through
 * scripts/redis-cluster.sh, so they need the cluster that script runs.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';
import { parseRedisUrl } from '../src/redis/connection-options';
import { PartitionKeys } from '../src/redis/keys';
import { repoRoot } from './support';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A master of the cluster and the slots it serves, in ascending order. */
export interface ClusterMaster {
  id: string;
  host: string;
  port: number;
  slots: number[];
}

/** One range of a CLUSTER SLOTS reply: first slot, last slot, the master, then its replicas. */
export type SlotRange = [number, number, [string, number, string, ...unknown[]], ...unknown[]];

/** The masters serving slots and what each serves, from a CLUSTER SLOTS reply (by port). */
export function mastersOf(reply: SlotRange[]): ClusterMaster[] {
  const byId = new Map<string, ClusterMaster>();
  for (const [first, last, [host, port, id]] of reply) {
    const master = byId.get(id) ?? { id, host, port: Number(port), slots: [] };
    for (let slot = first; slot <= last; slot++) master.slots.push(slot);
    byId.set(id, master);
  }
  for (const master of byId.values()) master.slots.sort((a, b) => a - b);
  return [...byId.values()].sort((a, b) => a.port - b.port);
}

/** A slot migration: the `count` lowest-numbered slots of `from` go to `to`, `slot` among them. */
export interface ReshardPlan {
  from: ClusterMaster;
  to: ClusterMaster;
  count: number;
  slot: number;
}

/**
 * The migration that moves one of the partitions' slots. `redis-cli --cluster reshard` takes a
 * master's lowest-numbered slots, so the count reaches the partition's slot, and is at least a
 * quarter of that master's slots. The cheapest such move is chosen, never the one that would
 * empty its master (an emptied master turns into a replica: the cluster would change shape),
 * and the slots go to the master serving the fewest.
 */
export function planReshard(masters: ClusterMaster[], partitionSlots: number[]): ReshardPlan {
  const candidates = partitionSlots
    .map((slot) => {
      const from = masters.find((m) => m.slots.includes(slot));
      if (!from) throw new Error(`no master serves slot ${slot}`);
      return { slot, from, reach: from.slots.filter((s) => s <= slot).length };
    })
    .filter((c) => c.reach < c.from.slots.length)
    .sort((a, b) => a.reach - b.reach || a.slot - b.slot);
  const best = candidates[0];
  if (!best)
    throw new Error('every partition slot is the last slot of its master: no reshard keeps all masters');
  const to = masters
    .filter((m) => m.id !== best.from.id)
    .sort((a, b) => a.slots.length - b.slots.length || a.port - b.port)[0];
  if (!to) throw new Error('the cluster has one master: there is nowhere to move slots');
  const quarter = Math.ceil(best.from.slots.length / 4);
  const count = Math.min(best.from.slots.length - 1, Math.max(best.reach, quarter));
  return { from: best.from, to, count, slot: best.slot };
}

/** scripts/redis-cluster.sh for the cluster a URL names (its secure mode for rediss-cluster://). */
export class LocalRedisCluster {
  private constructor(private readonly env: NodeJS.ProcessEnv) {}

  /** The script's cluster, once it is known to be the one `url` names. */
  static async of(url: string): Promise<LocalRedisCluster> {
    const wanted = parseRedisUrl(url);
    const cluster = new LocalRedisCluster({ ...process.env, STACK_SECURE: wanted.tls ? '1' : '0' });
    const running = await cluster.script('status').catch(() => '');
    const ours = new Set(running ? parseRedisUrl(running).addresses.map((a) => `${a.host}:${a.port}`) : []);
    if (!wanted.addresses.every((a) => ours.has(`${a.host}:${a.port}`))) {
      const stateDir = process.env.WINCHESTER_STACK_DIR ?? join(repoRoot, '.stack');
      throw new Error(
        `REDIS_URL is not the Redis Cluster scripts/redis-cluster.sh runs (state in ${stateDir}), ` +
          'which the reshard and the failover need: use that cluster, or --no-redis-restart',
      );
    }
    return cluster;
  }

  /** Runs an action of the script; its stdout, trimmed. */
  async script(...args: string[]): Promise<string> {
    const { stdout } = await run('bash', [join(repoRoot, 'scripts', 'redis-cluster.sh'), ...args], {
      env: this.env,
    });
    return stdout.trim();
  }
}

/** The slots of the partitions' hash tags. */
async function partitionSlots(client: Cluster, partitions: PartitionKeys[]): Promise<number[]> {
  return Promise.all(
    partitions.map(async (keys) => Number(await client.call('CLUSTER', 'KEYSLOT', keys.ids))),
  );
}

/**
 * The masters, once every node answers CLUSTER SLOTS alike: right after a failover some may
 * not know the new master yet, and a plan made from their view would name a replica.
 */
async function agreedMasters(client: Cluster): Promise<ClusterMaster[]> {
  for (let attempt = 0; attempt < 60; attempt++) {
    try {
      const replies = await Promise.all(
        client.nodes('all').map(async (node) => (await node.call('CLUSTER', 'SLOTS')) as SlotRange[]),
      );
      const views = replies.map((reply) => JSON.stringify(mastersOf(reply)));
      if (views.every((view) => view === views[0])) return mastersOf(replies[0]);
    } catch {
      // A node restarting: ask again.
    }
    await sleep(500);
  }
  throw new Error('the cluster nodes did not agree on the slot map within 30 s');
}

/** Moves a share of slots, one live partition's among them, to another master; says what it did. */
export async function reshardLivePartition(
  client: Cluster,
  cluster: LocalRedisCluster,
  partitions: PartitionKeys[],
): Promise<string> {
  const slots = await partitionSlots(client, partitions);
  const plan = planReshard(await agreedMasters(client), slots);
  await cluster.script('reshard', String(plan.from.port), String(plan.to.port), String(plan.count));
  const partition = slots.indexOf(plan.slot);
  return `reshard ${plan.count} slots :${plan.from.port} → :${plan.to.port} (partition ${partition}'s slot ${plan.slot} among them)`;
}

/**
 * Kills the master serving a live partition (picked with `pick`, in [0, 1)), waits for its
 * replica to take over, then starts the killed node again, which rejoins as a replica.
 */
export async function failOverPartitionMaster(
  client: Cluster,
  cluster: LocalRedisCluster,
  partitions: PartitionKeys[],
  pick: () => number,
): Promise<string> {
  const slots = await partitionSlots(client, partitions);
  const partition = Math.floor(pick() * slots.length);
  const killed = await cluster.script('kill-master', String(slots[partition]));
  await cluster.script('start');
  return `failover of master :${killed} (partition ${partition}'s slot ${slots[partition]}), node back as a replica`;
}
