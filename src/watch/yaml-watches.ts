import {
  duplicateKeyWarnings,
  entriesOf,
  isMapping,
  loadYaml11,
  YamlDocument,
  YamlSyntaxError,
} from '../config/yaml11';
import { WatchFile, WatchSpec } from './spec';
import { SourcePoint, WatchConfigError, WatchFileContext } from './twc-errors';
import {
  ALL_PARAMETERS,
  buildWatchSpec,
  execCommand,
  retryPolicy,
  SIGNAL_NUMBERS,
  WatchOption,
} from './twc-register-watch';
import { PyValue, RUN_MODE_NUMBERS, WATCH_TYPE_NUMBERS } from './twc-values';

/**
 * Watches written in YAML: the options of RegisterWatch, with its snake_case names, checked
 * and defaulted by the same code as `.twc` files (so a watch means the same in either form).
 *
 *   - znode: /git/head
 *     action: {exec: "cd /srv/repo && git pull"}   # or {exec: [git, -C, /srv/repo, pull]}
 *     run_mode: QUEUE                              # QUEUE | DISCARD | PARALLEL (any case)
 *     notify_signal: SIGHUP                        # a name (SIGHUP or HUP) or a number
 *     on_failure: {retry: 3, backoff: 2, then: STOP_WATCHING}   # or KEEP_WATCHING / STOP_WATCHING
 *
 * The file is a list of such mappings, or a mapping whose only key is `watches:` holding the
 * list. `exec:` may also be written beside the options instead of `action: {exec: ...}`: a
 * YAML file has no other kind of action, so the shorter form is accepted too (not both in one
 * watch). YAML is read as PyYAML reads it (src/config/yaml11.ts), and a key written twice in
 * one mapping is an error here: in a watch it would silently drop an option.
 */
export function parseYamlWatches(source: string, file: string): WatchFile {
  const context = new WatchFileContext(file);
  const document = loadDocument(source, file);
  const duplicate = duplicateKeyWarnings(file, document.duplicateKeys)[0];
  if (duplicate) context.fail(duplicate, duplicate.message.replace(': the last one wins', ''));
  const { list, path } = watchList(document, context);
  const watches: WatchSpec[] = list.map((entry, index) =>
    readEntry(entry, [...path, index], index + 1, document, context),
  );
  return { file, watches, warnings: context.warnings };
}

type Path = (string | number)[];

function loadDocument(source: string, file: string): YamlDocument {
  try {
    return loadYaml11(source, file);
  } catch (error) {
    if (error instanceof YamlSyntaxError) {
      throw new WatchConfigError(file, { line: error.line, column: error.column }, error.reason);
    }
    throw error;
  }
}

function watchList(document: YamlDocument, context: WatchFileContext): { list: unknown[]; path: Path } {
  const root = document.value;
  if (root === null) return { list: [], path: [] };
  if (Array.isArray(root)) return { list: root, path: [] };
  if (isMapping(root)) {
    const entries = entriesOf(root);
    const other = entries.find(([key]) => key !== 'watches');
    if (other) {
      context.fail(
        document.locate([String(other[0])]),
        `unknown top-level key ${JSON.stringify(other[0])}: only watches is allowed`,
      );
    }
    const list = entries[0]?.[1];
    if (list === null || list === undefined) return { list: [], path: ['watches'] };
    if (Array.isArray(list)) return { list, path: ['watches'] };
    context.fail(document.locate(['watches']), 'watches must be a list of watches');
  }
  return context.fail(
    document.locate([]),
    'a watch file holds a list of watches (or a mapping with watches: [...])',
  );
}

function readEntry(
  entry: unknown,
  path: Path,
  index: number,
  document: YamlDocument,
  context: WatchFileContext,
): WatchSpec {
  const at = document.locate(path);
  if (!isMapping(entry)) return context.fail(at, 'each watch must be a mapping of RegisterWatch options');
  const options = new Map<string, WatchOption>();
  for (const [key, value] of entriesOf(entry)) {
    const keyAt = document.locate([...path, String(key)]);
    if (typeof key !== 'string') {
      context.fail(keyAt, `option names are strings, found ${JSON.stringify(key)}`);
    }
    if (key === 'exec' || key === 'action') {
      if (options.has('action')) {
        context.fail(keyAt, 'give either action: {exec: ...} or exec: ..., not both');
      }
      options.set('action', { value: yamlAction(key, value, keyAt, context), at: keyAt });
    } else if (ALL_PARAMETERS.includes(key)) {
      options.set(key, { value: yamlOption(key, value, keyAt, context), at: keyAt });
    } else {
      context.fail(
        keyAt,
        `unknown option ${JSON.stringify(key)} (a watch takes ${ALL_PARAMETERS.join(', ')}, or exec)`,
      );
    }
  }
  return buildWatchSpec({ at, index, options }, context);
}

