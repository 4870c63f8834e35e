import { toCanonicalJson, WinchesterEvent } from '../../events/event';
import { encodeEvent } from '../../events/wire';
import { HandlerContext, HandlerDefinition, PipelineEnv, PipelineHandler } from '../handler';
import { EventTypeFilter } from './event-types';
import { ParamReader } from './params';

/**
 * Publishes to a Kafka topic in commit(), what upstream's `notabene` handler did with RabbitMQ:
 * the stream's events selected by `event_types`, and/or the items other handlers left in `env`
 * under `env_keys` (as upstream's usage handler once did under `usage_notifications`).
 */

export type EventFormat = 'canonical' | 'wire';
export type KeyChoice = 'message_id' | 'stream_id' | 'none';

export interface KafkaPublishOptions {
  topic: string;
  /** Undefined: no stream events, only env items. */
  eventTypes?: EventTypeFilter;
  envKeys: string[];
  format: EventFormat;
  key: KeyChoice;
}

/** notabene's RabbitMQ connection params: accepted so its pipelines load, but meaningless on Kafka. */
const RABBIT_PARAMS = ['host', 'port', 'user', 'password', 'vhost', 'library', 'exchange', 'exchange_type'];
const PARAMS = ['topic', 'event_types', 'env_keys', 'format', 'key'];
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

function readKafkaParams(params: Record<string, unknown>, handler: 'kafka' | 'notabene') {
  const r = new ParamReader(
    handler,
    params,
    handler === 'notabene' ? [...PARAMS, 'queue_name', ...RABBIT_PARAMS] : PARAMS,
  );
  if (r.has('topic') && r.has('queue_name')) r.fail('queue_name', 'only one of topic and queue_name');
  const topicParam = r.has('queue_name') ? 'queue_name' : 'topic';
  const topic = r.requiredString(topicParam);
  if (!TOPIC_NAME.test(topic) || topic === '.' || topic === '..') {
    r.fail(topicParam, 'a Kafka topic name (letters, digits, ".", "_", "-")');
  }
  const patterns = r.stringList('event_types', { single: true });
  const envKeys = r.stringList('env_keys') ?? [];
  const options: KafkaPublishOptions = {
    topic,
    // Like notabene, env_keys alone publish only env items; with neither, every event goes.
    eventTypes: patterns ? new EventTypeFilter(patterns) : envKeys.length ? undefined : new EventTypeFilter(),
    envKeys,
    format: r.oneOf('format', ['canonical', 'wire'] as const, 'canonical'),
    key: r.oneOf('key', ['message_id', 'stream_id', 'none'] as const, 'message_id'),
  };
  const ignored = RABBIT_PARAMS.filter((p) => r.has(p));
  return { options, ignored };
}

type Message = { key: string | null; value: string };

function isEvent(item: unknown): item is WinchesterEvent {
  const e = item as WinchesterEvent;
  return (
    typeof item === 'object' &&
    item !== null &&
    typeof e.message_id === 'string' &&
    typeof e.event_type === 'string' &&
    typeof e.timestamp === 'number' &&
    typeof e.traits === 'object' &&
    e.traits !== null
  );
}

export class KafkaPublishHandler implements PipelineHandler {
  private pending: Message[] = [];

  constructor(
    private readonly options: KafkaPublishOptions,
    private readonly context: HandlerContext,
  ) {}

  /** Messages are serialized here so a value that cannot be written fails the run, not the commit. */
  handleEvents(events: WinchesterEvent[], env: PipelineEnv): WinchesterEvent[] {
    const { eventTypes, envKeys } = this.options;
    const pending: Message[] = [];
    if (eventTypes) {
      for (const event of events)
        if (eventTypes.matches(event.event_type)) pending.push(this.message(event, env));
    }
    for (const key of envKeys) {
      const value = env[key];
      if (value === undefined || value === null) continue;
      for (const item of Array.isArray(value) ? value : [value]) pending.push(this.message(item, env));
    }
    this.pending = pending;
    return events;
  }

  private message(item: unknown, env: PipelineEnv): Message {
    let value: string | undefined;
    if (isEvent(item)) value = this.options.format === 'wire' ? encodeEvent(item) : toCanonicalJson(item);
    else value = JSON.stringify(item);
    if (value === undefined) throw new Error(`kafka handler: cannot publish ${typeof item} as JSON`);
    const messageId = (item as { message_id?: unknown } | null)?.message_id;
    const key =
      this.options.key === 'stream_id'
        ? String(env.stream_id)
        : this.options.key === 'message_id' && typeof messageId === 'string'
          ? messageId
          : null;
    return { key, value };
  }

  async commit(): Promise<void> {
    if (!this.pending.length) return;
    const { topic } = this.options;
    if (this.context.dryRun) {
      this.context.logger.info(
        { handler: 'kafka', topic, count: this.pending.length, keys: this.pending.map((m) => m.key) },
        `kafka (dry run): would publish ${this.pending.length} messages to ${topic}`,
      );
      return;
    }
    await this.context.publish(topic, this.pending);
    this.context.logger.info(
      { handler: 'kafka', topic, count: this.pending.length },
      `Published ${this.pending.length} messages to ${topic}`,
    );
  }

  rollback(): void {
    this.pending = [];
  }
}

function definition(handler: 'kafka' | 'notabene'): HandlerDefinition {
  return {
    validateParams: (params) => void readKafkaParams(params, handler),
    create(params, context) {
      const { options, ignored } = readKafkaParams(params, handler);
      if (ignored.length) {
        context.logger.debug(
          { handler, ignored },
          `${handler}: RabbitMQ params ${ignored.join(', ')} are ignored; publishing to Kafka topic ${options.topic}`,
        );
      }
      return new KafkaPublishHandler(options, context);
    },
  };
}

export const kafkaHandler = definition('kafka');
/** Upstream's name, with its params: `queue_name` is the topic, the RabbitMQ settings are ignored. */
export const notabeneHandler = definition('notabene');
