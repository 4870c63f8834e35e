import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { formatMicros } from '../../time/micros';
import { createProducer } from '../role-runner';
import { TopologySettings } from '../../config/topology-settings';
import { topologyLogTopics, wantedTopics } from '../topic-plan';
import { MissingTopicsError, topicCreation } from '../topics';
import { createTopicsAndWait } from '../../kafka/create-topics';
import {
  BundleVersion,
  bundleDigest,
  CURRENT_KEY,
  CurrentVersion,
  decodeVersionRecord,
  versionKey,
} from './bundle-record';

/** `<namespace>.topology`: every applied bundle version, and which one is current. */
export const topologyTopic = (namespace: string) => topologyLogTopics(namespace)[0];

/** What the topic holds once read to its end. */
export interface VersionState {
  versions: Map<number, BundleVersion>;
  current?: CurrentVersion;
}

export const emptyState = (): VersionState => ({ versions: new Map() });

/** Folds one record of the topic into the state (later records win, as compaction keeps them). */
export function applyRecord(state: VersionState, message: Pick<KafkaMessage, 'key' | 'value'>): boolean {
  const decoded = decodeVersionRecord(message.key?.toString() ?? '', message.value);
  if (decoded?.bundle) state.versions.set(decoded.bundle.version, decoded.bundle);
  if (decoded?.current) state.current = decoded.current;
  return decoded?.current !== undefined;
}

/**
 * Creates the version log and the instances topic when missing, with the configured topic
 * settings (always compacted, one partition: wantedTopics), or refuses when
 * kafka.create_topics is false.
 */
export async function ensureTopologyTopic(admin: Admin, settings: TopologySettings): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = wantedTopics(settings).filter((t) => t.role === 'topology' && !existing.has(t.name));
  if (missing.length && !settings.createTopics) throw new MissingTopicsError(missing.map((t) => t.name));
  await createTopicsAndWait(admin, missing.map(topicCreation));
}

/** Reads the whole topic once, up to the end it had when called. */
export async function readVersionState(kafka: Kafka, namespace: string): Promise<VersionState> {
  const state = emptyState();
  await readToEnd(kafka, namespace, topologyTopic(namespace), (message) => void applyRecord(state, message));
  return state;
}

/** Reads a one-partition topic from its start to the end it had when called, through a throwaway group. */
export async function readToEnd(
  kafka: Kafka,
  namespace: string,
  topic: string,
  each: (message: KafkaMessage) => void,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const end = Number(ends[0]?.high ?? 0);
  if (end === 0) return;
  const groupId = throwawayGroup(namespace, 'read');
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          eachMessage: async ({ message }) => {
            each(message);
            if (Number(message.offset) + 1 >= end) resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
    await deleteGroup(kafka, groupId);
  }
}

/** Appends a new version (the highest so far + 1) and makes it current; returns it. */
export async function appendVersion(
  kafka: Kafka,
  namespace: string,
  state: VersionState,
  bundle: { files: Record<string, string>; source: string },
): Promise<BundleVersion> {
  const version = Math.max(0, ...state.versions.keys()) + 1;
  const record: BundleVersion = {
    version,
    created: formatMicros(Date.now() * 1000),
    source: bundle.source,
    files: bundle.files,
    sha256: bundleDigest(bundle.files),
  };
  await send(kafka, namespace, [
    { key: versionKey(version), value: JSON.stringify(record) },
    currentRecord(version, 'apply'),
  ]);
  return record;
}

/** Makes an existing version current again. */
export async function makeCurrent(kafka: Kafka, namespace: string, version: number): Promise<void> {
  await send(kafka, namespace, [currentRecord(version, 'rollback')]);
}

function currentRecord(version: number, by: CurrentVersion['by']) {
  const current: CurrentVersion = { version, applied: formatMicros(Date.now() * 1000), by };
  return { key: CURRENT_KEY, value: JSON.stringify(current) };
}

async function send(kafka: Kafka, namespace: string, messages: { key: string; value: string }[]) {
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    await producer.send({ topic: topologyTopic(namespace), acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

/** A consumer group used once (each process reads the whole topic itself). */
export function throwawayGroup(namespace: string, purpose: string): string {
  return `${namespace}.topology.${purpose}.${hostname()}.${process.pid}.${randomBytes(3).toString('hex')}`;
}

export async function deleteGroup(kafka: Kafka, groupId: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteGroups([groupId]).catch(() => undefined);
  await admin.disconnect();
}
