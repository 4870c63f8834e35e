import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { repoRoot } from './stack';
import { waitFor } from './topology-harness';

/**
 * OpenStack's own notifier in the tests: test/oslo/notify.py, which replays notifications
 * through oslo.messaging's Notifier, on the python of the virtualenv scripts/oslo-venv.sh
 * builds from PyPI on first use (outside the checkout).
 */

const NOTIFY = join(repoRoot, 'test', 'oslo', 'notify.py');

const tail = (text: string, lines = 20) => text.trimEnd().split('\n').slice(-lines).join('\n');

/** The virtualenv's python; building it (first use) needs pypi.org and takes about a minute. */
export function osloPython(): string {
  try {
    return execFileSync('bash', [join(repoRoot, 'scripts', 'oslo-venv.sh')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 10 * 60 * 1000,
    }).trim();
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '');
    throw new Error(`scripts/oslo-venv.sh could not build the oslo.messaging virtualenv:\n${tail(stderr)}`, {
      cause: error,
    });
  }
}

/** oslo's transport URL for a RabbitMQ the tests know as amqp://user:pass@host:port. */
export function rabbitTransportUrl(amqpUrl: string): string {
  const url = new URL(amqpUrl);
  return `rabbit://${url.username}:${url.password}@${url.host}/`;
}

/** oslo's transport URL for the brokers of KAFKA_BROKERS (host:port,host:port). */
export const kafkaTransportUrl = (brokers: string): string => `kafka://${brokers}/`;

export interface NotifierOptions {
  /** rabbit://… or kafka://… */
  url: string;
  driver?: 'messaging' | 'messagingv2';
  topics?: string[];
  controlExchange?: string;
  /** amqp_durable_queues=True */
  durable?: boolean;
  compression?: 'gzip' | 'bz2';
  /** Pause after this many notifications until `resume()`. */
  pauseAfter?: number[];
}

/** A notification oslo sent: its line in the input, the message_id oslo gave it, its topic. */
export interface OsloSend {
  index: number;
  messageId: string;
  topic: string;
}

function notifierArguments(options: NotifierOptions): string[] {
  const args = [NOTIFY, options.url, '--driver', options.driver ?? 'messagingv2'];
  for (const topic of options.topics ?? []) args.push('--topic', topic);
  if (options.controlExchange) args.push('--control-exchange', options.controlExchange);
  if (options.durable) args.push('--durable');
  if (options.compression) args.push('--compression', options.compression);
  for (const n of options.pauseAfter ?? []) args.push('--pause-after', String(n));
  return args;
}

/** One run of notify.py: what it sent, where it paused, what it logged. */
export class OsloNotifier {
  readonly sends: OsloSend[] = [];
  readonly pauses: number[] = [];
  /** oslo's log: connection errors, reconnections. */
  stderr = '';
  private done?: number;
  private partial = '';
  private readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => this.read(chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    this.exited = once(child, 'close').then(([code]) => code as number | null);
  }

  /** Starts sending `notifications` (JSON texts), fed on its stdin. */
  static start(python: string, notifications: string[], options: NotifierOptions): OsloNotifier {
    const child = spawn(python, notifierArguments(options), { stdio: ['pipe', 'pipe', 'pipe'] });
    const notifier = new OsloNotifier(child);
    child.stdin!.end(notifications.map((n) => `${n}\n`).join(''));
    return notifier;
  }

  async waitPaused(count: number, timeoutMs = 60000): Promise<void> {
    await waitFor(() => this.pauses.includes(count) || this.child.exitCode !== null, timeoutMs);
    if (!this.pauses.includes(count))
      throw new Error(`notify.py ended before pausing:\n${tail(this.stderr)}`);
  }

  resume(): void {
    this.child.kill('SIGUSR1');
  }

  /** Waits for a clean end: every notification sent and the transport closed. */
  async finished(): Promise<OsloSend[]> {
    const code = await this.exited;
    if (code !== 0 || this.done === undefined)
      throw new Error(`notify.py exited with ${code}:\n${tail(this.stderr)}`);
    return this.sends;
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  private read(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines.filter(Boolean)) {
      const record = JSON.parse(line) as {
        index?: number;
        message_id?: string;
        topic?: string;
        paused?: number;
        done?: number;
      };
      if (record.paused !== undefined) this.pauses.push(record.paused);
      else if (record.done !== undefined) this.done = record.done;
      else this.sends.push({ index: record.index!, messageId: record.message_id!, topic: record.topic! });
    }
  }
}

/** Sends `notifications` through oslo and waits until they are all on the wire. */
export function notifyWithOslo(
  python: string,
  notifications: string[],
  options: NotifierOptions,
): Promise<OsloSend[]> {
  return OsloNotifier.start(python, notifications, options).finished();
}
