import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigurationError } from './errors';
import { loadYaml11, plainFromYaml, YamlDocument } from './yaml11';
import { defaultTopologySettings, parseTopicSection, TopologySettings } from './topology-settings';
import { BridgeSettings, parseBridgeSection } from './bridge-settings';
import { KafkaSecurityInput, parseKafkaSecuritySection } from '../kafka/security';

/**
 * One `pipeline_handlers` entry: what it names (a module path `./file.js#Export`, or upstream's
 * Python `module:Class`) and where, so a handler that cannot be loaded is reported at its line.
 */
export interface HandlerReference {
  target: string;
  file: string;
  line: number;
}

/**
 * The `kafka:` section: the topology's settings and, when `kafka.security` is given, how to
 * connect (connect() merges it under the environment's KAFKA_SECURITY_PROTOCOL & co).
 */
export type KafkaSectionSettings = TopologySettings & { security?: KafkaSecurityInput };

/** etc/winchester.yaml: Winchester's own keys plus a `kafka:` section for the topology. */
export interface WinchesterConfig {
  file: string | null;
  logLevel: string;
  statisticsPeriodSeconds: number;
  catchAllNotifications: boolean;
  distillerTraitPlugins: Record<string, string>;
  pipelineHandlers: Record<string, HandlerReference>;
  purgeCompletedStreams: boolean;
  handlerTimeoutSeconds: number;
  maxPipelineHops: number;
  metricsPort: number;
  /** event_ttl: seconds an archived event is kept (the archiver expires older ones); undefined keeps them. */
  eventTtlSeconds?: number;
  /** File names inside the topology bundle (upstream's distiller_config & co). */
  files: { eventDefinitions: string; triggers: string; pipelines: string };
  topology: KafkaSectionSettings;
  /** The `bridge:` section: what `winchester bridge` consumes from RabbitMQ. */
  bridge: BridgeSettings;
  warnings: string[];
}

/** Upstream keys we read, keys upstream read that have no meaning here, and ours. */
const UPSTREAM_IGNORED = new Set([
  'config_path',
  'database',
  'logging_config',
  'pipeline_worker_batch_size',
  'pipeline_worker_delay',
]);
const KNOWN = new Set([
  'log_level',
  'statistics_period',
  'catch_all_notifications',
  'distiller_trait_plugins',
  'pipeline_handlers',
  'purge_completed_streams',
  'handler_timeout',
  'max_pipeline_hops',
  'metrics_port',
  'event_ttl',
  'distiller_config',
  'trigger_definitions',
  'pipeline_config',
  'kafka',
  'bridge',
]);
const KAFKA_KEYS = new Set([
  'namespace',
  'input_topics',
  'input_pattern',
  'partitions',
  'clock',
  'max_record_bytes',
  'seen_retention_seconds',
  'redis_pool_size',
  'session_timeout_ms',
  'create_topics',
  'topics',
  'security',
]);

/** log_level as upstream (Python's names, any case) or pino spells it → pino's level. */
const LOG_LEVELS: Record<string, string> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  critical: 'fatal',
  fatal: 'fatal',
  silent: 'silent',
};

export function parseWinchesterConfig(
  text: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): WinchesterConfig {
  const settings = new Settings(loadYaml11(text, file), file);
  const warnings = settings.unknownKeyWarnings();
  const kafka = kafkaSection(settings, warnings);
  const topology = topologySettings(settings, kafka, env, warnings);
  const security = kafkaSecurity(settings, kafka);
  // The order of the reads below is the order errors are found in: keep it.
  const statisticsPeriodSeconds = settings.number('statistics_period', 10, 1);
  topology.statisticsPeriodMs = statisticsPeriodSeconds * 1000;
  const logLevel = settings.logLevel();
  const bridge = parseBridgeSection(
    settings.raw.bridge,
    (path, message) => settings.fail(path, message),
    (key) =>
      warnings.push(`${file}:${settings.line(['bridge', key])}: unknown setting bridge.${key} ignored`),
  );

  return {
    file,
    logLevel,
    statisticsPeriodSeconds,
    catchAllNotifications: settings.boolean('catch_all_notifications', false),
    distillerTraitPlugins: settings.stringMap('distiller_trait_plugins'),
    pipelineHandlers: settings.handlerReferences('pipeline_handlers'),
    purgeCompletedStreams: settings.boolean('purge_completed_streams', true),
    handlerTimeoutSeconds: settings.number('handler_timeout', 60, 0.001),
    maxPipelineHops: settings.number('max_pipeline_hops', 3, 0),
    metricsPort: metricsPortFromEnv(env) ?? settings.number('metrics_port', 9464, 0),
    eventTtlSeconds: settings.duration('event_ttl'),
    files: {
      eventDefinitions: settings.string('distiller_config', 'event_definitions.yaml'),
      triggers: settings.string('trigger_definitions', 'triggers.yaml'),
      pipelines: settings.string('pipeline_config', 'pipelines.yaml'),
    },
    topology: security ? { ...topology, security } : topology,
    bridge,
    warnings,
  };
}

