import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './stack';

const execFileAsync = promisify(execFile);

/**
 * A PostgreSQL server of one test's own, run by scripts/postgres.sh with a temporary state
 * directory: the test may crash it without touching the stack's server other files share.
 */
export interface PrivatePostgres {
  /** Its `winchester` database; the port stays the same across `kill` and `restart`. */
  url: string;
  /** An immediate stop: a crash, every connection cut off mid-statement. */
  kill(): Promise<void>;
  /** Starts the server again on the same data directory (crash recovery); answers its URL. */
  restart(): Promise<string>;
  /** Stops the server if it runs and removes its data and its state directory. */
  remove(): Promise<void>;
}

type Action = 'start' | 'kill' | 'reset';

/** Creates the server's state directory, initialises a cluster in it and starts it. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const stateDir = await mkdtemp(join(tmpdir(), 'winchester-pg-'));
  const remove = async () => {
    try {
      await postgresScript(stateDir, 'reset');
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  };
  try {
    // Under root the server runs as `postgres`, which must reach the data directory inside.
    await chmod(stateDir, 0o755);
    const url = await postgresScript(stateDir, 'start');
    return {
      url,
      kill: async () => void (await postgresScript(stateDir, 'kill')),
      restart: () => postgresScript(stateDir, 'start'),
      remove,
    };
  } catch (error) {
    await remove().catch(() => undefined);
    throw error;
  }
}

/**
 * Runs one action of scripts/postgres.sh on the state directory (never the stack's own) and
 * answers what it printed. Asynchronous, so the test's own clients keep running meanwhile.
 */
async function postgresScript(stateDir: string, action: Action): Promise<string> {
  const script = join(repoRoot, 'scripts', 'postgres.sh');
  try {
    const { stdout } = await execFileAsync('bash', [script, action], {
      env: { ...process.env, WINCHESTER_STACK_DIR: stateDir },
      timeout: 120_000,
    });
    return stdout.trim();
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`scripts/postgres.sh ${action} failed: ${stderr || (error as Error).message}`, {
      cause: error,
    });
  }
}
