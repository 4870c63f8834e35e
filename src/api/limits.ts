import type { ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import { FastifyReply, FastifyRequest } from 'fastify';
import { logger } from '../util/logger';

/** What one request may cost the API before it is refused. */
export interface ApiLimits {
  /** Request bodies, in bytes (413 beyond; Panko's GET bodies too). */
  bodyLimit: number;
  /** The request line and headers together, in bytes (431 beyond). */
  maxHeaderSize: number;
  /** The query string, in bytes as sent (414 beyond). */
  maxQueryLength: number;
  /** Time for the headers to arrive (408 after). */
  headersTimeoutMs: number;
  /** Time for the whole request to arrive (408 after). */
  requestTimeoutMs: number;
  /** A connection with no traffic either way for this long is closed (an answer that takes longer is lost). */
  connectionTimeoutMs: number;
  /** An idle kept-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
}

export const DEFAULT_API_LIMITS: ApiLimits = {
  bodyLimit: 64 * 1024,
  maxHeaderSize: 16 * 1024,
  maxQueryLength: 8 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  connectionTimeoutMs: 120_000,
  // Longer than the 60 s idle timeout of common load balancers, so they close first.
  keepAliveTimeoutMs: 72_000,
};

/** Fastify's options for these limits. */
export function serverLimitOptions(limits: ApiLimits) {
  const http: ServerOptions = {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
    requestTimeout: limits.requestTimeoutMs,
    // Node checks the two timeouts above this often (30 s by default: too late for a 10 s limit).
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
  };
  return {
    http,
    bodyLimit: limits.bodyLimit,
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.connectionTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    clientErrorHandler: answerClientError(limits),
  };
}

/** The onRequest check of the query string's length. */
export function queryLengthCheck(limits: ApiLimits) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const at = request.url.indexOf('?');
    if (at < 0 || request.url.length - at - 1 <= limits.maxQueryLength) return;
    await reply.code(414).send({
      error: 'uri_too_long',
      message: `the query string is longer than ${limits.maxQueryLength} bytes`,
    });
  };
}

/**
 * Requests Node's HTTP parser refuses before fastify sees them (headers too large, too slow,
 * malformed): a JSON answer like every other refusal, then the connection is closed.
 */
function answerClientError(limits: ApiLimits) {
  return (error: NodeJS.ErrnoException, socket: Socket) => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, reason, body] = clientErrorAnswer(error.code, limits);
    logger.debug({ code: error.code, remote: socket.remoteAddress }, `HTTP client error: ${body.error}`);
    if (socket.writable) {
      const text = JSON.stringify(body);
      socket.write(
        `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
    }
    socket.destroy();
  };
}

type ClientErrorAnswer = [number, string, { error: string; message: string }];

function clientErrorAnswer(code: string | undefined, limits: ApiLimits): ClientErrorAnswer {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    const seconds = limits.requestTimeoutMs / 1000;
    const message = `the request did not arrive in time (headers within ${limits.headersTimeoutMs / 1000} s, all within ${seconds} s)`;
    return [408, 'Request Timeout', { error: 'request_timeout', message }];
  }
  if (code === 'HPE_HEADER_OVERFLOW') {
    const message = `the request line and headers are larger than ${limits.maxHeaderSize} bytes`;
    return [431, 'Request Header Fields Too Large', { error: 'headers_too_large', message }];
  }
  return [400, 'Bad Request', { error: 'bad_request', message: 'malformed HTTP request' }];
}
