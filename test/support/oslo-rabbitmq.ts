import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as amqp from 'amqplib';
import { repoRoot } from './stack';

/**
 * A RabbitMQ of one test's own (scripts/rabbitmq.sh with RABBITMQ_DIR under the temporary
 * directory), to stop and start again without touching the stack's. It keeps its port.
 */
export class PrivateRabbitmq {
  private constructor(
    readonly dir: string,
    /** amqp://guest:guest@127.0.0.1:PORT */
    readonly url: string,
  ) {}

  static async start(): Promise<PrivateRabbitmq> {
    const dir = mkdtempSync(join(tmpdir(), 'winchester-oslo-rabbitmq-'));
    return new PrivateRabbitmq(dir, await rabbitmqScript(dir, 'start'));
  }

  /** A clean stop: durable queues and persistent messages stay on disk. */
  async stop(): Promise<void> {
    await rabbitmqScript(this.dir, 'stop');
  }

  async restart(): Promise<void> {
    await rabbitmqScript(this.dir, 'start');
  }

  /** Stops it and removes its data. */
  async remove(): Promise<void> {
    await rabbitmqScript(this.dir, 'reset');
  }

  /** Messages ready in `queues` (unacknowledged ones not counted). */
  async ready(queues: string[]): Promise<number> {
    const connection = await amqp.connect(this.url);
    try {
      const channel = await connection.createChannel();
      let total = 0;
      for (const queue of queues) total += (await channel.checkQueue(queue)).messageCount;
      return total;
    } finally {
      await connection.close();
    }
  }
}

/** Runs scripts/rabbitmq.sh without blocking: the roles of the test keep running meanwhile. */
async function rabbitmqScript(dir: string, action: 'start' | 'stop' | 'reset'): Promise<string> {
  const { stdout } = await promisify(execFile)('bash', [join(repoRoot, 'scripts', 'rabbitmq.sh'), action], {
    encoding: 'utf8',
    env: { ...process.env, RABBITMQ_DIR: dir },
    timeout: 120000,
  });
  return stdout.trim();
}
