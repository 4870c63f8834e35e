import { Agent, request as httpRequest } from 'node:http';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FastifyInstance } from 'fastify';
import Redis from 'ioredis';
import { ApiOptions, buildApi, STREAM_LIST_PARAMETERS } from '../../src/api/server';
import { DEFAULT_ADMIN_RATE_LIMIT } from '../../src/api/token-bucket';
import { fromWire } from '../../src/events/wire';
import { WinchesterMetrics } from '../../src/metrics/metrics';
import { createPgPool } from '../../src/postgres/client';
import { PgCompletedStreams } from '../../src/postgres/completed-streams';
import { PgEventStore } from '../../src/postgres/event-store';
import { upgradeSchema } from '../../src/postgres/migrations';
import { RedisConnectionPool } from '../../src/redis/connection-pool';
import { finishStream } from '../../src/redis/lifecycle';
import { checkPartitionCount, RedisPartitionStore } from '../../src/redis/partition-store';
import { storedEventOf } from '../../src/store/canonical-events';
import { CompletedStream } from '../../src/store/completed-streams';
import { StreamRecord } from '../../src/streams/model';
import { PartitionProcessor } from '../../src/streams/processor';
import { logger } from '../../src/util/logger';
import { FreshDatabase, freshDatabase } from '../support/fresh-database';
import { testNamespace } from '../support/namespace';
import { repoRoot } from '../support/stack';
import { simpleTrigger, testEvent } from '../support/simple-trigger';

/**
 * Hostile requests over every query parameter of every endpoint, against the API over a real
 * Redis (streams in several states) and a real PostgreSQL event store (Panko's fixture events,
 * archived streams): no answer may be a 5xx, every answer must come within a deadline, and
 * every refusal must be JSON. The requests come from a seeded generator: FUZZ_SEED=<n> replays
 * a run, FUZZ_REQUESTS=<n> changes how many there are.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20260501);
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 5000);
/** Far beyond any answer here: a request still open after it is a hang, not a slow answer. */
const DEADLINE_MS = 15_000;
const PARALLEL = 6;
const TOKEN = 'fuzz-token';
const ns = testNamespace();

/** mulberry32: a tiny seeded PRNG, the same sequence for the same seed on every machine. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Dice {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  int(below: number): number {
    return Math.floor(this.next() * below);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

/** Values as sent (already %-encoded): broken escapes, NULs, bad UTF-8, numbers that are not. */
const HOSTILE = [
  '',
  '%00',
  'a%00b',
  '%C0%80',
  '%FF',
  '%FE%FF',
  '%ED%A0%80',
  '%E0%A4%A',
  '%',
  '%%',
  '%zz',
  '%2',
  '+',
  '%2B',
  '%26',
  '%3D',
  '%3B',
  '%0D%0A',
  '%0A',
  '%09',
  '%1F',
  '%7F',
  '%C2%85',
  '%E2%80%AE',
  '%F0%9F%92%A9',
  'a%CC%81',
  '%EF%BB%BF',
  '%E2%80%8B',
  'NaN',
  '-NaN',
  'Infinity',
  '-Infinity',
  '-1',
  '-0',
  '0',
  '1e309',
  '1e-400',
  '0x10',
  '0b1',
  '1_000',
  '9007199254740993',
  '-9007199254740993',
  '99999999999999999999999',
  '1.5',
  '%201',
  '1%20',
  'null',
  'None',
  'True',
  'undefined',
  '[]',
  '{}',
  '%5B%5D',
  '%7B%22a%22%3A1%7D',
  "'%20OR%201%3D1--",
  '%22',
  "'",
  '%5C',
  '..%2F..%2Fetc%2Fpasswd',
  '__proto__',
  'constructor',
  'toString',
  '%24where',
  '*',
  '%25',
  '_',
  '%5Cu0000',
  ':',
  ',',
  ':a',
  'a:',
  'a:b,c',
  'instance_id:',
  '%3Cscript%3E',
] as const;

