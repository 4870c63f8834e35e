import { Kafka, KafkaMessage } from 'kafkajs';
import { canonicalTraitValue, toCanonicalJson, WinchesterEvent } from '../events/event';
import { RedisClient } from '../redis/client';
import { keysForStream, partitionOfStreamId } from '../redis/keys';
import { readTombstone } from '../redis/lifecycle';
import { locateStreamHolding } from '../redis/query';
import { StreamMeta } from '../streams/model';
import { printableDistinguished } from '../streams/simulate';
import { formatMicros } from '../time/micros';
import { DistillFunction } from '../topology/distiller-role';
import { headerString } from '../topology/records';
import { avroRecordReader, TopologyDecoders, topologyDecoders } from '../topology/serialization';
import { TopologySettings } from '../config/topology-settings';
import { CompletionRecord } from '../topology/worker-role';
import { Criteria, eventTrait } from '../triggers/criteria';
import { TriggerDefinition } from '../triggers/definition';
import {
  anyPayloadIds,
  attachRedriveMarks,
  AvroReader,
  describeDlqRecord,
  DlqRecord,
  DlqTopic,
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
  redis: RedisClient;
  settings: TopologySettings;
  definitions: readonly TriggerDefinition[];
  distill?: DistillFunction;
  /** Decodes Avro records (Confluent's wire format) through this registry. */
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

/** The topics a trace reads: inputs, events, the DLQs, completions. */
async function traceTopics(
  kafka: Kafka,
  settings: TopologySettings,
): Promise<{ topics: string[]; dlqs: Map<string, DlqTopic> }> {
  const admin = kafka.admin();
  await admin.connect();
  const existing = await admin.listTopics();
  await admin.disconnect();
  const own = new Set<string>(Object.values(settings.topics));
  const inputs = settings.inputPattern
    ? existing.filter((t) => new RegExp(settings.inputPattern!).test(t) && !own.has(t))
    : settings.inputTopics;
  const dlqs = new Map(dlqTopics(settings).map((d) => [d.topic, d]));
  return { topics: [...inputs, settings.topics.events, ...dlqs.keys(), settings.topics.completed], dlqs };
}

type FoundDlq = { record: DlqRecord & { exact: boolean }; message: KafkaMessage };

/** Collects, from a scan, every record that mentions the message id, by kind of topic. */
class TraceCollector {
  readonly notifications: Array<TracedNotification & { value: Buffer }> = [];
  readonly events: Array<TracedEvent & { decoded: WinchesterEvent }> = [];
  readonly dlq: FoundDlq[] = [];
  readonly completions: TracedCompletion[] = [];
  /** The id as raw bytes and as escaped inside a JSON string: a cheap test before parsing. */
  private readonly needles: Buffer[];
  /** Events and completion records, JSON or Avro; DLQ payloads in Avro. */
  private readonly decoders: TopologyDecoders;
  private readonly avro: AvroReader;

  constructor(
    private readonly messageId: string,
    private readonly settings: TopologySettings,
    private readonly dlqs: Map<string, DlqTopic>,
    schemaRegistryUrl: string | undefined,
  ) {
    this.needles = [
      Buffer.from(messageId, 'utf8'),
      Buffer.from(JSON.stringify(messageId).slice(1, -1), 'utf8'),
    ];
    this.decoders = topologyDecoders(schemaRegistryUrl);
    this.avro = avroRecordReader(schemaRegistryUrl);
  }

  async visit(topic: string, partition: number, message: KafkaMessage): Promise<void> {
    const dlqTopic = this.dlqs.get(topic);
    if (dlqTopic) return this.visitDlq(dlqTopic, partition, message);
    if (!this.contains(message.value)) return;
    if (topic === this.settings.topics.events) await this.visitEvent(topic, partition, message);
    else if (topic === this.settings.topics.completed) await this.visitCompletion(topic, partition, message);
    else this.visitNotification(topic, partition, message);
  }

  /** Sorts each kind by record time. */
  sort(): void {
    const byTime = (a: KafkaRef, b: KafkaRef) => a.timestamp.localeCompare(b.timestamp);
    this.notifications.sort(byTime);
    this.events.sort(byTime);
    this.completions.sort(byTime);
  }

  private contains(value: Buffer | null): boolean {
    return !!value && this.needles.some((n) => value.includes(n));
  }

  private async visitDlq(dlqTopic: DlqTopic, partition: number, message: KafkaMessage): Promise<void> {
    const inHeader = headerString(message.headers, 'dlq.message-id') === this.messageId;
    if (!inHeader && !this.contains(message.value)) return;
    const ids = await anyPayloadIds(message.value, this.avro);
    const record = describeDlqRecord(dlqTopic, partition, message, ids);
    const exact = record.messageId === this.messageId || ids.messageIds.includes(this.messageId);
    this.dlq.push({ record: { ...record, exact }, message });
  }

  private async visitEvent(topic: string, partition: number, message: KafkaMessage): Promise<void> {
    try {
      const event = await this.decoders.events.decode(message.value!);
      if (event.message_id !== this.messageId) return;
      this.events.push({
        ...ref(topic, partition, message),
        source: headerString(message.headers, 'winchester.source') ?? null,
        hops: event.hops ?? 0,
        event: JSON.parse(toCanonicalJson(event)) as Record<string, unknown>,
        decoded: event,
      });
    } catch {
      // undecodable: the matcher sends it to the events DLQ, where the scan finds it
    }
  }

  private async visitCompletion(topic: string, partition: number, message: KafkaMessage): Promise<void> {
    try {
      const record = await this.decoders.completions.decode(message.value!);
      if (record.message_ids?.includes(this.messageId))
        this.completions.push({ ...ref(topic, partition, message), record });
    } catch {
      // not a completion record
    }
  }

  private visitNotification(topic: string, partition: number, message: KafkaMessage): void {
    if (payloadIds(message.value).messageId !== this.messageId) return;
    this.notifications.push({
      ...ref(topic, partition, message),
      redrivenFrom: headerString(message.headers, REDRIVE_HEADERS.from) ?? null,
      value: message.value!,
    });
  }
}

/**
 * What the current configuration makes of the input: the answer for dropped records, and
 * whether a DLQ'd one would now go through.
 */
function distillLocally(
  distill: DistillFunction | undefined,
  notifications: TraceCollector['notifications'],
  dlq: FoundDlq[],
): TraceResult['localDistill'] {
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
  if (!distill || !input) return null;
  const outcome = distill(input.value.toString('utf8'));
  return {
    from: input.from,
    outcome: outcome.kind,
    reason: outcome.kind === 'event' ? null : outcome.reason,
  };
}

function traceVerdict(
  distilledEvent: TracedEvent | undefined,
  found: TraceCollector,
  localDistill: TraceResult['localDistill'],
): TraceVerdict {
  if (distilledEvent) return distilledEvent.hops > 0 ? 'pipeline-event' : 'distilled';
  if (found.dlq.some((d) => d.record.exact)) return 'dlq';
  if (found.notifications.length)
    return localDistill?.outcome === 'dropped' ? 'dropped' : 'not-yet-distilled';
  return found.dlq.length ? 'dlq' : 'not-found';
}

/** A purged stream, as much of it as its completion record tells. */
function completedStreamView(c: CompletionRecord): TracedStream {
  return {
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
}

/** Finds in Redis (or, once purged, in a completion record) the stream a trigger put the message in. */
async function attachStream(
  redis: RedisClient,
  namespace: string,
  t: TriggerTrace,
  messageId: string,
  fromCompletion: TracedCompletion | undefined,
): Promise<void> {
  const found = await locateStreamHolding(redis, namespace, t.trigger, t.streamKey, messageId);
  t.seenInPartition = found.seenIn;
  if (found.meta && found.foundBy) {
    t.stream = streamView(found.meta, found.foundBy);
  } else if (fromCompletion) {
    t.stream = completedStreamView(fromCompletion.record);
    t.note = 'the stream is no longer in Redis (completed streams are purged)';
  } else if (found.seenIn !== null) {
    t.note = `seen by partition ${found.seenIn}, but no stream in Redis holds it (completed and purged?)`;
  } else {
    t.note = 'not in Redis: the matcher has not applied it yet, or its seen-set expired';
  }
  if (t.stream) {
    const tomb = await readTombstone(redis, keysForStream(namespace, t.stream.id), t.stream.id);
    if (tomb) t.stream.tombstone = { state: tomb.state, serial: tomb.serial };
    if (t.stream.state === null && tomb) t.stream.state = tomb.state;
  }
}

/** Each trigger's verdict on the event, with the stream it went to for those that took it. */
async function traceTriggers(
  ctx: TraceContext,
  messageId: string,
  event: WinchesterEvent | undefined,
  completions: TracedCompletion[],
): Promise<TriggerTrace[]> {
  const triggers = event ? explainTriggers(ctx.definitions, event) : [];
  for (const t of triggers) {
    const fromCompletion = completions.find((c) => c.record.trigger === t.trigger);
    if (!t.matched && !fromCompletion) continue;
    await attachStream(ctx.redis, ctx.settings.namespace, t, messageId, fromCompletion);
  }
  return triggers;
}

/** Follows one message id through the topology: topics, DLQs, triggers, Redis, completions. */
export async function traceMessage(
  ctx: TraceContext,
  messageId: string,
  options: TraceOptions = {},
): Promise<TraceResult> {
  const { kafka, redis, settings } = ctx;
  const { topics, dlqs } = await traceTopics(kafka, settings);
  const found = new TraceCollector(messageId, settings, dlqs, ctx.schemaRegistryUrl);
  const scan: ScanReport = await scanTopics(
    kafka,
    topics,
    { sinceMs: options.sinceMs, maxRecordsPerPartition: options.maxRecordsPerPartition },
    (topic, partition, message) => found.visit(topic, partition, message),
    settings.namespace || 'winchester',
  );
  await attachRedriveMarks(redis, settings.namespace, found.dlq);
  found.sort();

  const localDistill = distillLocally(ctx.distill, found.notifications, found.dlq);
  const distilledEvent = found.events.find((e) => e.hops === 0) ?? found.events[0];
  const verdict = traceVerdict(distilledEvent, found, localDistill);
  const triggers = await traceTriggers(ctx, messageId, distilledEvent?.decoded, found.completions);

  const partial: Omit<TraceResult, 'summary'> = {
    messageId,
    verdict,
    scan: { complete: scan.complete, recordsRead: scan.recordsRead, topics, notes: scan.notes },
    notifications: found.notifications.map(({ value: _value, ...n }) => n),
    events: found.events.map(({ decoded: _decoded, ...e }) => e),
    dlq: found.dlq.map((d) => d.record),
    localDistill,
    triggers,
    completions: found.completions,
  };
  return { ...partial, summary: verdictSummary(partial) };
}
