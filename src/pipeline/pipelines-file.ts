import {
  duplicateKeyWarnings,
  entriesOf,
  isMapping,
  loadYaml11,
  plainFromYaml,
  YamlSyntaxError,
} from '../config/yaml11';
import { ConfigProblem } from '../config/errors';
import { DURATION_EXPECTED, durationSeconds } from '../config/winchester-config';
import { TriggerSource } from '../triggers/load';
import { DEFAULT_BACKOFF_SECONDS, DEFAULT_MAX_BACKOFF_SECONDS, RetryPolicy } from './retry';

/**
 * Handler names Winchester shipped (winchester/pipeline_handler.py): LoggingHandler, UsageHandler,
 * NotabeneHandler, AtomPubHandler under the names its docs use. Callers add their own (the
 * project's built-in handlers, `pipeline_handlers` of winchester.yaml).
 */
export const UPSTREAM_HANDLER_NAMES: readonly string[] = ['logger', 'usage', 'notabene', 'atompub'];

/** One handler of a pipeline, as pipelines.yaml gives it. */
export interface PipelineHandlerEntry {
  name: string;
  params: Record<string, unknown>;
  line: number;
}

export interface PipelinesCheckResult {
  pipelines: Map<string, PipelineHandlerEntry[]>;
  /** The retry policy of each pipeline written as `{handlers, retry}`; the others never retry. */
  retries: Map<string, RetryPolicy>;
  errors: ConfigProblem[];
  warnings: ConfigProblem[];
}

const ENTRY_KEYS = new Set(['name', 'params']);
const PIPELINE_KEYS = new Set(['handlers', 'retry']);
const RETRY_KEYS = new Set(['attempts', 'backoff', 'max_backoff']);
/** More attempts than this is a mistake (a stream would wait in retries for days), not a policy. */
const MAX_ATTEMPTS = 100;

/** A handler kind as far as checking goes: `validateParams` throws when params are wrong. */
export interface HandlerParamsValidator {
  validateParams?(params: Record<string, unknown>): void;
}

/** Handler names, or handler definitions by name whose params are then validated too. */
export type KnownHandlers = Iterable<string> | ReadonlyMap<string, HandlerParamsValidator | null>;

export function handlerMap(known: KnownHandlers): Map<string, HandlerParamsValidator | null> {
  if (known instanceof Map) return new Map(known);
  return new Map([...(known as Iterable<string>)].map((name) => [name, null]));
}

function shown(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (null)';
  if (Array.isArray(value)) return 'a list';
  if (isMapping(value)) return 'a mapping';
  return JSON.stringify(value);
}

/**
 * Checks the structure of pipelines.yaml: `pipeline name: [handler | {name, params}]` or
 * `pipeline name: {handlers: [...], retry: {attempts, backoff, max_backoff}}`, every handler
 * known, params a mapping, a retry policy that makes sense. Problems carry file and line;
 * handler params are the handlers' own business (their `validateParams` says what is wrong).
 */
export function checkPipelines(source: TriggerSource, knownHandlers: KnownHandlers): PipelinesCheckResult {
  const checker = new PipelinesChecker(source, handlerMap(knownHandlers));
  checker.check();
  const { pipelines, retries, errors, warnings } = checker;
  return { pipelines, retries, errors, warnings };
}

type Path = (string | number)[];

/** A handler entry as read, before checking that the handler exists and takes these params. */
interface HandlerUse {
  handler: string;
  params: Record<string, unknown>;
  /** Where params the handler rejects are reported: the entry's `params`, or the entry itself. */
  paramsPath: Path;
}

/** One pass over a pipelines file, collecting every problem instead of stopping at the first. */
class PipelinesChecker {
  readonly errors: ConfigProblem[] = [];
  readonly warnings: ConfigProblem[] = [];
  readonly pipelines = new Map<string, PipelineHandlerEntry[]>();
  readonly retries = new Map<string, RetryPolicy>();

  constructor(
    private readonly source: TriggerSource,
    private readonly known: Map<string, HandlerParamsValidator | null>,
  ) {}

  check(): void {
    this.reportDuplicateKeys();
    const doc = this.source.value;
    if (doc === null || doc === undefined) {
      this.error(
        [],
        undefined,
        'the file defines no pipelines: expected a mapping of pipeline name to handlers',
      );
      return;
    }
    if (!isMapping(doc)) {
      this.error(
        [],
        undefined,
        `expected a mapping of pipeline name to a list of handlers, found ${shown(doc)}`,
      );
      return;
    }
    for (const [rawName, list] of entriesOf(doc)) this.checkPipeline(rawName, list);
  }

  private line(path: Path): number {
    if (!this.source.locate) return 0;
    // An empty node (`-` alone) has no position of its own: fall back to its parent's.
    const at = this.source.locate(path).line;
    return path.length > 0 ? Math.max(at, this.line(path.slice(0, -1))) : at;
  }

