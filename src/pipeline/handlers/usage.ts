import { newTraits, Trait, WinchesterEvent } from '../../events/event';
import { Micros, MICROS_PER_DAY } from '../../time/micros';
import { Logger } from '../../util/logger';
import { HandlerDefinition, PipelineEnv, PipelineHandler } from '../handler';
import { ParamReader } from './params';
import { traitInstant, traitsEqual, traitText, traitTruthy } from './python-values';
import { derivedMessageId } from './uuid5';

/**
 * The nova usage audit of upstream's UsageHandler: each `compute.instance.exists` closes a block
 * of the events before it; the block is checked against the .exists (codes U1–U8) and a
 * `.exists.verified` or `.exists.failed` event is emitted, plus `.exists.warnings` when a check
 * warned; events after the last .exists get a U0 failure.
 */

export const EXISTS = 'compute.instance.exists';
export const EXISTS_VERIFIED = 'compute.instance.exists.verified';
export const EXISTS_FAILED = 'compute.instance.exists.failed';
export const EXISTS_WARNINGS = 'compute.instance.exists.warnings';

/**
 * What the id of each new event is derived from, besides its source message id. The verdict's
 * kind does not name the verdict, so a replay that reaches another verdict reuses the same id.
 */
export const ID_KIND_VERDICT = 'compute.instance.exists.verdict';
export const ID_KIND_WARNINGS = EXISTS_WARNINGS;
export const ID_KIND_NO_EXISTS = 'compute.instance.exists.missing';

/** Operations that set the instance's usage fields; the last one in a block is compared. */
const OPERATION_END_EVENTS = new Set([
  'compute.instance.rebuild.end',
  'compute.instance.finish_resize.end',
  'compute.instance.rescue.end',
]);
const DELETE_END = 'compute.instance.delete.end';
export const DEFAULT_CORE_FIELDS = [
  'launched_at',
  'instance_flavor_id',
  'tenant_id',
  'os_architecture',
  'os_version',
  'os_distro',
];
const DELETE_FIELDS = ['launched_at', 'deleted_at'];
const PUBLISHER_ID = 'stv3';

export class UsageCheckError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'UsageCheckError';
  }
}

export function auditPeriod(event: WinchesterEvent): { beginning?: Micros; ending?: Micros } {
  return {
    beginning: traitInstant(event.traits.audit_period_beginning),
    ending: traitInstant(event.traits.audit_period_ending),
  };
}

export const isExists = (event: WinchesterEvent) => event.event_type === EXISTS;

const dayOf = (t: Micros) => Math.floor(t / MICROS_PER_DAY);
const isMidnight = (t: Micros) => t - dayOf(t) * MICROS_PER_DAY === 0;

/** The end-of-day .exists: its audit period runs from one midnight to the next. */
export function isEodExists(event: WinchesterEvent): boolean {
  const { beginning, ending } = auditPeriod(event);
  return (
    isExists(event) &&
    beginning !== undefined &&
    ending !== undefined &&
    isMidnight(beginning) &&
    isMidnight(ending) &&
    dayOf(ending) === dayOf(beginning) + 1
  );
}

/** A .exists sent mid-day (on resize, rebuild, delete...): its period does not end the next day. */
export function isNonEodExists(event: WinchesterEvent): boolean {
  const { beginning, ending } = auditPeriod(event);
  return (
    isExists(event) &&
    beginning !== undefined &&
    ending !== undefined &&
    dayOf(ending) !== dayOf(beginning) + 1
  );
}

export function extractLaunchedAt(exists: WinchesterEvent): Trait {
  const launchedAt = exists.traits.launched_at;
  if (!traitTruthy(launchedAt)) throw new UsageCheckError('U1', '.exists has no launched_at value.');
  return launchedAt;
}

/**
 * U2: a field present on either side must be equal on both. Upstream crashed (KeyError) when
 * only one side had it; here the missing side reads as `None` and the values conflict.
 */
export function verifyFields(one: WinchesterEvent, other: WinchesterEvent, fields: readonly string[]): void {
  for (const field of fields) {
    const a = one.traits[field];
    const b = other.traits[field];
    if (!a && !b) continue;
    if (!traitsEqual(a, b)) {
      throw new UsageCheckError(
        'U2',
        `Conflicting '${field}' values ('${traitText(a)}' != '${traitText(b)}')`,
      );
    }
  }
}

