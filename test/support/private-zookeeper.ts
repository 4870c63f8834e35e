import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ZkSession } from '../../src/zookeeper/session';
import { repoRoot } from './stack';

const execFileAsync = promisify(execFile);

/**
 * A ZooKeeper server of one test's own, run by scripts/zookeeper.sh in a temporary directory
 * (ZOOKEEPER_DIR): the test may kill, freeze or restart it without touching the stack's server.
 */
export interface PrivateZooKeeper {
  /** `127.0.0.1:PORT`; the port stays the same across kill, stop and restart. */
  connectString: string;
  /** SIGKILL: every connection cut at once; the data stays for `restart`. */
  kill(): Promise<void>;
  /** A clean stop (SIGTERM, then wait). */
  stop(): Promise<void>;
  /** Starts the server again on the same data and port; answers its connect string. */
  restart(): Promise<string>;
  /** SIGSTOP: the process stops answering but its connections stay open (a hung server). */
  freeze(): Promise<void>;
  /** SIGCONT after freeze. */
  thaw(): Promise<void>;
  /** Stops the server if it runs and removes its directory. */
  remove(): Promise<void>;
}

type Action = 'start' | 'stop' | 'kill' | 'reset';

export async function startPrivateZooKeeper(): Promise<PrivateZooKeeper> {
  const dir = await mkdtemp(join(tmpdir(), 'winchester-zk-'));
  const signal = async (name: NodeJS.Signals) => {
    process.kill(Number((await readFile(join(dir, 'zookeeper.pid'), 'utf8')).trim()), name);
  };
  const remove = async () => {
    try {
      await signal('SIGCONT').catch(() => undefined);
      await zookeeperScript(dir, 'reset');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  try {
    const connectString = await zookeeperScript(dir, 'start');
    return {
      connectString,
      kill: async () => void (await zookeeperScript(dir, 'kill')),
      stop: async () => void (await zookeeperScript(dir, 'stop')),
      restart: () => zookeeperScript(dir, 'start'),
      freeze: () => signal('SIGSTOP'),
      thaw: () => signal('SIGCONT'),
      remove,
    };
  } catch (error) {
    await remove().catch(() => undefined);
    throw error;
  }
}

/** Runs one action of scripts/zookeeper.sh on `dir` and answers what it printed. */
async function zookeeperScript(dir: string, action: Action): Promise<string> {
  const script = join(repoRoot, 'scripts', 'zookeeper.sh');
  try {
    const { stdout } = await execFileAsync('bash', [script, action], {
      env: { ...process.env, ZOOKEEPER_DIR: dir },
      timeout: 120_000,
    });
    return stdout.trim();
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`scripts/zookeeper.sh ${action} failed: ${stderr || (error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * Makes the server expire `session`, the classic way: a second client takes the session over
 * with its id and password and closes it, which ends the session on the server; `session`
 * learns it at its next reconnection and reports 'expired'. The session's own client may
 * win the connection back before the second one's close is sent, so this tries a few times.
 */
export async function forceSessionExpiry(session: ZkSession, timeoutMs = 20_000): Promise<void> {
  const expired = new Promise<void>((resolve) => session.once('expired', resolve));
  const deadline = Date.now() + timeoutMs;
  while (session.state !== 'expired') {
    if (Date.now() > deadline)
      throw new Error(`session ${session.sessionId} did not expire within ${timeoutMs} ms`);
    const intruder = await ZkSession.connect(session.connectString, {
      resume: session.credentials(),
      sessionTimeoutMs: session.sessionTimeoutMs,
      connectTimeoutMs: 5_000,
    }).catch(() => undefined); // the session may have expired under it already
    await intruder?.close();
    await Promise.race([expired, new Promise((resolve) => setTimeout(resolve, 1_000))]);
  }
}
