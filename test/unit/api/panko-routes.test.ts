import { FastifyInstance } from 'fastify';
import { buildApi } from '../../../src/api/server';
import { WinchesterMetrics } from '../../../src/metrics/metrics';
import {
  ADMIN_P1,
  ADMIN_PA,
  ALL,
  call,
  fault,
  FORBIDDEN_PAGE,
  ids,
  MEMBER_U1,
  methodNotAllowedPage,
  NOT_FOUND_PAGE,
  notAcceptablePage,
  pankoApp,
  unauthorizedPage,
} from './panko-fixture';

/**
 * Panko's /v2 routes, guards, scoping and answers. Expected bodies are upstream Panko 10.0.0's,
 * byte for byte, unless a test says it is one of our deliberate differences.
 */

let app: FastifyInstance;
beforeAll(async () => {
  app = await pankoApp();
});
afterAll(() => app.close());

const E1 =
  '{"message_id": "e1", "event_type": "compute.a", "traits": [' +
  '{"name": "big", "value": "1099511627776", "type": "integer"}, ' +
  '{"name": "d", "value": "2020-01-02T03:04:05.000006", "type": "datetime"}, ' +
  '{"name": "f", "value": "1.5", "type": "float"}, {"name": "fe", "value": "1e+20", "type": "float"}, ' +
  '{"name": "fl", "value": "100.0", "type": "float"}, {"name": "i", "value": "5", "type": "integer"}, ' +
  '{"name": "project_id", "value": "P1", "type": "string"}, {"name": "s", "value": "hello", "type": "string"}, ' +
  '{"name": "user_id", "value": "U1", "type": "string"}], ' +
  '"generated": "2020-01-01T00:00:00.123456", "raw": {"k": "v", "n": [1, 2]}}';

