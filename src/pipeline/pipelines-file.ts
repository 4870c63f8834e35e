import { entriesOf, isMapping, loadYaml11, plainFromYaml, YamlSyntaxError } from '../config/yaml11';
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
  const known = handlerMap(knownHandlers);
  const errors: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  const pipelines = new Map<string, PipelineHandlerEntry[]>();
  const line = (path: (string | number)[]): number => {
    if (!source.locate) return 0;
    // An empty node (`-` alone) has no position of its own: fall back to its parent's.
    const at = source.locate(path).line;
    return path.length > 0 ? Math.max(at, line(path.slice(0, -1))) : at;
  };
  const problem = (
    list: ConfigProblem[],
    severity: ConfigProblem['severity'],
    path: (string | number)[],
    pipeline: string | undefined,
    message: string,
  ) => list.push({ severity, file: source.filename, line: line(path), pipeline, message });

  for (const duplicate of source.duplicateKeys ?? []) {
    warnings.push({
      severity: 'warning',
      file: source.filename,
      line: duplicate.position.line,
      message: `key ${JSON.stringify(duplicate.key)} appears twice in one mapping: the last one wins`,
    });
  }
  const doc = source.value;
  if (doc === null || doc === undefined) {
    problem(
      errors,
      'error',
      [],
      undefined,
      'the file defines no pipelines: expected a mapping of pipeline name to handlers',
    );
    return { pipelines, errors, warnings };
  }
  if (!isMapping(doc)) {
    problem(
      errors,
      'error',
      [],
      undefined,
      `expected a mapping of pipeline name to a list of handlers, found ${shown(doc)}`,
    );
    return { pipelines, errors, warnings };
  }
  for (const [rawName, list] of entriesOf(doc)) {
    const name = String(rawName);
    if (typeof rawName !== 'string') {
      problem(
        errors,
        'error',
        [name],
        name,
        `a pipeline name must be text, found ${shown(rawName)}; quote it`,
      );
      continue;
    }
    if (!Array.isArray(list)) {
      problem(errors, 'error', [name], name, `expected a list of handlers, found ${shown(list)}`);
      pipelines.set(name, []); // it exists, broken: triggers naming it are not wrong too
      continue;
    }
    if (list.length === 0)
      problem(
        warnings,
        'warning',
        [name],
        name,
        'has no handlers: its streams are completed without any work',
      );
    const steps: PipelineHandlerEntry[] = [];
    list.forEach((entry, i) => {
      const path = [name, i];
      let handler: string;
      let params: Record<string, unknown> = {};
      if (typeof entry === 'string') {
        handler = entry;
      } else if (isMapping(entry)) {
        const fields = new Map(entriesOf(entry).map(([k, v]) => [String(k), v]));
        const rawHandler = fields.get('name');
        if (typeof rawHandler !== 'string' || rawHandler === '') {
          problem(
            errors,
            'error',
            path,
            name,
            `handler ${i + 1} has no name: a handler is a name or {name, params}`,
          );
          return;
        }
        handler = rawHandler;
        for (const key of fields.keys()) {
          if (!ENTRY_KEYS.has(key))
            problem(
              warnings,
              'warning',
              [...path, key],
              name,
              `handler '${handler}': unknown key '${key}' ignored`,
            );
        }
        const rawParams = fields.get('params');
        if (rawParams !== undefined && rawParams !== null) {
          if (!isMapping(rawParams)) {
            problem(
              errors,
              'error',
              [...path, 'params'],
              name,
              `handler '${handler}': params must be a mapping, found ${shown(rawParams)}`,
            );
            return;
          }
          params = plainFromYaml(rawParams, { nullPrototype: true }) as Record<string, unknown>;
        }
      } else {
        problem(errors, 'error', path, name, `a handler is a name or {name, params}, found ${shown(entry)}`);
        return;
      }
      if (!known.has(handler)) {
        problem(
          errors,
          'error',
          path,
          name,
          `unknown handler '${handler}' (known: ${[...known.keys()].sort().join(', ')}; add your own under pipeline_handlers in winchester.yaml)`,
        );
        return;
      }
      try {
        known.get(handler)?.validateParams?.(params);
      } catch (error) {
        const at = isMapping(entry) ? [...path, 'params'] : path;
        problem(errors, 'error', at, name, `handler '${handler}': ${(error as Error).message}`);
        return;
      }
      steps.push({ name: handler, params, line: line(path) });
    });
    pipelines.set(name, steps);
  }
  return { pipelines, errors, warnings };
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
