import { connect } from 'node:net';
import { FastifyInstance } from 'fastify';
import { DEFAULT_API_LIMITS } from '../../../src/api/limits';
import { buildApi } from '../../../src/api/server';
import { WinchesterMetrics } from '../../../src/metrics/metrics';
import { MemoryEventStore } from '../../../src/store/memory-store';

/**
 * What one request may cost: body, headers, query string, time. Over real sockets on loopback,
 * as the limits live in Node's HTTP server; small timeouts keep the slow cases short.
 */

let app: FastifyInstance;
let base: URL;
beforeAll(async () => {
  app = buildApi({
    metrics: new WinchesterMetrics('api'),
    namespace: 'limits-test',
    eventStore: new MemoryEventStore(),
    limits: { headersTimeoutMs: 500, requestTimeoutMs: 1000 },
  });
  base = new URL(await app.listen({ host: '127.0.0.1', port: 0 }));
});
afterAll(() => app.close());

/** Writes raw bytes (in pieces, with pauses) and reads until the server closes or answers. */
function rawExchange(pieces: string[], pauseMs = 0): Promise<{ status: number; body: string; raw: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(base.port), base.hostname);
    let raw = '';
    socket.on('data', (chunk: Buffer) => (raw += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
      resolve({ status, body: raw.slice(raw.indexOf('\r\n\r\n') + 4), raw });
    });
    const write = (index: number) => {
      if (index >= pieces.length || socket.destroyed) return;
      socket.write(pieces[index]);
      setTimeout(() => write(index + 1), pauseMs);
    };
    write(0);
  });
}

const get = (path: string, init?: RequestInit) => fetch(new URL(path, base), init);

test('the defaults', () => {
  expect(DEFAULT_API_LIMITS).toMatchObject({
    bodyLimit: 65536,
    maxHeaderSize: 16384,
    maxQueryLength: 8192,
    requestTimeoutMs: 30000,
  });
});

test('a query string over the limit: 414 with a JSON error; at the limit it is read', async () => {
  const atLimit = await get(`/healthz?${'a'.repeat(8192)}`);
  expect(atLimit.status).toBe(200);
  const over = await get(`/healthz?${'a'.repeat(8193)}`);
  expect(over.status).toBe(414);
  expect(await over.json()).toEqual({
    error: 'uri_too_long',
    message: 'the query string is longer than 8192 bytes',
  });
});

test('headers over the limit: 431 with a JSON error, before any route', async () => {
  const response = await get('/healthz', { headers: { 'x-padding': 'x'.repeat(17 * 1024) } });
  expect(response.status).toBe(431);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(await response.json()).toEqual({
    error: 'headers_too_large',
    message: 'the request line and headers are larger than 16384 bytes',
  });
});

test('a body over the limit: 413, as JSON, for a parsed body and for a /v2 GET body alike', async () => {
  const big = JSON.stringify({ q: [], pad: 'x'.repeat(70 * 1024) });
  const parsed = await get('/', {
    method: 'POST',
    body: big,
    headers: { 'content-type': 'application/json' },
  });
  expect(parsed.status).toBe(413);
  expect(JSON.parse(await parsed.text())).toEqual({
    error_message: { faultcode: 'Client', faultstring: 'Request body is too large', debuginfo: null },
  });
  const raw = await rawExchange([
    `GET /v2/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${big.length}\r\n` +
      `Connection: close\r\n\r\n${big}`,
  ]);
  expect(raw.status).toBe(413);
  expect(JSON.parse(raw.body)).toEqual({
    error_message: {
      faultcode: 'Client',
      faultstring: 'Request body is larger than 65536 bytes',
      debuginfo: null,
    },
  });
});

test('headers that do not arrive in time: 408 with a JSON error, and the connection closed', async () => {
  const answer = await rawExchange(['GET /healthz HTTP/1.1\r\nHost: x\r\n']);
  expect(answer.status).toBe(408);
  expect(JSON.parse(answer.body)).toEqual({
    error: 'request_timeout',
    message: 'the request did not arrive in time (headers within 0.5 s, all within 1 s)',
  });
});

test('a body that trickles in beyond the request timeout: 408', async () => {
  const head = 'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n';
  const answer = await rawExchange([head, '{', ' ', ' ', ' ', ' ', ' ', ' ', ' '], 200);
  expect(answer.status).toBe(408);
  expect(JSON.parse(answer.body).error).toBe('request_timeout');
});

test('a malformed request or URL: 400 with a JSON error', async () => {
  const garbage = await rawExchange(['GET /healthz HTTP/1.1\r\nHost x\r\n\r\n']);
  expect(garbage.status).toBe(400);
  expect(JSON.parse(garbage.body)).toEqual({ error: 'bad_request', message: 'malformed HTTP request' });
  const badEscape = await get('/v2/events/%E0%A4%A');
  expect(badEscape.status).toBe(400);
  expect(await badEscape.json()).toEqual({
    error: 'bad_request',
    message: "'/v2/events/%E0%A4%A' is not a valid url component",
  });
  const longParam = await get(`/v2/events/${'a'.repeat(4097)}`);
  expect(longParam.status).toBe(414);
  expect(((await longParam.json()) as { error: string }).error).toBe('uri_too_long');
});

test('limits are options: a smaller body limit applies to /v2 GET bodies too', async () => {
  const small = buildApi({
    metrics: new WinchesterMetrics('api'),
    namespace: 'limits-test',
    eventStore: new MemoryEventStore(),
    limits: { bodyLimit: 10, maxQueryLength: 3 },
  });
  const response = await small.inject({
    url: '/v2/events',
    headers: { 'content-type': 'application/json' },
    payload: '{"limit": 100}',
  });
  expect(response.statusCode).toBe(413);
  expect(response.body).toContain('Request body is larger than 10 bytes');
  expect((await small.inject({ url: '/healthz?abcd' })).statusCode).toBe(414);
  expect((await small.inject({ url: '/healthz?abc' })).statusCode).toBe(200);
  await small.close();
});
