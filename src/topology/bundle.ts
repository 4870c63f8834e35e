import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { WinchesterConfig, configDir } from '../config/winchester-config';
import { ConfigurationError } from '../config/environment';
import { Distiller, isDistillError, isDropped, loadEventDefinitions, loadTraitPluginMap } from '../distiller';
import { HandlerDefinition } from '../pipeline/handler';
import { builtinHandlers } from '../pipeline/handlers';
import { loadCustomHandlers, loadPipelines } from '../pipeline/config';
import { PipelineStep } from '../pipeline/runner';
import { TriggerRuntime } from '../streams/trigger-runtime';
import { loadTriggerRuntimes } from './trigger-adapter';
import { DistillFunction } from './distiller-role';

/** Everything a role needs from a topology bundle directory and winchester.yaml. */
export interface LoadedTopology {
  dir: string;
  config: WinchesterConfig;
  distiller: Distiller;
  distill: DistillFunction;
  triggers: TriggerRuntime[];
  pipelines: Map<string, PipelineStep[]>;
  handlers: Map<string, HandlerDefinition>;
  warnings: string[];
}

export function loadTopology(dir: string, config: WinchesterConfig): LoadedTopology {
  const root = resolve(dir);
  const file = (name: string) => {
    const path = join(root, name);
    if (!existsSync(path)) throw new ConfigurationError(`${path}: missing from the topology bundle ${root}`);
    return path;
  };
  const plugins = loadTraitPluginMap(config.distillerTraitPlugins, configDir(config));
  const distiller = loadEventDefinitions(file(config.files.eventDefinitions), {
    catchAll: config.catchAllNotifications,
    plugins,
  });
  const handlers = new Map<string, HandlerDefinition>(Object.entries(builtinHandlers));
  if (config.file) {
    for (const [name, definition] of loadCustomHandlers(config.pipelineHandlers, config.file)) {
      handlers.set(name, definition);
    }
  }
  const pipelines = loadPipelines(file(config.files.pipelines), handlers);
  const { triggers, warnings: triggerWarnings } = loadTriggerRuntimes(file(config.files.triggers), pipelines);
  const distill: DistillFunction = (text) => {
    const result = distiller.distillText(text);
    if (isDistillError(result)) return result;
    if (isDropped(result)) return { kind: 'dropped', reason: result.reason };
    return { kind: 'event', event: result };
  };
  return {
    dir: root,
    config,
    distiller,
    distill,
    triggers,
    pipelines,
    handlers,
    warnings: [
      ...config.warnings,
      ...distiller.warnings.map((w) => `${w.file}:${w.line}: ${w.message}`),
      ...triggerWarnings,
    ],
  };
}
