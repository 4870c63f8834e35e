import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { load, YAML11_SCHEMA } from 'js-yaml';
import { HandlerDefinition, HandlerParamsError, PipelineHandler, HandlerContext } from './handler';
import { PipelineStep } from './runner';

export class PipelineConfigError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'PipelineConfigError';
  }
}

/** Parses pipelines.yaml: `name: [handler | {name, params}]`, every handler known, params valid. */
export function parsePipelines(
  text: string,
  file: string,
  handlers: ReadonlyMap<string, HandlerDefinition>,
): Map<string, PipelineStep[]> {
  let doc: unknown;
  try {
    doc = load(text, { schema: YAML11_SCHEMA, filename: file });
  } catch (error) {
    throw new PipelineConfigError(file, (error as Error).message);
  }
  if (doc === null || doc === undefined) return new Map();
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new PipelineConfigError(file, 'expected a mapping of pipeline name to a list of handlers');
  }
  const pipelines = new Map<string, PipelineStep[]>();
  for (const [name, list] of Object.entries(doc as Record<string, unknown>)) {
    if (!Array.isArray(list))
      throw new PipelineConfigError(file, `pipeline ${name}: expected a list of handlers`);
    const steps: PipelineStep[] = [];
    for (const entry of list) {
      const step: PipelineStep | null =
        typeof entry === 'string'
          ? { name: entry, params: {} }
          : entry && typeof entry === 'object' && typeof (entry as { name?: unknown }).name === 'string'
            ? {
                name: (entry as { name: string }).name,
                params: ((entry as { params?: Record<string, unknown> }).params ?? {}) as Record<
                  string,
                  unknown
                >,
              }
            : null;
      if (!step) {
        throw new PipelineConfigError(
          file,
          `pipeline ${name}: a handler is a name or {name, params}, got ${JSON.stringify(entry)}`,
        );
      }
      const definition = handlers.get(step.name);
      if (!definition) {
        throw new PipelineConfigError(
          file,
          `pipeline ${name}: unknown handler "${step.name}" (known: ${[...handlers.keys()].sort().join(', ')}; ` +
            `add custom ones under pipeline_handlers in winchester.yaml)`,
        );
      }
      try {
        definition.validateParams?.(step.params);
      } catch (error) {
        const message = error instanceof HandlerParamsError ? error.message : String(error);
        throw new PipelineConfigError(file, `pipeline ${name}: ${message}`);
      }
      steps.push(step);
    }
    pipelines.set(name, steps);
  }
  return pipelines;
}

export function loadPipelines(file: string, handlers: ReadonlyMap<string, HandlerDefinition>) {
  return parsePipelines(readFileSync(file, 'utf8'), file, handlers);
}

type HandlerClass = new (params: Record<string, unknown>, context: HandlerContext) => PipelineHandler;

/**
 * Custom handlers named in winchester.yaml: `name: "./path/or/package#Export"`, a path
 * relative to the config file. The export is a HandlerDefinition ({create}) or a class
 * constructed with (params, context).
 */
export function loadCustomHandlers(
  spec: Record<string, string>,
  configFile: string,
): Map<string, HandlerDefinition> {
  const out = new Map<string, HandlerDefinition>();
  for (const [name, target] of Object.entries(spec)) {
    const [modulePath, exportName = 'default'] = target.split('#');
    const resolved =
      modulePath.startsWith('.') || isAbsolute(modulePath)
        ? resolve(dirname(configFile), modulePath)
        : modulePath;
    let loaded: Record<string, unknown>;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      loaded = require(resolved) as Record<string, unknown>;
    } catch (error) {
      throw new PipelineConfigError(
        configFile,
        `pipeline_handlers.${name}: cannot load ${resolved}: ${(error as Error).message}`,
      );
    }
    const exported = loaded[exportName] ?? (exportName === 'default' ? loaded : undefined);
    if (
      exported &&
      typeof exported === 'object' &&
      typeof (exported as HandlerDefinition).create === 'function'
    ) {
      out.set(name, exported as HandlerDefinition);
    } else if (typeof exported === 'function') {
      const Class = exported as HandlerClass;
      out.set(name, { create: (params, context) => new Class(params, context) });
    } else {
      throw new PipelineConfigError(
        configFile,
        `pipeline_handlers.${name}: ${resolved} has no export "${exportName}" that is a handler class or {create}`,
      );
    }
  }
  return out;
}