describe('answers', () => {
  test('an event: keys in Panko order, trait values as Python writes them, isoformat without zone', async () => {
    const one = await call(app, '/v2/events/e1');
    expect(one.status).toBe(200);
    expect(one.headers['content-type']).toBe('application/json');
    expect(one.body).toBe(E1);
    const list = await call(app, '/v2/events?limit=2');
    expect(list.body).toBe(
      `[${E1}, {"message_id": "e5", "event_type": "compute.c", "traits": [` +
        '{"name": "alpha", "value": "a", "type": "string"}, {"name": "mid", "value": "1", "type": "integer"}, ' +
        '{"name": "project_id", "value": "P1", "type": "string"}, {"name": "zeta", "value": "z", "type": "string"}], ' +
        '"generated": "2020-01-04T00:00:00", "raw": "rawstring"}]',
    );
  });

  test('raw null, a path segment URL-decoded, a dot in an id, and a trailing slash', async () => {
    const e2 = await call(app, `/v2/events?${ALL}&q.field=message_id&q.value=e2`);
    expect(e2.body).toContain('"generated": "2020-01-02T00:00:00", "raw": null}]');
    expect((await call(app, '/v2/events/e%31')).body).toBe(E1);
    expect((await call(app, '/v2/events/e1/')).body).toBe(E1);
    expect((await call(app, '/v2/events/e1.json')).body).toBe(fault('Event e1.json Not Found'));
    expect(ids((await call(app, '/v2/events/?limit=1')).body)).toEqual(['e1']);
  });

  test('event types, trait descriptions (text first) and trait values', async () => {
    expect((await call(app, '/v2/event_types')).body).toBe('["compute.a", "compute.b", "compute.c"]');
    expect((await call(app, '/v2/event_types/')).body).toBe('["compute.a", "compute.b", "compute.c"]');
    const traits =
      '[{"type": "string", "name": "project_id"}, {"type": "string", "name": "s"}, ' +
      '{"type": "string", "name": "user_id"}, {"type": "integer", "name": "big"}, ' +
      '{"type": "integer", "name": "i"}, {"type": "float", "name": "f"}, {"type": "float", "name": "fe"}, ' +
      '{"type": "float", "name": "fl"}, {"type": "datetime", "name": "d"}]';
    expect((await call(app, '/v2/event_types/compute.a/traits')).body).toBe(traits);
    expect((await call(app, '/v2/event_types/compute.a/traits/')).body).toBe(traits);
    expect((await call(app, '/v2/event_types/compute.a/traits/i')).body).toBe(
      '[{"name": "i", "value": "5", "type": "integer"}, {"name": "i", "value": "9", "type": "integer"}]',
    );
    expect((await call(app, '/v2/event_types/compute.a/traits/i/')).status).toBe(200);
    expect((await call(app, '/v2/event_types/compute.a/traits/d')).body).toBe(
      '[{"name": "d", "value": "2020-01-02T03:04:05.000006", "type": "datetime"}]',
    );
    expect((await call(app, '/v2/event_types/compute.a/traits/fe')).body).toBe(
      '[{"name": "fe", "value": "1e+20", "type": "float"}]',
    );
    expect((await call(app, '/v2/event_types/nope/traits')).body).toBe('[]');
    expect((await call(app, '/v2/event_types/compute.a/traits/nope')).body).toBe('[]');
  });

  test('/v2/event_types/{type} is always 404, as a fault', async () => {
    for (const url of ['/v2/event_types/compute.a', '/v2/event_types/compute.a/', '/v2/event_types/nope']) {
      const answer = await call(app, url);
      expect([answer.status, answer.body]).toEqual([404, fault('The resource could not be found.')]);
    }
  });

  test('capabilities flattened with ":" and sorted, from the store; no guard', async () => {
    const answer = await call(app, '/v2/capabilities', { headers: {} });
    // The memory store says it is not production-ready; PostgreSQL's driver says it is.
    expect(answer.body).toBe(
      '{"api": {"events:query:simple": true}, "event_storage": {"storage:production_ready": false}}',
    );
    expect((await call(app, '/v2/capabilities/')).status).toBe(200);
  });

  test('the versions document at / (any method), whose /v2 link is a 404', async () => {
    const root = await call(app, '/', { headers: { host: 'panko.example:8977' } });
    expect(root.status).toBe(200);
    expect(root.headers['content-type']).toBe('application/json');
    expect(root.headers['x-openstack-request-id']).toBeUndefined();
    expect(root.body).toBe(
      '{"versions": {"values": [{"id": "v2", "links": [{"href": "http://panko.example:8977/v2", "rel": "self"}, ' +
        '{"href": "https://docs.openstack.org/", "rel": "describedby", "type": "text/html"}], "media-types": [' +
        '{"base": "application/json", "type": "application/vnd.openstack.telemetry-v2+json"}, ' +
        '{"base": "application/xml", "type": "application/vnd.openstack.telemetry-v2+xml"}], ' +
        '"status": "stable", "updated": "2013-02-13T00:00:00Z"}]}}',
    );
    expect((await call(app, '/', { method: 'POST' })).status).toBe(200);
    for (const url of ['/v2', '/v2/']) expect((await call(app, url)).body).toBe(NOT_FOUND_PAGE);
  });

  test('/healthcheck answers OK without identity', async () => {
    const answer = await call(app, '/healthcheck', { headers: {} });
    expect([answer.status, answer.headers['content-type'], answer.body]).toEqual([
      200,
      'text/plain; charset=UTF-8',
      'OK',
    ]);
  });

  test('every /v2 answer carries x-openstack-request-id', async () => {
    const first = await call(app, '/v2/events');
    const again = await call(app, '/v2/nope');
    for (const answer of [first, again]) {
      expect(answer.headers['x-openstack-request-id']).toMatch(/^req-[0-9a-f]{8}-[0-9a-f-]{27}$/);
    }
    expect(first.headers['x-openstack-request-id']).not.toBe(again.headers['x-openstack-request-id']);
  });
});

describe('routing refusals', () => {
  test('unknown paths, extra segments and extensions: 404 HTML page', async () => {
    for (const url of [
      '/v2/foo',
      '/v2/events.json',
      '/v2/events/e1/x',
      '/v2/event_types/a/traits/b/c',
      '/v2/capabilities/x',
    ]) {
      const answer = await call(app, url);
      expect([url, answer.status, answer.body]).toEqual([url, 404, NOT_FOUND_PAGE]);
    }
  });

  test('methods other than GET: 405 with Allow: GET, before body parsing; OPTIONS: 200 empty', async () => {
    for (const [method, url] of [
      ['POST', '/v2/events'],
      ['PUT', '/v2/events'],
      ['DELETE', '/v2/events/e1'],
      ['PATCH', '/v2/events/e1'],
      ['POST', '/v2/event_types'],
      ['DELETE', '/v2/capabilities'],
      ['PUT', '/v2/event_types/x/traits/y'],
    ]) {
      const answer = await call(app, url, { method, body: '{not json', contentType: 'text/plain' });
      expect([method, url, answer.status, answer.headers.allow, answer.body]).toEqual([
        method,
        url,
        405,
        'GET',
        methodNotAllowedPage(method),
      ]);
    }
    const head = await call(app, '/v2/events', { method: 'HEAD' });
    expect([head.status, head.headers.allow]).toEqual([405, 'GET']);
    for (const url of ['/v2/events', '/v2/foo']) {
      const options = await call(app, url, { method: 'OPTIONS' });
      expect([options.status, options.body]).toEqual([200, '']);
    }
    expect((await call(app, '/v2/foo', { method: 'POST' })).body).toBe(NOT_FOUND_PAGE);
  });

  test('an Accept header that rules JSON out: 406 (after 404 and 405, before the guards)', async () => {
    const html = { accept: 'text/html' };
    expect((await call(app, '/v2/capabilities', { headers: html })).body).toBe(
      notAcceptablePage('text/html'),
    );
    expect((await call(app, '/v2/events', { headers: html })).status).toBe(406);
    expect((await call(app, '/', { headers: html })).status).toBe(406);
    expect((await call(app, '/v2/foo', { headers: html })).status).toBe(404);
    expect((await call(app, '/v2/events', { method: 'POST', headers: html })).status).toBe(405);
    const refusesJson = await call(app, '/v2/capabilities', {
      headers: { accept: 'application/json;q=0, */*' },
    });
    expect(refusesJson.status).toBe(406);
    for (const accept of ['*/*', 'application/json', 'application/*', 'text/html, */*;q=0.1', '']) {
      expect([accept, (await call(app, '/v2/capabilities', { headers: { accept } })).status]).toEqual([
        accept,
        200,
      ]);
    }
  });
});

