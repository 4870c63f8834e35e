import { ClockMode } from '../streams/engine';

/** Kafka-side settings of a running topology (etc/winchester.yaml `kafka:` section). */
export interface TopologySettings {
  /** Prefix of topic names, consumer groups and Redis keys; lets a replay run beside live traffic. */
  namespace: string;
  inputTopics: string[];
  /** A regular expression over topic names, used instead of inputTopics when set. */
  inputPattern?: string;
  topics: {
    events: string;
    repartition: string;
    streams: string;
    completed: string;
    notificationsDlq: string;
    eventsDlq: string;
    streamsDlq: string;
    /** What the archiver could not keep: not an event or completion record, or refused by the store. */
    archiverDlq: string;
    /** One record per stream whose last attempt failed (error / expire_error), keyed by stream id. */
    streamsErrors: string;
  };
  partitions: { events: number; repartition: number; streams: number };
  clock: ClockMode;
  /** Records larger than this are refused before sending (kafkajs has no client-side limit). */
  maxRecordBytes: number;
  seenRetentionSeconds: number;
  redisPoolSize: number;
  sessionTimeoutMs: number;
  /** How often the wall-clock timers of owned partitions run (their latency floor). */
  timerIntervalMs: number;
  /** How often the matcher logs its debug_level trigger statistics (winchester.yaml statistics_period). */
  statisticsPeriodMs: number;
  /** kafka.create_topics: roles create missing topics at start; false: they refuse to start instead. */
  createTopics: boolean;
  /** kafka.topics: replication, retention and other configuration of the topics. */
  topicConfig: TopicConfigSettings;
}

export function defaultTopologySettings(overrides: Partial<TopologySettings> = {}): TopologySettings {
  const namespace = overrides.namespace ?? 'winchester';
  const name = (base: string) => (namespace ? `${namespace}.${base}` : base);
  return {
    namespace,
    inputTopics: [name('notifications')],
    topics: {
      events: name('events'),
      repartition: name('matcher.repartition'),
      streams: name('streams'),
      completed: name('streams.completed'),
      notificationsDlq: name('notifications.dlq'),
      eventsDlq: name('events.dlq'),
      streamsDlq: name('streams.dlq'),
      archiverDlq: name('archiver.dlq'),
      streamsErrors: name('streams.errors'),
    },
    partitions: { events: 3, repartition: 3, streams: 3 },
    clock: 'wall',
    maxRecordBytes: 8 * 1024 * 1024,
    seenRetentionSeconds: 14 * 24 * 3600,
    redisPoolSize: 16,
    sessionTimeoutMs: 10000,
    timerIntervalMs: 100,
    statisticsPeriodMs: 10000,
    createTopics: true,
    topicConfig: { all: {}, dlq: {}, byRole: {} },
    ...overrides,
  };
}

/** What `kafka.topics` calls the topics of a topology: a role's settings apply to its topics. */
export const TOPIC_ROLES = [
  'input',
  'events',
  'repartition',
  'streams',
  'completed',
  'errors',
  'notifications_dlq',
  'events_dlq',
  'streams_dlq',
  'archiver_dlq',
  'topology',
] as const;
export type TopicRole = (typeof TOPIC_ROLES)[number];

const DLQ_ROLES: ReadonlySet<TopicRole> = new Set([
  'notifications_dlq',
  'events_dlq',
  'streams_dlq',
  'archiver_dlq',
]);

export type CleanupPolicy = 'delete' | 'compact' | 'compact,delete';

/** Settings of a topic; unset ones are the broker's defaults. */
export interface TopicOptions {
  replicationFactor?: number;
  minInsyncReplicas?: number;
  /** retention.ms; -1 keeps records for ever. */
  retentionMs?: number;
  cleanupPolicy?: CleanupPolicy;
  /** Any other topic configuration, as Kafka names it (`segment.bytes`), as text. */
  configs?: Record<string, string>;
}

/** kafka.topics: settings for every topic, for the four DLQs (`dlq`), and per role. */
export interface TopicConfigSettings {
  all: TopicOptions;
  dlq: TopicOptions;
  byRole: Partial<Record<TopicRole, TopicOptions>>;
}

