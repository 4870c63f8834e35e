import { Kafka, logLevel, LogEntry } from 'kafkajs';
import { logger } from '../util/logger';

// kafkajs warns on every producer that its default partitioner changed in 2.0; the default
// (Java-compatible murmur2) is the one the topology relies on, so the warning says nothing.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

/**
 * Protocol errors kafkajs logs at error level although they are part of normal group
 * membership (a rebalance, a restarted member, a new group's coordinator still loading):
 * kafkajs retries or rejoins.
 */
const ROUTINE_GROUP_ERRORS =
  /rebalancing|not aware of this member|not the correct coordinator|coordinator is loading|coordinator is not available/i;

function isRoutine(message: string, extra: Record<string, unknown>): boolean {
  return ROUTINE_GROUP_ERRORS.test(`${message} ${typeof extra.error === 'string' ? extra.error : ''}`);
}

function kafkaLogCreator() {
  // Made when the client is, so it carries the bindings (a role process's role) set by then.
  const kafkaLog = logger.child({ component: 'kafkajs' });
  return ({ level, log }: LogEntry) => {
    const { message, ...extra } = log;
    if (isRoutine(message, extra)) kafkaLog.debug(extra, message);
    else if (level === logLevel.ERROR) kafkaLog.error(extra, message);
    else if (level === logLevel.WARN) kafkaLog.warn(extra, message);
    else if (level === logLevel.INFO) kafkaLog.debug(extra, message);
  };
}

export function createKafka(brokers: string[], clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator,
    retry: { retries: 8, initialRetryTime: 200 },
    connectionTimeout: 5000,
  });
}

/** The innermost message of a kafkajs error (its retriers wrap the cause). */
function rootMessage(error: unknown): string {
  let current = error as { message?: string; cause?: unknown; originalError?: unknown } | undefined;
  while (current && (current.originalError || current.cause)) {
    current = (current.originalError ?? current.cause) as typeof current;
  }
  return current?.message ?? String(error);
}

/**
 * Connects once, with few retries and no logging, so an unreachable Kafka is one clear
 * error within seconds instead of a minute of retries and stack traces.
 */
export async function probeKafka(brokers: string[], timeoutMs = 10000): Promise<string | undefined> {
  const probe = new Kafka({
    clientId: 'winchester-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 1, initialRetryTime: 300, maxRetryTime: 1000 },
    connectionTimeout: 3000,
    requestTimeout: 5000,
  });
  const admin = probe.admin();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${timeoutMs / 1000} s`), timeoutMs);
  });
  try {
    const connected = admin.connect().then(
      () => admin.describeCluster().then(() => undefined),
      (error: unknown) => rootMessage(error),
    );
    return await Promise.race([connected, timeout]);
  } catch (error) {
    return rootMessage(error);
  } finally {
    clearTimeout(timer);
    void admin.disconnect().catch(() => undefined);
  }
}
