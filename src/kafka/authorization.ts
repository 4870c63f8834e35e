import type { Admin, Consumer, ConsumerSubscribeTopics, Producer } from 'kafkajs';

/**
 * A broker's ACLs refusing the product, as one line naming what was refused and who asked:
 * `not authorized to read topic winchester.notifications as User:limited (kafka ACL)`.
 *
 * kafkajs raises Kafka's TOPIC_ / GROUP_ / TRANSACTIONAL_ID_ / CLUSTER_AUTHORIZATION_FAILED
 * without saying which topic or group, wrapped in its retriers' errors or aggregated (topic
 * creation), and loses GROUP_AUTHORIZATION_FAILED entirely while looking for a group's
 * coordinator (the consumer then "cannot find the coordinator"). So the clients createKafka
 * hands out are guarded: each call that fails for want of an ACL is rethrown as a
 * KafkaAuthorizationError built from what the call was about; a consumer whose start fails so
 * makes run() reject instead of leaving a dead consumer behind, and one refused later (READ is
 * checked at the first fetch; an ACL may be removed) is reported to a callback. kafkajs treats
 * these errors as not retriable, so nothing retries them forever.
 */

export type AuthorizationKind = 'topic' | 'group' | 'transactional id' | 'cluster';

const KINDS: Record<string, AuthorizationKind> = {
  TOPIC_AUTHORIZATION_FAILED: 'topic',
  GROUP_AUTHORIZATION_FAILED: 'group',
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 'transactional id',
  CLUSTER_AUTHORIZATION_FAILED: 'cluster',
};

/** What a client call was doing, for the message: the action and the resources it touched. */
export interface KafkaOperation {
  action: string;
  topics?: string[];
  group?: string;
  transactionalId?: string;
}

export class KafkaAuthorizationError extends Error {
  constructor(
    message: string,
    readonly kind: AuthorizationKind,
    readonly principal: string,
  ) {
    super(message);
    this.name = 'KafkaAuthorizationError';
  }
}

interface KafkaJsErrorShape {
  name?: string;
  type?: string;
  topic?: string;
  cause?: unknown;
  originalError?: unknown;
  errors?: unknown[];
}

/** The authorization failure inside a kafkajs error, and the topics the broker named, if any. */
export function authorizationFailure(
  error: unknown,
): { kind: AuthorizationKind; topics: string[] } | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  while (queue.length) {
    const current = queue.shift() as KafkaJsErrorShape | undefined;
    if (!current || typeof current !== 'object' || seen.has(current)) continue;
    seen.add(current);
    const kind = current.type ? KINDS[current.type] : undefined;
    if (kind) {
      const topics = (current.errors ?? []).concat(current);
      return { kind, topics: topicsNamed(topics) };
    }
    if (Array.isArray(current.errors)) {
      // An aggregate (topic creation): the broker named each refused topic.
      const refused = current.errors.filter((e) => KINDS[(e as KafkaJsErrorShape).type ?? '']);
      if (refused.length) {
        return { kind: KINDS[(refused[0] as KafkaJsErrorShape).type!], topics: topicsNamed(refused) };
      }
    }
    queue.push(current.cause, current.originalError);
  }
  return undefined;
}

function topicsNamed(errors: unknown[]): string[] {
  return errors.flatMap((e) => {
    const topic = (e as KafkaJsErrorShape).topic;
    return typeof topic === 'string' ? [topic] : [];
  });
}

/** kafkajs's error when every broker refused to name a group's coordinator (it drops why). */
export function isCoordinatorNotFound(error: unknown): boolean {
  return (error as KafkaJsErrorShape | undefined)?.name === 'KafkaJSGroupCoordinatorNotFound';
}

function namedList(noun: string, names: string[]): string {
  if (names.length <= 1) return `${noun} ${names[0] ?? '(unnamed)'}`;
  return `${noun} ${names[0]} (and ${names.length - 1} more)`;
}

