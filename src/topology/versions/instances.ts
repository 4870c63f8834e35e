import { hostname } from 'node:os';
import { Kafka, Producer } from 'kafkajs';
import { formatMicros } from '../../time/micros';
import { createProducer } from '../role-runner';
import { topologyLogTopics } from '../topic-plan';

/** `<namespace>.topology.instances`: each role instance's running version, refreshed while it runs. */
export const instancesTopic = (namespace: string) => topologyLogTopics(namespace)[1];

/** How often an instance says it is alive; `topology status` calls one silent for 3 periods gone. */
export const HEARTBEAT_MS = 10_000;

export interface InstanceStatus {
  instance: string;
  role: string;
  host: string;
  pid: number;
  /** The version it runs. */
  version: number;
  /** The current version of the topic as it last read it. */
  wanted: number;
  /** Why it does not run `wanted`, when it does not. */
  error?: string;
  started: string;
  seen: string;
}

/**
 * Publishes this process's status, at every change and every HEARTBEAT_MS, keyed by instance
 * (compaction keeps the last of each); a tombstone when it stops cleanly.
 */
export class InstanceReporter {
  private producer?: Producer;
  private timer?: NodeJS.Timeout;
  private readonly instance: string;
  private readonly started = formatMicros(Date.now() * 1000);

  constructor(
    private readonly kafka: Kafka,
    private readonly namespace: string,
    private readonly role: string,
  ) {
    this.instance = `${role}/${hostname()}/${process.pid}`;
  }

  async start(status: () => { version: number; wanted: number; error?: string }): Promise<void> {
    this.producer = createProducer(this.kafka);
    await this.producer.connect();
    await this.report(status());
    this.timer = setInterval(() => void this.report(status()).catch(() => undefined), HEARTBEAT_MS);
    this.timer.unref();
  }

  async report(now: { version: number; wanted: number; error?: string }): Promise<void> {
    if (!this.producer) return;
    const value: InstanceStatus = {
      instance: this.instance,
      role: this.role,
      host: hostname(),
      pid: process.pid,
      ...now,
      started: this.started,
      seen: formatMicros(Date.now() * 1000),
    };
    await this.producer.send({
      topic: instancesTopic(this.namespace),
      messages: [{ key: this.instance, value: JSON.stringify(value) }],
    });
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (!this.producer) return;
    await this.producer
      .send({ topic: instancesTopic(this.namespace), messages: [{ key: this.instance, value: null }] })
      .catch(() => undefined);
    await this.producer.disconnect();
    this.producer = undefined;
  }
}
