import {
  Admin,
  AdminConfig,
  Consumer,
  ConsumerConfig,
  Kafka,
  KafkaConfig,
  logLevel,
  LogEntry,
  Producer,
  ProducerConfig,
} from 'kafkajs';
import { logger } from '../util/logger';
import {
  AuthorizationLog,
  GuardContext,
  guardAdmin,
  guardConsumer,
  guardProducer,
  KafkaAuthorizationError,
} from './authorization';
import { describeSecurity, KafkaSecurity, kafkajsSecurityOptions } from './security';

// kafkajs warns on every producer that its default partitioner changed in 2.0; the default
// (Java-compatible murmur2) is the one the topology relies on, so the warning says nothing.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

/** Where a client connects and how: ConnectionSettings has both. */
export interface KafkaConnection {
  kafkaBrokers: string[];
  kafkaSecurity: KafkaSecurity;
}

/**
 * Protocol errors kafkajs logs at error level although they are part of normal group
 * membership (a rebalance, a restarted member, a new group's coordinator still loading):
 * kafkajs retries or rejoins. Topic creation errors are thrown to the caller, which reports them;
 * a partition's leader that is not ready yet, just after a creation, is waited out (create-topics.ts).
 */
const ROUTINE_ERRORS =
  /rebalancing|not aware of this member|not the correct coordinator|coordinator is loading|coordinator is not available|Topic creation errors|not the leader for that topic-partition|does not host this topic-partition/i;

/** The text of a log entry that a password must never reach, and that the checks look at. */
function entryText(message: string, extra: Record<string, unknown>): string {
  return `${message} ${typeof extra.error === 'string' ? extra.error : ''}`;
}

/** A password that somehow reached a kafkajs log entry is replaced (kafkajs logs none itself). */
function redacted(text: string, secrets: string[]): string {
  return secrets.reduce((out, secret) => out.split(secret).join('[redacted]'), text);
}

/** The entry's message and fields with every secret replaced; as they are when none is in them. */
function withoutSecrets(message: string, extra: Record<string, unknown>, secrets: string[]) {
  if (!secrets.length) return { message, extra };
  let fields: string;
  try {
    fields = JSON.stringify(extra);
  } catch {
    fields = ''; // not serialisable (a cycle): pino could not write it as it is either
  }
  if (!secrets.some((s) => message.includes(s) || fields.includes(s))) return { message, extra };
  return {
    message: redacted(message, secrets),
    extra: fields ? (JSON.parse(redacted(fields, secrets)) as Record<string, unknown>) : {},
  };
}

function kafkaLogCreator(authorization: AuthorizationLog, secrets: string[]) {
  return () => {
    // Made when the client is, so it carries the bindings (a role process's role) set by then.
    const kafkaLog = logger.child({ component: 'kafkajs' });
    return ({ level, log }: LogEntry) => {
      // kafkajs's debug lines (requests, and with KAFKAJS_DEBUG_PROTOCOL_BUFFERS their bytes) never pass.
      if (level === logLevel.DEBUG || level === logLevel.NOTHING) return;
      const { message: raw, ...rawExtra } = log;
      const { message, extra } = withoutSecrets(raw, rawExtra, secrets);
      const text = entryText(message, extra);
      // Refusals by an ACL are reported by the call that failed, as one line (authorization.ts).
      const refused =
        authorization.observe(text) ||
        (/Crash: KafkaJSGroupCoordinatorNotFound/.test(text) && authorization.groupRecentlyRefused());
      if (refused || ROUTINE_ERRORS.test(text)) kafkaLog.debug(extra, message);
      else if (level === logLevel.ERROR) kafkaLog.error(extra, message);
      else if (level === logLevel.WARN) kafkaLog.warn(extra, message);
      else if (level === logLevel.INFO) kafkaLog.debug(extra, message);
    };
  };
}

export interface KafkaClientOptions {
  /**
   * A consumer that an ACL stopped after it started (kafkajs does not restart it). Default: one
   * error line in the log; the command line ends the process instead (src/cli/connect.ts).
   */
  onConsumerRefused?: (error: KafkaAuthorizationError, groupId: string) => void;
}

const logRefusal = (error: KafkaAuthorizationError, groupId: string) =>
  logger.error({ component: 'kafkajs', groupId }, `consumer stopped: ${error.message}`);

/** kafkajs whose clients turn ACL refusals into one-line KafkaAuthorizationErrors. */
class GuardedKafka extends Kafka {
  constructor(
    config: KafkaConfig,
    private readonly guard: GuardContext,
    private readonly onConsumerRefused: NonNullable<KafkaClientOptions['onConsumerRefused']>,
  ) {
    super(config);
  }

