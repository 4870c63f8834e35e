import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { WinchesterConfig } from '../../config/winchester-config';

/**
 * One version of a topology bundle as the `<namespace>.topology` topic keeps it: the text of
 * its three files under the names winchester.yaml gives them, and where it came from.
 */
export interface BundleVersion {
  version: number;
  /** When it was applied (ISO 8601, microseconds). */
  created: string;
  /** The directory `topology apply -t` read it from, as given. */
  source: string;
  /** File name (relative, as winchester.yaml names it) → text. */
  files: Record<string, string>;
  /** sha256 of the files, names and texts, in name order: the same bundle gives the same digest. */
  sha256: string;
}

/** The version every role runs: the latest `current` record of the topic. */
export interface CurrentVersion {
  version: number;
  applied: string;
  /** `apply` (a new version) or `rollback` (an earlier one made current again). */
  by: 'apply' | 'rollback';
}

export const CURRENT_KEY = 'current';
export const versionKey = (version: number) => `version/${String(version).padStart(10, '0')}`;

/** The bundle's file names, as winchester.yaml (distiller_config, …) gives them. */
export function bundleFileNames(config: Pick<WinchesterConfig, 'files'>): string[] {
  return [config.files.eventDefinitions, config.files.triggers, config.files.pipelines];
}

/** Reads a bundle directory's three files; a missing one is left for the check to report. */
export function readBundleFiles(
  dir: string,
  config: Pick<WinchesterConfig, 'files'>,
): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of bundleFileNames(config)) {
    const path = join(dir, name);
    if (existsSync(path)) files[name] = readFileSync(path, 'utf8');
  }
  return files;
}

export function bundleDigest(files: Record<string, string>): string {
  const hash = createHash('sha256');
  for (const name of Object.keys(files).sort()) hash.update(`${name}\0${files[name]}\0`);
  return hash.digest('hex');
}

/**
 * Writes a version's files into a directory of its own, so a role loads it through the very
 * loader (and checks) `-t DIR` goes through; its messages then name `v<N>/<file>`.
 */
export function materialize(bundle: BundleVersion, namespace: string): string {
  const root = mkdtempSync(join(tmpdir(), `winchester-${namespace}-`));
  const dir = join(root, `v${bundle.version}`);
  for (const [name, text] of Object.entries(bundle.files)) {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A record's value → BundleVersion or CurrentVersion; undefined when it is neither (ignored). */
export function decodeVersionRecord(
  key: string,
  value: Buffer | null,
): { bundle?: BundleVersion; current?: CurrentVersion } | undefined {
  if (!value) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    return undefined;
  }
  const record = parsed as Partial<BundleVersion & CurrentVersion>;
  if (!Number.isInteger(record.version) || (record.version as number) < 1) return undefined;
  if (key === CURRENT_KEY) return { current: record as CurrentVersion };
  if (key === versionKey(record.version!) && record.files && typeof record.files === 'object')
    return { bundle: record as BundleVersion };
  return undefined;
}
