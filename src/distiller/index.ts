/**
 * The distiller: StackDistiller-compatible event definitions turning OpenStack notifications
 * into flat events. Pure: no Kafka, no Redis. See docs/distiller.md.
 *
 *   const distiller = loadEventDefinitions('topologies/openstack-usage/event_definitions.yaml');
 *   const result = distiller.distillText(line); // WinchesterEvent | DistillDropped | DistillError
 */
import { readFileSync } from 'node:fs';
import { loadYaml11, YamlSyntaxError } from '../config/yaml11';
import { CompileOptions, compileEventDefinitions, EventDefinitionError } from './definitions';
import { Distiller, DistillerOptions } from './distiller';

export { Distiller } from './distiller';
export type { DistillerOptions } from './distiller';
export { EventDefinition, EventDefinitionError, compileEventDefinitions } from './definitions';
export type { CompileOptions, ConfigWarning } from './definitions';
export type { CompiledTrait } from './runner';
export { DistillDropped, DistillError, isDistillError, isDropped, isEvent, newDistillStats } from './outcome';
export type {
  DistillErrorCategory,
  DistillOutcome,
  DistillResult,
  DistillStats,
  DropReason,
} from './outcome';
export {
  instantiatePlugin,
  loadTraitPlugin,
  loadTraitPluginMap,
  loadTraitPlugins,
  parsePluginSpec,
  PluginLoadError,
} from './plugins';
export type { PythonStyleTraitPlugin, TraitPlugin, TraitPluginProvider } from './plugins';
export type { PathMatch } from './jsonpath';

export type LoadOptions = CompileOptions & DistillerOptions;

/** Compiles event definitions from YAML text; `filename` names it in errors. */
export function parseEventDefinitions(text: string, filename: string, options: LoadOptions = {}): Distiller {
  let document;
  try {
    document = loadYaml11(text, filename);
  } catch (error) {
    if (error instanceof YamlSyntaxError) {
      throw new EventDefinitionError(error.file, error.line, error.column, error.reason);
    }
    throw error;
  }
  return new Distiller(compileEventDefinitions(document, options), options);
}

/**
 * Loads an event_definitions.yaml (Winchester's files load unchanged) into a ready Distiller.
 * Throws EventDefinitionError (a ConfigurationError) with file, line, column and reason when the
 * file cannot be read, is not YAML, or defines something invalid; `warnings` on the result lists
 * what upstream accepts silently but is probably a mistake (unknown keys, duplicate keys).
 */
export function loadEventDefinitions(path: string, options: LoadOptions = {}): Distiller {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new EventDefinitionError(
      path,
      0,
      0,
      `cannot read the event definitions: ${(error as Error).message}`,
    );
  }
  return parseEventDefinitions(text, path, options);
}
