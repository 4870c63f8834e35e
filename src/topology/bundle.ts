import { resolve } from 'node:path';
import { ConfigurationError } from '../config/errors';
import { PipelineHandlerEntry } from '../pipeline/pipelines-file';
import { checkTopology, TopologyCheckResult } from './bundle-check';
import { WinchesterConfig } from '../config/winchester-config';
import { Distiller } from '../distiller';
import { isHandlerDefinition } from '../pipeline/config';
import { HandlerDefinition } from '../pipeline/handler';
import { builtinHandlerMap } from '../pipeline/handlers';
import { PipelineStep } from '../pipeline/runner';
import { RetryPolicy } from '../pipeline/retry';
import { TriggerRuntime } from '../streams/trigger-runtime';
import { ConfigProblem, formatProblem, triggerRuntime } from '../triggers';
import { DistillFunction } from './distiller-role';

/** Everything a role needs from a topology bundle directory and winchester.yaml. */
export interface LoadedTopology {
  dir: string;
  config: WinchesterConfig;
  distiller: Distiller;
  distill: DistillFunction;
  triggers: TriggerRuntime[];
  pipelines: Map<string, PipelineStep[]>;
  /** Retry policies of the pipelines that have one; the others are run once. */
  retries: Map<string, RetryPolicy>;
  handlers: Map<string, HandlerDefinition>;
  warnings: string[];
}

/** A bundle a role cannot start with: every error, one `file:line: message` a line, as `winchester check` prints them. */
export class TopologyConfigError extends ConfigurationError {
  constructor(
    readonly problems: readonly ConfigProblem[],
    readonly warnings: readonly ConfigProblem[],
  ) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'TopologyConfigError';
  }
}

/**
 * Loads a bundle for a role through `winchester check`'s own loader (checkTopology), so a
 * bundle that check passes starts, and one that fails at start fails check with the same words.
 */
export function loadTopology(dir: string, config: WinchesterConfig): LoadedTopology {
  const checked = checkTopology(dir, { config, knownHandlers: builtinHandlerMap() });
  if (checked.errors.length > 0 || !checked.distiller) {
    throw new TopologyConfigError(checked.errors, checked.warnings);
  }
  const distiller = checked.distiller;
  return {
    dir: resolve(dir),
    config,
    distiller,
    distill: distillFunction(distiller),
    triggers: checked.triggers.map(triggerRuntime),
    pipelines: pipelineSteps(checked.pipelines),
    retries: checked.retries,
    handlers: handlerDefinitions(checked),
    warnings: checked.warnings.map(formatProblem),
  };
}

function distillFunction(distiller: Distiller): DistillFunction {
  return (text) => distiller.outcome(text);
}

function pipelineSteps(pipelines: Map<string, PipelineHandlerEntry[]>): Map<string, PipelineStep[]> {
  return new Map(
    [...pipelines].map(([name, entries]) => [name, entries.map(({ name, params }) => ({ name, params }))]),
  );
}

/** The check ran with definitions only (built-ins and loaded modules); anything else is a bug here. */
function handlerDefinitions(checked: TopologyCheckResult): Map<string, HandlerDefinition> {
  const out = new Map<string, HandlerDefinition>();
  for (const [name, handler] of checked.knownHandlers) {
    if (!isHandlerDefinition(handler))
      throw new Error(`handler '${name}' was checked but has no implementation`);
    out.set(name, handler);
  }
  return out;
}
