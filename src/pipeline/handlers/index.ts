import { HandlerDefinition } from '../handler';
import { atompubHandler } from './atompub';
import { execHandler } from './exec';
import { kafkaHandler, notabeneHandler } from './kafka';
import { loggerHandler } from './logger';
import { usageHandler } from './usage';

/**
 * The handlers every pipelines.yaml can name without a `pipeline_handlers` entry. Besides ours,
 * the names upstream's configs used: `usage_pipeline` (stacktach-sandbox's name for the usage
 * handler) and `notabene` (its RabbitMQ publisher, here publishing to Kafka).
 */
export const builtinHandlers: Record<string, HandlerDefinition> = {
  logger: loggerHandler,
  usage: usageHandler,
  atompub: atompubHandler,
  kafka: kafkaHandler,
  exec: execHandler,
  usage_pipeline: usageHandler,
  notabene: notabeneHandler,
};
