import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Kafka, KafkaMessage } from 'kafkajs';
import Redis from 'ioredis';
import { canonicalTraitValue, toCanonicalJson, WinchesterEvent } from '../events/event';
import { decodeEvent } from '../events/wire';
import { keysForStream, partitionOfStreamId } from '../redis/keys';
import { readTombstone } from '../redis/lifecycle';
import { locateStreamHolding } from '../redis/query';
import { StreamMeta } from '../streams/model';
import { printableDistinguished } from '../streams/simulate';
import { formatMicros } from '../time/micros';
import { DistillFunction } from '../topology/distiller-role';
import { headerString } from '../topology/records';
import { fromAvro } from '../topology/serialization';
import { TopologySettings } from '../config/topology-settings';
import { CompletionRecord } from '../topology/worker-role';
import { Criteria, eventTrait } from '../triggers/criteria';
import { TriggerDefinition } from '../triggers/definition';
import {
  attachRedriveMarks,
  describeDlqRecord,
  DlqRecord,
  dlqTopics,
  payloadIds,
  REDRIVE_HEADERS,
} from './dlq';
import { scanTopics, ScanReport } from './scan';

/** Where a record sits on Kafka. */
export interface KafkaRef {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
}

export type TraceVerdict =
  /** On `events`, made by the distiller. */
  | 'distilled'
  /** On `events`, made by a pipeline (a new event). */
  | 'pipeline-event'
  /** In a dead-letter topic and on no other. */
  | 'dlq'
  /** The notification was read and, by the event definitions, yields no event. */
  | 'dropped'
  /** The notification was found but neither its event nor a DLQ record (distiller lag?). */
  | 'not-yet-distilled'
  | 'not-found';

export interface TracedEvent extends KafkaRef {
  /** `winchester.source` header: the notification it was distilled from. */
  source: string | null;
  hops: number;
  /** The event as canonical JSON. */
  event: Record<string, unknown>;
}

export interface TracedNotification extends KafkaRef {
  /** The DLQ record it was redriven from, when it was. */
  redrivenFrom: string | null;
}

export interface CriterionVerdict {
  criterion: string;
  line: number;
  describe: string;
  /** Null when the criterion took the event; else the mismatch reason. */
  reason: string | null;
  /** What the event has that made it fail, when that can be said. */
  detail?: string;
}

export interface TracedStream {
  id: string;
  partition: number;
  /** Null when the stream is no longer in Redis (completed and purged). */
  state: string | null;
  serial: number | null;
  trigger: string;
  distinguished: Record<string, unknown> | null;
  firstEvent: string | null;
  lastEvent: string | null;
  fireAt: string | null;
  expireAt: string | null;
  eventCount: number | null;
  /** How the stream was found. */
  foundBy: 'active pointer' | 'stream scan' | 'completion record';
  /** How a finished stream ended, kept after a purge. */
  tombstone: { state: string; serial: number } | null;
}

export interface TriggerTrace {
  trigger: string;
  matched: boolean;
  /** The criterion that took the event. */
  criterion: string | null;
  attempts: CriterionVerdict[];
  streamKey: string | null;
  distinguished: Record<string, unknown> | null;
  /** Fire criteria this event counts towards. */
  fireCriteria: string[];
  /** The repartition partition whose seen-set holds the message id, if any. */
  seenInPartition: number | null;
  stream: TracedStream | null;
  note: string | null;
}

export interface TracedCompletion extends KafkaRef {
  record: CompletionRecord;
}

export interface TraceResult {
  messageId: string;
  verdict: TraceVerdict;
  summary: string;
  scan: { complete: boolean; recordsRead: number; topics: string[]; notes: string[] };
  notifications: TracedNotification[];
  events: TracedEvent[];
  dlq: Array<DlqRecord & { exact: boolean }>;
  /** What the current event definitions make of the notification (or DLQ payload) found. */
  localDistill: { from: string; outcome: 'event' | 'dropped' | 'error'; reason: string | null } | null;
  triggers: TriggerTrace[];
  completions: TracedCompletion[];
}

