import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigurationError } from '../config/environment';
import { readPipelines } from '../config/pipelines-check';
import { formatProblem } from '../triggers/errors';
import { HandlerDefinition, PipelineHandler, HandlerContext } from './handler';
import { PipelineStep } from './runner';

export class PipelineConfigError extends ConfigurationError {
  constructor(
    readonly file: string,
    message: string,
  ) {
    // Problems from the check already start with `file:line:`.
    super(message.startsWith(file) ? message : `${file}: ${message}`);
    this.name = 'PipelineConfigError';
  }
}

/**
 * Loads pipelines.yaml with the checks `winchester check` runs (`name: [handler | {name,
 * params}]`, every handler known, params valid), failing at start on the first problems with
 * file and line.
 */
export function parsePipelines(
  text: string,
  file: string,
  handlers: ReadonlyMap<string, HandlerDefinition>,
): Map<string, PipelineStep[]> {
  const { pipelines, errors } = readPipelines(text, file, handlers);
  if (errors.length > 0) {
    throw new PipelineConfigError(file, errors.map(formatProblem).join('\n'));
  }
  return new Map(
    [...pipelines].map(([name, steps]) => [name, steps.map(({ name, params }) => ({ name, params }))]),
  );
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