describe('identity guards (trusted headers)', () => {
  test('events routes need a user and a project, whatever the roles: 403 HTML page', async () => {
    for (const headers of [
      {} as Record<string, string>,
      { 'x-roles': 'admin' },
      { 'x-roles': 'admin', 'x-user-id': 'u' },
      { 'x-roles': 'admin', 'x-project-id': 'p' },
      { 'x-roles': 'admin', 'x-user-id': '', 'x-project-id': 'P1' },
    ]) {
      for (const url of ['/v2/events', '/v2/events/e1', '/v2/events?foo=1']) {
        const answer = await call(app, url, { headers });
        expect([url, headers, answer.status, answer.body]).toEqual([url, headers, 403, FORBIDDEN_PAGE]);
      }
    }
  });

  test('event types and traits refuse a non-admin naming a user and a project: 401, escaped', async () => {
    for (const url of [
      '/v2/event_types',
      '/v2/event_types/compute.a',
      '/v2/event_types/x/traits',
      '/v2/event_types?foo=1',
    ]) {
      const answer = await call(app, url, { headers: MEMBER_U1 });
      expect([url, answer.status, answer.body]).toEqual([url, 401, unauthorizedPage('P1')]);
    }
    const odd = await call(app, '/v2/event_types', {
      headers: { 'x-roles': 'member', 'x-user-id': 'u', 'x-project-id': `p<&>"'` },
    });
    expect(odd.body).toBe(unauthorizedPage('p&lt;&amp;&gt;&quot;&#x27;'));
  });

  test('... but let through a caller with no user or no project, as Panko does', async () => {
    const anonymous: Record<string, string>[] = [
      {},
      { 'x-user-id': 'U1' },
      { 'x-roles': 'member', 'x-project-id': 'P1' },
    ];
    for (const headers of anonymous) {
      expect((await call(app, '/v2/event_types', { headers })).body).toBe(
        '["compute.a", "compute.b", "compute.c"]',
      );
    }
  });

  test('guards come before argument errors; argument errors before the 404 of /event_types/{type}', async () => {
    expect((await call(app, '/v2/events?foo=1', { headers: {} })).status).toBe(403);
    expect((await call(app, '/v2/event_types?foo=1', { headers: MEMBER_U1 })).status).toBe(401);
    expect((await call(app, '/v2/event_types/x?foo=1')).body).toBe(fault('Unknown argument: "foo"'));
  });

  test('admin is role admin in any case; roles split on "," without trimming', async () => {
    const as = (roles: string) => ({ 'x-roles': roles, 'x-user-id': 'u', 'x-project-id': 'P1' });
    const adminView = ['e1', 'e5', 'e6', 'e7'];
    expect(ids((await call(app, '/v2/events', { headers: as('Admin') })).body)).toEqual(adminView);
    expect(ids((await call(app, '/v2/events', { headers: as('member,admin') })).body)).toEqual(adminView);
    // " admin" is not "admin": a member u sees only events whose user_id is u.
    expect((await call(app, '/v2/events', { headers: as('member, admin') })).body).toBe('[]');
  });
});