export interface TraceContext {
  kafka: Kafka;
  redis: Redis;
  settings: TopologySettings;
  definitions: readonly TriggerDefinition[];
  distill?: DistillFunction;
  /** Decodes Avro events (magic byte 0) through this registry. */
  schemaRegistryUrl?: string;
}

export interface TraceOptions {
  sinceMs?: number;
  maxRecordsPerPartition?: number;
}

const ref = (topic: string, partition: number, message: KafkaMessage): KafkaRef => ({
  topic,
  partition,
  offset: message.offset,
  timestamp: new Date(Number(message.timestamp)).toISOString(),
});

/** What a failed criterion saw in the event, in words. */
function mismatchDetail(criterion: Criteria, event: WinchesterEvent, reason: string): string | undefined {
  if (reason === 'Wrong event type') {
    const types = [...criterion.eventTypes.included, ...criterion.eventTypes.excluded.map((e) => `!${e}`)];
    return `event_type ${event.event_type} is not one of ${types.join(', ')}`;
  }
  for (const trait of criterion.traits) {
    if (trait.test(event) === null) continue;
    const actual = eventTrait(event, trait.trait);
    const shown = actual === undefined ? 'absent' : `${canonicalTraitValue(actual)} (${actual.type})`;
    return `needs ${trait.describe()}; the event's ${trait.trait} is ${shown}`;
  }
  const missing = /^not '(.+)'$/.exec(reason);
  if (missing) return `the event has no trait ${missing[1]} (needed to tell its stream)`;
  return undefined;
}

/** Each trigger's verdict on an event, criterion by criterion. Pure. */
export function explainTriggers(
  definitions: readonly TriggerDefinition[],
  event: WinchesterEvent,
): TriggerTrace[] {
  return definitions.map((definition) => {
    const explanation = definition.explainMatch(event);
    const attempts = explanation.attempts.map(({ criterion, reason }) => ({
      criterion: criterion.label,
      line: criterion.line,
      describe: criterion.describe(),
      reason,
      ...(reason === null ? {} : { detail: mismatchDetail(criterion, event, reason) }),
    }));
    const matched = explanation.matched;
    const values = matched ? definition.distinguishingValues(event, matched) : undefined;
    return {
      trigger: definition.name,
      matched: matched !== null,
      criterion: matched?.label ?? null,
      attempts,
      streamKey: matched ? (definition.streamKey(event, matched) ?? null) : null,
      distinguished: values ? printableDistinguished(values) : null,
      fireCriteria: definition.fireCounters(event).map((i) => definition.fireCriteria[i].label),
      seenInPartition: null,
      stream: null,
      note: null,
    };
  });
}

function streamView(meta: StreamMeta, foundBy: TracedStream['foundBy']): TracedStream {
  return {
    id: meta.id,
    partition: meta.partition,
    state: meta.state,
    serial: meta.serial,
    trigger: meta.trigger,
    distinguished: printableDistinguished(meta.distinguished),
    firstEvent: formatMicros(meta.first),
    lastEvent: formatMicros(meta.last),
    fireAt: meta.fireAt === null ? null : formatMicros(meta.fireAt),
    expireAt: formatMicros(meta.expireAt),
    eventCount: meta.eventCount,
    foundBy,
    tombstone: null,
  };
}

function verdictSummary(result: Omit<TraceResult, 'summary'>): string {
  const id = result.messageId;
  switch (result.verdict) {
    case 'distilled':
    case 'pipeline-event': {
      const matched = result.triggers.filter((t) => t.matched).map((t) => t.trigger);
      const made = result.verdict === 'distilled' ? 'was distilled' : 'is a new event from a pipeline';
      const dlq = result.dlq.some((d) => d.exact) ? ' (after a stay in the DLQ)' : '';
      return (
        `${id} ${made}${dlq}; ` +
        (matched.length ? `matched by ${matched.join(', ')}` : 'no trigger matches it')
      );
    }
    case 'dlq': {
      const first = result.dlq.find((d) => d.exact) ?? result.dlq[0];
      return `${id} is in the DLQ ${first.coordinates}: ${first.reason ?? '(no reason header)'}`;
    }
    case 'dropped':
      return `${id} was dropped by the distiller: ${result.localDistill?.reason ?? 'no event definition'}`;
    case 'not-yet-distilled':
      return `${id} is on ${result.notifications[0].topic} but not (yet) on the events topic nor in a DLQ`;
    case 'not-found':
      return `${id} was not found${result.scan.complete ? '' : ' in the part of the topics scanned'}`;
  }
}

