import { WinchesterEvent } from '../../src/events/event';
import { TriggerRuntime } from '../../src/streams/trigger-runtime';
import { MICROS_PER_SECOND } from '../../src/time/micros';

/**
 * A hand-built trigger for engine tests that must not depend on the trigger language:
 * matches event types by prefix, one stream per `instance_id`, fires on `fireType`,
 * expires `expireAfterSeconds` after the last event.
 */
export function simpleTrigger(opts: {
  name?: string;
  matchPrefix?: string;
  fireType?: string;
  fireCount?: number;
  fireDelaySeconds?: number;
  expireAfterSeconds?: number;
}): TriggerRuntime {
  const name = opts.name ?? 'simple';
  const prefix = opts.matchPrefix ?? 'compute.instance.';
  const fireType = opts.fireType ?? 'compute.instance.exists';
  const fireCount = opts.fireCount ?? 1;
  return {
    name,
    firePipeline: 'fire_pipe',
    expirePipeline: 'expire_pipe',
    fireDelaySeconds: opts.fireDelaySeconds ?? 0,
    fireCriteriaCount: 1,
    match(event: WinchesterEvent) {
      const instance = event.traits.instance_id;
      if (!event.event_type.startsWith(prefix) || !instance) return undefined;
      return {
        key: `${name}|s:${String(instance.value)}`,
        distinguished: { instance_id: { type: instance.type, value: instance.value } },
      };
    },
    fireCounters: (event) => (event.event_type === fireType ? [0] : []),
    shouldFire: (counters) => counters[0] >= fireCount,
    expiration: (_first, last) => last + (opts.expireAfterSeconds ?? 3600) * MICROS_PER_SECOND,
  };
}

let serial = 0;
export function testEvent(
  eventType: string,
  instance: string,
  timestampSeconds: number,
  messageId = `m-${++serial}`,
): WinchesterEvent {
  const traits = Object.create(null) as WinchesterEvent['traits'];
  traits.instance_id = { type: 'text', value: instance };
  return {
    message_id: messageId,
    event_type: eventType,
    timestamp: timestampSeconds * MICROS_PER_SECOND,
    traits,
  };
}
