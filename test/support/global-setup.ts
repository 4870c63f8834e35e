import { stackRunning, stackScript, readStackEnv } from './stack';
import { startSchemaRegistryStandIn } from './schema-registry-stand-in';

/**
 * Starts the local Kafka, Redis, PostgreSQL and ZooKeeper (or reuses them: already running, or
 * KAFKA_BROKERS, REDIS_URL and EVENT_STORE_URL given), and a schema registry stand-in unless SCHEMA_REGISTRY_URL is given.
 * ZOOKEEPER_CONNECT, unless given, is the stack's. What it started, globalTeardown stops.
 */
export default async function globalSetup(): Promise<void> {
  const state: { startedStack: boolean; stopRegistry?: () => Promise<void> } = { startedStack: false };
  if (!process.env.KAFKA_BROKERS || !process.env.REDIS_URL || !process.env.EVENT_STORE_URL) {
    if (!stackRunning()) {
      stackScript('start');
      state.startedStack = true;
    }
    const env = readStackEnv();
    process.env.KAFKA_BROKERS ??= env.KAFKA_BROKERS;
    process.env.REDIS_URL ??= env.REDIS_URL;
    process.env.EVENT_STORE_URL ??= env.EVENT_STORE_URL;
  }
  // Not among the variables that decide whether to start the stack: a run given the other three
  // takes the running stack's ZooKeeper from .stack/env rather than starting (and stopping) all.
  const zookeeper = process.env.ZOOKEEPER_CONNECT || readStackEnv().ZOOKEEPER_CONNECT;
  if (zookeeper) process.env.ZOOKEEPER_CONNECT = zookeeper;
  if (!process.env.SCHEMA_REGISTRY_URL) {
    const registry = await startSchemaRegistryStandIn();
    process.env.SCHEMA_REGISTRY_URL = registry.url;
    state.stopRegistry = registry.stop;
  }
  process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
  (globalThis as Record<string, unknown>).__winchesterTestStack = state;
}