/** The one-line message for a refusal of `kind` during `operation`. */
export function authorizationMessage(
  kind: AuthorizationKind,
  operation: KafkaOperation,
  principal: string,
  brokerTopics: string[] = [],
): string {
  const as = `as ${principal} (kafka ACL)`;
  switch (kind) {
    case 'topic': {
      const topics = brokerTopics.length ? brokerTopics : (operation.topics ?? []);
      return `not authorized to ${operation.action} ${namedList('topic', topics)} ${as}`;
    }
    case 'group':
      return `not authorized to use consumer group ${operation.group ?? '(unnamed)'} ${as}`;
    case 'transactional id':
      return `not authorized to use transactional id ${operation.transactionalId ?? '(unnamed)'} ${as}`;
    case 'cluster': {
      const topics = operation.topics?.length ? ` ${namedList('topic', operation.topics)}` : '';
      return `not authorized on the cluster to ${operation.action}${topics} ${as}`;
    }
  }
}

/**
 * Tells the guard what the client's log has shown: kafkajs logs the GROUP_AUTHORIZATION_FAILED
 * it then drops, so a later "coordinator not found" is known to be that.
 */
export class AuthorizationLog {
  private groupRefusedAt = 0;

  observe(text: string): boolean {
    const refused = /not authorized|authorization failed/i.test(text);
    if (refused && /group/i.test(text)) this.groupRefusedAt = Date.now();
    return refused;
  }

  groupRecentlyRefused(withinMs = 60000): boolean {
    return this.groupRefusedAt > 0 && Date.now() - this.groupRefusedAt <= withinMs;
  }
}

/** What the guards share: who the client is, and what its log saw. */
export interface GuardContext {
  principal: string;
  log: AuthorizationLog;
}

/** The error to throw in place of `error`: a KafkaAuthorizationError when an ACL refused, else `error`. */
export function explainAuthorization(
  error: unknown,
  operation: KafkaOperation,
  context: GuardContext,
): unknown {
  const failure = authorizationFailure(error);
  if (failure) {
    const message = authorizationMessage(failure.kind, operation, context.principal, failure.topics);
    return new KafkaAuthorizationError(message, failure.kind, context.principal);
  }
  if (isCoordinatorNotFound(error) && operation.group && context.log.groupRecentlyRefused()) {
    const message = authorizationMessage('group', operation, context.principal);
    return new KafkaAuthorizationError(message, 'group', context.principal);
  }
  return error;
}

type Describe = (args: unknown[]) => KafkaOperation;
const first = (args: unknown[]) => (args[0] ?? {}) as Record<string, unknown>;
const names = (list: unknown): string[] =>
  Array.isArray(list)
    ? list.map((t) => (typeof t === 'string' ? t : String((t as { topic?: unknown })?.topic ?? t)))
    : [];
const configTopics = (args: unknown[]) =>
  names(first(args).resources).length
    ? (first(args).resources as { type: number; name: string }[])
        .filter((r) => r.type === 2)
        .map((r) => r.name)
    : [];

/** What each admin call touches (resource type 2 is TOPIC in describe/alterConfigs). */
const ADMIN_OPERATIONS: Record<string, Describe> = {
  createTopics: (args) => ({ action: 'create', topics: names(first(args).topics) }),
  createPartitions: (args) => ({ action: 'alter', topics: names(first(args).topicPartitions) }),
  deleteTopics: (args) => ({ action: 'delete', topics: names(first(args).topics) }),
  deleteTopicRecords: (args) => ({ action: 'delete records of', topics: names([first(args).topic]) }),
  fetchTopicMetadata: (args) => ({ action: 'describe', topics: names(first(args).topics) }),
  fetchTopicOffsets: (args) => ({ action: 'describe', topics: names([args[0]]) }),
  fetchTopicOffsetsByTimestamp: (args) => ({ action: 'describe', topics: names([args[0]]) }),
  fetchOffsets: (args) => ({
    action: 'describe',
    group: String(first(args).groupId),
    topics: names(first(args).topics),
  }),
  setOffsets: (args) => ({
    action: 'alter',
    group: String(first(args).groupId),
    topics: names([first(args).topic]),
  }),
  resetOffsets: (args) => ({
    action: 'alter',
    group: String(first(args).groupId),
    topics: names([first(args).topic]),
  }),
  describeConfigs: (args) => ({ action: 'describe the configuration of', topics: configTopics(args) }),
  alterConfigs: (args) => ({ action: 'alter the configuration of', topics: configTopics(args) }),
  describeGroups: (args) => ({ action: 'describe', group: names(args[0]).join(', ') }),
  deleteGroups: (args) => ({ action: 'delete', group: names(args[0]).join(', ') }),
};