/** The settings layers of a role, least specific first. */
function topicLayers(config: TopicConfigSettings, role: TopicRole): TopicOptions[] {
  return [config.all, DLQ_ROLES.has(role) ? config.dlq : {}, config.byRole[role] ?? {}];
}

/** A role's settings: its own over `dlq` (for a DLQ) over those for every topic. */
export function topicOptionsFor(config: TopicConfigSettings, role: TopicRole): TopicOptions {
  let merged: TopicOptions = {};
  for (const layer of topicLayers(config, role)) {
    merged = { ...merged, ...layer, configs: { ...merged.configs, ...layer.configs } };
  }
  return merged;
}

type SettingPath = (string | number)[];

/** How a section parser reports: `fail` throws with file:line, `warn` records a warning. */
export interface SectionReport {
  fail(path: SettingPath, message: string): never;
  warn(path: SettingPath, message: string): void;
}

const OPTION_KEYS = [
  'replication_factor',
  'min_insync_replicas',
  'retention_ms',
  'retention',
  'cleanup_policy',
  'configs',
] as const;

/** Topic configs with a key of their own in kafka.topics. */
const CONFIGS_WITH_KEYS: Record<string, string> = {
  'cleanup.policy': 'cleanup_policy',
  'retention.ms': 'retention or retention_ms',
  'min.insync.replicas': 'min_insync_replicas',
};

/**
 * kafka.create_topics and kafka.topics, from the `kafka:` mapping. Paths given to `report` are
 * relative to the `kafka:` section.
 */
export function parseTopicSection(
  kafka: Record<string, unknown>,
  report: SectionReport,
): Pick<TopologySettings, 'createTopics' | 'topicConfig'> {
  const createTopics = kafka.create_topics ?? true;
  if (typeof createTopics !== 'boolean')
    report.fail(['create_topics'], `expected true or false, got ${JSON.stringify(createTopics)}`);
  const section = mappingOrEmpty(kafka.topics, ['topics'], report);
  const topicConfig: TopicConfigSettings = { all: {}, dlq: {}, byRole: {} };
  topicConfig.all = readTopicOptions(section, ['topics'], report, true);
  for (const key of ['dlq', ...TOPIC_ROLES] as const) {
    if (section[key] === undefined) continue;
    const path = ['topics', key];
    const options = readTopicOptions(mappingOrEmpty(section[key], path, report), path, report, false);
    if (key === 'dlq') topicConfig.dlq = options;
    else topicConfig.byRole[key] = options;
  }
  if (topicConfig.byRole.topology?.cleanupPolicy && topicConfig.byRole.topology.cleanupPolicy !== 'compact')
    report.fail(
      ['topics', 'topology', 'cleanup_policy'],
      'the topology topics must stay compact (they keep every applied version)',
    );
  checkInsyncReplicas(topicConfig, report);
  return { createTopics: createTopics as boolean, topicConfig };
}

function mappingOrEmpty(value: unknown, path: SettingPath, report: SectionReport): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) report.fail(path, 'expected a mapping');
  return value as Record<string, unknown>;
}

/** One mapping of topic settings; `top` is kafka.topics itself, where role names are keys too. */
function readTopicOptions(
  raw: Record<string, unknown>,
  path: SettingPath,
  report: SectionReport,
  top: boolean,
): TopicOptions {
  const known = new Set<string>([...OPTION_KEYS, ...(top ? ['dlq', ...TOPIC_ROLES] : [])]);
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) {
      const roles = top ? ` (topics: dlq, ${TOPIC_ROLES.join(', ')})` : '';
      report.warn([...path, key], `unknown setting kafka.${[...path, key].join('.')} ignored${roles}`);
    }
  }
  const at = (key: string) => [...path, key];
  const options: TopicOptions = {};
  const replicationFactor = positiveInteger(raw.replication_factor, at('replication_factor'), report);
  if (replicationFactor !== undefined) options.replicationFactor = replicationFactor;
  const minInsync = positiveInteger(raw.min_insync_replicas, at('min_insync_replicas'), report);
  if (minInsync !== undefined) options.minInsyncReplicas = minInsync;
  const retentionMs = readRetention(raw, path, report);
  if (retentionMs !== undefined) options.retentionMs = retentionMs;
  if (raw.cleanup_policy !== undefined && raw.cleanup_policy !== null)
    options.cleanupPolicy = cleanupPolicy(raw.cleanup_policy, at('cleanup_policy'), report);
  if (raw.configs !== undefined && raw.configs !== null)
    options.configs = topicConfigs(raw.configs, at('configs'), report);
  return options;
}