  error(path: Path, pipeline: string | undefined, message: string): void {
    this.errors.push(this.problem('error', path, pipeline, message));
  }

  warn(path: Path, pipeline: string | undefined, message: string): void {
    this.warnings.push(this.problem('warning', path, pipeline, message));
  }

  private problem(
    severity: ConfigProblem['severity'],
    path: Path,
    pipeline: string | undefined,
    message: string,
  ): ConfigProblem {
    return { severity, file: this.source.filename, line: this.line(path), pipeline, message };
  }

  private reportDuplicateKeys(): void {
    for (const { severity, file, line, message } of duplicateKeyWarnings(
      this.source.filename,
      this.source.duplicateKeys,
    )) {
      this.warnings.push({ severity, file, line, message });
    }
  }

  private checkPipeline(rawName: unknown, value: unknown): void {
    const name = String(rawName);
    if (typeof rawName !== 'string') {
      this.error([name], name, `a pipeline name must be text, found ${shown(rawName)}; quote it`);
      return;
    }
    if (isMapping(value)) {
      this.checkPipelineMapping(name, value);
      return;
    }
    this.checkHandlerList(name, [name], value);
  }

  /** `name: {handlers: [...], retry: {...}}`: the handler list, and its retry policy if given. */
  private checkPipelineMapping(name: string, value: Map<unknown, unknown> | Record<string, unknown>): void {
    const fields = new Map(entriesOf(value).map(([k, v]) => [String(k), v]));
    for (const key of fields.keys()) {
      if (!PIPELINE_KEYS.has(key))
        this.warn([name, key], name, `unknown key '${key}' ignored (a pipeline has handlers and retry)`);
    }
    if (!fields.has('handlers')) {
      this.error([name], name, 'has no handlers: a pipeline written as a mapping needs `handlers: [...]`');
      this.pipelines.set(name, []);
    } else {
      this.checkHandlerList(name, [name, 'handlers'], fields.get('handlers'));
    }
    const retry = fields.get('retry');
    if (retry === undefined || retry === null) return;
    const policy = new RetryPolicyReader(this, name).read(retry);
    if (policy) this.retries.set(name, policy);
  }

  /** The pipeline's handler list, at `path` (the pipeline itself, or its `handlers`). */
  private checkHandlerList(name: string, path: Path, list: unknown): void {
    if (!Array.isArray(list)) {
      this.error(path, name, `expected a list of handlers, found ${shown(list)}`);
      this.pipelines.set(name, []); // it exists, broken: triggers naming it are not wrong too
      return;
    }
    if (list.length === 0)
      this.warn(path, name, 'has no handlers: its streams are completed without any work');
    const steps: PipelineHandlerEntry[] = [];
    list.forEach((entry, i) => {
      const step = this.handlerStep(entry, name, [...path, i]);
      if (step) steps.push(step);
    });
    this.pipelines.set(name, steps);
  }

  /** The pipeline's step for one entry (at `path`), or null when the entry has a problem (reported). */
  private handlerStep(entry: unknown, pipeline: string, path: Path): PipelineHandlerEntry | null {
    const use = this.handlerUse(entry, pipeline, path);
    if (!use || !this.isUsable(use, path, pipeline)) return null;
    return { name: use.handler, params: use.params, line: this.line(path) };
  }

  /** What an entry asks for: a bare handler name, or `{name, params}`. */
  private handlerUse(entry: unknown, pipeline: string, path: Path): HandlerUse | null {
    if (typeof entry === 'string') return { handler: entry, params: {}, paramsPath: path };
    if (isMapping(entry)) return this.handlerUseFromMapping(entry, pipeline, path);
    this.error(path, pipeline, `a handler is a name or {name, params}, found ${shown(entry)}`);
    return null;
  }

  private handlerUseFromMapping(
    entry: Map<unknown, unknown> | Record<string, unknown>,
    pipeline: string,
    path: Path,
  ): HandlerUse | null {
    const fields = new Map(entriesOf(entry).map(([k, v]) => [String(k), v]));
    const handler = fields.get('name');
    if (typeof handler !== 'string' || handler === '') {
      const index = Number(path[path.length - 1]);
      this.error(path, pipeline, `handler ${index + 1} has no name: a handler is a name or {name, params}`);
      return null;
    }
    for (const key of fields.keys()) {
      if (!ENTRY_KEYS.has(key))
        this.warn([...path, key], pipeline, `handler '${handler}': unknown key '${key}' ignored`);
    }
    const paramsPath = [...path, 'params'];
    const params = this.params(fields.get('params'), paramsPath, pipeline, handler);
    return params ? { handler, params, paramsPath } : null;
  }

