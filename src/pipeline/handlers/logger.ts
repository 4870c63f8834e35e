import { HandlerDefinition, PipelineHandler } from '../handler';
import { ParamReader } from './params';

const LEVELS = ['debug', 'info', 'warn'] as const;

function readLoggerParams(params: Record<string, unknown>) {
  const reader = new ParamReader('logger', params, ['level']);
  return { level: reader.oneOf('level', LEVELS, 'info') };
}

/** Upstream's LoggingHandler: one log line per stream run with every event's type and id. */
export const loggerHandler: HandlerDefinition = {
  validateParams: (params) => void readLoggerParams(params),
  create(params, context): PipelineHandler {
    const { level } = readLoggerParams(params);
    return {
      handleEvents(events, env) {
        context.logger[level](
          {
            handler: 'logger',
            stream_id: env.stream_id,
            stream_name: env.stream_name,
            kind: env.kind,
            count: events.length,
            events: events.map((e) => ({ event_type: e.event_type, message_id: e.message_id })),
          },
          `Received ${events.length} events`,
        );
        return events;
      },
      commit() {},
      rollback() {},
    };
  },
};
