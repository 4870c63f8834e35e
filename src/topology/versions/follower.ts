import { Consumer, Kafka } from 'kafkajs';
import { WinchesterConfig } from '../../config/winchester-config';
import { defaultTopologySettings, TopologySettings } from '../../config/topology-settings';
import { WinchesterMetrics } from '../../metrics/metrics';
import { Logger, roleLogger } from '../../util/logger';
import { LoadedTopology, loadTopology } from '../bundle';
import { materialize } from './bundle-record';
import { InstanceReporter } from './instances';
import {
  applyRecord,
  deleteGroup,
  emptyState,
  ensureTopologyTopic,
  throwawayGroup,
  topologyTopic,
  VersionState,
} from './version-log';

export type VersionListener = (version: number, topology: LoadedTopology) => void | Promise<void>;

export interface FollowerOptions {
  kafka: Kafka;
  namespace: string;
  config: WinchesterConfig;
  role: string;
  /** The role's own `-t DIR` bundle: version 0, run until a version is applied. */
  base: LoadedTopology;
  metrics?: WinchesterMetrics;
  maxRecordBytes: number;
  /** The topology's settings, for the topics' configured settings; default: the defaults. */
  settings?: TopologySettings;
}

/**
 * Follows `<namespace>.topology` for a role: reads it to its end at start (so the role starts
 * on the current version), then calls the listeners each time `current` moves, within about a
 * second. A version that fails to load is reported (log, metric, status) and skipped: the role
 * keeps the version it runs. Every version stays loadable, for streams opened under it.
 */
export class TopologyFollower {
  private readonly state: VersionState = emptyState();
  private readonly loaded = new Map<number, LoadedTopology>();
  private readonly listeners: VersionListener[] = [];
  private readonly log: Logger;
  private running: { version: number; topology: LoadedTopology };
  private consumer?: Consumer;
  private groupId?: string;
  private reporter: InstanceReporter;
  /** Changes are applied one at a time, in order. */
  private chain: Promise<void> = Promise.resolve();

  private constructor(private readonly options: FollowerOptions) {
    this.log = roleLogger(options.role);
    this.loaded.set(0, options.base);
    this.running = { version: 0, topology: options.base };
    this.reporter = new InstanceReporter(options.kafka, options.namespace, options.role);
  }

  static async start(options: FollowerOptions): Promise<TopologyFollower> {
    const follower = new TopologyFollower(options);
    await follower.catchUp();
    return follower;
  }

  /** The version this role runs now, and its topology. */
  get current(): { version: number; topology: LoadedTopology } {
    return this.running;
  }

  /** Any version ever applied (0: the role's own bundle), loaded once; undefined when it cannot be. */
  topologyOf(version: number): LoadedTopology | undefined {
    const cached = this.loaded.get(version);
    if (cached) return cached;
    const bundle = this.state.versions.get(version);
    if (!bundle) return undefined;
    try {
      const topology = loadTopology(materialize(bundle, this.options.namespace), this.options.config);
      this.loaded.set(version, topology);
      return topology;
    } catch (error) {
      this.log.error({ version, error: (error as Error).message }, 'topology version cannot be loaded');
      return undefined;
    }
  }

  onChange(listener: VersionListener): void {
    this.listeners.push(listener);
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
    if (this.groupId) await deleteGroup(this.options.kafka, this.groupId);
    await this.chain;
    await this.reporter.stop();
  }

  /** Subscribes, and resolves once the records present at start are read (and their current applied). */
  private async catchUp(): Promise<void> {
    const { kafka, namespace, maxRecordBytes } = this.options;
    const settings = this.options.settings ?? defaultTopologySettings({ namespace, maxRecordBytes });
    const admin = kafka.admin();
    await admin.connect();
    const end = await (async () => {
      await ensureTopologyTopic(admin, settings);
      return Number((await admin.fetchTopicOffsets(topologyTopic(namespace)))[0]?.high ?? 0);
    })().finally(() => admin.disconnect());
    await this.subscribe(end);
    await this.reporter.start(() => this.statusNow());
  }

  private async subscribe(end: number): Promise<void> {
    this.groupId = throwawayGroup(this.options.namespace, this.options.role);
    this.consumer = this.options.kafka.consumer({ groupId: this.groupId, maxWaitTimeInMs: 250 });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: topologyTopic(this.options.namespace), fromBeginning: true });
    let caughtUp!: () => void;
    const initial = new Promise<void>((resolve) => (caughtUp = resolve));
    if (end === 0) caughtUp();
    await this.consumer.run({
      eachMessage: async ({ message }) => {
        const moved = applyRecord(this.state, message);
        const next = Number(message.offset) + 1;
        // History before the end only builds the state; its current is applied once, at the end.
        if (next < end) return;
        if (moved || next === end) this.enqueueCurrent();
        if (next === end) caughtUp();
      },
    });
    await initial;
    await this.chain;
  }

  private enqueueCurrent(): void {
    const target = this.state.current?.version;
    if (target === undefined) return;
    this.chain = this.chain.then(() => this.switchTo(target)).catch(() => undefined);
  }

  /** Loads `version` and hands it to the listeners; on failure the role keeps what it runs. */
  private async switchTo(version: number): Promise<void> {
    if (version === this.running.version) return;
    const topology = this.topologyOf(version);
    if (!topology) {
      this.lastError = `version ${version} cannot be loaded: the role keeps version ${this.running.version}`;
      this.options.metrics?.topologyLoadFailures.inc();
      await this.reporter.report(this.statusNow());
      return;
    }
    for (const listener of this.listeners) await listener(version, topology);
    this.running = { version, topology };
    this.lastError = undefined;
    this.options.metrics?.topologyVersion.set(version);
    this.log.info({ version, previous: this.state.current?.version }, 'topology version now running');
    await this.reporter.report(this.statusNow());
  }

  private lastError?: string;

  private statusNow() {
    return { version: this.running.version, wanted: this.state.current?.version ?? 0, error: this.lastError };
  }
}