/** Values that mean something to some parameter, so that deeper code paths are reached too. */
const MEANINGFUL = [
  'active',
  'firing',
  'expiring',
  'completed',
  'error',
  'expire_error',
  'retry_fire',
  'retry_expire',
  'simple',
  'true',
  'false',
  '1',
  '20',
  '1000',
  '1001',
  '2021-06-01T00:00:00Z',
  '2021-06-01',
  '1970-01-01T00:16:41Z',
  '2021-06-01T00:00:00.123456%2B01:00',
  '2021-13-45T99:99:99',
  'event_type',
  'message_id',
  'start_timestamp',
  'end_timestamp',
  'all_tenants',
  'project_id',
  'user_id',
  'instance_id',
  'memory_mb',
  'launched_at',
  'state',
  'host',
  'eq',
  'ne',
  'lt',
  'le',
  'gt',
  'ge',
  'EQ',
  'like',
  'string',
  'integer',
  'float',
  'datetime',
  'bool',
  'generated:asc',
  'message_id:desc',
  'generated:sideways',
  'compute.instance.create.end',
  'P1',
  'u1',
  'i-0001',
  'c4-create-1',
  'instance_id:p0i1',
  'instance_id:i-1',
  "u'text'",
  '2048',
  '2.0',
] as const;

/** Every parameter /v1/streams reads, and one it does not. */
const V1_PARAMS = [...STREAM_LIST_PARAMETERS, 'instance_id'];
const V2_EVENT_PARAMS = [
  'q.field',
  'q.op',
  'q.value',
  'q.type',
  'q[0].field',
  'q[0].op',
  'q[0].value',
  'q[0].type',
  'q[1].field',
  'q[1].value',
  'q[99999999999].field',
  'q[-1].field',
  'q',
  'limit',
  'sort',
  'marker',
];
const ANY_PARAMS = ['a', '__proto__', 'constructor', 'q.field', 'limit', '%00', '%FF', 'x%5B%5D', ''];

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

interface Seeded {
  streamIds: string[];
  messageIds: string[];
  eventTypes: string[];
}

/** A %-encoded value: hostile, meaningful, huge, or random bytes. */
function valueOf(dice: Dice, seeded: Seeded): string {
  const roll = dice.int(20);
  if (roll < 8) return dice.pick(HOSTILE);
  if (roll < 14) return dice.pick(MEANINGFUL);
  if (roll === 14) return dice.pick([...seeded.streamIds, ...seeded.messageIds, ...seeded.eventTypes]);
  if (roll === 15) return String(dice.int(2 ** 31) * (dice.chance(0.5) ? -1 : 1));
  if (roll === 16) return dice.pick(['a', '%00', '%F0%9F%92%A9', 'x%2C']).repeat(1 + dice.int(3000));
  return Array.from(
    { length: 1 + dice.int(12) },
    () => `%${dice.int(256).toString(16).padStart(2, '0')}`,
  ).join('');
}

/** name=value pairs: names of the endpoint, repeated sometimes, in array forms sometimes. */
function queryOf(dice: Dice, names: readonly string[], seeded: Seeded): string {
  const pairs: string[] = [];
  const count = dice.int(7);
  for (let i = 0; i < count; i++) {
    let name = dice.chance(0.85) ? dice.pick(names) : dice.pick(ANY_PARAMS);
    if (dice.chance(0.08)) name = `${name}${dice.pick(['%5B%5D', '[]', '[0]', '.x', '%5B0%5D'])}`;
    const repeats = dice.chance(0.15) ? 2 + dice.int(4) : 1;
    for (let r = 0; r < repeats; r++) {
      pairs.push(dice.chance(0.05) ? name : `${name}=${valueOf(dice, seeded)}`);
    }
  }
  if (dice.chance(0.03)) pairs.push(dice.pick(['&&&', '=', '==', '&=&', '%26%3D']));
  return pairs.length ? `?${pairs.join('&')}` : dice.pick(['', '', '?', '?&']);
}

