import { request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FastifyInstance } from 'fastify';
import { buildApi } from '../../src/api/server';
import { fromWire } from '../../src/events/wire';
import { WinchesterMetrics } from '../../src/metrics/metrics';
import { createPgPool } from '../../src/postgres/client';
import { PgEventStore, PgEventStoreOptions } from '../../src/postgres/event-store';
import { upgradeSchema } from '../../src/postgres/migrations';
import { storedEventOf } from '../../src/store/canonical-events';
import { StoredEvent } from '../../src/store/model';
import { FreshDatabase, freshDatabase } from '../support/fresh-database';
import {
  recordUpstream,
  startUpstreamApi,
  UpstreamApi,
  UpstreamDatabase,
  upstreamDatabase,
  upstreamPankoPython,
} from '../support/panko-upstream';
import { repoRoot } from '../support/stack';

/**
 * Our /v2 API against upstream Panko 10.0.0: the events of test/fixtures/panko/events.jsonl
 * recorded in both (upstream's record_events on its own database, our PgEventStore on
 * another), then every request of test/fixtures/panko/queries.txt sent to both. Status,
 * Content-Type and JSON body must agree, order included, except for the deliberate differences
 * a request is marked with (docs/event-store.md, "Checked against upstream Panko"). Headers
 * beyond Content-Type (request ids, our Link) are not compared.
 *
 * Ours answers twice, from two stores over the same database: as configured, where these few
 * events make every trait filter an index look-up, and with `indexedFilterLimit: 0`, where
 * every trait filter is checked row by row against the traits JSON of each event: both ways of
 * src/postgres/event-query.ts must give upstream's answers.
 */

const FIXTURES = join(repoRoot, 'test', 'fixtures', 'panko');
const EVENTS_FILE = join(FIXTURES, 'events.jsonl');

/**
 * A deliberate difference: upstream fails (500) or answers (200) where we refuse with this
 * status (and this faultstring; for a 500, upstream's own by default), or the same answer with
 * our own faultstring.
 */
type Difference =
  | { kind: 'refused'; upstream: 500 | 200; ours: 400 | 415; faultstring?: string }
  | { kind: 'message'; faultstring: string };

const REFUSALS = ['500->400', '200->400', '200->415'];

interface CorpusRequest {
  line: number;
  as: string;
  method: string;
  target: string;
  contentType?: string;
  body?: string;
  difference?: Difference;
}

interface Corpus {
  identities: Map<string, Record<string, string>>;
  requests: CorpusRequest[];
}

/** queries.txt: `@as` header sets, requests, and `!` lines marking a deliberate difference. */
function parseCorpus(text: string): Corpus {
  const identities = new Map<string, Record<string, string>>();
  const requests: CorpusRequest[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (!trimmed || trimmed.startsWith('#')) return;
    if (trimmed.startsWith('@as ')) {
      const [, name, headers] = /^@as\s+(\S+)\s+(.*)$/.exec(trimmed) ?? fail(line, 'a header set');
      identities.set(name, JSON.parse(headers) as Record<string, string>);
    } else if (trimmed.startsWith('!')) {
      const previous = requests.at(-1) ?? fail(line, 'a request before a difference');
      previous.difference = parseDifference(trimmed.slice(1).trim(), line);
    } else {
      requests.push(parseRequest(trimmed, line, identities));
    }
  });
  return { identities, requests };
}

function fail(line: number, what: string): never {
  throw new Error(`queries.txt:${line}: expected ${what}`);
}

function parseRequest(text: string, line: number, identities: Corpus['identities']): CorpusRequest {
  const match = /^(\S+)\s+(?:([A-Z]+)\s+)?(\/\S*)(?:\s+(\S+)\s+(.*))?$/.exec(text);
  if (!match) fail(line, 'IDENTITY [METHOD] TARGET [CONTENT-TYPE BODY]');
  const [, as, method, target, contentType, body] = match;
  if (!identities.has(as)) fail(line, `a header set defined above, not ${as}`);
  return { line, as, method: method ?? 'GET', target, contentType, body };
}

