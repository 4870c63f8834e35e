import { ClockMode } from '../streams/engine';

/** Kafka-side settings of a running topology (etc/winchester.yaml `kafka:` section). */
export interface TopologySettings {
  /** Prefix of topic names, consumer groups and Redis keys; lets a replay run beside live traffic. */
  namespace: string;
  inputTopics: string[];
  /** A regular expression over topic names, used instead of inputTopics when set. */
  inputPattern?: string;
  topics: {
    events: string;
    repartition: string;
    streams: string;
    completed: string;
    notificationsDlq: string;
    eventsDlq: string;
    streamsDlq: string;
    /** What the archiver could not keep: not an event or completion record, or refused by the store. */
    archiverDlq: string;
    /** One record per stream whose last attempt failed (error / expire_error), keyed by stream id. */
    streamsErrors: string;
  };
  partitions: { events: number; repartition: number; streams: number };
  clock: ClockMode;
  /** Records larger than this are refused before sending (kafkajs has no client-side limit). */
  maxRecordBytes: number;
  seenRetentionSeconds: number;
  redisPoolSize: number;
  sessionTimeoutMs: number;
  /** How often the wall-clock timers of owned partitions run (their latency floor). */
  timerIntervalMs: number;
  /** How often the matcher logs its debug_level trigger statistics (winchester.yaml statistics_period). */
  statisticsPeriodMs: number;
}

export function defaultTopologySettings(overrides: Partial<TopologySettings> = {}): TopologySettings {
  const namespace = overrides.namespace ?? 'winchester';
  const name = (base: string) => (namespace ? `${namespace}.${base}` : base);
  return {
    namespace,
    inputTopics: [name('notifications')],
    topics: {
      events: name('events'),
      repartition: name('matcher.repartition'),
      streams: name('streams'),
      completed: name('streams.completed'),
      notificationsDlq: name('notifications.dlq'),
      eventsDlq: name('events.dlq'),
      streamsDlq: name('streams.dlq'),
      archiverDlq: name('archiver.dlq'),
      streamsErrors: name('streams.errors'),
    },
    partitions: { events: 3, repartition: 3, streams: 3 },
    clock: 'wall',
    maxRecordBytes: 8 * 1024 * 1024,
    seenRetentionSeconds: 14 * 24 * 3600,
    redisPoolSize: 16,
    sessionTimeoutMs: 10000,
    timerIntervalMs: 100,
    statisticsPeriodMs: 10000,
    ...overrides,
  };
}
