import { Admin, Kafka, KafkaJSDeleteGroupsError } from 'kafkajs';
import type Redis from 'ioredis';
import { isCluster, RedisClient } from '../redis/client';
import { namespaceKeyPattern } from '../redis/keys';
import { defaultTopologySettings, TopologySettings } from '../config/topology-settings';
import { OpsInputError } from './scan';

/** The characters winchester.yaml allows in a namespace; none of them is special in a SCAN pattern. */
const NAMESPACE_NAME = /^[A-Za-z0-9._-]+$/;

/** The consumer groups the roles join, `<namespace>.<role>`. */
const ROLE_GROUPS = ['distiller', 'matcher', 'worker', 'archiver'];

/** A namespace given on the command line, checked. */
export function checkedNamespace(namespace: string | undefined): string {
  if (namespace === undefined || namespace === '') {
    throw new OpsInputError(
      'give the namespace, e.g. dev-20260101120000 (winchester namespace list shows them)',
    );
  }
  if (!NAMESPACE_NAME.test(namespace)) {
    throw new OpsInputError(`namespace ${namespace}: expected letters, digits, . _ -`);
  }
  return namespace;
}

/** Topic names of a topology without its namespace (`events`, `streams.completed`, …), longest first. */
function topologyTopicSuffixes(): string[] {
  const { inputTopics, topics } = defaultTopologySettings({ namespace: '' });
  const versions = ['topology', 'topology.instances'];
  return [...inputTopics, ...Object.values(topics), ...versions].sort((a, b) => b.length - a.length);
}

/** The namespace a topology topic or a role's consumer group belongs to, judged by its name; null for others. */
export function namespaceOfName(name: string, kind: 'topic' | 'group'): string | null {
  const suffixes = kind === 'topic' ? topologyTopicSuffixes() : ROLE_GROUPS;
  const suffix = suffixes.find((s) => name.endsWith(`.${s}`) && name.length > s.length + 1);
  return suffix === undefined ? null : name.slice(0, name.length - suffix.length - 1);
}

/** A consumer group and how many members it has now (more than none: something still runs in it). */
export interface GroupState {
  groupId: string;
  state: string;
  members: number;
}

interface ClusterInventory {
  topics: string[];
  groups: string[];
}

async function clusterInventory(admin: Admin): Promise<ClusterInventory> {
  const topics = (await admin.listTopics()).filter((t) => !t.startsWith('__')).sort();
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId).sort();
  return { topics, groups };
}

async function groupStates(admin: Admin, groupIds: string[]): Promise<GroupState[]> {
  if (!groupIds.length) return [];
  const { groups } = await admin.describeGroups(groupIds);
  return groups
    .map((g) => ({ groupId: g.groupId, state: g.state, members: g.members.length }))
    .sort((a, b) => a.groupId.localeCompare(b.groupId));
}

/** Namespaces whose topics or role groups exist, by name. */
function namespacesIn(inventory: ClusterInventory): Set<string> {
  const found = new Set<string>();
  for (const topic of inventory.topics) {
    const namespace = namespaceOfName(topic, 'topic');
    if (namespace) found.add(namespace);
  }
  for (const group of inventory.groups) {
    const namespace = namespaceOfName(group, 'group');
    if (namespace) found.add(namespace);
  }
  return found;
}

/**
 * Whether a topic or group name is the namespace's: under `<namespace>.` but not under a
 * namespace named inside it (`<namespace>.replay` is a namespace of its own).
 */
function ownedBy(name: string, namespace: string, nested: string[]): boolean {
  return name.startsWith(`${namespace}.`) && !nested.some((n) => name.startsWith(`${n}.`));
}

function withAdmin<T>(kafka: Kafka, use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  return admin
    .connect()
    .then(() => use(admin))
    .finally(() => admin.disconnect().catch(() => undefined));
}

export interface NamespaceSummary {
  namespace: string;
  topics: string[];
  groups: GroupState[];
}

/** The namespaces found on the broker, with their topics and consumer groups. */
export async function listNamespaces(kafka: Kafka): Promise<NamespaceSummary[]> {
  return withAdmin(kafka, async (admin) => {
    const inventory = await clusterInventory(admin);
    const namespaces = [...namespacesIn(inventory)].sort();
    const states = await groupStates(
      admin,
      inventory.groups.filter((g) => namespaces.some((n) => g.startsWith(`${n}.`))),
    );
    return namespaces.map((namespace) => {
      const nested = namespaces.filter((n) => n.startsWith(`${namespace}.`));
      return {
        namespace,
        topics: inventory.topics.filter((t) => ownedBy(t, namespace, nested)),
        groups: states.filter((g) => ownedBy(g.groupId, namespace, nested)),
      };
    });
  });
}

/** What `namespace delete` would remove, and what it leaves alone. */
export interface NamespacePlan {
  namespace: string;
  /** Existing topics named `<namespace>.…`. */
  topics: string[];
  /** Consumer groups named `<namespace>.…`: the roles', the operator tools' throwaway ones, any other. */
  groups: GroupState[];
  /** Redis keys matching `<namespace>:*`. */
  redisKeys: number;
  /** Namespaces named inside this one (`<namespace>.x`): not deleted. */
  nested: string[];
  /** Topics the configuration gives this namespace outside its prefix (shared input topics): not deleted. */
  outsideTopics: string[];
}

/**
 * Where a SCAN must look: every master of a Redis Cluster (each holds the keys of its own
 * slots), or the one Redis. A cluster client knows its nodes once connected: the PING waits
 * for that.
 */
