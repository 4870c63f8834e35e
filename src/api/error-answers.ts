import { randomUUID } from 'node:crypto';
import { FastifyReply, FastifyRequest } from 'fastify';
import { logger } from '../util/logger';

/**
 * A failure the API did not expect: the caller gets an id and nothing else (no message, no
 * stack: they may tell an attacker about the internals); the log gets the id with the error.
 */
export function answerInternalError(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const id = randomUUID();
  logger.error(
    { err: error, errorId: id, method: request.method, url: request.url.slice(0, 2048) },
    'API request failed',
  );
  return reply.code(500).type('application/json; charset=utf-8').send({ error: 'internal', id });
}

const CLIENT_ERRORS: Record<number, string> = {
  400: 'bad_request',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  431: 'headers_too_large',
};

/** The `error` word of a 4xx answer. */
export const clientErrorName = (status: number) => CLIENT_ERRORS[status] ?? 'bad_request';

/** Whether an error carries a status fastify (or a route) meant for the client: 4xx. */
export function clientStatusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

/**
 * Requests the router refuses before any route (a malformed %-escape, a path parameter over
 * its length): `{error, message}` like every other refusal.
 */
export function answerFrameworkError(
  error: Error,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const status = clientStatusOf(error);
  if (status === undefined) return answerInternalError(error, request, reply);
  return reply.code(status).send({ error: clientErrorName(status), message: error.message });
}