/** Each promise-returning method of `client`, rethrowing authorization failures as one line. */
function guardMethods<T extends object>(
  client: T,
  describe: (method: string, args: unknown[]) => KafkaOperation,
  context: GuardContext,
): T {
  const guarded: Record<string, unknown> = { ...(client as Record<string, unknown>) };
  for (const [method, value] of Object.entries(client)) {
    if (typeof value !== 'function') continue;
    guarded[method] = (...args: unknown[]) => {
      const result: unknown = (value as (...a: unknown[]) => unknown)(...args);
      if (!(result instanceof Promise)) return result;
      return result.catch((error: unknown) => {
        throw explainAuthorization(error, describe(method, args), context);
      });
    };
  }
  return guarded as T;
}

export function guardAdmin(admin: Admin, context: GuardContext): Admin {
  return guardMethods(
    admin,
    (method, args) => ADMIN_OPERATIONS[method]?.(args) ?? { action: method },
    context,
  );
}

export function guardProducer(
  producer: Producer,
  transactionalId: string | undefined,
  context: GuardContext,
): Producer {
  return guardMethods(
    producer,
    (method, args) => {
      const batch = first(args).topicMessages;
      const topics = method === 'sendBatch' ? names(batch) : names([first(args).topic].filter(Boolean));
      return { action: 'write to', topics, transactionalId };
    },
    context,
  );
}

/** Topic names of a subscription; a pattern is shown as its source. */
function subscribedTopics(subscription: ConsumerSubscribeTopics | { topic?: string | RegExp }): string[] {
  const list =
    'topics' in subscription ? subscription.topics : [(subscription as { topic?: string | RegExp }).topic];
  return (list ?? []).flatMap((t) => (t === undefined ? [] : [t instanceof RegExp ? `/${t.source}/` : t]));
}

/**
 * A consumer whose run() rejects when its start (finding and joining the group) is refused by
 * an ACL. Later refusals (the first fetch's READ check, an ACL removed while running) stop the
 * consumer, as kafkajs does, and go to `onLaterRefusal`.
 */
export function guardConsumer(
  consumer: Consumer,
  groupId: string,
  context: GuardContext,
  onLaterRefusal: (error: KafkaAuthorizationError) => void,
): Consumer {
  let topics: string[] = [];
  let started = false;
  let starting = false;
  const operation = () => ({ action: 'read', topics, group: groupId });
  const guarded = guardMethods(consumer, () => operation(), context);
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    const explained = explainAuthorization(payload.error, operation(), context);
    if (started && !starting && explained instanceof KafkaAuthorizationError) onLaterRefusal(explained);
  });
  guarded.subscribe = async (subscription) => {
    const asked = subscribedTopics(subscription);
    await consumer.subscribe(subscription).catch((error: unknown) => {
      throw explainAuthorization(error, { action: 'read', topics: asked, group: groupId }, context);
    });
    topics = [...new Set([...topics, ...asked])];
  };
  guarded.run = async (config) => {
    let refusal: unknown;
    const stopListening = consumer.on(consumer.events.CRASH, ({ payload }) => {
      const explained = explainAuthorization(payload.error, operation(), context);
      if (explained instanceof KafkaAuthorizationError) refusal ??= explained;
    });
    starting = true;
    try {
      // kafkajs reports a failed start through the crash event, before run() resolves.
      await consumer.run(config);
    } finally {
      starting = false;
      stopListening();
    }
    if (refusal) throw refusal;
    started = true;
  };
  return guarded;
}