/** U3–U7 and the delete event's fields (U2): the .exists's deletion must match the block's. */
export function confirmDelete(
  exists: WinchesterEvent,
  deleteEvents: readonly WinchesterEvent[],
  fields: readonly string[],
): void {
  const deletedAt = exists.traits.deleted_at;
  const hasDeletedAt = traitTruthy(deletedAt);
  const state = exists.traits.state;
  const { beginning, ending } = auditPeriod(exists);

  if (!hasDeletedAt && deleteEvents.length) {
    throw new UsageCheckError('U6', '.deleted events found but .exists has no deleted_at value.');
  }
  if (hasDeletedAt && !(state?.type === 'text' && state.value === 'deleted')) {
    throw new UsageCheckError('U3', ".exists state not 'deleted' but .exists deleted_at is set.");
  }
  if (hasDeletedAt && !deleteEvents.length) {
    const deleted = traitInstant(deletedAt);
    const launched = traitInstant(exists.traits.launched_at);
    // Upstream crashed comparing with a missing launched_at; without one there is nothing to compare.
    if (deleted !== undefined && launched !== undefined && deleted < launched) {
      throw new UsageCheckError('U4', '.exists deleted_at < .exists launched_at.');
    }
    if (
      beginning !== undefined &&
      ending !== undefined &&
      deleted !== undefined &&
      deleted >= beginning &&
      deleted <= ending
    ) {
      throw new UsageCheckError(
        'U5',
        '.exists deleted_at in audit period, but no matching .delete event found.',
      );
    }
  }
  if (deleteEvents.length > 1) throw new UsageCheckError('U7', 'Multiple .delete.end events');
  if (deleteEvents.length) verifyFields(exists, deleteEvents[deleteEvents.length - 1], fields);
}

/** U1, U8: an active instance launched within the audit period must have events in the block. */
export function confirmLaunchedAt(block: readonly WinchesterEvent[], exists: WinchesterEvent): void {
  const state = exists.traits.state;
  if (!(state?.type === 'text' && state.value === 'active')) return;
  const { beginning, ending } = auditPeriod(exists);
  const launched = traitInstant(extractLaunchedAt(exists));
  if (
    beginning !== undefined &&
    ending !== undefined &&
    launched !== undefined &&
    beginning <= launched &&
    launched <= ending &&
    block.length === 0
  ) {
    throw new UsageCheckError('U8', '.exists launched_at in audit period, but no related events found.');
  }
}

/**
 * All checks of one block against its .exists, in upstream's order. Warnings are pushed to
 * `warnings` as they are found, so a later failure keeps them.
 */
export function checkBlock(
  block: readonly WinchesterEvent[],
  exists: WinchesterEvent,
  coreFields: readonly string[],
  warnings: string[],
): void {
  confirmLaunchedAt(block, exists);
  let lastOperation: WinchesterEvent | undefined;
  for (const event of block) if (OPERATION_END_EVENTS.has(event.event_type)) lastOperation = event;
  if (lastOperation) {
    verifyFields(lastOperation, exists, coreFields);
  } else if (isNonEodExists(exists)) {
    warnings.push(`Non-EOD .exists found (msg_id: ${exists.message_id}) with no operation event.`);
  }
  confirmDelete(
    exists,
    block.filter((e) => e.event_type === DELETE_END),
    DELETE_FIELDS,
  );
}

const text = (value: string): Trait => ({ type: 'text', value });

function copyTraits(event: WinchesterEvent): Record<string, Trait> {
  const traits = newTraits();
  for (const name of Object.keys(event.traits)) traits[name] = { ...event.traits[name] } as Trait;
  return traits;
}