describe('project scoping', () => {
  test('an admin sees its project and events with text traits but no project_id', async () => {
    expect(ids((await call(app, '/v2/events', { headers: ADMIN_P1 })).body)).toEqual([
      'e1',
      'e5',
      'e6',
      'e7',
    ]);
    expect(ids((await call(app, '/v2/events', { headers: ADMIN_PA })).body)).toEqual(['e6']);
  });

  test('all_tenants lifts it (loose booleans; op and type ignored); a second one is a trait filter', async () => {
    const everything = ['e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7'];
    for (const q of [
      'q.field=all_tenants&q.value=yes',
      'q.field=all_tenants&q.value=1&q.type=integer',
      'q.field=all_tenants&q.op=ne&q.value=true',
      'q.field=all_tenants&q.value=%20YES%20',
    ]) {
      expect([q, ids((await call(app, `/v2/events?${q}`)).body)]).toEqual([q, everything]);
    }
    for (const q of ['q.field=all_tenants&q.value=false', 'q.field=all_tenants&q.value=garbage']) {
      expect(ids((await call(app, `/v2/events?${q}`)).body)).toEqual(['e1', 'e5', 'e6', 'e7']);
    }
    const twice = 'q.field=all_tenants&q.value=true&q.field=all_tenants&q.value=false';
    expect((await call(app, `/v2/events?${twice}`)).body).toBe('[]');
  });

  test('a member sees events whose project_id and user_id are its own; all_tenants is a trait for it', async () => {
    expect(ids((await call(app, '/v2/events', { headers: MEMBER_U1 })).body)).toEqual(['e1']);
    expect(
      (await call(app, '/v2/events?q.field=all_tenants&q.value=true', { headers: MEMBER_U1 })).body,
    ).toBe('[]');
    expect((await call(app, '/v2/events/e1', { headers: MEMBER_U1 })).body).toBe(E1);
    expect((await call(app, '/v2/events/e2', { headers: MEMBER_U1 })).body).toBe(fault('Event e2 Not Found'));
  });

  test('one event by id keeps the scope: an admin of another project gets 404', async () => {
    expect((await call(app, '/v2/events/e1', { headers: ADMIN_PA })).body).toBe(fault('Event e1 Not Found'));
    expect((await call(app, '/v2/events/e4')).body).toBe(fault('Event e4 Not Found'));
    expect((await call(app, '/v2/events/nope')).body).toBe(fault('Event nope Not Found'));
  });

  test("a caller's trait filter is ANDed with the scope", async () => {
    expect((await call(app, '/v2/events?q.field=project_id&q.value=P2')).body).toBe('[]');
  });
});

describe('without trusted identity headers', () => {
  let open: FastifyInstance;
  let guarded: FastifyInstance;
  beforeAll(async () => {
    open = await pankoApp({ trustIdentityHeaders: false });
    guarded = await pankoApp({ trustIdentityHeaders: false, bearerToken: 's3cret' });
  });
  afterAll(async () => {
    await open.close();
    await guarded.close();
  });
  const everything = ['e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7'];

  test('every caller is an admin over all projects; identity headers are ignored', async () => {
    const callers: Record<string, string>[] = [{}, MEMBER_U1, ADMIN_PA, { 'x-roles': 'admin' }];
    for (const headers of callers) {
      expect(ids((await call(open, '/v2/events', { headers })).body)).toEqual(everything);
      expect((await call(open, '/v2/event_types', { headers })).status).toBe(200);
    }
    expect((await call(open, '/v2/events/e2', { headers: MEMBER_U1 })).status).toBe(200);
  });

  test('all_tenants is accepted and changes nothing', async () => {
    for (const value of ['true', 'false']) {
      const answer = await call(open, `/v2/events?q.field=all_tenants&q.value=${value}`, { headers: {} });
      expect(ids(answer.body)).toEqual(everything);
    }
  });

  test('the bearer token guards /v2 and /; /healthcheck needs none', async () => {
    expect((await call(guarded, '/v2/events', { headers: {} })).status).toBe(401);
    expect((await call(guarded, '/', { headers: {} })).status).toBe(401);
    const ok = await call(guarded, '/v2/events', { headers: { authorization: 'Bearer s3cret' } });
    expect(ids(ok.body)).toEqual(everything);
    expect((await call(guarded, '/healthcheck', { headers: {} })).body).toBe('OK');
  });
});

test('without an event store, neither / nor /v2 is served', async () => {
  const bare = buildApi({ metrics: new WinchesterMetrics('api'), namespace: 'panko-test' });
  expect((await bare.inject({ url: '/v2/events' })).json()).toEqual({
    error: 'not_found',
    message: 'GET /v2/events',
  });
  expect((await bare.inject({ url: '/' })).statusCode).toBe(404);
  await bare.close();
});