/** Follows one message id through the topology: topics, DLQs, triggers, Redis, completions. */
export async function traceMessage(
  ctx: TraceContext,
  messageId: string,
  options: TraceOptions = {},
): Promise<TraceResult> {
  const { kafka, redis, settings } = ctx;
  const admin = kafka.admin();
  await admin.connect();
  const existing = await admin.listTopics();
  await admin.disconnect();
  const own = new Set<string>(Object.values(settings.topics));
  const inputs = settings.inputPattern
    ? existing.filter((t) => new RegExp(settings.inputPattern!).test(t) && !own.has(t))
    : settings.inputTopics;
  const dlqs = new Map(dlqTopics(settings).map((d) => [d.topic, d]));
  const topics = [...inputs, settings.topics.events, ...dlqs.keys(), settings.topics.completed];

  const needles = [
    Buffer.from(messageId, 'utf8'),
    Buffer.from(JSON.stringify(messageId).slice(1, -1), 'utf8'),
  ];
  const contains = (value: Buffer | null) => !!value && needles.some((n) => value.includes(n));
  const registry = ctx.schemaRegistryUrl ? new SchemaRegistry({ host: ctx.schemaRegistryUrl }) : null;
  const decode = async (value: Buffer): Promise<WinchesterEvent> =>
    value[0] === 0 && registry
      ? fromAvro((await registry.decode(value)) as Parameters<typeof fromAvro>[0])
      : decodeEvent(value.toString('utf8'));

  const notifications: Array<TracedNotification & { value: Buffer }> = [];
  const events: Array<TracedEvent & { decoded: WinchesterEvent }> = [];
  const dlq: Array<{ record: DlqRecord & { exact: boolean }; message: KafkaMessage }> = [];
  const completions: TracedCompletion[] = [];

  const scan: ScanReport = await scanTopics(
    kafka,
    topics,
    { sinceMs: options.sinceMs, maxRecordsPerPartition: options.maxRecordsPerPartition },
    async (topic, partition, message) => {
      const dlqTopic = dlqs.get(topic);
      if (dlqTopic) {
        const inHeader = headerString(message.headers, 'dlq.message-id') === messageId;
        if (!inHeader && !contains(message.value)) return;
        const record = describeDlqRecord(dlqTopic, partition, message);
        const exact =
          record.messageId === messageId || payloadIds(message.value).messageIds.includes(messageId);
        dlq.push({ record: { ...record, exact }, message });
        return;
      }
      if (!contains(message.value)) return;
      if (topic === settings.topics.events) {
        try {
          const event = await decode(message.value!);
          if (event.message_id !== messageId) return;
          events.push({
            ...ref(topic, partition, message),
            source: headerString(message.headers, 'winchester.source') ?? null,
            hops: event.hops ?? 0,
            event: JSON.parse(toCanonicalJson(event)) as Record<string, unknown>,
            decoded: event,
          });
        } catch {
          // undecodable: the matcher sends it to the events DLQ, where the scan finds it
        }
      } else if (topic === settings.topics.completed) {
        try {
          const record = JSON.parse(message.value!.toString('utf8')) as CompletionRecord;
          if (record.message_ids?.includes(messageId))
            completions.push({ ...ref(topic, partition, message), record });
        } catch {
          // not a completion record
        }
      } else if (payloadIds(message.value).messageId === messageId) {
        notifications.push({
          ...ref(topic, partition, message),
          redrivenFrom: headerString(message.headers, REDRIVE_HEADERS.from) ?? null,
          value: message.value!,
        });
      }
    },
    settings.namespace || 'winchester',
  );
  await attachRedriveMarks(redis, settings.namespace, dlq);

  const byTime = (a: KafkaRef, b: KafkaRef) => a.timestamp.localeCompare(b.timestamp);
  notifications.sort(byTime);
  events.sort(byTime);
  completions.sort(byTime);

  // What the current configuration makes of the input: the answer for dropped records, and
  // whether a DLQ'd one would now go through.
  let localDistill: TraceResult['localDistill'] = null;
  const dead = dlq.find(
    (d) => d.record.stage === 'notifications' && d.record.truncatedFrom === null && d.message.value,
  );
  const input = notifications.length
    ? {
        from: `${notifications[0].topic}:${notifications[0].partition}:${notifications[0].offset}`,
        value: notifications[0].value,
      }
    : dead
      ? { from: dead.record.coordinates, value: dead.message.value! }
      : null;
  if (ctx.distill && input) {
    const outcome = ctx.distill(input.value.toString('utf8'));
    localDistill = {
      from: input.from,
      outcome: outcome.kind,
      reason: outcome.kind === 'event' ? null : outcome.reason,
    };
  }

  const distilledEvent = events.find((e) => e.hops === 0) ?? events[0];
  const exactDlq = dlq.some((d) => d.record.exact);
  let verdict: TraceVerdict;
  if (distilledEvent) verdict = distilledEvent.hops > 0 ? 'pipeline-event' : 'distilled';
  else if (exactDlq) verdict = 'dlq';
  else if (notifications.length)
    verdict = localDistill?.outcome === 'dropped' ? 'dropped' : 'not-yet-distilled';
  else verdict = dlq.length ? 'dlq' : 'not-found';

  const triggers = distilledEvent ? explainTriggers(ctx.definitions, distilledEvent.decoded) : [];
  for (const t of triggers) {
    const fromCompletion = completions.find((c) => c.record.trigger === t.trigger);
    if (!t.matched && !fromCompletion) continue;
    const found = await locateStreamHolding(redis, settings.namespace, t.trigger, t.streamKey, messageId);
    t.seenInPartition = found.seenIn;
    if (found.meta && found.foundBy) {
      t.stream = streamView(found.meta, found.foundBy);
    } else if (fromCompletion) {
      const c = fromCompletion.record;
      t.stream = {
        id: c.stream_id,
        partition: partitionOfStreamId(c.stream_id),
        state: null,
        serial: null,
        trigger: c.trigger,
        distinguished: null,
        firstEvent: null,
        lastEvent: null,
        fireAt: null,
        expireAt: null,
        eventCount: c.message_ids.length,
        foundBy: 'completion record',
        tombstone: null,
      };
      t.note = 'the stream is no longer in Redis (completed streams are purged)';
    } else if (found.seenIn !== null) {
      t.note = `seen by partition ${found.seenIn}, but no stream in Redis holds it (completed and purged?)`;
    } else {
      t.note = 'not in Redis: the matcher has not applied it yet, or its seen-set expired';
    }
    if (t.stream) {
      const tomb = await readTombstone(redis, keysForStream(settings.namespace, t.stream.id), t.stream.id);
      if (tomb) t.stream.tombstone = { state: tomb.state, serial: tomb.serial };
      if (t.stream.state === null && tomb) t.stream.state = tomb.state;
    }
  }

  const partial: Omit<TraceResult, 'summary'> = {
    messageId,
    verdict,
    scan: { complete: scan.complete, recordsRead: scan.recordsRead, topics, notes: scan.notes },
    notifications: notifications.map(({ value: _value, ...n }) => n),
    events: events.map(({ decoded: _decoded, ...e }) => e),
    dlq: dlq.map((d) => d.record),
    localDistill,
    triggers,
    completions,
  };
  return { ...partial, summary: verdictSummary(partial) };
}