function parseDifference(text: string, line: number): Difference {
  const [, kind, faultstring] = /^(\S+)(?:\s+(.+))?$/.exec(text) ?? [];
  if (kind === 'message' && faultstring) return { kind, faultstring };
  if (REFUSALS.includes(kind) && (faultstring || kind.startsWith('500'))) {
    const [upstream, ours] = kind.split('->').map(Number) as [500 | 200, 400 | 415];
    return { kind: 'refused', upstream, ours, faultstring };
  }
  fail(line, `"message FAULTSTRING" or one of ${REFUSALS.join(', ')} and a FAULTSTRING (optional after 500)`);
}

const corpus = parseCorpus(readFileSync(join(FIXTURES, 'queries.txt'), 'utf8'));

interface Answer {
  status: number;
  contentType?: string;
  body: unknown;
}

/** One request as written (the target is sent as it is), on a connection of its own. */
function send(base: string, request: CorpusRequest): Promise<Answer> {
  const { hostname, port } = new URL(base);
  const body = request.body === undefined ? undefined : Buffer.from(request.body, 'utf8');
  // As curl and python-requests send it: without Accept, Panko's routing and guard errors are
  // plain text, ours always the HTML page (a deliberate difference).
  const headers: Record<string, string | number> = { Accept: '*/*', ...corpus.identities.get(request.as) };
  if (body) Object.assign(headers, { 'Content-Type': request.contentType!, 'Content-Length': body.length });
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      { hostname, port, method: request.method, path: request.target, headers, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const contentType = response.headers['content-type'];
          const json = contentType?.startsWith('application/json') && text !== '';
          resolve({ status: response.statusCode!, contentType, body: json ? JSON.parse(text) : text });
        });
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

interface Fault {
  faultcode: string;
  faultstring: string;
  debuginfo: null;
}