function positiveInteger(value: unknown, path: SettingPath, report: SectionReport): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 32767)
    report.fail(path, `expected a positive integer, got ${JSON.stringify(value)}`);
  return value as number;
}

const RETENTION_UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** `retention` (a duration, or `forever`) or `retention_ms` (milliseconds, -1 for ever) as retention.ms. */
function readRetention(raw: Record<string, unknown>, path: SettingPath, report: SectionReport) {
  const { retention, retention_ms: millis } = raw;
  const given = (v: unknown) => v !== undefined && v !== null;
  if (given(retention) && given(millis))
    report.fail([...path, 'retention_ms'], 'give retention or retention_ms, not both');
  if (given(millis)) {
    if (!Number.isSafeInteger(millis) || ((millis as number) < 1 && millis !== -1))
      report.fail(
        [...path, 'retention_ms'],
        `expected milliseconds (a positive integer, or -1 to keep records for ever), got ${JSON.stringify(millis)}`,
      );
    return millis as number;
  }
  if (!given(retention)) return undefined;
  const ms = retentionMillis(retention);
  if (ms === undefined)
    report.fail(
      [...path, 'retention'],
      `expected a duration such as 7d, 12h, 30m, 3600s, 500ms (a bare number: seconds) or forever, got ${JSON.stringify(retention)}`,
    );
  return ms;
}

/** A retention duration in milliseconds (-1: for ever); undefined when the value is not one. */
export function retentionMillis(value: unknown): number | undefined {
  if (value === 'forever') return -1;
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|[smhdw])?\s*$/.exec(String(value));
  if (!m) return undefined;
  const ms = Math.round(Number(m[1]) * RETENTION_UNITS_MS[m[2] ?? 's']);
  return ms >= 1 && Number.isSafeInteger(ms) ? ms : undefined;
}

/** `delete`, `compact`, or both (`compact,delete` or a list of the two), as Kafka writes it. */
function cleanupPolicy(value: unknown, path: SettingPath, report: SectionReport): CleanupPolicy {
  const parts = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : [];
  const policies = new Set(parts.map((p) => String(p).trim()));
  const valid =
    parts.length > 0 &&
    policies.size === parts.length &&
    [...policies].every((p) => p === 'delete' || p === 'compact');
  if (!valid) report.fail(path, `expected delete, compact or compact,delete, got ${JSON.stringify(value)}`);
  return policies.size === 2 ? 'compact,delete' : ([...policies][0] as CleanupPolicy);
}

/** `configs`: other topic configs by their Kafka names, each value as text. */
function topicConfigs(value: unknown, path: SettingPath, report: SectionReport): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    report.fail(path, 'expected a mapping of Kafka topic config names to values (segment.bytes: 104857600)');
  const configs: Record<string, string> = {};
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    if (!/^[a-z][a-z0-9.]*$/.test(name))
      report.fail([...path, name], 'expected a Kafka topic config name such as segment.bytes');
    if (CONFIGS_WITH_KEYS[name])
      report.fail([...path, name], `set it with ${CONFIGS_WITH_KEYS[name]} instead`);
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
      report.fail([...path, name], `expected a string, number or boolean, got ${JSON.stringify(v)}`);
    configs[name] = String(v);
  }
  return configs;
}

/** min_insync_replicas above the replication factor would refuse every write with acks=all. */
function checkInsyncReplicas(config: TopicConfigSettings, report: SectionReport): void {
  for (const role of TOPIC_ROLES) {
    const { minInsyncReplicas: min, replicationFactor: factor } = topicOptionsFor(config, role);
    if (min === undefined || factor === undefined || min <= factor) continue;
    // Reported where the most specific mapping sets it.
    const where =
      config.byRole[role]?.minInsyncReplicas !== undefined
        ? [role]
        : DLQ_ROLES.has(role) && config.dlq.minInsyncReplicas !== undefined
          ? ['dlq']
          : [];
    report.fail(
      ['topics', ...where, 'min_insync_replicas'],
      `${min} exceeds the replication factor ${factor} of the ${role} topics: every write would be refused`,
    );
  }
}
