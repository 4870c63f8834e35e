import { HandlerDefinition } from '../handler';
import { atompubHandler } from './atompub';
import { execHandler } from './exec';
import { kafkaHandler, notabeneHandler } from './kafka';
import { loggerHandler } from './logger';
import { usageHandler } from './usage';
import { zookeeperHandler } from './zookeeper';

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
  zookeeper: zookeeperHandler,
  usage_pipeline: usageHandler,
  notabene: notabeneHandler,
};

/** The built-in handlers by name: what roles and `winchester check` start from. */
export function builtinHandlerMap(): Map<string, HandlerDefinition> {
  return new Map(Object.entries(builtinHandlers));
}

/**
 * Upstream's own handler classes as its winchester.yaml names them under `pipeline_handlers`
 * (Python's `module:Class`), and the built-in that does each one's job here, so upstream's
 * files load unchanged. NotabeneHandler published to RabbitMQ; `notabene` is the Kafka
 * publisher that accepts its params.
 */
export const UPSTREAM_HANDLER_CLASSES: Readonly<Record<string, string>> = {
  'winchester.pipeline_handler:LoggingHandler': 'logger',
  'winchester.pipeline_handler:UsageHandler': 'usage',
  'winchester.pipeline_handler:AtomPubHandler': 'atompub',
  'winchester.pipeline_handler:NotabeneHandler': 'notabene',
};
