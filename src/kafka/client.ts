import { Kafka, logLevel, LogEntry } from 'kafkajs';
import { logger } from '../util/logger';

function kafkaLogCreator() {
  // Made when the client is, so it carries the bindings (a role process's role) set by then.
  const kafkaLog = logger.child({ component: 'kafkajs' });
  return ({ level, log }: LogEntry) => {
    const { message, ...extra } = log;
    if (level === logLevel.ERROR) kafkaLog.error(extra, message);
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
