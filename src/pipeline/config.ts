import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { readPipelines } from './pipelines-file';
import { configDir, HandlerReference, WinchesterConfig } from '../config/winchester-config';
import { ConfigProblem, ConfigurationError, formatProblem } from '../config/errors';
import { HandlerDefinition, PipelineHandler, HandlerContext } from './handler';
import { builtinHandlers, UPSTREAM_HANDLER_CLASSES } from './handlers';
import { RetryPolicy } from './retry';
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

/** What pipelines.yaml defines: each pipeline's steps, and the retry policy of those that have one. */
export interface PipelineDefinitions {
  pipelines: Map<string, PipelineStep[]>;
  retries: Map<string, RetryPolicy>;
}

/**
 * Loads pipelines.yaml with the checks `winchester check` runs (`name: [handler | {name,
 * params}]` or `name: {handlers, retry}`, every handler known, params valid, retry policies
 * sound), failing at start on the first problems with file and line.
 */
export function parsePipelineDefinitions(
  text: string,
  file: string,
  handlers: ReadonlyMap<string, HandlerDefinition>,
): PipelineDefinitions {
  const { pipelines, retries, errors } = readPipelines(text, file, handlers);
  if (errors.length > 0) {
    throw new PipelineConfigError(file, errors.map(formatProblem).join('\n'));
  }
  const steps = new Map(
    [...pipelines].map(([name, entries]) => [name, entries.map(({ name, params }) => ({ name, params }))]),
  );
  return { pipelines: steps, retries };
}

/** The pipelines' steps alone (parsePipelineDefinitions). */
export function parsePipelines(
  text: string,
  file: string,
  handlers: ReadonlyMap<string, HandlerDefinition>,
): Map<string, PipelineStep[]> {
  return parsePipelineDefinitions(text, file, handlers).pipelines;
}

export function loadPipelines(file: string, handlers: ReadonlyMap<string, HandlerDefinition>) {
  return parsePipelines(readFileSync(file, 'utf8'), file, handlers);
}

type HandlerClass = new (params: Record<string, unknown>, context: HandlerContext) => PipelineHandler;

/** Python's `module.path:Class`, as upstream names handlers (optionally `dir|module:Class`). */
const PYTHON_CLASS_PATH = /^(?:[^|#]*\|)?[A-Za-z_][\w.]*:[A-Za-z_]\w*$/;

/** A `pipeline_handlers` entry that names no usable handler; `message` says what to write instead. */
class HandlerReferenceError extends Error {}

/** The handlers pipelines may name once winchester.yaml's `pipeline_handlers` are added. */
export interface ConfiguredHandlers<V> {
  /** An entry that could not be loaded stays known (as null), so pipelines naming it are not reported twice. */
  handlers: Map<string, V | HandlerDefinition | null>;
  errors: ConfigProblem[];
}

/**
 * The known handlers plus winchester.yaml's `pipeline_handlers`: upstream's Python classes
 * become the built-ins that do their job, module paths are loaded. Roles and `winchester
 * check` both go through here, so they accept and refuse the same entries, with the same words.
 */
export function withConfiguredHandlers<V>(
  known: ReadonlyMap<string, V>,
  config: WinchesterConfig | null,
): ConfiguredHandlers<V> {
  const handlers = new Map<string, V | HandlerDefinition | null>(known);
  const errors: ConfigProblem[] = [];
  if (!config) return { handlers, errors };
  for (const [name, reference] of Object.entries(config.pipelineHandlers)) {
    try {
      handlers.set(name, resolveHandlerReference(reference, configDir(config)));
    } catch (error) {
      if (!(error instanceof HandlerReferenceError)) throw error;
      const message = `pipeline_handlers.${name}: ${error.message}`;
      errors.push({ severity: 'error', file: reference.file, line: reference.line, message });
      handlers.set(name, null);
    }
  }
  return { handlers, errors };
}

function resolveHandlerReference(reference: HandlerReference, baseDir: string): HandlerDefinition {
  if (PYTHON_CLASS_PATH.test(reference.target)) return upstreamHandler(reference.target);
  return loadHandlerModule(reference.target, baseDir);
}

/** One of upstream's handler classes as the built-in that does its job; any other Python class is refused. */
function upstreamHandler(target: string): HandlerDefinition {
  const builtin = UPSTREAM_HANDLER_CLASSES[target.slice(target.indexOf('|') + 1)];
  if (builtin) return builtinHandlers[builtin];
  const upstream = Object.entries(UPSTREAM_HANDLER_CLASSES)
    .map(([path, name]) => `${path.split(':')[1]} → ${name}`)
    .join(', ');
  throw new HandlerReferenceError(
    `${target} is a Python class, which cannot run here. Upstream's own classes (winchester.pipeline_handler:` +
      `${upstream}) run as built-in handlers, and pipelines can name any built-in without an entry here: ` +
      `${Object.keys(builtinHandlers).sort().join(', ')}. For a handler of your own, write a JavaScript ` +
      'module exporting a class with handleEvents(events, env), commit() and rollback() (or an object ' +
      'with create(params, context)) and name it here as ./path/to/module.js#ExportName, relative to this file',
  );
}

/**
 * A handler module `./path/or/package#Export`, a path relative to winchester.yaml. The export
 * is a HandlerDefinition ({create}) or a class constructed with (params, context).
 */
function loadHandlerModule(target: string, baseDir: string): HandlerDefinition {
  const [modulePath, exportName = 'default'] = target.split('#');
  const resolved =
    modulePath.startsWith('.') || isAbsolute(modulePath) ? resolve(baseDir, modulePath) : modulePath;
  let loaded: Record<string, unknown>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(resolved) as Record<string, unknown>;
  } catch (error) {
    // Node's message goes on with the require stack: the first line says what is wrong.
    const reason = String((error as Error)?.message ?? error).split('\n')[0];
    throw new HandlerReferenceError(`cannot load ${resolved}: ${reason}`);
  }
  const exported = loaded[exportName] ?? (exportName === 'default' ? loaded : undefined);
  if (isHandlerDefinition(exported)) return exported;
  if (typeof exported === 'function') {
    const Class = exported as HandlerClass;
    return { create: (params, context) => new Class(params, context) };
  }
  throw new HandlerReferenceError(
    `${resolved} has no export "${exportName}" that is a handler class or {create}`,
  );
}

export function isHandlerDefinition(value: unknown): value is HandlerDefinition {
  return (
    typeof value === 'object' && value !== null && typeof (value as HandlerDefinition).create === 'function'
  );
}