async function scanTargets(redis: RedisClient): Promise<Redis[]> {
  if (!isCluster(redis)) return [redis];
  await redis.ping();
  return redis.nodes('master');
}

/** Visits the keys matching a pattern in SCAN batches (never KEYS, which blocks Redis). */
async function scanKeys(
  redis: RedisClient,
  pattern: string,
  visit: (keys: string[]) => Promise<void>,
  batchSize: number,
): Promise<void> {
  for (const node of await scanTargets(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', batchSize);
      if (keys.length) await visit(keys);
      cursor = next;
    } while (cursor !== '0');
  }
}

/** How many keys match; SCAN may return a key twice, so they are counted as a set. */
async function countKeys(redis: RedisClient, pattern: string, batchSize: number): Promise<number> {
  const seen = new Set<string>();
  await scanKeys(redis, pattern, async (keys) => keys.forEach((k) => seen.add(k)), batchSize);
  return seen.size;
}

/**
 * UNLINKs a SCAN batch: in one command on one Redis; key by key on a Redis Cluster, where a
 * batch spans hash slots and a multi-key command across slots is refused (CROSSSLOT).
 */
async function unlinkBatch(redis: RedisClient, keys: string[]): Promise<number> {
  if (!isCluster(redis)) return redis.unlink(...keys);
  const removed = await Promise.all(keys.map((key) => redis.unlink(key)));
  return removed.reduce((sum, n) => sum + n, 0);
}

/** Deletes the keys matching a pattern a SCAN batch at a time, with UNLINK (freed in the background). */
async function unlinkKeys(redis: RedisClient, pattern: string, batchSize: number): Promise<number> {
  let removed = 0;
  await scanKeys(redis, pattern, async (keys) => void (removed += await unlinkBatch(redis, keys)), batchSize);
  return removed;
}

export async function planNamespaceDeletion(
  kafka: Kafka,
  redis: RedisClient,
  settings: TopologySettings,
  options: { scanBatch?: number } = {},
): Promise<NamespacePlan> {
  const namespace = checkedNamespace(settings.namespace);
  const { inventory, groups, nested } = await withAdmin(kafka, async (admin) => {
    const inventory = await clusterInventory(admin);
    const nested = [...namespacesIn(inventory)].filter((n) => n.startsWith(`${namespace}.`)).sort();
    const owned = inventory.groups.filter((g) => ownedBy(g, namespace, nested));
    return { inventory, groups: await groupStates(admin, owned), nested };
  });
  const configured = [...settings.inputTopics, ...Object.values(settings.topics)];
  return {
    namespace,
    topics: inventory.topics.filter((t) => ownedBy(t, namespace, nested)),
    groups,
    redisKeys: await countKeys(redis, namespaceKeyPattern(namespace), options.scanBatch ?? 1000),
    nested,
    outsideTopics: configured.filter((t) => !t.startsWith(`${namespace}.`) && inventory.topics.includes(t)),
  };
}

/** Groups with members: a role (or an operator tool) of the namespace still runs. */
export function activeGroups(plan: NamespacePlan): GroupState[] {
  return plan.groups.filter((g) => g.members > 0);
}

/** Refused: something still runs in the namespace. */
export class NamespaceInUseError extends Error {
  constructor(readonly groups: GroupState[]) {
    super(
      `namespace still in use: ${groups.map((g) => `${g.groupId} (${g.members} member${g.members === 1 ? '' : 's'})`).join(', ')}; ` +
        'stop what runs in it first, or add --force',
    );
    this.name = 'NamespaceInUseError';
  }
}

export interface NamespaceDeletion {
  topics: string[];
  groups: string[];
  /** Groups the broker would not delete (members joined, or kept running under --force), with why. */
  failedGroups: Array<{ groupId: string; reason: string }>;
  redisKeys: number;
}

/** Groups deleted, and those the broker refused (a member still in it), from one DeleteGroups call. */
async function deleteGroups(admin: Admin, groupIds: string[]): Promise<NamespaceDeletion['failedGroups']> {
  if (!groupIds.length) return [];
  try {
    await admin.deleteGroups(groupIds);
    return [];
  } catch (error) {
    if (!(error instanceof KafkaJSDeleteGroupsError)) throw error;
    // A group that emptied and expired since the plan was made is gone, as asked.
    return error.groups
      .filter((g) => g.error?.type !== 'GROUP_ID_NOT_FOUND')
      .map((g) => ({ groupId: g.groupId, reason: g.error?.message ?? 'refused by the broker' }));
  }
}

/**
 * Deletes what a plan lists: consumer groups, topics, then Redis keys (those found when
 * deleting, not only those counted). Refuses when a group has members, unless `force`.
 */
export async function deleteNamespace(
  kafka: Kafka,
  redis: RedisClient,
  plan: NamespacePlan,
  options: { force?: boolean; scanBatch?: number } = {},
): Promise<NamespaceDeletion> {
  const namespace = checkedNamespace(plan.namespace);
  const active = activeGroups(plan);
  if (active.length && !options.force) throw new NamespaceInUseError(active);
  const groupIds = plan.groups.map((g) => g.groupId);
  const failedGroups = await withAdmin(kafka, async (admin) => {
    const failed = await deleteGroups(admin, groupIds);
    if (plan.topics.length) await admin.deleteTopics({ topics: plan.topics, timeout: 30000 });
    return failed;
  });
  const redisKeys = await unlinkKeys(redis, namespaceKeyPattern(namespace), options.scanBatch ?? 1000);
  const failed = new Set(failedGroups.map((g) => g.groupId));
  return {
    topics: plan.topics,
    groups: groupIds.filter((g) => !failed.has(g)),
    failedGroups,
    redisKeys,
  };
}
