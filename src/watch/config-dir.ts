import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { WatchFile, WatchSpec } from './spec';
import { formatWatchProblem, WatchConfigError, WatchProblem } from './twc-errors';
import { parseTwcWatches } from './twc-evaluator';
import { parseYamlWatches } from './yaml-watches';

/**
 * A watch configuration directory, read as Twitcher reads /etc/twitcher: every `*.twc` file
 * under it, recursively, plus YAML watch files (`*.yaml`, `*.yml`). Each file stands alone:
 * one that fails gives its error and the others still give their watches, so a reload can
 * keep a broken file's previous watches (Twitcher's rule) while the rest change.
 *
 * The same znode and description may appear in several files (or twice in one): Twitcher
 * allows it and so does this. They are separate watches, each with its own run state, so an
 * update to that znode runs both actions; only their file and line (WatchSpec.source) tell
 * them apart in logs.
 */

const TWC = /\.twc$/;
const YAML = /\.ya?ml$/;

export function isWatchFileName(name: string): boolean {
  return TWC.test(name) || YAML.test(name);
}

/** A file path as Twitcher's os.path.join builds it, so default descriptions match its own. */
function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The text of a file that must be UTF-8; the error names the first line that is not. */
function decodeUtf8(bytes: Buffer, file: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    let line = 1;
    for (let start = 0; start <= bytes.length; line++) {
      const end = bytes.indexOf(0x0a, start);
      const stop = end < 0 ? bytes.length : end;
      try {
        strictUtf8.decode(bytes.subarray(start, stop));
      } catch {
        break;
      }
      start = stop + 1;
    }
    throw new WatchConfigError(file, { line, column: 0 }, 'this line is not valid UTF-8');
  }
}

/** Parses a watch file's text by its extension (`.twc`: Python calls; `.yaml`/`.yml`: YAML). */
export function parseWatchText(text: string, file: string): WatchFile {
  if (YAML.test(file)) return parseYamlWatches(text, file);
  return parseTwcWatches(text, file);
}

/** Reads and parses one watch file; throws WatchConfigError (with systemCode when unreadable). */
export async function readWatchFile(path: string): Promise<WatchFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw new WatchConfigError(path, { line: 0, column: 0 }, `cannot read the file: ${message}`, code);
  }
  return parseWatchText(decodeUtf8(bytes, path), path);
}

export interface WatchFileList {
  /** Sorted, so every scan lists files in the same order. */
  files: string[];
  /** Subdirectories that could not be read (the root failing is thrown instead). */
  problems: WatchProblem[];
}

/**
 * Every watch file under `dir`. Hidden directories (`.git`, editors' folders) are skipped;
 * symbolic links are followed, and each real directory is visited once, through its first path
 * (plain subdirectories are walked before linked ones); entries that cannot be stat'ed (an
 * editor's dangling lock link) are ignored.
 */
export async function listWatchFiles(dir: string): Promise<WatchFileList> {
  const files: string[] = [];
  const problems: WatchProblem[] = [];
  const visited = new Set<string>();
  const walk = async (current: string, isRoot: boolean): Promise<void> => {
    let names: string[];
    try {
      const real = await realpath(current);
      if (visited.has(real)) return;
      visited.add(real);
      names = await readdir(current);
    } catch (error) {
      const { code, message } = error as NodeJS.ErrnoException;
      const reason = `cannot read the watch directory: ${message}`;
      if (isRoot) throw new WatchConfigError(current, { line: 0, column: 0 }, reason, code);
      problems.push({ severity: 'error', file: current, line: 0, column: 0, message: reason });
      return;
    }
    const linkedDirectories: string[] = [];
    for (const name of names.sort()) {
      const path = joinPath(current, name);
      const stats = await stat(path).catch(() => undefined);
      if (stats?.isDirectory() && !name.startsWith('.')) {
        if ((await lstat(path)).isSymbolicLink()) linkedDirectories.push(path);
        else await walk(path, false);
      } else if (stats?.isFile() && isWatchFileName(name)) {
        files.push(path);
      }
    }
    for (const path of linkedDirectories) await walk(path, false);
  };
  await walk(dir, true);
  files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { files, problems };
}

export type WatchFileOutcome =
  | { file: string; ok: true; watches: WatchSpec[]; warnings: WatchProblem[] }
  | { file: string; ok: false; error: WatchConfigError };

export interface WatchDirectory {
  dir: string;
  /** One per watch file, in `files` order. */
  outcomes: WatchFileOutcome[];
  problems: WatchProblem[];
}

/** Reads one file into an outcome: its watches, or its error. Other errors are bugs and escape. */
export async function readWatchFileOutcome(file: string): Promise<WatchFileOutcome> {
  try {
    const { watches, warnings } = await readWatchFile(file);
    return { file, ok: true, watches, warnings };
  } catch (error) {
    if (error instanceof WatchConfigError) return { file, ok: false, error };
    throw error;
  }
}

/** Reads every watch file under `dir`; throws WatchConfigError only when `dir` itself cannot be read. */
export async function readWatchDirectory(dir: string): Promise<WatchDirectory> {
  const { files, problems } = await listWatchFiles(dir);
  const outcomes: WatchFileOutcome[] = [];
  for (const file of files) outcomes.push(await readWatchFileOutcome(file));
  return { dir, outcomes, problems };
}

export interface WatchCheckReport {
  lines: string[];
  exitCode: number;
}

const plural = (n: number, word: string, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;

/** What `winchester watch check DIR` prints: each error and warning, then a summary; exit 1 on any error. */
export function watchCheckReport(directory: WatchDirectory): WatchCheckReport {
  const errors = [
    ...directory.problems,
    ...directory.outcomes.flatMap((outcome) => (outcome.ok ? [] : [outcome.error.problem])),
  ];
  const warnings = directory.outcomes.flatMap((outcome) => (outcome.ok ? outcome.warnings : []));
  if (directory.outcomes.length === 0 && errors.length === 0) {
    warnings.push({
      severity: 'warning',
      file: directory.dir,
      line: 0,
      column: 0,
      message: 'no watch files (*.twc, *.yaml, *.yml) found',
    });
  }
  const lines = [...errors, ...warnings].map(formatWatchProblem);
  if (errors.length) {
    lines.push(`${directory.dir}: ${plural(errors.length, 'error')}, ${plural(warnings.length, 'warning')}`);
    return { lines, exitCode: 1 };
  }
  const watches = directory.outcomes.reduce((n, outcome) => n + (outcome.ok ? outcome.watches.length : 0), 0);
  lines.push(
    `${directory.dir}: ok, ${plural(watches, 'watch', 'watches')} in ${plural(directory.outcomes.length, 'file')}`,
  );
  return { lines, exitCode: 0 };
}

/** `winchester watch check DIR`: the report, or one line and exit 1 when DIR cannot be read. */
export async function checkWatchDirectory(dir: string): Promise<WatchCheckReport> {
  try {
    return watchCheckReport(await readWatchDirectory(dir));
  } catch (error) {
    if (error instanceof WatchConfigError) return { lines: [error.message], exitCode: 1 };
    throw error;
  }
}
