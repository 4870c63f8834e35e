/**
 * The soak's load and roles, shared by `npm run soak` (memory over a long run) and
 * `npm run bench:latency` (fire latency at half the peak): the distiller, matcher and worker as
 * processes under the wall clock on topologies/soak, fed a steady round-robin load over a large
 * instance population. Instance i's visit k is a compute.instance.power_off.end when
 * (k + i) % 6 == 5, so a sixth of the streams fire in every round, spread evenly over it, and
 * every instance always holds an active stream (5/6 of the population at any moment).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, Producer } from 'kafkajs';
import { ConnectionSettings } from '../../src/config/environment';
import { defaultTopologySettings, TopologySettings } from '../../src/config/topology-settings';
import { groupLag } from '../../src/kafka/group-lag';
import { PartitionKeys } from '../../src/redis/keys';
import { createProducer } from '../../src/topology/role-runner';
import { ensureTopicsOnce } from '../../src/topology/topics';
import { corpusNotification, notificationTime, repoRoot, writeRoleConfig } from '../support';
import { FireLatencyProbe } from './fire-latency';
import { createRedisClient, RedisClient } from '../../src/redis/client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const SOAK_ROLES = ['distiller', 'matcher', 'worker'] as const;

/** A role of topologies/soak as a process, its output in `<logDir>/<role>.log`. */
function startRole(role: string, configFile: string, env: NodeJS.ProcessEnv, logDir: string): ChildProcess {
  const log = createWriteStream(join(logDir, `${role}.log`));
  // Node flags given to the harness (e.g. --cpu-prof, --max-old-space-size) apply to the roles too.
  const child = spawn(
    process.execPath,
    [...process.execArgv, cli, role, '-c', configFile, '-t', join(repoRoot, 'topologies', 'soak')],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  return child;
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`; resolves once it is gone. */
function stopProcess(child: ChildProcess, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** A process's resident memory in MiB, NaN once it is gone. */
export function rssMiB(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

export async function lagOf(kafka: Kafka, groupId: string, topics: string[]): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await groupLag(admin, groupId, topics);
  } finally {
    await admin.disconnect();
  }
}

/** Active streams (one expire timer each) and the timer lag: now − the oldest due timer, in s. */
export async function streamsAndTimerLag(
  redis: RedisClient,
  settings: TopologySettings,
): Promise<{ activeStreams: number; timerLagSeconds: number }> {
  let activeStreams = 0;
  let oldestDue = Infinity;
  for (let p = 0; p < settings.partitions.repartition; p++) {
    const keys = new PartitionKeys(settings.namespace, p);
    activeStreams += await redis.zcard(keys.expireTimers);
    for (const key of [keys.fireTimers, keys.expireTimers]) {
      const first = await redis.zrange(key, '0', '0', 'WITHSCORES');
      if (first.length) oldestDue = Math.min(oldestDue, Number(first[1]));
    }
  }
  const nowMicros = Date.now() * 1000;
  const lag = oldestDue < nowMicros ? (nowMicros - oldestDue) / 1e6 : 0;
  return { activeStreams, timerLagSeconds: Number(lag.toFixed(2)) };
}

/**
 * The soak's producer: every 100 ms it sends what `rate` owes since the start, visiting the
 * instances round robin; firing sends are announced to the probe just before they go out.
 */
export class SoakLoad {
  sent = 0;
  private readonly visits: Uint32Array;
  private readonly template = corpusNotification('compute.instance.update');
  private next = 0;
  private producing = false;
  private loop: Promise<void> = Promise.resolve();
  startedAt = 0;

  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    private readonly rate: number,
    private readonly instances: number,
    private readonly probe: FireLatencyProbe,
  ) {
    this.visits = new Uint32Array(instances);
  }

  start(): void {
    this.producing = true;
    this.startedAt = Date.now();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.producing = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.producing) {
      const due = Math.floor(((Date.now() - this.startedAt) / 1000) * this.rate);
      const messages = [];
      while (this.sent < due) messages.push(this.nextMessage());
      if (messages.length) await this.producer.send({ topic: this.topic, acks: -1, messages });
      await sleep(100);
    }
  }

  /**
   * One update per instance, none of them firing, as fast as the broker takes them, before the
   * steady load starts: every instance then holds an active stream from the first minute on.
   */
  async prefill(): Promise<void> {
    for (let from = 0; from < this.instances; from += 1000) {
      const messages = [];
      const to = Math.min(this.instances, from + 1000);
      for (let i = from; i < to; i++) messages.push(this.message(i, `soak-fill-${i}`, false));
      await this.producer.send({ topic: this.topic, acks: -1, messages });
    }
  }

  private nextMessage(): { key: string; value: string } {
    const i = this.next;
    this.next = (this.next + 1) % this.instances;
    const visit = this.visits[i]++;
    const id = `soak-${this.sent++}`;
    // Every sixth visit of an instance fires its stream, offset by the instance so that each
    // round fires a sixth of the population.
    const fires = (visit + i) % 6 === 5;
    if (fires) this.probe.sending(id);
    return this.message(i, id, fires);
  }

  private message(instance: number, id: string, fires: boolean): { key: string; value: string } {
    const value = JSON.stringify({
      ...this.template,
      event_type: fires ? 'compute.instance.power_off.end' : this.template.event_type,
      message_id: id,
      timestamp: notificationTime(),
      payload: { ...this.template.payload, instance_id: `soak-instance-${instance}` },
    });
    return { key: `i-${instance}`, value };
  }
}

export interface SoakRun {
  settings: TopologySettings;
  runDir: string;
  roles: Array<{ role: string; child: ChildProcess }>;
  probe: FireLatencyProbe;
  load: SoakLoad;
  redis: RedisClient;
  /** Stops the load, the probe, the roles and the Redis connection. */
  stop(): Promise<void>;
}

export interface SoakOptions {
  rate: number;
  instances: number;
  /** How long seen message ids and tombstones are kept (14 days by default; the soak keeps 900 s). */
  seenRetentionSeconds: number;
  /** Give every instance an active stream before the steady load starts (see SoakLoad.prefill). */
  prefill?: boolean;
}

/** Waits until the namespace holds `target` active streams; fails once the count stops moving for 20 s. */
async function untilActive(redis: RedisClient, settings: TopologySettings, target: number): Promise<void> {
  let last = -1;
  let since = Date.now();
  for (;;) {
    const { activeStreams } = await streamsAndTimerLag(redis, settings);
    if (activeStreams >= target) return;
    if (activeStreams !== last) [last, since] = [activeStreams, Date.now()];
    else if (Date.now() - since > 20_000) {
      throw new Error(`the prefill stalled at ${activeStreams} of ${target} active streams`);
    }
    await sleep(1000);
  }
}

/** The roles as processes in a namespace of their own, their log files in `runDir`. */
function startRoles(connection: ConnectionSettings, namespace: string, options: SoakOptions) {
  const runDir = mkdtempSync(join(tmpdir(), `winchester-${namespace}-`));
  const configFile = writeRoleConfig(runDir, { seenRetentionSeconds: options.seenRetentionSeconds });
  const env = {
    KAFKA_BROKERS: connection.kafkaBrokers.join(','),
    REDIS_URL: connection.redisUrl,
    WINCHESTER_NAMESPACE: namespace,
    WINCHESTER_CLOCK: 'wall',
    // Plain JSON records, which the probe reads, even where the environment names a registry.
    SCHEMA_REGISTRY_URL: '',
  };
  const roles = SOAK_ROLES.map((role) => ({ role, child: startRole(role, configFile, env, runDir) }));
  return { runDir, roles };
}

/** Starts the roles, the probe and the load (see the file's comment); the load runs until `stop`. */
export async function startSoakRun(
  kafka: Kafka,
  connection: ConnectionSettings,
  options: SoakOptions,
): Promise<SoakRun> {
  const namespace = `soak${Date.now().toString(36)}`;
  const settings = defaultTopologySettings({ namespace, clock: 'wall' });
  await ensureTopicsOnce(kafka, settings);
  const { runDir, roles } = startRoles(connection, namespace, options);
  await sleep(4000);
  const probe = await FireLatencyProbe.start(kafka, settings.topics.streams, `${namespace}.soak-latency`);
  const producer = createProducer(kafka);
  await producer.connect();
  const redis = createRedisClient(connection.redisUrl);
  const load = new SoakLoad(producer, settings.inputTopics[0], options.rate, options.instances, probe);
  const stop = async () => {
    await load.stop();
    await producer.disconnect();
    await probe.stop();
    await Promise.all(roles.map(({ child }) => stopProcess(child, 10_000)));
    redis.disconnect();
  };
  try {
    if (options.prefill) {
      await load.prefill();
      await untilActive(redis, settings, options.instances);
    }
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}; the roles' logs are in ${runDir}`, { cause: error });
  }
  load.start();
  return { settings, runDir, roles, probe, load, redis, stop };
}