function faultOf(answer: Answer): Fault {
  const fault = (answer.body as { error_message?: Fault } | undefined)?.error_message;
  if (typeof fault !== 'object' || fault === null) {
    throw new Error(`not a fault: ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  return fault;
}

/** Messages naming several unknown names, which upstream lists in Python's set order. */
const NAME_LISTS = [/^(Unknown argument: ")(.*)(")$/s, /^(Unknown attributes for argument q: )(.*)()$/s];

/** Unknown names compared as a set (sorted), whatever order each side lists them in. */
function comparable(answer: Answer): Answer {
  const fault = (answer.body as { error_message?: unknown } | undefined)?.error_message;
  if (typeof fault !== 'object' || fault === null) return answer;
  for (const pattern of NAME_LISTS) {
    const [, before, names, after] = pattern.exec((fault as Fault).faultstring) ?? [];
    if (names === undefined) continue;
    const faultstring = `${before}${names.split(', ').sort().join(', ')}${after}`;
    return { ...answer, body: { error_message: { ...fault, faultstring } } };
  }
  return answer;
}

const clientFault = (status: number, faultstring: string): Answer => ({
  status,
  contentType: 'application/json',
  body: { error_message: { faultcode: 'Client', faultstring, debuginfo: null } },
});

function expectAgreement(request: CorpusRequest, upstream: Answer, ours: Answer): void {
  const difference = request.difference;
  if (!difference) {
    expect(comparable(ours)).toEqual(comparable(upstream));
    return;
  }
  switch (difference.kind) {
    case 'refused': {
      expect(upstream.status).toBe(difference.upstream);
      // A 500 is upstream's Server fault; its text is ours too unless the corpus gives one.
      const faultstring = difference.upstream === 500 ? expectServerFault(upstream) : undefined;
      expect(ours).toEqual(clientFault(difference.ours, (difference.faultstring ?? faultstring)!));
      return;
    }
    case 'message':
      expect(faultOf(upstream).faultstring).not.toBe(difference.faultstring);
      expect({ ...ours, body: undefined }).toEqual({ ...upstream, body: undefined });
      expect(faultOf(ours)).toEqual({ ...faultOf(upstream), faultstring: difference.faultstring });
  }
}

function expectServerFault(answer: Answer): string {
  const { faultcode, faultstring } = faultOf(answer);
  expect(faultcode).toBe('Server');
  return faultstring;
}

function fixtureEvents(): StoredEvent[] {
  return readFileSync(EVENTS_FILE, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => storedEventOf(fromWire(JSON.parse(line)), {})); // upstream's record stores raw {}
}

interface OursApi {
  name: string;
  store: PgEventStore;
  app: FastifyInstance;
  base: string;
}

let upstreamDb: UpstreamDatabase | undefined;
let upstream: UpstreamApi | undefined;
let oursDb: FreshDatabase | undefined;
const ours: OursApi[] = [];

async function serveOurs(name: string, url: string, options: PgEventStoreOptions): Promise<OursApi> {
  const store = await PgEventStore.open(url, options);
  const app = buildApi({
    metrics: new WinchesterMetrics('api'),
    namespace: 'panko-differential',
    eventStore: store,
    trustIdentityHeaders: true,
  });
  const api = { name, store, app, base: '' };
  ours.push(api);
  api.base = await app.listen({ host: '127.0.0.1', port: 0 });
  return api;
}

async function startOurs(events: StoredEvent[]): Promise<void> {
  oursDb = await freshDatabase('panko_differential');
  const pool = createPgPool(oursDb.url);
  await upgradeSchema(pool).finally(() => pool.end());
  const { store } = await serveOurs('ours', oursDb.url, {});
  const results = await store.recordEvents(events);
  expect(results.filter((result) => result.outcome !== 'stored')).toEqual([]);
  await serveOurs('ours, row by row', oursDb.url, { indexedFilterLimit: 0 });
}

async function startUpstream(): Promise<void> {
  // The first run builds upstream's virtualenv from PyPI (about half a minute).
  const python = await upstreamPankoPython();
  upstreamDb = await upstreamDatabase();
  await recordUpstream(python, upstreamDb.url, EVENTS_FILE);
  upstream = await startUpstreamApi(python, upstreamDb.url);
}

beforeAll(async () => {
  // Both settle before afterAll runs, so whatever either started is cleaned up.
  const started = await Promise.allSettled([startUpstream(), startOurs(fixtureEvents())]);
  for (const outcome of started) if (outcome.status === 'rejected') throw outcome.reason;
}, 600_000);

afterAll(async () => {
  await upstream?.stop();
  for (const { app, store } of ours) {
    await app.close();
    await store.close();
  }
  await Promise.all([upstreamDb?.drop(), oursDb?.drop()]);
});

test('both hold every fixture event, in Panko’s default order', async () => {
  const events = fixtureEvents();
  const everything: CorpusRequest = {
    line: 0,
    as: 'admin',
    method: 'GET',
    target: `/v2/events?q.field=all_tenants&q.value=true&limit=${events.length + 1}`,
  };
  const expected = [...events]
    .sort((a, b) => a.generated - b.generated || (a.message_id < b.message_id ? -1 : 1))
    .map((event) => event.message_id);
  for (const base of [upstream!.base, ...ours.map((api) => api.base)]) {
    const answer = await send(base, everything);
    expect((answer.body as { message_id: string }[]).map((event) => event.message_id)).toEqual(expected);
  }
});

const title = ({ line, as, method, target, body }: CorpusRequest) =>
  `queries.txt:${line} ${as} ${method} ${target}${body === undefined ? '' : ` ${body.slice(0, 100)}`}`;

test.each(corpus.requests.map((request) => [title(request), request] as const))('%s', async (_, request) => {
  const upstreamAnswer = await send(upstream!.base, request);
  for (const { name, base } of ours) {
    const oursAnswer = await send(base, request);
    try {
      expectAgreement(request, upstreamAnswer, oursAnswer);
    } catch (error) {
      (error as Error).message = `${name}:\n${(error as Error).message}`;
      throw error;
    }
  }
});