/** A path segment: a seeded id or name, or something hostile. */
function segment(dice: Dice, known: string[]): string {
  if (known.length && dice.chance(0.4)) return encodeURIComponent(dice.pick(known));
  const hostile = dice.pick([...HOSTILE, '%2F', '..', '.', 'a'.repeat(300), `0.${randomUUID()}`, '1.x']);
  return hostile || 'x';
}

/** Every endpoint with the query parameters its route reads. */
function endpointOf(dice: Dice, seeded: Seeded): { path: string; params: readonly string[] } {
  const stream = () => segment(dice, seeded.streamIds);
  const type = () => segment(dice, seeded.eventTypes);
  const trait = () => segment(dice, ['instance_id', 'memory_mb', 'launched_at', 'project_id', 'state']);
  const endpoints: Array<() => { path: string; params: readonly string[] }> = [
    () => ({ path: '/v1/streams', params: V1_PARAMS }),
    () => ({ path: '/v1/streams', params: V1_PARAMS }),
    () => ({ path: `/v1/streams/${stream()}`, params: ANY_PARAMS }),
    () => ({ path: `/v1/streams/${stream()}/${dice.pick(['retry', 'reset'])}`, params: ANY_PARAMS }),
    () => ({ path: '/v2/events', params: V2_EVENT_PARAMS }),
    () => ({ path: '/v2/events', params: V2_EVENT_PARAMS }),
    () => ({ path: '/v2/events', params: V2_EVENT_PARAMS }),
    () => ({ path: `/v2/events/${segment(dice, seeded.messageIds)}`, params: ANY_PARAMS }),
    () => ({ path: '/v2/event_types', params: ANY_PARAMS }),
    () => ({ path: `/v2/event_types/${type()}`, params: ANY_PARAMS }),
    () => ({ path: `/v2/event_types/${type()}/traits`, params: ANY_PARAMS }),
    () => ({ path: `/v2/event_types/${type()}/traits/${trait()}`, params: ANY_PARAMS }),
    () => ({ path: '/v2/capabilities', params: ANY_PARAMS }),
    () => ({
      path: dice.pick(['/', '/healthcheck', '/healthz', '/healthz/live', '/healthz/ready', '/metrics']),
      params: ANY_PARAMS,
    }),
    () => ({ path: `/${segment(dice, ['v1', 'v2', 'v3'])}/${segment(dice, [])}`, params: ANY_PARAMS }),
  ];
  const endpoint = dice.pick(endpoints)();
  return dice.chance(0.1) ? { ...endpoint, path: `${endpoint.path}/` } : endpoint;
}

/** A JSON body Panko would read on GET /v2/events, or something that only looks like one. */
function bodyOf(dice: Dice, seeded: Seeded): string {
  const scalar = (): unknown =>
    dice.pick([
      null,
      true,
      0,
      -1,
      1e308,
      -0.5,
      2 ** 63,
      '',
      '\u0000',
      'x'.repeat(5000),
      decodeURIComponent('%F0%9F%92%A9'),
      valueOf(dice, seeded),
      [],
      {},
    ]);
  const item = () => {
    const keys = ['field', 'op', 'value', 'type', 'extra'].filter(() => dice.chance(0.6));
    return Object.fromEntries(keys.map((key) => [key, dice.chance(0.5) ? dice.pick(MEANINGFUL) : scalar()]));
  };
  const roll = dice.int(10);
  if (roll === 0) return dice.pick(['{', '[]', 'null', '"q"', '{"q": [}', '\u0000', '{"a":'.repeat(2000)]);
  if (roll === 1) return JSON.stringify({ q: '['.repeat(3000) });
  const body: Record<string, unknown> = {};
  if (dice.chance(0.7)) body.q = dice.chance(0.9) ? Array.from({ length: dice.int(4) }, item) : scalar();
  if (dice.chance(0.4)) body.limit = scalar();
  if (dice.chance(0.3)) body.sort = dice.chance(0.5) ? [dice.pick(MEANINGFUL), scalar()] : scalar();
  if (dice.chance(0.3)) body.marker = scalar();
  if (dice.chance(0.1)) body[dice.pick(['x', '__proto__', 'Q'])] = scalar();
  return JSON.stringify(body);
}

