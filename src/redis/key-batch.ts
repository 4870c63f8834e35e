import { encodeEvent } from '../events/wire';
import { applyEventsToKey, ClockMode, KeyApplyResult, StreamChange } from '../streams/engine';
import { KeyBatchEntry, KeyGroup } from '../streams/store';
import { Micros } from '../time/micros';
import { parseStreamMeta, streamMetaText } from './stream-meta';

/*
 * How the matcher writes one stream key's batch to Redis, without Redis: the engine decides
 * the batch from what was read, and each stream the batch changes becomes one write (the
 * applyStreamChange script), guarded by what the write before it left. The writes land as a
 * prefix: when one loses a race, those after it fail their guards too, and the rest of the
 * batch is read and decided again. Applying a batch in parts gives the engine's result for
 * the whole batch, since it takes events one by one in arrival order.
 */

/** What was read of one stream key: its active pointer, the text of the stream it names, the seen scores. */
export interface KeyRead {
  activeId: string | null;
  activeText: string | null;
  /** Per batch entry, in order: its message_id's score in the key's seen ids (null: not seen). */
  seenScores: Array<string | null>;
}

/** One stream change of a key's batch, as applyStreamChange-9.lua writes it. */
export interface StreamChangeWrite {
  key: string;
  /** The active pointer, and the metadata text of the stream it names, this write expects (null: none). */
  expectedPointer: string | null;
  expectedMetaText: string | null;
  streamId: string;
  metaText: string;
  created: boolean;
  expireAt: Micros;
  fireAt: Micros | null;
  /** [message_id, wire text] of each event the change adds. */
  events: Array<[string, string]>;
  /** When the events were seen (epoch ms), and the score below which seen ids are forgotten. */
  seenAt: number;
  forgetSeenBefore: number;
  seenRetentionSeconds: number;
}

export interface KeyPlanContext {
  partition: number;
  clock: ClockMode;
  now: Micros;
  seenAt: number;
  seenRetentionSeconds: number;
  newStreamId: () => string;
}

/** The engine's decision on (the rest of) a key's batch, and the writes that carry it out, in order. */
export interface KeyBatchPlan {
  result: KeyApplyResult;
  writes: StreamChangeWrite[];
  /** Per write: the index in the batch of the last event it adds. */
  lastEntry: number[];
  entries: number;
}

export function planKeyBatch(group: KeyGroup, read: KeyRead, ctx: KeyPlanContext): KeyBatchPlan {
  const { trigger, key, batch } = group;
  const alreadySeen = new Set(
    batch.filter((_, i) => read.seenScores[i] !== null).map((entry) => entry.event.message_id),
  );
  const result = applyEventsToKey({ active: parseStreamMeta(read.activeText), alreadySeen }, batch, trigger, {
    clock: ctx.clock,
    now: ctx.now,
    partition: ctx.partition,
    key,
    newStreamId: ctx.newStreamId,
  });
  const firstEntry = new Map<string, number>();
  batch.forEach((entry, i) => {
    if (!firstEntry.has(entry.event.message_id)) firstEntry.set(entry.event.message_id, i);
  });
  let pointer = read.activeId;
  let pointerText = read.activeText;
  const writes = result.changes.map((change) => {
    const write = changeWrite(change, key, batch, ctx);
    write.expectedPointer = pointer;
    write.expectedMetaText = pointer === null ? null : pointerText;
    pointer = write.streamId;
    pointerText = write.metaText;
    return write;
  });
  const lastEntry = result.changes.map((change) =>
    Math.max(...change.added.map((event) => firstEntry.get(event.message_id)!)),
  );
  return { result, writes, lastEntry, entries: batch.length };
}

function changeWrite(
  change: StreamChange,
  key: string,
  batch: readonly KeyBatchEntry[],
  ctx: KeyPlanContext,
): StreamChangeWrite {
  const wireText = new Map<string, string>();
  for (const entry of batch) if (entry.wire !== undefined) wireText.set(entry.event.message_id, entry.wire);
  return {
    key,
    expectedPointer: null,
    expectedMetaText: null,
    streamId: change.meta.id,
    metaText: streamMetaText(change.meta),
    created: change.created,
    expireAt: change.meta.expireAt,
    fireAt: change.meta.fireAt,
    events: change.added.map((event) => [
      event.message_id,
      wireText.get(event.message_id) ?? encodeEvent(event),
    ]),
    seenAt: ctx.seenAt,
    forgetSeenBefore: ctx.seenAt - ctx.seenRetentionSeconds * 1000,
    seenRetentionSeconds: ctx.seenRetentionSeconds,
  };
}

/** The result of a plan's first `applied` writes, and how many batch entries they took. */
export function appliedPart(
  plan: KeyBatchPlan,
  applied: number,
): { result: KeyApplyResult; consumed: number } {
  if (applied >= plan.writes.length) return { result: plan.result, consumed: plan.entries };
  const changes = plan.result.changes.slice(0, applied);
  const consumed = applied === 0 ? 0 : plan.lastEntry[applied - 1] + 1;
  const newlySeen = changes.flatMap((change) => change.added.map((event) => event.message_id));
  return {
    result: {
      changes,
      activeId: applied === 0 ? null : changes[applied - 1].meta.id,
      duplicates: consumed - newlySeen.length,
      newlySeen,
    },
    consumed,
  };
}

/** Two consecutive parts of one key's batch as one result (a stream both touched appears once). */
export function mergeResults(earlier: KeyApplyResult, later: KeyApplyResult): KeyApplyResult {
  const byId = new Map<string, StreamChange>();
  for (const change of earlier.changes) byId.set(change.meta.id, { ...change, added: [...change.added] });
  for (const change of later.changes) {
    const prior = byId.get(change.meta.id);
    if (prior) {
      prior.meta = change.meta;
      prior.added.push(...change.added);
    } else byId.set(change.meta.id, change);
  }
  return {
    changes: [...byId.values()],
    activeId: later.activeId,
    duplicates: earlier.duplicates + later.duplicates,
    newlySeen: [...earlier.newlySeen, ...later.newlySeen],
  };
}

/** One key's batch while it is being written: what is left of it, and the result so far. */
export class KeyBatchProgress {
  private remaining: KeyBatchEntry[];
  private merged: KeyApplyResult | null = null;
  done: boolean;

  constructor(readonly group: KeyGroup) {
    this.remaining = group.batch;
    this.done = group.batch.length === 0;
  }

  /** The key's group with the entries not applied yet. */
  pending(): KeyGroup {
    return { ...this.group, batch: this.remaining };
  }

  /** Takes an attempt's outcome: the plan's first `applied` writes landed. */
  settle(plan: KeyBatchPlan, applied: number): void {
    const part = appliedPart(plan, applied);
    this.merged = this.merged ? mergeResults(this.merged, part.result) : part.result;
    this.remaining = this.remaining.slice(part.consumed);
    this.done = applied >= plan.writes.length;
  }

  get result(): KeyApplyResult {
    return this.merged ?? { changes: [], activeId: null, duplicates: 0, newlySeen: [] };
  }
}