  /** A handler's params as a plain object, {} when none are given; null when not a mapping (reported). */
  private params(
    raw: unknown,
    path: Path,
    pipeline: string,
    handler: string,
  ): Record<string, unknown> | null {
    if (raw === undefined || raw === null) return {};
    if (!isMapping(raw)) {
      this.error(path, pipeline, `handler '${handler}': params must be a mapping, found ${shown(raw)}`);
      return null;
    }
    return plainFromYaml(raw, { nullPrototype: true }) as Record<string, unknown>;
  }

  /** Is the handler known, and does it accept these params? Reports why not. */
  private isUsable({ handler, params, paramsPath }: HandlerUse, path: Path, pipeline: string): boolean {
    if (!this.known.has(handler)) {
      this.error(
        path,
        pipeline,
        `unknown handler '${handler}' (known: ${[...this.known.keys()].sort().join(', ')}; add your own under pipeline_handlers in winchester.yaml)`,
      );
      return false;
    }
    try {
      this.known.get(handler)?.validateParams?.(params);
    } catch (error) {
      this.error(paramsPath, pipeline, `handler '${handler}': ${(error as Error).message}`);
      return false;
    }
    return true;
  }
}

/** checkPipelines on the text of a pipelines.yaml, read as PyYAML did. */
export function readPipelines(
  text: string,
  file: string,
  knownHandlers: KnownHandlers,
): PipelinesCheckResult {
  try {
    return checkPipelines(loadYaml11(text, file), knownHandlers);
  } catch (error) {
    if (error instanceof YamlSyntaxError) {
      return {
        pipelines: new Map(),
        retries: new Map(),
        errors: [{ severity: 'error', file, line: error.line, message: `not valid YAML: ${error.reason}` }],
        warnings: [],
      };
    }
    throw error;
  }
}

/** Where a retry policy's problems go: the checker of the file it is in. */
interface ProblemSink {
  error(path: Path, pipeline: string | undefined, message: string): void;
  warn(path: Path, pipeline: string | undefined, message: string): void;
}

/**
 * A pipeline's `retry: {attempts: N, backoff: 30s, max_backoff: 10m}`: attempts required (every
 * run counts, the first included), the durations as winchester.yaml writes them (`30s`, `10m`,
 * or a number of seconds), 30 s and 10 min when left out.
 */
class RetryPolicyReader {
  private ok = true;

  constructor(
    private readonly sink: ProblemSink,
    private readonly pipeline: string,
  ) {}

  read(raw: unknown): RetryPolicy | null {
    const path = [this.pipeline, 'retry'];
    if (!isMapping(raw)) {
      this.fail(path, `retry: expected a mapping {attempts, backoff, max_backoff}, found ${shown(raw)}`);
      return null;
    }
    const fields = new Map(entriesOf(raw).map(([k, v]) => [String(k), v]));
    for (const key of fields.keys()) {
      if (!RETRY_KEYS.has(key))
        this.sink.warn([...path, key], this.pipeline, `retry: unknown key '${key}' ignored`);
    }
    const attempts = this.attempts(fields.get('attempts'), path);
    const backoff = this.duration(fields.get('backoff'), [...path, 'backoff'], DEFAULT_BACKOFF_SECONDS);
    const maxBackoff = this.duration(
      fields.get('max_backoff'),
      [...path, 'max_backoff'],
      Math.max(DEFAULT_MAX_BACKOFF_SECONDS, backoff),
    );
    if (this.ok && maxBackoff < backoff) {
      this.fail(
        [...path, 'max_backoff'],
        `retry: max_backoff (${maxBackoff}s) is shorter than backoff (${backoff}s)`,
      );
    }
    return this.ok ? { attempts, backoffSeconds: backoff, maxBackoffSeconds: maxBackoff } : null;
  }

  private attempts(raw: unknown, path: Path): number {
    if (raw === undefined || raw === null) {
      this.fail(path, 'retry: attempts is required (every run counts: 3 = the first run and two retries)');
      return 1;
    }
    if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1 || raw > MAX_ATTEMPTS) {
      this.fail(
        [...path, 'attempts'],
        `retry: attempts must be an integer from 1 to ${MAX_ATTEMPTS}, found ${shown(raw)}`,
      );
      return 1;
    }
    return raw;
  }

  private duration(raw: unknown, path: Path, fallback: number): number {
    if (raw === undefined || raw === null) return fallback;
    const seconds =
      typeof raw === 'number' || typeof raw === 'string' ? durationSeconds(String(raw)) : undefined;
    if (seconds === undefined) {
      this.fail(path, `retry: ${path[path.length - 1]}: ${DURATION_EXPECTED}, found ${shown(raw)}`);
      return fallback;
    }
    return seconds;
  }

  private fail(path: Path, message: string): void {
    this.ok = false;
    this.sink.error(path, this.pipeline, message);
  }
}
