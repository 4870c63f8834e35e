import { Admin } from 'kafkajs';
import { Command } from 'commander';
import { repartitionPartitionsKey } from '../redis/keys';
import { TopologySettings } from '../config/topology-settings';
import {
  applySteps,
  ApplySteps,
  changeText,
  ClusterTopics,
  Drift,
  isEmptyPlan,
  planTopics,
  TopicPlan,
  WantedTopic,
  wantedTopics,
} from '../topology/topic-plan';
import { applyTopicSteps, readClusterTopics } from '../topology/topics';
import { connect, connectRedis } from './connect';
import { asUsageError, opsConfig, OpsOptions, withConfigOptions } from './ops-options';

/** Exit code of `topics plan` with changes pending, and of `topics apply` that left differences. */
export const EXIT_TOPICS_DIFFER = 3;

const out = (lines: string[]) => process.stdout.write(lines.map((l) => `${l}\n`).join(''));

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** `3 partitions, replication 3, retention.ms=…`: what a topic is created with. */
export function creationText(topic: WantedTopic): string {
  const replication =
    topic.replicationFactor === undefined ? 'broker default' : String(topic.replicationFactor);
  return [
    plural(topic.partitions, 'partition'),
    `replication ${replication}`,
    ...Object.entries(topic.configs).map(([name, value]) => `${name}=${value}`),
  ].join(', ');
}

/** What `topics plan` prints. */
export function formatTopicPlan(namespace: string, plan: TopicPlan): string[] {
  const head = `topics of namespace ${namespace}: ${plan.wanted.length} wanted, ${plan.existing} exist`;
  const notes = plan.notes.map((n) => `  note: ${n}`);
  if (isEmptyPlan(plan)) return [`${head}, all as configured`, ...notes];
  return [
    head,
    ...plan.create.map((t) => `  create ${t.name}: ${creationText(t)}`),
    ...plan.alter.map((a) => `  alter ${a.topic}: ${a.changes.map(changeText).join(', ')}`),
    ...plan.grow.map(
      (g) =>
        `  grow ${g.topic}: ${g.from} → ${g.to} partitions` +
        (g.keyedBy ? ` (needs --allow-partition-increase: ${g.keyedBy})` : ''),
    ),
    ...plan.drift.map((d: Drift) => `  differs ${d.topic}: ${d.message}`),
    ...notes,
    `${plural(plan.create.length, 'topic')} to create, ${plan.alter.length} to alter, ` +
      `${plan.grow.length} to grow, ${plan.drift.length} other difference${plan.drift.length === 1 ? '' : 's'}`,
  ];
}

/** What `topics apply` prints once done. */
export function formatApplied(namespace: string, steps: ApplySteps): string[] {
  return [
    ...steps.create.map((t) => `created ${t.name}: ${creationText(t)}`),
    ...steps.alter.map((a) => `altered ${a.topic}: ${a.changes.map(changeText).join(', ')}`),
    ...steps.grow.map((g) => `grew ${g.topic}: ${g.from} → ${g.to} partitions`),
    ...steps.left.map((d) => `left ${d.topic}: ${d.message}`),
    `topics of namespace ${namespace}: ${steps.create.length} created, ${steps.alter.length} altered, ` +
      `${steps.grow.length} grown, ${steps.left.length} left as they are`,
  ];
}

/** The repartition count the matcher's Redis state was built for; undefined without REDIS_URL. */
async function matcherPartitions(redisUrl: string, namespace: string): Promise<number | null | undefined> {
  if (!redisUrl) return undefined;
  const redis = await connectRedis(redisUrl, { maxRetriesPerRequest: 3 });
  try {
    const stored = await redis.get(repartitionPartitionsKey(namespace));
    return stored === null ? null : Number(stored);
  } finally {
    redis.disconnect();
  }
}

/** Reads the cluster (and the matcher's state) and plans; `use` may act on the plan with the same admin client. */
async function withPlan(
  opts: OpsOptions,
  use: (plan: TopicPlan, admin: Admin, settings: TopologySettings) => Promise<void>,
): Promise<void> {
  const config = opsConfig(opts);
  const { kafka, settings, connection } = await connect(config.topology);
  const wanted = wantedTopics(settings);
  const matcher = await matcherPartitions(connection.redisUrl, settings.namespace);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const cluster: ClusterTopics = {
      ...(await readClusterTopics(
        admin,
        wanted.map((t) => t.name),
      )),
      matcherPartitions: matcher,
    };
    await use(planTopics(wanted, cluster), admin, settings);
  } finally {
    await admin.disconnect();
  }
}

async function planCommand(opts: OpsOptions): Promise<void> {
  await withPlan(opts, async (plan, _admin, settings) => {
    out(formatTopicPlan(settings.namespace, plan));
    if (!isEmptyPlan(plan)) process.exitCode = EXIT_TOPICS_DIFFER;
  });
}

async function applyCommand(opts: OpsOptions & { allowPartitionIncrease?: boolean }): Promise<void> {
  await withPlan(opts, async (plan, admin, settings) => {
    const steps = applySteps(plan, opts.allowPartitionIncrease === true);
    await applyTopicSteps(admin, steps);
    out(formatApplied(settings.namespace, steps));
    if (steps.left.length) process.exitCode = EXIT_TOPICS_DIFFER;
  });
}

export function registerTopics(program: Command): void {
  const topics = program
    .command('topics')
    .description("compare the topology's topics with the configuration (kafka.topics), and make them so");
  withConfigOptions(
    topics
      .command('plan')
      .description(
        'list the topics to create, the configs, partition counts and replication that differ; ' +
          `exit 0 when nothing differs, ${EXIT_TOPICS_DIFFER} otherwise`,
      ),
  ).action(asUsageError(planCommand));
  withConfigOptions(
    topics
      .command('apply')
      .description(
        'create missing topics, alter configs that differ, raise partition counts where allowed; ' +
          `never deletes. Exit ${EXIT_TOPICS_DIFFER} when differences are left`,
      )
      .option(
        '--allow-partition-increase',
        "raise keyed topics' partition counts too (stop producers and let consumers catch up first)",
      ),
  ).action(asUsageError(applyCommand));
}
