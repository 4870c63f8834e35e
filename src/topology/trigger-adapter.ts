import { formatProblem, loadTriggerDefinitions, triggerRuntime, TriggerDefinition } from '../triggers';
import { TriggerRuntime } from '../streams/trigger-runtime';

/** Loads triggers.yaml against the loaded pipelines; throws with every error's file and line. */
export function loadTriggerRuntimes(
  file: string,
  pipelines: ReadonlyMap<string, unknown>,
): { triggers: TriggerRuntime[]; definitions: TriggerDefinition[]; warnings: string[] } {
  const { triggers, warnings } = loadTriggerDefinitions(file, { pipelines: pipelines.keys() });
  return {
    triggers: triggers.map(triggerRuntime),
    definitions: triggers,
    warnings: warnings.map(formatProblem),
  };
}
