import { TriggerRuntime } from '../streams/trigger-runtime';
import { TriggerDebugger } from './debug';
import { TriggerDefinition } from './definition';
import { distinguishedByFingerprint } from './fingerprint';

/**
 * A trigger definition as the stream engine sees it (src/streams/trigger-runtime.ts), with its
 * debugger for whoever reports debug_level statistics (see triggerDebugger).
 */
export function triggerRuntime(
  definition: TriggerDefinition,
): TriggerRuntime & { readonly debug: TriggerDebugger } {
  return {
    name: definition.name,
    debug: definition.debug,
    firePipeline: definition.firePipeline,
    expirePipeline: definition.expirePipeline,
    fireDelaySeconds: definition.fireDelaySeconds,
    fireCriteriaCount: definition.fireCriteria.length,
    distinguishedByFingerprint: distinguishedByFingerprint(definition.distinguishedBy),
    match(event) {
      const found = definition.matchStream(event);
      return found ? { key: found.key, distinguished: found.distinguished } : undefined;
    },
    fireCounters: (event) => definition.fireCounters(event),
    shouldFire: (counters) => definition.shouldFire(counters),
    expiration: (first, last, now) => definition.expireAt(first, last, now),
  };
}