const ACCEPTS = [
  undefined,
  'application/json',
  '*/*',
  'text/html',
  'application/json;q=0, */*',
  'garbage',
  'application/json;q=abc',
  'text/xml',
];
const CONTENT_TYPES = [
  'application/json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'text/xml',
  'multipart/form-data; boundary=x',
  'application/json; charset=latin1',
  'garbage',
];

function headersOf(dice: Dice): Record<string, string> {
  const headers: Record<string, string> = {};
  const auth = dice.int(20);
  if (auth > 1) headers.authorization = `Bearer ${TOKEN}`;
  else if (auth === 1)
    headers.authorization = dice.pick([
      'Bearer',
      'Bearer wrong',
      `Basic ${TOKEN}`,
      `Bearer ${TOKEN} `,
      `bearer ${TOKEN}`,
    ]);
  const accept = dice.chance(0.15) ? dice.pick(ACCEPTS) : undefined;
  if (accept) headers.accept = accept;
  if (dice.chance(0.2)) {
    headers['x-roles'] = dice.pick(['admin', 'member', 'Admin,reader', 'member, admin', '', 'ÿ']);
    headers['x-user-id'] = dice.pick(['u1', '', 'UA', 'x'.repeat(500)]);
    headers['x-project-id'] = dice.pick(['P1', '', 'PA', '%00']);
  }
  return headers;
}

function requestOf(dice: Dice, seeded: Seeded): FuzzRequest {
  const { path, params } = endpointOf(dice, seeded);
  const retry = /\/(retry|reset)\/?$/.test(path);
  const method = retry
    ? dice.pick(['POST', 'POST', 'POST', 'GET', 'PUT'])
    : dice.chance(0.88)
      ? 'GET'
      : dice.pick(['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']);
  const headers = headersOf(dice);
  const request: FuzzRequest = { method, path: `${path}${queryOf(dice, params, seeded)}`, headers };
  if (method !== 'HEAD' && dice.chance(path.startsWith('/v2/events') || retry ? 0.35 : 0.08)) {
    request.body = bodyOf(dice, seeded);
    if (dice.chance(0.9)) headers['content-type'] = dice.pick(CONTENT_TYPES);
  }
  return request;
}

interface Answer {
  status: number;
  contentType: string;
  body: string;
}

/** One request over a kept-alive connection; a hang (no answer before the deadline) rejects. */
function send(base: URL, agent: Agent, request: FuzzRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = request.body === undefined ? undefined : Buffer.from(request.body);
    const headers = body ? { ...request.headers, 'content-length': String(body.length) } : request.headers;
    const sent = httpRequest(
      { host: base.hostname, port: base.port, method: request.method, path: request.path, headers, agent },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          clearTimeout(timer);
          const contentType = String(response.headers['content-type'] ?? '');
          resolve({
            status: response.statusCode ?? 0,
            contentType,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
      },
    );
    const timer = setTimeout(() => {
      sent.destroy();
      reject(new Error(`no answer within ${DEADLINE_MS} ms`));
    }, DEADLINE_MS);
    sent.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    sent.end(body);
  });
}

/** What is wrong with an answer, if anything. */
function problemOf(request: FuzzRequest, answer: Answer): string | undefined {
  if (answer.status >= 500) return `status ${answer.status}: ${answer.body.slice(0, 300)}`;
  if (request.method === 'HEAD' || answer.body === '') {
    return answer.status >= 400 && request.method !== 'HEAD'
      ? `status ${answer.status} with no body`
      : undefined;
  }
  const json = /^application\/json/.test(answer.contentType);
  if (answer.status >= 400 && !json)
    return `status ${answer.status} as ${answer.contentType || 'no content type'}`;
  if (!json) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.body);
  } catch {
    return `status ${answer.status}: a body that is not JSON: ${answer.body.slice(0, 200)}`;
  }
  if (answer.status < 400) return undefined;
  const fields = parsed as { error?: unknown; error_message?: unknown };
  const named = typeof fields.error === 'string' || fields.error_message !== undefined;
  return named
    ? undefined
    : `status ${answer.status}: an error body without error: ${answer.body.slice(0, 200)}`;
}