/** kafka.security, its settings with their file and line; undefined when absent. */
function kafkaSecurity(settings: Settings, kafka: Record<string, unknown>): KafkaSecurityInput | undefined {
  if (kafka.security === undefined || kafka.security === null) return undefined;
  const at = (path: string[]) => ['kafka', 'security', ...path];
  return parseKafkaSecuritySection(kafka.security, {
    fail: (path, message) => settings.fail(at(path), message),
    where: (path) => `${settings.file}:${settings.line(at(path))}: ${at(path).join('.')}`,
    dir: dirname(resolve(settings.file)),
  });
}

type Path = (string | number)[];

/** The top-level settings of winchester.yaml, read by type; a wrong value fails at its file:line. */
class Settings {
  readonly raw: Record<string, unknown>;

  constructor(
    private readonly doc: YamlDocument,
    readonly file: string,
  ) {
    this.raw = (plainFromYaml(doc.value) ?? {}) as Record<string, unknown>;
    if (typeof this.raw !== 'object' || Array.isArray(this.raw))
      this.fail([], 'expected a mapping of settings');
  }

  line(path: Path): number {
    return this.doc.locate(path).line;
  }

  fail(path: Path, message: string): never {
    throw new ConfigurationError(`${this.file}:${this.line(path)}: ${path.join('.')}: ${message}`);
  }

  unknownKeyWarnings(): string[] {
    const warnings: string[] = [];
    for (const key of Object.keys(this.raw)) {
      if (UPSTREAM_IGNORED.has(key)) {
        warnings.push(
          `${this.file}:${this.line([key])}: ${key} has no effect here (state is in Redis, logs are JSON lines)`,
        );
      } else if (!KNOWN.has(key)) {
        warnings.push(`${this.file}:${this.line([key])}: unknown setting ${key} ignored`);
      }
    }
    return warnings;
  }

  number(key: string, dflt: number, min = 0): number {
    const v = this.raw[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min)
      this.fail([key], `expected a number ≥ ${min}, got ${JSON.stringify(v)}`);
    return v as number;
  }

  boolean(key: string, dflt: boolean): boolean {
    const v = this.raw[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') this.fail([key], `expected true or false, got ${JSON.stringify(v)}`);
    return v as boolean;
  }

  string(key: string, dflt: string): string {
    const v = this.raw[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'string') this.fail([key], `expected a string, got ${JSON.stringify(v)}`);
    return v as string;
  }

  stringMap(key: string): Record<string, string> {
    const v = this.raw[key];
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v))
      this.fail([key], 'expected a mapping of name to module path');
    for (const [k, target] of Object.entries(v as Record<string, unknown>)) {
      if (typeof target !== 'string')
        this.fail([key, k], 'expected a module path such as ./handlers.js#MyHandler');
    }
    return v as Record<string, string>;
  }

  handlerReferences(key: string): Record<string, HandlerReference> {
    return Object.fromEntries(
      Object.entries(this.stringMap(key)).map(([name, target]) => [
        name,
        { target, file: this.file, line: this.line([key, name]) },
      ]),
    );
  }

  /** A duration (`7d`, `12h`, `30m`, `3600s`, or a number of seconds) in seconds; undefined when unset. */
  duration(key: string): number | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    const seconds = typeof v === 'number' || typeof v === 'string' ? durationSeconds(String(v)) : undefined;
    if (seconds === undefined) this.fail([key], `${DURATION_EXPECTED}, got ${JSON.stringify(v)}`);
    return seconds;
  }

  /** log_level as pino names it. */
  logLevel(): string {
    const logLevel = LOG_LEVELS[this.string('log_level', 'info').toLowerCase()];
    if (logLevel === undefined)
      this.fail(['log_level'], `expected one of ${Object.keys(LOG_LEVELS).join(', ')}`);
    return logLevel;
  }
}

/** The `kafka:` mapping (empty when absent); its unknown keys are added to warnings. */
function kafkaSection(settings: Settings, warnings: string[]): Record<string, unknown> {
  const kafka = (settings.raw.kafka ?? {}) as Record<string, unknown>;
  if (typeof kafka !== 'object' || Array.isArray(kafka)) settings.fail(['kafka'], 'expected a mapping');
  for (const key of Object.keys(kafka)) {
    if (!KAFKA_KEYS.has(key))
      warnings.push(
        `${settings.file}:${settings.line(['kafka', key])}: unknown setting kafka.${key} ignored`,
      );
  }
  return kafka;
}

/** The topology's settings: defaults, then the `kafka:` section (the environment winning where it may). */
function topologySettings(
  settings: Settings,
  kafka: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  warnings: string[],
): TopologySettings {
  // namespace and clock first: the default topic names derive from the namespace.
  const topology = defaultTopologySettings(namespaceAndClock(settings, kafka, env));
  readInputTopics(settings, kafka, topology);
  readPartitions(settings, kafka, topology);
  readKafkaNumber(settings, kafka, 'max_record_bytes', topology, 'maxRecordBytes');
  readKafkaNumber(settings, kafka, 'seen_retention_seconds', topology, 'seenRetentionSeconds');
  readKafkaNumber(settings, kafka, 'redis_pool_size', topology, 'redisPoolSize');
  readKafkaNumber(settings, kafka, 'session_timeout_ms', topology, 'sessionTimeoutMs');
  const topics = parseTopicSection(kafka, {
    fail: (path, message) => settings.fail(['kafka', ...path], message),
    warn: (path, message) =>
      warnings.push(`${settings.file}:${settings.line(['kafka', ...path])}: ${message}`),
  });
  return { ...topology, ...topics };
}

