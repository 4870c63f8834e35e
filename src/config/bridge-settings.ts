/**
 * The `bridge:` section of winchester.yaml: which RabbitMQ exchanges, topics and priorities
 * `winchester bridge` consumes, declared the way oslo.messaging's `rabbit` driver declares them.
 */

/** oslo.messaging's notification priorities (Notifier.audit … Notifier.sample). */
export const OSLO_PRIORITIES = ['audit', 'critical', 'debug', 'error', 'info', 'sample', 'warn'] as const;

/**
 * The control_exchange of the usual OpenStack services (oslo's default `openstack`, then each
 * service's own, as Ceilometer's notification agent lists them; Designate's is `central`).
 */
export const OPENSTACK_EXCHANGES = [
  'openstack',
  'nova',
  'neutron',
  'glance',
  'keystone',
  'heat',
  'ironic',
  'swift',
  'central',
  'magnum',
  'trove',
  'sahara',
  'octavia',
  'manila',
  'aodh',
  'zaqar',
];

/**
 * How much of a body's JSON the bridge checks (src/bridge/message.ts): `shape`, UTF-8 with `{`
 * first and `}` last, or `full`, JSON.parse.
 */
export type JsonCheck = 'shape' | 'full';

export interface BridgeSettings {
  /** Topic exchanges the services publish to (their control_exchange). */
  exchanges: string[];
  /** [oslo_messaging_notifications] topics; each priority's routing key is `<topic>.<priority>`. */
  topics: string[];
  priorities: string[];
  /**
   * Exchanges and queues the bridge creates are durable: must equal the services'
   * [oslo_messaging_rabbit] amqp_durable_queues (false by default, as oslo's), or RabbitMQ
   * refuses the declaration that comes second, and a service refused drops its notifications.
   */
  durable: boolean;
  /** Queues the bridge creates are quorum queues (oslo's rabbit_quorum_queue). */
  quorum: boolean;
  /**
   * oslo's listener pool: one queue of this name, bound to every `<topic>.<priority>`, so the
   * bridge gets its own copy beside other consumers. Unset: oslo's shared `<topic>.<priority>` queues.
   */
  pool?: string;
  /** Messages RabbitMQ may hand over before the bridge acknowledges any: the bound on memory. */
  prefetch: number;
  /** The Kafka topic the messages go to; unset: the topology's first input topic. */
  outputTopic?: string;
  /** Most messages, and bytes, in one Kafka request. */
  batchMessages: number;
  batchBytes: number;
  /** How long a partial batch waits for more messages before it is sent. */
  lingerMs: number;
  /** How much of each body's JSON the bridge checks before producing it (src/bridge/message.ts). */
  jsonCheck: JsonCheck;
}

export function defaultBridgeSettings(overrides: Partial<BridgeSettings> = {}): BridgeSettings {
  return {
    exchanges: [...OPENSTACK_EXCHANGES],
    topics: ['notifications'],
    priorities: ['audit', 'critical', 'error', 'info', 'warn'],
    durable: false,
    quorum: false,
    prefetch: 2000,
    batchMessages: 500,
    batchBytes: 512 * 1024,
    lingerMs: 5,
    jsonCheck: 'shape',
    ...overrides,
  };
}

/** One queue the bridge consumes and the bindings that fill it. */
export interface QueuePlan {
  name: string;
  bindings: { exchange: string; routingKey: string }[];
}

/**
 * The queues and bindings of the settings: oslo's default `<topic>.<priority>` queues, each
 * bound to that routing key on every exchange, or one pool queue bound to all of them.
 */
export function queuePlan(settings: BridgeSettings): QueuePlan[] {
  const routingKeys = settings.topics.flatMap((topic) => settings.priorities.map((p) => `${topic}.${p}`));
  const bind = (keys: string[]) =>
    settings.exchanges.flatMap((exchange) => keys.map((routingKey) => ({ exchange, routingKey })));
  if (settings.pool) return [{ name: settings.pool, bindings: bind(routingKeys) }];
  return routingKeys.map((key) => ({ name: key, bindings: bind([key]) }));
}

