import { Kafka } from 'kafkajs';
import { connectionSettings, ConnectionSettings } from '../config/environment';
import { createKafka } from '../kafka/client';
import { registerCompressionCodecs } from '../kafka/codecs';
import { defaultTopologySettings, TopologySettings } from '../topology/settings';

export interface Connected {
  connection: ConnectionSettings;
  kafka: Kafka;
  settings: TopologySettings;
}

/** Connection settings from the environment, kafkajs with every codec, topology defaults. */
export async function connect(overrides: Partial<TopologySettings> = {}): Promise<Connected> {
  const connection = connectionSettings();
  await registerCompressionCodecs();
  const kafka = createKafka(connection.kafkaBrokers, connection.clientId);
  const namespace = overrides.namespace ?? process.env.WINCHESTER_NAMESPACE ?? 'winchester';
  return { connection, kafka, settings: defaultTopologySettings({ ...overrides, namespace }) };
}