/** A YAML value as the Python value the same text would be in a `.twc` file. */
function fromYaml(value: unknown): PyValue {
  if (value === null || value === undefined) return { kind: 'none' };
  if (typeof value === 'string') return { kind: 'str', value };
  if (typeof value === 'boolean') return { kind: 'bool', value };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { kind: 'int', value } : { kind: 'float', value };
  }
  if (Array.isArray(value)) return { kind: 'list', items: value.map(fromYaml) };
  return { kind: 'foreign', name: isMapping(value) ? 'a mapping' : `a ${typeof value} (${String(value)})` };
}

function yamlAction(key: string, value: unknown, at: SourcePoint, context: WatchFileContext): PyValue {
  let command: unknown = value;
  if (key === 'action') {
    const entries = isMapping(value) ? entriesOf(value) : [];
    if (entries.length !== 1 || entries[0][0] !== 'exec') {
      context.fail(at, "action must be {exec: 'shell command'} or {exec: [argv, ...]}");
    }
    command = entries[0][1];
  }
  const result = execCommand(fromYaml(command));
  if (typeof result === 'object' && !Array.isArray(result)) return context.fail(at, result.problem);
  return { kind: 'exec', command: result };
}

/** Names that a `.twc` file writes as Python names are strings in YAML. */
function yamlOption(key: string, value: unknown, at: SourcePoint, context: WatchFileContext): PyValue {
  if (typeof value === 'string') {
    const upper = value.toUpperCase();
    if (key === 'run_mode' && upper in RUN_MODE_NUMBERS) {
      return {
        kind: 'int',
        value: RUN_MODE_NUMBERS[upper as keyof typeof RUN_MODE_NUMBERS],
        constant: upper,
      };
    }
    if (key === 'watch_type' && upper in WATCH_TYPE_NUMBERS) {
      return {
        kind: 'int',
        value: WATCH_TYPE_NUMBERS[upper as keyof typeof WATCH_TYPE_NUMBERS],
        constant: upper,
      };
    }
    if (key === 'notify_signal') return yamlSignal(upper, at, context);
    if (key === 'on_failure' && (upper === 'KEEP_WATCHING' || upper === 'STOP_WATCHING')) {
      return {
        kind: 'policy',
        policy: { kind: upper === 'KEEP_WATCHING' ? 'keep' : 'stop' },
        constant: upper,
      };
    }
  }
  if (key === 'on_failure' && isMapping(value)) return yamlRetry(value, at, context);
  return fromYaml(value);
}

function yamlSignal(name: string, at: SourcePoint, context: WatchFileContext): PyValue {
  const full = name.startsWith('SIG') ? name : `SIG${name}`;
  const number = SIGNAL_NUMBERS.get(full);
  if (number === undefined) return context.fail(at, `notify_signal: unknown signal ${JSON.stringify(name)}`);
  return { kind: 'int', value: number, constant: full };
}

function yamlRetry(
  value: Map<unknown, unknown> | Record<string, unknown>,
  at: SourcePoint,
  context: WatchFileContext,
): PyValue {
  const fields = new Map(entriesOf(value));
  const unknown = [...fields.keys()].find((key) => key !== 'retry' && key !== 'backoff' && key !== 'then');
  if (unknown !== undefined) {
    context.fail(at, `on_failure: unknown key ${JSON.stringify(unknown)} (it takes retry, backoff, then)`);
  }
  const then = fields.get('then');
  const policy = retryPolicy(
    fromYaml(fields.get('retry')),
    fromYaml(fields.get('backoff')),
    typeof then === 'string' ? yamlOption('on_failure', then, at, context) : fromYaml(then),
  );
  if ('problem' in policy) return context.fail(at, `on_failure: ${policy.problem}`);
  return { kind: 'policy', policy };
}