/**
 * A HEAD request Node's parser refuses (headers over the limit) gets the JSON answer all such
 * refusals get: the server cannot know the method then, and a client that waits for no body
 * after a HEAD finds one. The connection is closed either way.
 */
const headRefusedByParser = (request: FuzzRequest, error: Error) =>
  request.method === 'HEAD' && /Data after `Connection: close`/.test(error.message);

const shown = (request: FuzzRequest) =>
  `${request.method} ${request.path.slice(0, 400)} ${JSON.stringify(request.headers)}` +
  (request.body === undefined ? '' : ` body ${request.body.slice(0, 200)}`);

/** Streams in Redis: per partition, some active and some failed (error, expire_error). */
async function seedRedis(redis: Redis, pool: RedisConnectionPool): Promise<string[]> {
  await checkPartitionCount(redis, ns.prefix, 2);
  const trigger = simpleTrigger({ expireAfterSeconds: 100 });
  const ids: string[] = [];
  for (const p of [0, 1]) {
    const store = new RedisPartitionStore(p, pool, {
      namespace: ns.prefix,
      seenRetentionSeconds: 60,
      maxAttempts: 10,
    });
    await store.claim();
    const emitted: StreamRecord[] = [];
    const processor = new PartitionProcessor(
      store,
      new Map([[trigger.name, trigger]]),
      'event',
      async (records) => void emitted.push(...records),
    );
    for (let i = 0; i < 6; i++) {
      const type = i % 2 ? 'compute.instance.update' : 'compute.instance.exists';
      const event = testEvent(type, `p${p}i${i}`, 1000 + i);
      await processor.apply([{ trigger: trigger.name, ...trigger.match(event)!, event }], 0);
    }
    await processor.runTimers(1101 * 1e6 + 1);
    for (const record of emitted.slice(0, 2)) {
      const keys = new RedisPartitionStore(p, pool, {
        namespace: ns.prefix,
        seenRetentionSeconds: 60,
        maxAttempts: 1,
      }).keys;
      const to = record.kind === 'fired' ? 'error' : 'expire_error';
      await pool.with((c) =>
        finishStream(c, keys, record.stream_id, record.serial, to, {
          purge: true,
          tombstoneSeconds: 60,
          outcome: '{}',
        }),
      );
    }
    ids.push(...(await store.listStreams({})).map((s) => s.id));
  }
  return ids;
}

function archivedStreams(): CompletedStream[] {
  return ['s1', 's2', 's3'].map((id, i) => ({
    namespace: ns.prefix,
    stream_id: id,
    trigger: 'usage',
    kind: 'fired',
    pipeline: 'audit',
    serial: 1,
    outcome: 'completed',
    message_ids: [`${id}-a`],
    new_event_ids: [],
    distinguished_by: { instance_id: { type: 'text', value: `i-${i}` } },
    first: (i + 1) * 1_000_000,
    last: (i + 2) * 1_000_000,
    completed_at: (i + 3) * 1_000_000,
  }));
}

