import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../support';

export type UpstreamDatabase = 'postgresql' | 'sqlite';

export interface UpstreamIngest {
  notifications: number;
  events: number;
  seconds: number;
  cpuSeconds: number;
  perSecond: number;
  database: UpstreamDatabase;
}

/**
 * Where upstream stores: UPSTREAM_DATABASE (postgresql or sqlite), else PostgreSQL when
 * EVENT_STORE_URL names a server (the local stack's), else SQLite. A wrong value is one line.
 */
export function upstreamDatabase(env: NodeJS.ProcessEnv = process.env): UpstreamDatabase {
  const asked = env.UPSTREAM_DATABASE;
  if (asked === 'postgresql' || asked === 'sqlite') return asked;
  if (asked) throw new Error(`UPSTREAM_DATABASE must be postgresql or sqlite, not ${asked}`);
  return env.EVENT_STORE_URL ? 'postgresql' : 'sqlite';
}

function run(command: string, args: string[]): string {
  // Their own messages (the virtualenv being built, Python's errors) go straight to stderr.
  return execFileSync(command, args, {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

/**
 * Upstream Winchester 0.56's ingest rate on the first `limit` notifications of the corpus with
 * the usage topology (bench/upstream/winchester_ingest.py in the virtualenv of
 * scripts/upstream-winchester-venv.sh, built from PyPI on first use).
 */
export function upstreamIngest(limit: number, database: UpstreamDatabase): UpstreamIngest {
  let python: string;
  try {
    python = run('bash', [join(repoRoot, 'scripts', 'upstream-winchester-venv.sh')]).trim();
  } catch {
    throw new Error(
      'upstream Winchester could not be installed: scripts/upstream-winchester-venv.sh failed (above)',
    );
  }
  const server = database === 'postgresql' ? ['--server', process.env.EVENT_STORE_URL ?? ''] : [];
  const args = [
    join(repoRoot, 'bench', 'upstream', 'winchester_ingest.py'),
    ...['--topology', join(repoRoot, 'topologies', 'openstack-usage')],
    ...['--input', join(repoRoot, 'data', 'notifications-openstack-26h.jsonl.gz')],
    ...['--limit', String(limit), '--database', database, ...server],
  ];
  try {
    return JSON.parse(run(python, args).trim().split('\n').at(-1)!) as UpstreamIngest;
  } catch {
    throw new Error('upstream Winchester did not run: bench/upstream/winchester_ingest.py failed (above)');
  }
}
