import { WinchesterEvent } from '../events/event';
import { DLQ_REASON, WinchesterMetrics } from '../metrics/metrics';
import { matchTriggers, TriggerRuntime } from '../streams/trigger-runtime';
import { Micros } from '../time/micros';
import { Logger } from '../util/logger';
import { BatchOrigin, BatchStages, ChunkOutput, Rejection, SourceRecord } from './batch-loop';
import { encodeRepartition, shortReason } from './records';
import { RoleEvents } from './role-events';
import { isAvroRecord, RecordDecoder } from './serialization';
import { TopologySettings } from '../config/topology-settings';
import { tally } from '../util/tally';

/** What the matcher's first stage makes of each event, for counters, metrics and logs to record. */
export type EventRouterOutcomes = {
  /** An event was read from `events`. */
  consumed: SourceRecord;
  /** It could not be decoded: it goes to the events DLQ. */
  undecodable: { source: SourceRecord; error: unknown };
  /** `trigger` matched it: one repartition record, keyed by the stream key. */
  matched: { trigger: string };
  /** No trigger matched it. */
  unmatched: SourceRecord;
};

/** An event as stage 1 routes it; JSON events keep the text they came in. */
export interface RoutedEvent {
  event: WinchesterEvent;
  wire?: string;
}

/** The triggers stage 1 routes with: the current topology version's (a TriggerCatalog is one). */
export interface RoutingTriggers {
  readonly current: { version: number; triggers: readonly TriggerRuntime[] };
}

/**
 * The matcher's stage 1 as batch-loop stages: `events` → one repartition record per (event,
 * matching trigger), keyed by stream key and naming the topology version it was routed under,
 * and under the event clock a watermark marker to every repartition partition after each chunk.
 * Each event is matched with the version current as it is routed: a change takes effect from
 * the next event.
 */
export class EventRouter implements BatchStages<RoutedEvent> {
  /** Highest event time sent on from each source partition (event clock). */
  private readonly watermarks = new Map<number, Micros>();
  private readonly routing: RoutingTriggers;

  constructor(
    private readonly events: RoleEvents<EventRouterOutcomes>,
    private readonly settings: Pick<TopologySettings, 'clock'>,
    /** A fixed list (version 0), or the current version of a changing topology. */
    triggers: readonly TriggerRuntime[] | RoutingTriggers,
    private readonly serializer: RecordDecoder<WinchesterEvent>,
    private readonly repartitionCount: number,
  ) {
    this.routing = isTriggerList(triggers) ? { current: { version: 0, triggers } } : triggers;
  }

  async decode(source: SourceRecord): Promise<RoutedEvent> {
    this.events.emit('consumed', source);
    const value = source.message.value ?? Buffer.alloc(0);
    const event = await this.serializer.decode(value);
    // JSON events travel on as the text they came in (decoding just validated it).
    return { event, wire: isAvroRecord(value) ? undefined : value.toString('utf8') };
  }

  undecodable(source: SourceRecord, error: unknown): Rejection {
    this.events.emit('undecodable', { source, error });
    return { reason: (error as Error).message };
  }

  route({ event, wire }: RoutedEvent, source: SourceRecord, out: ChunkOutput): void {
    const { version, triggers } = this.routing.current;
    const all = matchTriggers(triggers, event, wire, version);
    for (const matched of all) {
      this.events.emit('matched', { trigger: matched.trigger });
      out.send({ key: matched.key, value: encodeRepartition({ type: 'event', matched }) });
    }
    if (all.length === 0) this.events.emit('unmatched', source);
  }

  /** Markers follow the chunk's events in the same produce: each partition gets them in order. */
  endChunk({ batch, records, out }: { batch: BatchOrigin; records: RoutedEvent[]; out: ChunkOutput }): void {
    if (this.settings.clock !== 'event') return;
    let watermark = this.watermarks.get(batch.partition) ?? -Infinity;
    for (const { event } of records) watermark = Math.max(watermark, event.timestamp);
    if (!Number.isFinite(watermark)) return;
    this.watermarks.set(batch.partition, watermark);
    for (let p = 0; p < this.repartitionCount; p++) {
      out.send({
        partition: p,
        value: encodeRepartition({ type: 'marker', source: batch.partition, watermark }),
      });
    }
  }
}

function isTriggerList(
  triggers: readonly TriggerRuntime[] | RoutingTriggers,
): triggers is readonly TriggerRuntime[] {
  return Array.isArray(triggers);
}

/** Stage 1's counters, metrics and log lines, each fed by the outcomes it records. */
export function recordEventRouterOutcomes(
  events: RoleEvents<EventRouterOutcomes>,
  { counters, metrics, log, dlqTopic }: EventRouterRecorders,
): void {
  const reason = DLQ_REASON.undecodableEvent;
  events
    .on('consumed', ({ message }) => {
      counters.eventsConsumed++;
      metrics?.eventsConsumed.inc();
      // The event record's producer (distiller or worker) sent it → stage 1 reads it.
      metrics?.stages.events_hop.sinceRecord(message.timestamp);
    })
    .on('undecodable', ({ source, error }) => {
      tally(counters.dlq, reason);
      metrics?.dlqRecords.inc({ topic: dlqTopic, reason });
      const { topic, partition, message } = source;
      log.warn(
        { topic, partition, offset: message.offset, reason: shortReason(error) },
        'undecodable event sent to the DLQ',
      );
    })
    .on('matched', ({ trigger }) => {
      tally(counters.matched, trigger);
      metrics?.eventsMatched.inc({ trigger });
    })
    .on('unmatched', () => {
      counters.unmatched++;
      metrics?.eventsUnmatched.inc();
    });
}

interface EventRouterRecorders {
  /** The matcher's counters that stage 1 keeps. */
  counters: {
    eventsConsumed: number;
    unmatched: number;
    matched: Map<string, number>;
    dlq: Map<string, number>;
  };
  metrics?: WinchesterMetrics;
  log: Logger;
  dlqTopic: string;
}
