import { Command } from 'commander';
import {
  activeGroups,
  checkedNamespace,
  deleteNamespace,
  GroupState,
  listNamespaces,
  NamespaceDeletion,
  NamespaceInUseError,
  NamespacePlan,
  NamespaceSummary,
  planNamespaceDeletion,
} from '../ops/namespace';
import { connectRedis } from './connect';
import { safeJson } from './dlq';
import { asUsageError, opsSetup } from './ops-options';
import { CommandFailure, UsageError } from './errors';

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

const out = (lines: string[]) => process.stdout.write(lines.map((l) => `${l}\n`).join(''));

function groupText(group: GroupState): string {
  return group.members ? `${group.groupId} (${plural(group.members, 'active member')})` : group.groupId;
}

const isEmptyPlan = (plan: NamespacePlan) => !plan.topics.length && !plan.groups.length && !plan.redisKeys;

/** What `namespace delete` would remove, and what it leaves alone, as lines. */
export function formatPlan(plan: NamespacePlan): string[] {
  return [
    `namespace ${plan.namespace}: would delete`,
    `  ${plural(plan.topics.length, 'topic')}`,
    ...plan.topics.map((t) => `    ${t}`),
    `  ${plural(plan.groups.length, 'consumer group')}`,
    ...plan.groups.map((g) => `    ${groupText(g)}`),
    `  ${plural(plan.redisKeys, 'Redis key')} matching ${plan.namespace}:*`,
    ...plan.nested.map((n) => `left alone: namespace ${n} (a namespace of its own; delete it by name)`),
    ...plan.outsideTopics.map(
      (t) => `left alone: topic ${t} (configured for the namespace, not named in it)`,
    ),
  ];
}

export function formatDeletion(namespace: string, deleted: NamespaceDeletion): string[] {
  return [
    `namespace ${namespace}: deleted ${plural(deleted.topics.length, 'topic')}, ` +
      `${plural(deleted.groups.length, 'consumer group')}, ${plural(deleted.redisKeys, 'Redis key')}`,
    ...deleted.failedGroups.map((g) => `consumer group ${g.groupId} not deleted: ${g.reason}`),
  ];
}

export function formatNamespaces(namespaces: NamespaceSummary[]): string[] {
  const rows = [
    ['NAMESPACE', 'TOPICS', 'GROUPS', 'RUNNING'],
    ...namespaces.map((n) => [
      n.namespace,
      String(n.topics.length),
      String(n.groups.length),
      String(n.groups.filter((g) => g.members > 0).length),
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i]))
      .join('  ')
      .trimEnd(),
  );
}

interface DeleteOptions {
  config?: string;
  yes?: boolean;
  force?: boolean;
}

async function deleteCommand(name: string | undefined, opts: DeleteOptions): Promise<void> {
  const namespace = checkedNamespace(name);
  const { connected } = await opsSetup({ config: opts.config, namespace });
  const redis = await connectRedis(connected.connection.redisUrl, { maxRetriesPerRequest: 3 });
  try {
    const plan = await planNamespaceDeletion(connected.kafka, redis, connected.settings);
    if (isEmptyPlan(plan)) {
      out([`namespace ${namespace}: no topics, consumer groups or Redis keys found; nothing to delete`]);
      return;
    }
    if (!opts.yes) {
      out(formatPlan(plan));
      const running = activeGroups(plan).length ? ' (and stop what still runs in it, or add --force)' : '';
      throw new UsageError(`nothing deleted: add --yes to delete namespace ${namespace}${running}`);
    }
    let deleted: NamespaceDeletion;
    try {
      deleted = await deleteNamespace(connected.kafka, redis, plan, { force: opts.force });
    } catch (error) {
      if (error instanceof NamespaceInUseError) throw new CommandFailure(`${namespace}: ${error.message}`);
      throw error;
    }
    out(formatDeletion(namespace, deleted));
    if (deleted.failedGroups.length) {
      throw new CommandFailure(
        `namespace ${namespace}: ${plural(deleted.failedGroups.length, 'consumer group')} left`,
      );
    }
  } finally {
    redis.disconnect();
  }
}

async function listCommand(opts: { config?: string; json?: boolean }): Promise<void> {
  const { connected } = await opsSetup({ config: opts.config });
  const namespaces = await listNamespaces(connected.kafka);
  if (opts.json) out([safeJson(namespaces)]);
  else if (!namespaces.length) out(['no namespaces found']);
  else out(formatNamespaces(namespaces));
}

export function registerNamespace(program: Command): void {
  const namespace = program
    .command('namespace')
    .description("list namespaces; delete one namespace's topics, consumer groups and Redis keys");
  namespace
    .command('list')
    .description('namespaces found from topic and role group names, with their topics and consumer groups')
    .option('-c, --config <file>', 'winchester.yaml', process.env.WINCHESTER_CONFIG)
    .option('--json', 'JSON instead of a table')
    .action(asUsageError(listCommand));
  namespace
    .command('delete')
    .description(
      'delete the topics named <ns>.…, the consumer groups named <ns>.… and the Redis keys <ns>:* ' +
        '(without --yes: only say what would go)',
    )
    .argument('[ns]', 'the namespace, e.g. dev-20260101120000')
    .option('-c, --config <file>', 'winchester.yaml', process.env.WINCHESTER_CONFIG)
    .option('--yes', 'really delete')
    .option('--force', 'delete even while consumer groups of the namespace have members (roles running)')
    .action(asUsageError(deleteCommand));
}