  override admin(config?: AdminConfig): Admin {
    return guardAdmin(super.admin(config), this.guard);
  }

  override producer(config?: ProducerConfig): Producer {
    return guardProducer(super.producer(config), config?.transactionalId, this.guard);
  }

  override consumer(config: ConsumerConfig): Consumer {
    const later = (error: KafkaAuthorizationError) => this.onConsumerRefused(error, config.groupId);
    return guardConsumer(super.consumer(config), config.groupId, this.guard, later);
  }
}

function secretsOf(security: KafkaSecurity): string[] {
  return [security.sasl?.password.reveal(), security.tls?.passphrase?.reveal()].filter((s): s is string =>
    Boolean(s),
  );
}

export function createKafka(
  connection: KafkaConnection,
  clientId: string,
  options: KafkaClientOptions = {},
): Kafka {
  const security = connection.kafkaSecurity;
  const authorization = new AuthorizationLog();
  return new GuardedKafka(
    {
      clientId,
      brokers: connection.kafkaBrokers,
      ...kafkajsSecurityOptions(security),
      logLevel: logLevel.WARN,
      logCreator: kafkaLogCreator(authorization, secretsOf(security)),
      retry: { retries: 8, initialRetryTime: 200 },
      connectionTimeout: 5000,
    },
    { principal: security.principal, log: authorization },
    options.onConsumerRefused ?? logRefusal,
  );
}

interface ErrorChain {
  name?: string;
  message?: string;
  code?: string;
  cause?: unknown;
  originalError?: unknown;
}

/** The innermost error of a kafkajs error (its retriers wrap the cause). */
function rootError(error: unknown): ErrorChain | undefined {
  let current = error as ErrorChain | undefined;
  while (current && (current.originalError || current.cause)) {
    current = (current.originalError ?? current.cause) as ErrorChain;
  }
  return current;
}

/** Why a probe failed: `authentication` when the broker answered but refused the credentials. */
export interface KafkaProbeProblem {
  message: string;
  kind: 'unreachable' | 'tls' | 'authentication';
}

const TLS_FAILURE = /certificate|self[- ]signed|ssl|tls|handshake|alert/i;

/** OpenSSL's multi-line `…:error:0A000412:SSL routines:function:reason:file:line:…` as its reason. */
function oneLine(message: string): string {
  return message
    .replace(/\S*:error:[0-9A-F]+:SSL routines:[^:]*:([^:\n]+):[^\n]*/g, '$1')
    .replace(/\s+/g, ' ')
    .trim();
}

function probeProblem(error: unknown): KafkaProbeProblem {
  const root = rootError(error);
  const message = oneLine(root?.message ?? String(error));
  if (root?.name === 'KafkaJSSASLAuthenticationError' || /authentication failed/i.test(message)) {
    return { message, kind: 'authentication' };
  }
  if (TLS_FAILURE.test(`${root?.code ?? ''} ${message}`)) return { message, kind: 'tls' };
  return { message, kind: 'unreachable' };
}

/**
 * Connects once, with few retries and no logging, so an unreachable Kafka (or one that refuses
 * the TLS handshake or the credentials) is one clear error within seconds instead of a minute
 * of retries and stack traces.
 */
export async function probeKafka(
  connection: KafkaConnection,
  timeoutMs = 10000,
): Promise<KafkaProbeProblem | undefined> {
  const probe = new Kafka({
    clientId: 'winchester-probe',
    brokers: connection.kafkaBrokers,
    ...kafkajsSecurityOptions(connection.kafkaSecurity),
    logLevel: logLevel.NOTHING,
    retry: { retries: 1, initialRetryTime: 300, maxRetryTime: 1000 },
    connectionTimeout: 3000,
    requestTimeout: 5000,
  });
  const admin = probe.admin();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<KafkaProbeProblem>((resolve) => {
    timer = setTimeout(
      () => resolve({ message: `no answer within ${timeoutMs / 1000} s`, kind: 'unreachable' }),
      timeoutMs,
    );
  });
  try {
    const connected = admin.connect().then(
      () => admin.describeCluster().then(() => undefined),
      (error: unknown) => probeProblem(error),
    );
    return await Promise.race([connected, timeout]);
  } catch (error) {
    return probeProblem(error);
  } finally {
    clearTimeout(timer);
    void admin.disconnect().catch(() => undefined);
  }
}

/** How a connection authenticates, for messages (never its password). */
export const describeConnection = (connection: KafkaConnection) => describeSecurity(connection.kafkaSecurity);
