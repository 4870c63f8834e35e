import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** The labels of `winchester_build_info`. */
export interface BuildInfo {
  version: string;
  revision: string;
  node_version: string;
}

const UNKNOWN = 'unknown';
const PACKAGE_NAME = 'winchester-kafka';
let cached: BuildInfo | undefined;

/**
 * What this process runs: the package version, the source revision and the Node.js version.
 * The revision is WINCHESTER_REVISION when set (an image build can pass it), else read from
 * the checkout's .git files; reading files at start is cheap, running git is not.
 */
export function buildInfo(): BuildInfo {
  if (!cached) {
    const found = findPackage();
    cached = {
      version: found?.version ?? UNKNOWN,
      revision: process.env.WINCHESTER_REVISION || (found && gitRevision(found.root)) || UNKNOWN,
      node_version: process.version,
    };
  }
  return cached;
}

/** This package's root and version, found from src/ (tests) or dist/src/ (built). */
function findPackage(): { root: string; version: string } | undefined {
  for (let dir = __dirname, i = 0; i < 5; i++, dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    try {
      const { name, version } = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (name === PACKAGE_NAME) return { root: dir, version: version ?? UNKNOWN };
    } catch {
      // Not ours, or unreadable: keep looking upwards.
    }
  }
  return undefined;
}

/** HEAD's commit, short, from the .git directory (or a worktree's .git file); undefined if none. */
function gitRevision(root: string): string | undefined {
  try {
    const gitDir = resolveGitDir(join(root, '.git'));
    if (!gitDir) return undefined;
    const head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
    const ref = /^ref: (.+)$/.exec(head)?.[1];
    const commit = ref ? resolveRef(gitDir, ref) : head;
    return commit && /^[0-9a-f]{40,64}$/.test(commit) ? commit.slice(0, 12) : undefined;
  } catch {
    return undefined;
  }
}

function resolveGitDir(dotGit: string): string | undefined {
  if (!existsSync(dotGit)) return undefined;
  if (statSync(dotGit).isDirectory()) return dotGit;
  const pointer = /^gitdir: (.+)$/m.exec(readFileSync(dotGit, 'utf8'))?.[1];
  return pointer ? resolve(dirname(dotGit), pointer.trim()) : undefined;
}

/** A branch's commit: its loose ref file, else its line in packed-refs (in a worktree: the common dir's). */
function resolveRef(gitDir: string, ref: string): string | undefined {
  const common = existsSync(join(gitDir, 'commondir'))
    ? resolve(gitDir, readFileSync(join(gitDir, 'commondir'), 'utf8').trim())
    : gitDir;
  for (const dir of new Set([gitDir, common])) {
    const loose = join(dir, ref);
    if (existsSync(loose)) return readFileSync(loose, 'utf8').trim();
  }
  const packed = join(common, 'packed-refs');
  if (!existsSync(packed)) return undefined;
  const line = readFileSync(packed, 'utf8')
    .split('\n')
    .find((l) => l.endsWith(` ${ref}`));
  return line?.split(' ')[0];
}
