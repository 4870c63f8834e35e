import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigurationError } from './errors';
import { loadYaml11, plainFromYaml, YamlDocument } from './yaml11';
import { defaultTopologySettings, TopologySettings } from './topology-settings';

/**
 * One `pipeline_handlers` entry: what it names (a module path `./file.js#Export`, or upstream's
 * Python `module:Class`) and where, so a handler that cannot be loaded is reported at its line.
 */
export interface HandlerReference {
  target: string;
  file: string;
  line: number;
}

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
  /** File names inside the topology bundle (upstream's distiller_config & co). */
  files: { eventDefinitions: string; triggers: string; pipelines: string };
  topology: TopologySettings;
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
  'distiller_config',
  'trigger_definitions',
  'pipeline_config',
  'kafka',
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
  const doc: YamlDocument = loadYaml11(text, file);
  const fail = (path: (string | number)[], message: string): never => {
    const at = doc.locate(path);
    throw new ConfigurationError(`${file}:${at.line}: ${path.join('.')}: ${message}`);
  };
  const raw = (plainFromYaml(doc.value) ?? {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || Array.isArray(raw)) fail([], 'expected a mapping of settings');
  const warnings: string[] = [];
  for (const key of Object.keys(raw)) {
    if (UPSTREAM_IGNORED.has(key)) {
      warnings.push(
        `${file}:${doc.locate([key]).line}: ${key} has no effect here (state is in Redis, logs are JSON lines)`,
      );
    } else if (!KNOWN.has(key)) {
      warnings.push(`${file}:${doc.locate([key]).line}: unknown setting ${key} ignored`);
    }
  }
  const num = (key: string, dflt: number, min = 0): number => {
    const v = raw[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min)
      fail([key], `expected a number ≥ ${min}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const bool = (key: string, dflt: boolean): boolean => {
    const v = raw[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') fail([key], `expected true or false, got ${JSON.stringify(v)}`);
    return v as boolean;
  };
  const stringMap = (key: string): Record<string, string> => {
    const v = raw[key];
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) fail([key], 'expected a mapping of name to module path');
    for (const [k, target] of Object.entries(v as Record<string, unknown>)) {
      if (typeof target !== 'string')
        fail([key, k], 'expected a module path such as ./handlers.js#MyHandler');
    }
    return v as Record<string, string>;
  };
  const handlerReferences = (key: string): Record<string, HandlerReference> =>
    Object.fromEntries(
      Object.entries(stringMap(key)).map(([name, target]) => [
        name,
        { target, file, line: doc.locate([key, name]).line },
      ]),
    );
  const str = (key: string, dflt: string): string => {
    const v = raw[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'string') fail([key], `expected a string, got ${JSON.stringify(v)}`);
    return v as string;
  };

  const kafka = (raw.kafka ?? {}) as Record<string, unknown>;
  if (typeof kafka !== 'object' || Array.isArray(kafka)) fail(['kafka'], 'expected a mapping');
  for (const key of Object.keys(kafka)) {
    if (!KAFKA_KEYS.has(key))
      warnings.push(`${file}:${doc.locate(['kafka', key]).line}: unknown setting kafka.${key} ignored`);
  }
  const overrides: Partial<TopologySettings> = {};
  const namespace = env.WINCHESTER_NAMESPACE ?? kafka.namespace;
  if (namespace !== undefined) {
    if (typeof namespace !== 'string' || !/^[A-Za-z0-9._-]*$/.test(namespace)) {
      fail(['kafka', 'namespace'], 'expected letters, digits, . _ -');
    }
    overrides.namespace = namespace as string;
  }
  const clock = env.WINCHESTER_CLOCK ?? kafka.clock;
  if (clock !== undefined) {
    if (clock !== 'wall' && clock !== 'event')
      fail(['kafka', 'clock'], `expected wall or event, got ${JSON.stringify(clock)}`);
    overrides.clock = clock as 'wall' | 'event';
  }
  const topology = defaultTopologySettings(overrides);
  if (kafka.input_topics !== undefined) {
    const list = kafka.input_topics;
    if (!Array.isArray(list) || list.some((t) => typeof t !== 'string'))
      fail(['kafka', 'input_topics'], 'expected a list of topic names');
    topology.inputTopics = list as string[];
  }
  if (kafka.input_pattern !== undefined) {
    try {
      new RegExp(String(kafka.input_pattern));
    } catch (error) {
      fail(['kafka', 'input_pattern'], `not a regular expression: ${(error as Error).message}`);
    }
    topology.inputPattern = String(kafka.input_pattern);
  }
  if (kafka.partitions !== undefined) {
    const p = kafka.partitions as Record<string, unknown>;
    for (const key of ['events', 'repartition', 'streams'] as const) {
      if (p[key] === undefined) continue;
      if (!Number.isInteger(p[key]) || (p[key] as number) < 1)
        fail(['kafka', 'partitions', key], 'expected a positive integer');
      topology.partitions[key] = p[key] as number;
    }
  }
  const kafkaNumber = (
    key: string,
    field: 'maxRecordBytes' | 'seenRetentionSeconds' | 'redisPoolSize' | 'sessionTimeoutMs',
  ) => {
    if (kafka[key] === undefined) return;
    if (!Number.isInteger(kafka[key]) || (kafka[key] as number) < 1)
      fail(['kafka', key], 'expected a positive integer');
    topology[field] = kafka[key] as number;
  };
  kafkaNumber('max_record_bytes', 'maxRecordBytes');
  kafkaNumber('seen_retention_seconds', 'seenRetentionSeconds');
  kafkaNumber('redis_pool_size', 'redisPoolSize');
  kafkaNumber('session_timeout_ms', 'sessionTimeoutMs');
  const statisticsPeriodSeconds = num('statistics_period', 10, 1);
  topology.statisticsPeriodMs = statisticsPeriodSeconds * 1000;
  const logLevel = LOG_LEVELS[str('log_level', 'info').toLowerCase()];
  if (logLevel === undefined) fail(['log_level'], `expected one of ${Object.keys(LOG_LEVELS).join(', ')}`);

  return {
    file,
    logLevel,
    statisticsPeriodSeconds,
    catchAllNotifications: bool('catch_all_notifications', false),
    distillerTraitPlugins: stringMap('distiller_trait_plugins'),
    pipelineHandlers: handlerReferences('pipeline_handlers'),
    purgeCompletedStreams: bool('purge_completed_streams', true),
    handlerTimeoutSeconds: num('handler_timeout', 60, 0.001),
    maxPipelineHops: num('max_pipeline_hops', 3, 0),
    metricsPort: metricsPortFromEnv(env) ?? num('metrics_port', 9464, 0),
    files: {
      eventDefinitions: str('distiller_config', 'event_definitions.yaml'),
      triggers: str('trigger_definitions', 'triggers.yaml'),
      pipelines: str('pipeline_config', 'pipelines.yaml'),
    },
    topology,
    warnings,
  };
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