/** The verdict and warnings events for one .exists (warnings first, as upstream). */
export function processBlock(
  block: readonly WinchesterEvent[],
  exists: WinchesterEvent,
  streamId: string,
  coreFields: readonly string[],
  log: Logger,
): WinchesterEvent[] {
  const warnings: string[] = [];
  let failure: UsageCheckError | undefined;
  try {
    checkBlock(block, exists, coreFields, warnings);
  } catch (error) {
    if (!(error instanceof UsageCheckError)) throw error;
    failure = error;
    const { beginning, ending } = auditPeriod(exists);
    // Upstream logged this as a warning; here the verdict is the .failed event it emits, and
    // an instance failing its audit is news about the cloud, not a fault of the pipeline.
    log.info(
      {
        handler: 'usage',
        stream_id: streamId,
        code: error.code,
        exists: exists.message_id,
        deleted_at: traitText(exists.traits.deleted_at),
        launched_at: traitText(exists.traits.launched_at),
        state: traitText(exists.traits.state),
        audit_period_beginning: beginning,
        audit_period_ending: ending,
        block_events: block.map((e) => e.event_type),
      },
      `Stream ${streamId} UsageException: (${error.code}) ${error.message}`,
    );
  }

  const out: WinchesterEvent[] = [];
  if (warnings.length) {
    const traits = newTraits();
    traits.publisher_id = text(PUBLISHER_ID);
    traits.stream_id = text(streamId);
    traits.instance_id = exists.traits.instance_id ? { ...exists.traits.instance_id } : text('n/a');
    traits.warnings = text(warnings.join(', '));
    out.push({
      message_id: derivedMessageId(exists.message_id, ID_KIND_WARNINGS),
      event_type: EXISTS_WARNINGS,
      timestamp: exists.timestamp,
      traits,
    });
  }

  const traits = copyTraits(exists);
  traits.bandwidth_in ??= { type: 'int', value: 0 };
  traits.bandwidth_out ??= { type: 'int', value: 0 };
  traits.rax_options ??= text('0');
  traits.original_message_id = text(exists.message_id);
  traits.publisher_id = text(PUBLISHER_ID);
  traits.stream_id = text(streamId);
  // Upstream wrote str(None) for a passing check; kept, as consumers may test for it.
  traits.error = text(failure ? failure.message : 'None');
  if (failure) traits.error_code = text(failure.code);
  else delete traits.error_code;
  out.push({
    message_id: derivedMessageId(exists.message_id, ID_KIND_VERDICT),
    event_type: failure ? EXISTS_FAILED : EXISTS_VERIFIED,
    timestamp: exists.timestamp,
    traits,
  });
  return out;
}

/** U0: events after the last .exists. The id comes from the block's first event. */
export function noExistsFailure(block: readonly WinchesterEvent[], streamId: string): WinchesterEvent {
  const first = block[0];
  const traits = newTraits();
  traits.stream_id = text(streamId);
  if (first.traits.instance_id) traits.instance_id = { ...first.traits.instance_id };
  traits.error = text('Notifications, but no .exists notification found.');
  traits.error_code = text('U0');
  return {
    message_id: derivedMessageId(first.message_id, ID_KIND_NO_EXISTS),
    event_type: EXISTS_FAILED,
    timestamp: first.timestamp,
    traits,
  };
}

/** The handler's own output (and recorded verdicts in a corpus) is no part of any block. */
const isAuditOutput = (event: WinchesterEvent) => event.event_type.startsWith(`${EXISTS}.`);

export class UsageHandler implements PipelineHandler {
  constructor(
    private readonly coreFields: readonly string[],
    private readonly log: Logger,
  ) {}

  handleEvents(events: WinchesterEvent[], env: PipelineEnv): WinchesterEvent[] {
    const streamId = String(env.stream_id);
    const created: WinchesterEvent[] = [];
    let block: WinchesterEvent[] = [];
    for (const event of events) {
      if (isExists(event)) {
        created.push(...processBlock(block, event, streamId, this.coreFields, this.log));
        block = [];
      } else if (!isAuditOutput(event)) {
        block.push(event);
      }
    }
    if (block.length) created.push(noExistsFailure(block, streamId));
    // Where upstream's notabene pipelines (env_keys: [usage_notifications]) look for them.
    env.usage_notifications = created;
    return [...events, ...created];
  }

  commit(): void {}
  rollback(): void {}
}

function readUsageParams(params: Record<string, unknown>) {
  const reader = new ParamReader('usage', params, ['core_fields']);
  return { coreFields: reader.stringList('core_fields') ?? DEFAULT_CORE_FIELDS };
}

export const usageHandler: HandlerDefinition = {
  validateParams: (params) => void readUsageParams(params),
  create: (params, context) => new UsageHandler(readUsageParams(params).coreFields, context.logger),
};