/** WINCHESTER_NAMESPACE and WINCHESTER_CLOCK, or kafka.namespace and kafka.clock. */
function namespaceAndClock(
  settings: Settings,
  kafka: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): Partial<TopologySettings> {
  const overrides: Partial<TopologySettings> = {};
  const namespace = env.WINCHESTER_NAMESPACE ?? kafka.namespace;
  if (namespace !== undefined) {
    if (typeof namespace !== 'string' || !/^[A-Za-z0-9._-]*$/.test(namespace)) {
      settings.fail(['kafka', 'namespace'], 'expected letters, digits, . _ -');
    }
    overrides.namespace = namespace as string;
  }
  const clock = env.WINCHESTER_CLOCK ?? kafka.clock;
  if (clock !== undefined) {
    if (clock !== 'wall' && clock !== 'event')
      settings.fail(['kafka', 'clock'], `expected wall or event, got ${JSON.stringify(clock)}`);
    overrides.clock = clock as 'wall' | 'event';
  }
  return overrides;
}

/** kafka.input_topics and kafka.input_pattern. */
function readInputTopics(
  settings: Settings,
  kafka: Record<string, unknown>,
  topology: TopologySettings,
): void {
  if (kafka.input_topics !== undefined) {
    const list = kafka.input_topics;
    if (!Array.isArray(list) || list.some((t) => typeof t !== 'string'))
      settings.fail(['kafka', 'input_topics'], 'expected a list of topic names');
    topology.inputTopics = list as string[];
  }
  if (kafka.input_pattern !== undefined) {
    try {
      new RegExp(String(kafka.input_pattern));
    } catch (error) {
      settings.fail(['kafka', 'input_pattern'], `not a regular expression: ${(error as Error).message}`);
    }
    topology.inputPattern = String(kafka.input_pattern);
  }
}

function readPartitions(
  settings: Settings,
  kafka: Record<string, unknown>,
  topology: TopologySettings,
): void {
  if (kafka.partitions === undefined) return;
  if (typeof kafka.partitions !== 'object' || kafka.partitions === null || Array.isArray(kafka.partitions))
    settings.fail(
      ['kafka', 'partitions'],
      'expected a mapping of events, repartition and streams to partition counts',
    );
  const p = kafka.partitions as Record<string, unknown>;
  for (const key of ['events', 'repartition', 'streams'] as const) {
    if (p[key] === undefined) continue;
    if (!Number.isInteger(p[key]) || (p[key] as number) < 1)
      settings.fail(['kafka', 'partitions', key], 'expected a positive integer');
    topology.partitions[key] = p[key] as number;
  }
}

/** A positive integer of the `kafka:` section, when given, into its topology field. */
function readKafkaNumber(
  settings: Settings,
  kafka: Record<string, unknown>,
  key: string,
  topology: TopologySettings,
  field: 'maxRecordBytes' | 'seenRetentionSeconds' | 'redisPoolSize' | 'sessionTimeoutMs',
): void {
  if (kafka[key] === undefined) return;
  if (!Number.isInteger(kafka[key]) || (kafka[key] as number) < 1)
    settings.fail(['kafka', key], 'expected a positive integer');
  topology[field] = kafka[key] as number;
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 };

/** What durationSeconds reads, for messages about a value it refused. */
export const DURATION_EXPECTED =
  'expected a positive duration such as 7d, 12h, 30m, 3600s or a number of seconds';

/**
 * A positive duration in seconds: a number with an optional unit, s (the default), m, h, d
 * or w (`7d`, `1.5h`, `3600`). Undefined when the text is not one.
 */
export function durationSeconds(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$/.exec(text);
  if (!m) return undefined;
  const seconds = Number(m[1]) * DURATION_UNITS[m[2] || 's'];
  return seconds > 0 && Number.isFinite(seconds) ? seconds : undefined;
}

/** METRICS_PORT, which wins over the file's metrics_port (environment over file, as everywhere). */
function metricsPortFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const text = env.METRICS_PORT;
  if (text === undefined || text === '') return undefined;
  if (!/^\d+$/.test(text) || Number(text) > 65535) {
    throw new ConfigurationError(`METRICS_PORT=${text} is not a port number (0: any free port)`);
  }
  return Number(text);
}

export function loadWinchesterConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): WinchesterConfig {
  if (!file) return parseWinchesterConfig('{}', '(defaults)', env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigurationError(`cannot read ${file}: ${(error as Error).message}`);
  }
  const config = parseWinchesterConfig(text, file, env);
  return { ...config, file: resolve(file) };
}

export function configDir(config: WinchesterConfig): string {
  return config.file ? dirname(config.file) : process.cwd();
}