/** A section's key, and where to report a wrong value: `fail(['bridge', key], message)`. */
export type FailAt = (path: (string | number)[], message: string) => never;

const KEYS = [
  'exchanges',
  'topics',
  'priorities',
  'durable',
  'quorum',
  'pool',
  'prefetch',
  'output_topic',
  'batch_messages',
  'batch_bytes',
  'linger_ms',
  'json_check',
];

/** The `bridge:` mapping (undefined when absent) as settings; warnings name unknown keys. */
export function parseBridgeSection(
  raw: unknown,
  fail: FailAt,
  warnUnknown: (key: string) => void,
): BridgeSettings {
  if (raw === undefined || raw === null) return defaultBridgeSettings();
  if (typeof raw !== 'object' || Array.isArray(raw)) fail(['bridge'], 'expected a mapping');
  const section = raw as Record<string, unknown>;
  for (const key of Object.keys(section)) if (!KEYS.includes(key)) warnUnknown(key);
  const read = new SectionReader(section, fail);
  const settings = defaultBridgeSettings({
    exchanges: read.names('exchanges', OPENSTACK_EXCHANGES),
    topics: read.names('topics', ['notifications']),
    priorities: read.priorities(),
    // As oslo.messaging: quorum queues are durable whatever amqp_durable_queues says.
    durable: read.boolean('durable', false) || read.boolean('quorum', false),
    quorum: read.boolean('quorum', false),
    pool: read.optionalName('pool'),
    prefetch: read.integer('prefetch', 2000, 1, 65535),
    outputTopic: read.optionalName('output_topic'),
    batchMessages: read.integer('batch_messages', 500, 1, 100000),
    batchBytes: read.integer('batch_bytes', 512 * 1024, 1024, 64 * 1024 * 1024),
    lingerMs: read.integer('linger_ms', 5, 0, 60000),
    jsonCheck: read.choice('json_check', ['shape', 'full'], 'shape') as JsonCheck,
  });
  return settings;
}

/** Typed reads of the section's keys, each failing at its own line. */
class SectionReader {
  constructor(
    private readonly section: Record<string, unknown>,
    private readonly fail: FailAt,
  ) {}

  names(key: string, dflt: readonly string[]): string[] {
    const v = this.section[key];
    if (v === undefined || v === null) return [...dflt];
    if (!Array.isArray(v) || v.length === 0 || v.some((s) => typeof s !== 'string' || !isName(s)))
      this.fail(['bridge', key], 'expected a non-empty list of names (letters, digits, . _ - :)');
    return v as string[];
  }

  priorities(): string[] {
    const priorities = this.names('priorities', defaultBridgeSettings().priorities);
    priorities.forEach((p, i) => {
      if (!(OSLO_PRIORITIES as readonly string[]).includes(p.toLowerCase()))
        this.fail(['bridge', 'priorities', i], `expected one of ${OSLO_PRIORITIES.join(', ')}`);
    });
    return priorities.map((p) => p.toLowerCase());
  }

  optionalName(key: string): string | undefined {
    const v = this.section[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || !isName(v))
      this.fail(['bridge', key], 'expected a name (letters, digits, . _ - :)');
    return v as string;
  }

  choice(key: string, choices: string[], dflt: string): string {
    const v = this.section[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'string' || !choices.includes(v))
      this.fail(['bridge', key], `expected ${choices.join(' or ')}, got ${JSON.stringify(v)}`);
    return v as string;
  }

  boolean(key: string, dflt: boolean): boolean {
    const v = this.section[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean')
      this.fail(['bridge', key], `expected true or false, got ${JSON.stringify(v)}`);
    return v as boolean;
  }

  integer(key: string, dflt: number, min: number, max: number): number {
    const v = this.section[key];
    if (v === undefined || v === null) return dflt;
    if (!Number.isInteger(v) || (v as number) < min || (v as number) > max)
      this.fail(['bridge', key], `expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return v as number;
  }
}

/** AMQP names are up to 255 bytes; these keep to what oslo's own names use. */
const isName = (s: string) => /^[A-Za-z0-9._:-]{1,255}$/.test(s);
