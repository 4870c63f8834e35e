import {
  readStackEnv,
  serviceRunning,
  serviceScript,
  STACK_SERVICES,
  stackScript,
  TestService,
} from './stack';

/** The services of the stack globalSetup started, which globalTeardown stops again. */
export interface StartedServices {
  started: TestService[];
}

/**
 * Starts what is missing of the local Kafka, Redis, PostgreSQL, ZooKeeper and schema registry
 * (nothing when KAFKA_BROKERS, REDIS_URL and EVENT_STORE_URL are given, but the registry when
 * neither SCHEMA_REGISTRY_URL nor a running one is, and RabbitMQ likewise for AMQP_URL).
 * ZOOKEEPER_CONNECT, SCHEMA_REGISTRY_URL and AMQP_URL, unless given, are the stack's.
 * REDIS_CLUSTER_URL, unless given, is the local Redis Cluster's (scripts/redis-cluster.sh,
 * started when it is not running: six redis-server processes, a few seconds); given empty,
 * no cluster is used. What it started, and only that, globalTeardown stops.
 */
export default async function globalSetup(): Promise<void> {
  const state: StartedServices = { started: [] };
  if (!process.env.KAFKA_BROKERS || !process.env.REDIS_URL || !process.env.EVENT_STORE_URL) {
    state.started = STACK_SERVICES.filter((service) => !serviceRunning(service));
    // Each service's `start` leaves a running one alone.
    if (state.started.length) stackScript('start');
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
    if (!state.started.includes('schema-registry') && !serviceRunning('schema-registry')) {
      state.started.push('schema-registry');
    }
    // `start` leaves a running registry alone and prints its address, as .stack/env has it.
    process.env.SCHEMA_REGISTRY_URL = serviceScript('schema-registry', 'start');
  }
  if (!process.env.AMQP_URL) {
    if (!state.started.includes('rabbitmq') && !serviceRunning('rabbitmq')) state.started.push('rabbitmq');
    process.env.AMQP_URL = serviceScript('rabbitmq', 'start');
  }
  if (process.env.REDIS_CLUSTER_URL === undefined) {
    if (!serviceRunning('redis-cluster')) state.started.push('redis-cluster');
    process.env.REDIS_CLUSTER_URL = serviceScript('redis-cluster', 'start');
  }
  process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
  (globalThis as Record<string, unknown>).__winchesterTestStack = state;
}
