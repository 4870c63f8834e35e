/**
 * The trigger language: Winchester's triggers.yaml compiled into definitions that match events,
 * key them to streams and decide when streams fire or expire. Pure: no Kafka, no Redis.
 *
 *   const { triggers, warnings } = loadTriggerDefinitions('topologies/openstack-usage/triggers.yaml',
 *     { pipelines: pipelineNames });
 *   const runtimes = triggers.map(triggerRuntime);          // what src/streams runs
 *   const found = triggers[0].matchStream(event);           // { criterion, distinguished, key }
 */
export { TriggerDefinition } from './definition';
export type { DistinguishingTrait, MatchExplanation, StreamMatch, TriggerDefinitionSpec } from './definition';
export {
  Criteria,
  ConstantCriterion,
  EventTypeFilter,
  NumericCriterion,
  TimeCriterion,
  TraitCriterion,
  COMPARISON_OPERATORS,
  eventDatetimes,
  eventTrait,
} from './criteria';
export type {
  ComparisonOperator,
  ConstantValue,
  CriteriaRole,
  CriteriaSpec,
  MismatchReason,
} from './criteria';
export { encodeStreamKey } from './stream-key';
export { distinguishedByFingerprint } from './fingerprint';
export { TriggerDebugger, DebugGroup, triggerDebugger } from './debug';
export type { DebugListener, DebugSnapshot } from './debug';
export { triggerRuntime } from './runtime';
export { TriggerConfigError } from './errors';
export { formatProblem } from '../config/errors';
export type { ConfigProblem } from '../config/errors';
export {
  compileTriggerDefinitions,
  loadTriggerDefinitions,
  parseTriggerDefinitions,
  readTriggerDefinitions,
  CRITERIA_KEYS,
  TRIGGER_KEYS,
  TRAIT_CRITERION_TYPES,
} from './load';
export type { TriggerLoadOptions, TriggerLoadResult, TriggerSource } from './load';