/** Panko's fixture events in a fresh event store, with a few archived streams beside them. */
async function seedEventStore(database: FreshDatabase) {
  const schemaPool = createPgPool(database.url);
  await upgradeSchema(schemaPool).finally(() => schemaPool.end());
  const eventStore = await PgEventStore.open(database.url);
  const completedStreams = PgCompletedStreams.open(database.url);
  const events = readFileSync(join(repoRoot, 'test', 'fixtures', 'panko', 'events.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => storedEventOf(fromWire(JSON.parse(line)), {}));
  await eventStore.recordEvents(events);
  await completedStreams.recordCompletedStreams(archivedStreams());
  return { eventStore, completedStreams, events };
}

interface RunResult {
  problems: string[];
  statuses: Map<number, number>;
}

/** Sends the requests, PARALLEL at a time, spread over the servers; collects what is wrong. */
async function run(requests: FuzzRequest[], bases: URL[], agent: Agent): Promise<RunResult> {
  const problems: string[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const index = next++;
      const request = requests[index];
      const problem = await send(bases[index % bases.length], agent, request).then(
        (answer) => {
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          return problemOf(request, answer);
        },
        (error: Error) => (headRefusedByParser(request, error) ? undefined : error.message),
      );
      if (problem) problems.push(`#${index} ${shown(request)}\n  → ${problem}`);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  return { problems, statuses };
}

/** The API as `winchester api --events` builds it (with the same rate limit). */
function fuzzedApi(
  parts: Pick<ApiOptions, 'redis' | 'eventStore' | 'completedStreams' | 'trustIdentityHeaders'>,
) {
  return buildApi({
    metrics: new WinchesterMetrics('api'),
    namespace: ns.prefix,
    ...parts,
    bearerToken: TOKEN,
    adminRateLimit: DEFAULT_ADMIN_RATE_LIMIT,
  });
}

describe('the API under hostile requests', () => {
  const redis = new Redis(ns.settings.redisUrl);
  const pool = new RedisConnectionPool(ns.settings.redisUrl, 2);
  const agent = new Agent({ keepAlive: true, maxSockets: PARALLEL });
  const apps: FastifyInstance[] = [];
  const bases: URL[] = [];
  const stores: Array<{ close(): Promise<void> }> = [];
  let database: FreshDatabase | undefined;
  let seeded: Seeded;
  const internalErrors: unknown[][] = [];
  let logged: jest.SpyInstance | undefined;

  beforeAll(async () => {
    database = await freshDatabase('api_fuzz');
    const { eventStore, completedStreams, events } = await seedEventStore(database);
    stores.push(eventStore, completedStreams);
    const messageIds = events.map((e) => e.message_id);
    const eventTypes = [...new Set(events.map((e) => e.event_type))];
    seeded = { streamIds: await seedRedis(redis, pool), messageIds, eventTypes };
    // Once trusting identity headers, once not.
    for (const trustIdentityHeaders of [false, true]) {
      const app = fuzzedApi({ redis, eventStore, completedStreams, trustIdentityHeaders });
      apps.push(app);
      bases.push(new URL(await app.listen({ host: '127.0.0.1', port: 0 })));
    }
    logged = jest
      .spyOn(logger, 'error')
      .mockImplementation((...args: unknown[]) => void internalErrors.push(args));
  }, 120_000);

  afterAll(async () => {
    logged?.mockRestore();
    agent.destroy();
    await Promise.all(apps.map((app) => app.close()));
    await Promise.all(stores.map((store) => store.close()));
    await pool.close();
    redis.disconnect();
    await database?.drop();
  });

  test(`${REQUESTS} seeded requests (seed ${SEED}): no 5xx, no hang, every refusal JSON`, async () => {
    const dice = new Dice(SEED);
    const requests = Array.from({ length: REQUESTS }, () => requestOf(dice, seeded));
    const { problems, statuses } = await run(requests, bases, agent);
    const logs = internalErrors.slice(0, 5).map(([fields]) => String((fields as { err?: Error }).err?.stack));
    expect({ problems: problems.slice(0, 20), count: problems.length, logs }).toEqual({
      problems: [],
      count: 0,
      logs: [],
    });
    // The run reached past the refusals: real answers, and refusals of several kinds.
    expect(statuses.get(200)).toBeGreaterThan(REQUESTS / 10);
    for (const status of [400, 401, 404, 405, 414, 431]) {
      expect([status, statuses.get(status) ?? 0]).not.toEqual([status, 0]);
    }
  }, 300_000);
});
