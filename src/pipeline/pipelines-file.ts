import {
  duplicateKeyWarnings,
  entriesOf,
  isMapping,
  loadYaml11,
  plainFromYaml,
  YamlSyntaxError,
} from '../config/yaml11';
import { ConfigProblem } from '../config/errors';
import { TriggerSource } from '../triggers/load';

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
  errors: ConfigProblem[];
  warnings: ConfigProblem[];
}

const ENTRY_KEYS = new Set(['name', 'params']);

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
 * Checks the structure of pipelines.yaml: `pipeline name: [handler | {name, params}]`, every
 * handler known, params a mapping. Problems carry file and line; handler params are the
 * handlers' own business (the pipeline loader validates them).
 */
export function checkPipelines(source: TriggerSource, knownHandlers: KnownHandlers): PipelinesCheckResult {
  const checker = new PipelinesChecker(source, handlerMap(knownHandlers));
  checker.check();
  return { pipelines: checker.pipelines, errors: checker.errors, warnings: checker.warnings };
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

  private error(path: Path, pipeline: string | undefined, message: string): void {
    this.errors.push(this.problem('error', path, pipeline, message));
  }

  private warn(path: Path, pipeline: string | undefined, message: string): void {
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

  private checkPipeline(rawName: unknown, list: unknown): void {
    const name = String(rawName);
    if (typeof rawName !== 'string') {
      this.error([name], name, `a pipeline name must be text, found ${shown(rawName)}; quote it`);
      return;
    }
    if (!Array.isArray(list)) {
      this.error([name], name, `expected a list of handlers, found ${shown(list)}`);
      this.pipelines.set(name, []); // it exists, broken: triggers naming it are not wrong too
      return;
    }
    if (list.length === 0)
      this.warn([name], name, 'has no handlers: its streams are completed without any work');
    const steps: PipelineHandlerEntry[] = [];
    list.forEach((entry, i) => {
      const step = this.handlerStep(entry, name, i);
      if (step) steps.push(step);
    });
    this.pipelines.set(name, steps);
  }

  /** The pipeline's step for one entry, or null when the entry has a problem (reported). */
  private handlerStep(entry: unknown, pipeline: string, index: number): PipelineHandlerEntry | null {
    const path = [pipeline, index];
    const use = this.handlerUse(entry, pipeline, index);
    if (!use || !this.isUsable(use, path, pipeline)) return null;
    return { name: use.handler, params: use.params, line: this.line(path) };
  }

  /** What an entry asks for: a bare handler name, or `{name, params}`. */
  private handlerUse(entry: unknown, pipeline: string, index: number): HandlerUse | null {
    if (typeof entry === 'string') return { handler: entry, params: {}, paramsPath: [pipeline, index] };
    if (isMapping(entry)) return this.handlerUseFromMapping(entry, pipeline, index);
    this.error([pipeline, index], pipeline, `a handler is a name or {name, params}, found ${shown(entry)}`);
    return null;
  }

  private handlerUseFromMapping(
    entry: Map<unknown, unknown> | Record<string, unknown>,
    pipeline: string,
    index: number,
  ): HandlerUse | null {
    const path = [pipeline, index];
    const fields = new Map(entriesOf(entry).map(([k, v]) => [String(k), v]));
    const handler = fields.get('name');
    if (typeof handler !== 'string' || handler === '') {
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
        errors: [{ severity: 'error', file, line: error.line, message: `not valid YAML: ${error.reason}` }],
        warnings: [],
      };
    }
    throw error;
  }
}
