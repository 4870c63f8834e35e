import { FastifyInstance } from 'fastify';
import { buildApi } from '../../../src/api/server';
import { WinchesterMetrics } from '../../../src/metrics/metrics';
import { MemoryEventStore } from '../../../src/store/memory-store';
import { NamedTrait, StoredEvent } from '../../../src/store/model';
import { parseIso8601 } from '../../../src/time/micros';

/**
 * The events the expected answers below were taken from: upstream Panko 10.0.0 (on
 * PostgreSQL) was loaded with the same seven events and asked the same questions.
 */
const t = (text: string) => parseIso8601(text)!;
const text = (name: string, value: string): NamedTrait => ({ name, trait: { type: 'text', value } });
const int = (name: string, value: number): NamedTrait => ({ name, trait: { type: 'int', value } });
const float = (name: string, value: number): NamedTrait => ({ name, trait: { type: 'float', value } });
const datetime = (name: string, value: string): NamedTrait => ({
  name,
  trait: { type: 'datetime', value: t(value) },
});

export const PROBE_EVENTS: StoredEvent[] = [
  {
    message_id: 'e1',
    event_type: 'compute.a',
    generated: t('2020-01-01T00:00:00.123456'),
    traits: [
      text('s', 'hello'),
      int('i', 5),
      float('f', 1.5),
      datetime('d', '2020-01-02T03:04:05.000006'),
      text('project_id', 'P1'),
      text('user_id', 'U1'),
      int('big', 2 ** 40),
      float('fl', 100),
      float('fe', 1e20),
    ],
    raw: { k: 'v', n: [1, 2] },
  },
  {
    message_id: 'e2',
    event_type: 'compute.b',
    generated: t('2020-01-02'),
    traits: [int('s', 7), text('project_id', 'P2'), text('user_id', 'U2')],
    raw: null,
  },
  { message_id: 'e3', event_type: 'compute.a', generated: t('2020-01-03'), traits: [], raw: {} },
  // No text trait: hidden from every admin scope (Panko's SQL rule).
  { message_id: 'e4', event_type: 'compute.a', generated: t('2020-01-03'), traits: [int('i', 9)], raw: {} },
  {
    message_id: 'e5',
    event_type: 'compute.c',
    generated: t('2020-01-04'),
    traits: [text('project_id', 'P1'), text('zeta', 'z'), text('alpha', 'a'), int('mid', 1)],
    raw: 'rawstring',
  },
  {
    message_id: 'e6',
    event_type: 'compute.c',
    generated: t('2020-01-05'),
    traits: [text('tenant_id', 'P1'), text('user_id', 'U1')],
    raw: {},
  },
  {
    message_id: 'e7',
    event_type: 'compute.c',
    generated: t('2020-01-05'),
    traits: [text('project_id', 'P1')],
    raw: {},
  },
];

/** Identity headers as upstream's probes sent them. */
export const ADMIN_P1 = { 'x-roles': 'admin', 'x-user-id': 'UA', 'x-project-id': 'P1' };
export const ADMIN_PA = { 'x-roles': 'admin', 'x-user-id': 'UA', 'x-project-id': 'PA' };
export const MEMBER_U1 = { 'x-roles': 'member', 'x-user-id': 'U1', 'x-project-id': 'P1' };
/** q items that lift an admin's project scope. */
export const ALL = 'q.field=all_tenants&q.value=1';

export interface AppOptions {
  trustIdentityHeaders?: boolean;
  bearerToken?: string;
  events?: StoredEvent[];
}

/** The API over a memory store holding PROBE_EVENTS; identity headers trusted unless told otherwise. */
export async function pankoApp(options: AppOptions = {}): Promise<FastifyInstance> {
  const store = new MemoryEventStore();
  await store.recordEvents(options.events ?? PROBE_EVENTS);
  return buildApi({
    metrics: new WinchesterMetrics('api'),
    namespace: 'panko-test',
    eventStore: store,
    trustIdentityHeaders: options.trustIdentityHeaders ?? true,
    bearerToken: options.bearerToken,
  });
}

export interface Call {
  method?: string;
  headers?: Record<string, string>;
  body?: string | object;
  contentType?: string;
}

/** One request; `json` bodies are sent as application/json unless contentType says otherwise. */
export async function call(app: FastifyInstance, url: string, options: Call = {}) {
  const headers: Record<string, string> = { ...(options.headers ?? ADMIN_P1) };
  let payload: string | undefined;
  if (options.body !== undefined) {
    payload = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] = options.contentType ?? 'application/json';
  }
  const response = await app.inject({ method: (options.method ?? 'GET') as 'GET', url, headers, payload });
  return { status: response.statusCode, body: response.body, headers: response.headers };
}

/** The message ids of an events answer. */
export const ids = (body: string): string[] =>
  (JSON.parse(body) as { message_id: string }[]).map((event) => event.message_id);

/** A WSME fault body as Panko writes it (ASCII faultstrings). */
export const fault = (faultstring: string, faultcode = 'Client') =>
  `{"error_message": {"faultcode": "${faultcode}", "faultstring": ${JSON.stringify(faultstring)}, "debuginfo": null}}`;

/** webob's HTML pages, as Panko wraps them. */
const htmlPage = (title: string, body: string) =>
  JSON.stringify({
    error_message: `<html>\n <head>\n  <title>${title}</title>\n </head>\n <body>\n  <h1>${title}</h1>\n  ${body}\n </body>\n</html>`,
  }).replace('{"error_message":"', '{"error_message": "');

export const NOT_FOUND_PAGE = htmlPage('404 Not Found', 'The resource could not be found.<br /><br />\n\n\n');
export const FORBIDDEN_PAGE = htmlPage(
  '403 Forbidden',
  'Access was denied to this resource.<br /><br />\nRBAC Authorization Failed\n\n',
);
export const unauthorizedPage = (project: string) =>
  htmlPage(
    '401 Unauthorized',
    'This server could not verify that you are authorized to access the document you requested. ' +
      'Either you supplied the wrong credentials (e.g., bad password), or your browser does not understand ' +
      `how to supply the credentials required.<br /><br />\nNot Authorized to access project ${project}\n\n`,
  );
export const methodNotAllowedPage = (method: string) =>
  htmlPage('405 Method Not Allowed', `The method ${method} is not allowed for this resource. <br /><br />\n`);
export const notAcceptablePage = (accept: string) =>
  htmlPage(
    '406 Not Acceptable',
    `The resource could not be generated that was acceptable to your browser\n(content of type ${accept}. <br /><br />\n`,
  );
