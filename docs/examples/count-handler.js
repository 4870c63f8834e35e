'use strict';
/**
 * An example pipeline handler: counts a stream's events and emits one summary event per
 * stream, `winchester.stream.counted` by default, with the count, the number of distinct
 * event types and the times of the first and last event.
 *
 * Name it in winchester.yaml (the path is relative to that file):
 *
 *   pipeline_handlers:
 *     count: ./count-handler.js#countHandler
 *
 * and use it in pipelines.yaml like a built-in:
 *
 *   usage_audit:
 *     - usage
 *     - name: count
 *       params:
 *         min_events: 2
 *
 * Plain CommonJS, no dependencies: the roles load it with require().
 */
const { createHash } = require('node:crypto');

const KNOWN_PARAMS = ['event_type', 'min_events'];

/**
 * Reads and checks the params. Called by validateParams when the topology loads (so
 * `winchester check` and every role refuse bad params at start) and again for each stream.
 */
function readParams(params) {
  const unknown = Object.keys(params).filter((key) => !KNOWN_PARAMS.includes(key));
  if (unknown.length)
    throw new Error(`unknown params ${unknown.join(', ')} (known: ${KNOWN_PARAMS.join(', ')})`);
  const eventType = params.event_type ?? 'winchester.stream.counted';
  if (typeof eventType !== 'string' || eventType === '')
    throw new Error('event_type: expected a non-empty string');
  const minEvents = params.min_events ?? 1;
  if (!Number.isInteger(minEvents) || minEvents < 0) throw new Error('min_events: expected an integer >= 0');
  return { eventType, minEvents };
}

/**
 * A message id derived from the run's identity: the same stream at the same state serial
 * gives the same id, so a run the worker repeats (after a crash) cannot add a second event.
 */
function derivedId(...parts) {
  const hex = createHash('sha1').update(parts.join('\n')).digest('hex');
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** One instance per stream run, made with the pipeline's params and the worker's context. */
class CountHandler {
  constructor(params, context) {
    this.options = readParams(params);
    this.context = context;
    this.summary = null;
  }

  /** Runs once per stream with the events sorted by (timestamp, message_id). */
  handleEvents(events, env) {
    if (events.length < this.options.minEvents) return events;
    const types = new Set(events.map((e) => e.event_type));
    const first = events[0];
    const last = events[events.length - 1];
    const traits = Object.create(null);
    traits.stream_id = { type: 'text', value: String(env.stream_id) };
    traits.trigger = { type: 'text', value: env.trigger };
    traits.stream_kind = { type: 'text', value: env.kind };
    traits.event_count = { type: 'int', value: events.length };
    traits.distinct_types = { type: 'int', value: types.size };
    traits.first_event = { type: 'datetime', value: first.timestamp };
    traits.last_event = { type: 'datetime', value: last.timestamp };
    // Copy a trait through when the stream's events carry it.
    if (first.traits.instance_id) traits.instance_id = { ...first.traits.instance_id };
    this.summary = {
      message_id: derivedId(env.stream_id, env.state_serial, this.options.eventType),
      event_type: this.options.eventType,
      // The last event's time, not context.now(): under the event clock a new event then
      // lands where its stream's data is, instead of dragging time forward.
      timestamp: last.timestamp,
      traits,
    };
    // Pass every event on, plus the new one: a message_id not in the input makes it a new event.
    return [...events, this.summary];
  }

  /** Every handler of the pipeline succeeded. Side effects that reach outside belong here. */
  commit() {
    if (!this.summary) return;
    const { event_count, distinct_types } = this.summary.traits;
    this.context.logger.info(
      { handler: 'count', stream_id: this.summary.traits.stream_id.value, events: event_count.value },
      `counted ${event_count.value} events of ${distinct_types.value} types`,
    );
  }

  /** A handler of the pipeline threw (or timed out): forget what this run prepared. */
  rollback() {
    this.summary = null;
  }
}

/**
 * The export winchester.yaml names: a handler definition, so params are checked at load time.
 * Naming the class itself (`./count-handler.js#CountHandler`) works too, but a class export
 * has no validateParams: bad params then fail each stream's run instead of the start.
 */
const countHandler = {
  validateParams(params) {
    readParams(params);
  },
  create(params, context) {
    return new CountHandler(params, context);
  },
};

module.exports = { countHandler, CountHandler };
