import { FastifyInstance } from 'fastify';
import { StoredEvent } from '../../../src/store/model';
import { ADMIN_P1, ALL, call, Call, fault, ids, pankoApp, PROBE_EVENTS } from './panko-fixture';

/**
 * GET /v2/events arguments: q lists from the query string or a JSON body, their validation
 * and meaning, limit, sort and marker. Expected faults are upstream Panko 10.0.0's unless a
 * test names a deliberate difference.
 */

let app: FastifyInstance;
beforeAll(async () => {
  app = await pankoApp();
});
afterAll(() => app.close());

const EVERYTHING = ['e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7'];
const get = (query: string, options?: Call) => call(app, `/v2/events?${query}`, options);
const idsOf = async (query: string, options?: Call) => ids((await get(query, options)).body);
const refused = async (query: string, options?: Call) => {
  const answer = await get(query, options);
  return [answer.status, answer.body];
};
const body = (json: unknown, query = '') => call(app, `/v2/events${query}`, { body: json as object });

describe('query string arguments', () => {
  test('unknown arguments: 400 naming them (sorted), also on routes that take none', async () => {
    expect(await refused('bad_Stuff_here')).toEqual([400, fault('Unknown argument: "bad_Stuff_here"')]);
    expect(await refused('foo=1&bar=2')).toEqual([400, fault('Unknown argument: "bar, foo"')]);
    expect(await refused('q.bogus=1')).toEqual([400, fault('Unknown argument: "q.bogus"')]);
    expect(await refused('q.=x')).toEqual([400, fault('Unknown argument: "q."')]);
    expect(await refused('q[0]=x')).toEqual([400, fault('Unknown argument: "q[0]"')]);
    expect(await refused('Limit=5')).toEqual([400, fault('Unknown argument: "Limit"')]);
    for (const url of ['/v2/events/e1?limit=2', '/v2/event_types?limit=2', '/v2/capabilities?limit=2']) {
      expect((await call(app, url)).body).toBe(fault('Unknown argument: "limit"'));
    }
  });

  test('q lists go by position, whatever their order in the URL', async () => {
    expect(await idsOf(`${ALL}&q.field=project_id&q.field=user_id&q.value=P1&q.value=U1`)).toEqual(['e1']);
    const shuffled = `q.value=5&${ALL}&q.field=i&q.type=string&q.type=integer&q.op=eq&q.op=ge`;
    expect(await idsOf(shuffled)).toEqual(['e1']);
  });

  test('a shorter list leaves later items their defaults: op eq, type string, value "Unset"', async () => {
    expect(await idsOf(`q.field=s&q.value=hello&${ALL}`)).toEqual(['e1']);
    expect((await get('q.field=s&q.field=i&q.value=hello')).body).toBe('[]');
    expect((await get('q.field=s')).body).toBe('[]');
    expect((await get('q.field')).body).toBe('[]');
  });

  test('a longer list after a shorter one: 400 (Panko: 500 "list index out of range")', async () => {
    expect(await refused('q.field=s&q.field=i&q.value=hello&q.type=string')).toEqual([
      400,
      fault(
        'q.field is given 2 times but q.type 1: give each of q.field, q.op, q.type and q.value once per ' +
          'filter (or leave it out of every filter)',
      ),
    ]);
  });

  test('the indexed form q[N].attr, in index order, the last value of a repeated one', async () => {
    const indexed = 'q[1].field=s&q[1].value=hello&q[0].field=all_tenants&q[0].value=1';
    expect(await idsOf(indexed)).toEqual(['e1']);
    expect((await get('q[0].field=s&q[0].value=x&q[0].value=hello')).body).not.toBe('[]');
    expect(await refused('q[0].bogus=s')).toEqual([400, fault('Unknown argument: "q[0].bogus"')]);
    expect(await refused('q[00].field=s&q[00].value=hello')).toEqual([
      400,
      fault('Unknown argument: "q[00].field, q[00].value"'),
    ]);
    expect(await refused('q.field=s&q.value=hello&q[0].field=s')).toEqual([
      400,
      fault('Unknown argument: "q[0].field"'),
    ]);
  });

  test('a bare q: 400 (Panko quotes a Python TypeError)', async () => {
    expect(await refused('q=x')).toEqual([
      400,
      fault(
        "Invalid input for field/attribute q. Value: 'x'. q is given as q.field, q.op, q.type and q.value",
      ),
    ]);
  });

  test('percent-escapes, "+" as a space, non-ASCII escaped in answers', async () => {
    expect(await idsOf(`${ALL}&q.field=s&q.value=hel%6Co`)).toEqual(['e1']);
    expect(await refused('q.field=s&q.op=%C3%A9')).toEqual([
      400,
      '{"error_message": {"faultcode": "Client", "faultstring": "Operator \\u00e9 is not supported. ' +
        "The supported operators are: ('lt', 'le', 'eq', 'ne', 'ge', 'gt')\", \"debuginfo\": null}}",
    ]);
    expect(await refused('q.field=s&q.op=e+q')).toEqual([
      400,
      fault(
        "Operator e q is not supported. The supported operators are: ('lt', 'le', 'eq', 'ne', 'ge', 'gt')",
      ),
    ]);
  });
});

describe('a JSON body on GET', () => {
  test('q, limit, sort and marker from the body', async () => {
    expect(ids((await body({ q: [{ field: 'event_type', value: 'compute.c' }] })).body)).toEqual([
      'e5',
      'e6',
      'e7',
    ]);
    const typed = {
      q: [
        { field: 'i', op: 'ge', type: 'integer', value: '5' },
        { field: 'all_tenants', value: 'true' },
      ],
    };
    expect(ids((await body(typed)).body)).toEqual(['e1', 'e4']);
    for (const limit of [1, '1', 1.5, true]) expect(ids((await body({ limit })).body)).toEqual(['e1']);
    expect(ids((await body({ limit: ' 2 ' })).body)).toEqual(['e1', 'e5']);
    expect(ids((await body({ sort: ['message_id:desc'] })).body)).toEqual(['e7', 'e6', 'e5', 'e1']);
    expect(ids((await body({ marker: 'e5' })).body)).toEqual(['e6', 'e7']);
    for (const empty of [
      {},
      { q: null },
      { q: [] },
      { limit: null },
      { sort: null },
      { marker: null },
      { marker: '' },
    ]) {
      expect(ids((await body(empty)).body)).toEqual(['e1', 'e5', 'e6', 'e7']);
    }
  });

  test('allowed types, charset ignored; an empty body is ignored whatever its type; forms ignored', async () => {
    for (const contentType of [
      'application/json; charset=utf-8',
      'text/javascript',
      'application/javascript',
    ]) {
      const answer = await call(app, '/v2/events', { body: '{"limit": 1}', contentType });
      expect(ids(answer.body)).toEqual(['e1']);
    }
    expect((await call(app, '/v2/events', { body: '', contentType: 'text/plain' })).status).toBe(200);
    const form = await call(app, '/v2/events', {
      body: 'limit=1',
      contentType: 'application/x-www-form-urlencoded',
    });
    expect(ids(form.body)).toEqual(['e1', 'e5', 'e6', 'e7']);
  });

  test('other types: 415 (an XML body, which Panko reads, too); no type counts as text/plain', async () => {
    const plain = await call(app, '/v2/events', { body: 'field: bad_field', contentType: 'text/plain' });
    expect([plain.status, plain.body]).toEqual([415, fault('Unknown mimetype: text/plain', 'Client')]);
    const upper = await call(app, '/v2/events', { body: '{}', contentType: 'APPLICATION/JSON' });
    expect(upper.body).toBe(fault('Unknown mimetype: APPLICATION/JSON'));
    const xml = await call(app, '/v2/events', { body: '<q/>', contentType: 'text/xml' });
    expect([xml.status, xml.body]).toEqual([
      415,
      fault('XML request bodies are not supported: send application/json'),
    ]);
    const untyped = await app.inject({ url: '/v2/events', headers: ADMIN_P1, payload: Buffer.from('{}') });
    expect(untyped.body).toBe(fault('Unknown mimetype: text/plain'));
  });

  test("the body's shape: a JSON dict of known arguments", async () => {
    expect((await body('{nope')).body).toBe(fault('Request is not in valid JSON format'));
    expect((await body(' ')).body).toBe(fault('Request is not in valid JSON format'));
    for (const notDict of ['[]', '"x"', 'null']) {
      expect((await body(notDict)).body).toBe(fault('Request must be a JSON dict'));
    }
    expect((await body([{ field: 'i', value: '5' }])).body).toBe(fault('Request must be a JSON dict'));
    expect((await body({ foo: 1 })).body).toBe(fault('Unknown argument: "foo"'));
    expect((await body({ z: 1, y: 2, limit: 1 })).body).toBe(fault('Unknown argument: "z, y"'));
    expect((await body({ z: 1, limit: 'x' })).body).toBe(
      fault(
        "Invalid input for field/attribute limit. Value: 'x'. invalid literal for int() with base 10: 'x'",
      ),
    );
    expect((await call(app, '/v2/event_types', { body: { foo: 1 } })).body).toBe(
      fault('Unknown argument: "foo"'),
    );
  });

  test('q in the body: a list of objects with field, op, type, value', async () => {
    expect((await body({ q: 'x' })).body).toBe(
      fault("Invalid input for field/attribute q. Value: 'x'. Value not a valid list: x"),
    );
    expect((await body({ q: { field: 's' } })).body).toBe(
      fault(
        "Invalid input for field/attribute q. Value: '{'field': 's'}'. Value not a valid list: {'field': 's'}",
      ),
    );
    expect((await body({ q: [{ field: 'i', value: '5', foo: 1 }] })).body).toBe(
      fault('Unknown attribute for argument q: foo'),
    );
    expect((await body({ q: [{ field: 's', value: 'x', b: 2, a: 1 }] })).body).toBe(
      fault('Unknown attributes for argument q: a, b'),
    );
    expect((await body({ q: [{ field: 'i' }] })).body).toBe(
      fault("Invalid input for field/attribute value. Value: 'None'. Mandatory field missing."),
    );
    const wrongType = (attribute: string, shown: string, type: string) =>
      fault(
        `Invalid input for field/attribute ${attribute}. Value: '${shown}'. ` +
          `Wrong type. Expected '<class 'str'>', got '<class '${type}'>'`,
      );
    expect((await body({ q: [{ field: 'i', type: 'integer', value: 5 }] })).body).toBe(
      wrongType('value', '5', 'int'),
    );
    expect((await body({ q: [{ field: 's', value: true }] })).body).toBe(wrongType('value', 'True', 'bool'));
    expect((await body({ q: [{ field: 's', value: 1.5 }] })).body).toBe(wrongType('value', '1.5', 'float'));
    expect((await body({ q: [{ field: 's', value: [1] }] })).body).toBe(wrongType('value', '[1]', 'list'));
    expect((await body({ q: [{ field: 's', value: { a: 'b' } }] })).body).toBe(
      wrongType('value', "{'a': 'b'}", 'dict'),
    );
    expect((await body({ q: [{ field: 5, value: 'x' }] })).body).toBe(wrongType('field', '5', 'int'));
    expect((await body({ q: [{ field: 's', value: 'x', type: 5 }] })).body).toBe(
      wrongType('type', '5', 'int'),
    );
  });

  test('q items that Panko fails on with a 500: 400 here', async () => {
    const notObject = (shown: string) =>
      fault(
        `Invalid input for field/attribute q. Value: '${shown}'. ` +
          'Each q item must be a JSON object with field, op, type and value',
      );
    expect((await body({ q: ['x'] })).body).toBe(notObject('x'));
    expect((await body({ q: [null] })).body).toBe(notObject('None'));
    const noField = fault("Invalid input for field/attribute field. Value: 'None'. Mandatory field missing.");
    expect((await body({ q: [{ value: 'x' }] })).body).toBe(noField);
    expect((await body({ q: [{ field: null, value: 'x' }] })).body).toBe(noField);
    expect((await get('q.value=hello')).body).toBe(noField);
    expect((await body({ limit: [1] })).body).toBe(
      fault(
        "Invalid input for field/attribute limit. Value: '[1]'. " +
          "int() argument must be a string, a bytes-like object or a number, not 'list'",
      ),
    );
    expect((await body({ sort: [5] })).body).toBe(
      fault(
        "Invalid input for field/attribute sort. Value: '5'. Wrong type. Expected '<class 'str'>', got '<class 'int'>'",
      ),
    );
  });

  test('null, falsy and non-string operators and types in the body', async () => {
    for (const op of [null, '', 0, false]) {
      expect(
        ids(
          (
            await body({
              q: [
                { field: 's', value: 'hello', op },
                { field: 'all_tenants', value: '1' },
              ],
            })
          ).body,
        ),
      ).toEqual(['e1']);
    }
    expect((await body({ q: [{ field: 's', value: 'x', op: 5 }] })).body).toBe(
      fault("Operator 5 is not supported. The supported operators are: ('lt', 'le', 'eq', 'ne', 'ge', 'gt')"),
    );
    // A null value is Python's None: str(None) under the string type.
    expect((await body({ q: [{ field: 's', value: null }] })).body).toBe('[]');
  });

  test('an argument in both the query string and the body: 400, after body errors', async () => {
    expect(
      (await body({ q: [{ field: 'event_type', value: 'compute.c' }] }, '?q.field=s&q.value=hello')).body,
    ).toBe(fault('Parameter q was given several times'));
    expect((await body({ limit: 2 }, '?limit=1')).body).toBe(
      fault('Parameter limit was given several times'),
    );
    expect((await body({ limit: null }, '?limit=1')).body).toBe(
      fault('Parameter limit was given several times'),
    );
    expect((await body({ limit: 'x' }, '?foo=1')).body).toBe(fault('Unknown argument: "foo"'));
    expect((await body({ limit: 'x' }, '?limit=x')).body).toBe(
      fault(
        "Invalid input for field/attribute limit. Value: 'x'. unable to convert to int. Error: invalid literal for int() with base 10: 'x'",
      ),
    );
    expect((await body({ limit: 'x' }, '?limit=1')).body).toBe(
      fault(
        "Invalid input for field/attribute limit. Value: 'x'. invalid literal for int() with base 10: 'x'",
      ),
    );
    expect((await body('{nope', '?limit=1')).body).toBe(fault('Request is not in valid JSON format'));
  });
});

describe('q items', () => {
  const OPERATORS = "('lt', 'le', 'eq', 'ne', 'ge', 'gt')";
  const TYPES = "['integer', 'float', 'string', 'datetime']";

  test('operators: empty means eq; others refused, before any other check', async () => {
    expect(await idsOf(`q.field=s&q.op=&q.value=hello&${ALL}`)).toEqual(['e1']);
    expect(await refused('q.field=s&q.op=foo&q.value=x')).toEqual([
      400,
      fault(`Operator foo is not supported. The supported operators are: ${OPERATORS}`),
    ]);
    expect(await refused('q.field=s&q.op=bad&limit=-1&sort=foo')).toEqual([
      400,
      fault(`Operator bad is not supported. The supported operators are: ${OPERATORS}`),
    ]);
  });

  test('event_type and message_id take only eq; start_timestamp only ge; end_timestamp only le', async () => {
    const only = (op: string, allowed: string, field: string) =>
      fault(`Operator ${op} is not supported. Only \`${allowed}' operator is available for field ${field}`);
    expect(await refused('q.field=event_type&q.op=ne&q.value=x')).toEqual([
      400,
      only('ne', 'eq', 'event_type'),
    ]);
    expect(await refused('q.field=message_id&q.op=gt&q.value=x')).toEqual([
      400,
      only('gt', 'eq', 'message_id'),
    ]);
    // eq is the default operator, so start_timestamp without q.op=ge is refused.
    expect(await refused('q.field=start_timestamp&q.value=2020-01-02T00:00:00')).toEqual([
      400,
      only('eq', 'ge', 'start_timestamp'),
    ]);
    expect(await refused('q.field=end_timestamp&q.op=lt&q.value=2020-01-03T00:00:00')).toEqual([
      400,
      only('lt', 'le', 'end_timestamp'),
    ]);
  });

  test('event_type and message_id filter exactly (type ignored); the last one wins', async () => {
    expect(await idsOf(`${ALL}&q.field=event_type&q.value=compute.c`)).toEqual(['e5', 'e6', 'e7']);
    expect(await idsOf('q.field=event_type&q.value=compute.c&q.type=integer')).toEqual(['e5', 'e6', 'e7']);
    const twice = `${ALL}&q.field=event_type&q.value=compute.c&q.field=event_type&q.value=compute.a`;
    expect(await idsOf(twice)).toEqual(['e1', 'e3', 'e4']);
    expect(await idsOf(`${ALL}&q.field=message_id&q.value=e2`)).toEqual(['e2']);
  });

  test('start and end timestamps: inclusive, to the microsecond, ISO 8601 forms; empty is no filter', async () => {
    const start = (value: string) =>
      idsOf(`${ALL}&q.field=start_timestamp&q.op=eq&q.op=ge&q.value=${encodeURIComponent(value)}`);
    expect(await start('2020-01-01T00:00:00.123456')).toEqual(EVERYTHING);
    expect(await start('2020-01-01T00:00:00.123457')).toEqual(EVERYTHING.slice(1));
    expect(await start('2020-01-02T00:00:00')).toEqual(EVERYTHING.slice(1));
    for (const value of ['2020-01-03T01:00:00+01:00', '2020-01-03T00:00:00Z', '2020-01-03']) {
      expect([value, await start(value)]).toEqual([value, ['e3', 'e4', 'e5', 'e6', 'e7']]);
    }
    expect(await idsOf(`${ALL}&q.field=end_timestamp&q.op=eq&q.op=le&q.value=2020-01-03T00:00:00`)).toEqual([
      'e1',
      'e2',
      'e3',
      'e4',
    ]);
    expect(await idsOf('q.field=start_timestamp&q.op=ge&q.value=')).toEqual(['e1', 'e5', 'e6', 'e7']);
    const later =
      'q.field=start_timestamp&q.field=start_timestamp&q.field=all_tenants&q.op=ge&q.op=ge' +
      '&q.value=2020-01-05&q.value=2020-01-04&q.value=1';
    expect(await idsOf(later)).toEqual(['e5', 'e6', 'e7']);
  });

  test('an unparsable timestamp: 400 (Panko: 500), checked after every q item', async () => {
    expect(await refused('q.field=start_timestamp&q.op=ge&q.value=garbage')).toEqual([
      400,
      fault("Unable to parse date string 'garbage'"),
    ]);
    expect(await refused('q.field=end_timestamp&q.op=le&q.value=2020-13-01')).toEqual([
      400,
      fault("Unable to parse date string '2020-13-01': month must be in 1..12"),
    ]);
    expect(
      (await get('q.field=start_timestamp&q.field=s&q.op=ge&q.op=bad&q.value=garbage&q.value=x')).body,
    ).toContain('Operator bad is not supported');
  });

  test('trait types pick the traits searched: a string filter does not find an integer trait', async () => {
    expect(await idsOf(`${ALL}&q.field=s&q.type=string&q.type=integer&q.value=7`)).toEqual(['e2']);
    expect(await idsOf(`${ALL}&q.field=s&q.type=string&q.type=string&q.value=7`)).toEqual([]);
    expect(await idsOf(`${ALL}&q.field=s&q.type=string&q.type=string&q.op=eq&q.op=lt&q.value=zzz`)).toEqual([
      'e1',
    ]);
    expect(await idsOf(`${ALL}&q.field=i&q.type=string&q.type=integer&q.op=eq&q.op=ge&q.value=6`)).toEqual([
      'e4',
    ]);
    expect((await get('q.field=bad_field&q.op=eq&q.type=string&q.value=x')).body).toBe('[]');
  });

  test("integer values read as Python's int(): spaces, '+', '_' allowed; '5.0' refused", async () => {
    const integer = (value: string) =>
      idsOf(`${ALL}&q.field=i&q.type=string&q.type=integer&q.value=${value}`);
    for (const value of ['5', '%205%20', '%2B5', '0_5', '05'])
      expect([value, await integer(value)]).toEqual([value, ['e1']]);
    for (const value of ['abc', '5.0', '1__0', '0x5']) {
      expect(await refused(`q.field=i&q.type=integer&q.value=${value}`)).toEqual([
        400,
        fault(`Unable to convert the value ${value} to the expected data type integer.`),
      ]);
    }
  });

  test("float values read as Python's float(): 1e20, inf, nan", async () => {
    const float = (field: string, value: string, op = 'eq') =>
      idsOf(`${ALL}&q.field=${field}&q.type=string&q.type=float&q.op=eq&q.op=${op}&q.value=${value}`);
    expect(await float('f', '1.5')).toEqual(['e1']);
    expect(await float('fe', '1e20')).toEqual(['e1']);
    expect(await float('fl', '1_00')).toEqual(['e1']);
    expect(await float('fe', 'inf', 'lt')).toEqual(['e1']);
    expect(await float('f', 'nan')).toEqual([]);
    expect(await refused('q.field=i&q.type=float&q.value=abc')).toEqual([
      400,
      fault('Unable to convert the value abc to the expected data type float.'),
    ]);
  });

  test('datetime values: ISO 8601 with zones, to the microsecond', async () => {
    const datetime = (value: string, op = 'eq') =>
      idsOf(
        `${ALL}&q.field=d&q.type=string&q.type=datetime&q.op=eq&q.op=${op}&q.value=${encodeURIComponent(value)}`,
      );
    expect(await datetime('2020-01-02T03:04:05.000006')).toEqual(['e1']);
    expect(await datetime('2020-01-02T04:04:05.000006+01:00')).toEqual(['e1']);
    expect(await datetime('2020-01-02T03:04:05.000005')).toEqual([]);
    expect(await datetime('2020-01-02', 'gt')).toEqual(['e1']);
    expect(await refused('q.field=d&q.type=datetime&q.value=abc')).toEqual([
      400,
      fault('Unable to convert the value abc to the expected data type datetime.'),
    ]);
  });

  test('unsupported types; a missing value ("Unset") under each type', async () => {
    for (const type of ['boolean', 'whats-up']) {
      expect(await refused(`q.field=s&q.type=${type}&q.value=x`)).toEqual([
        400,
        fault(`The data type ${type} is not supported. The supported data type list is: ${TYPES}`),
      ]);
    }
    expect(await refused('q.field=s&q.type=integer')).toEqual([
      400,
      fault(`The data type integer is not supported. The supported data type list is: ${TYPES}`),
    ]);
    expect(await refused('q.field=s&q.type=datetime')).toEqual([
      400,
      fault('Unable to convert the value Unset to the expected data type datetime.'),
    ]);
  });

  test('an empty type reads the value as a Python literal: strings are used, other literals refused', async () => {
    const literal = (value: string) =>
      get(`${ALL}&q.field=s&q.type=&q.type=&q.value=${encodeURIComponent(value)}`);
    for (const value of ['hello', "'hello'", `"hel" 'lo'`, "u'hello'", "'hel\\x6co'"]) {
      expect([value, ids((await literal(value)).body)]).toEqual([value, ['e1']]);
    }
    // Panko sends 7 to PostgreSQL as an integer and fails with a 500.
    for (const [value, type] of [
      ['7', 'int'],
      ['None', 'NoneType'],
      ['[1, 2]', 'list'],
      ["b'x'", 'bytes'],
    ]) {
      const answer = await literal(value);
      expect([answer.status, answer.body]).toEqual([
        400,
        fault(
          `Unable to compare the value ${value} with string traits: with an empty type the value is read ` +
            `as a Python literal, here of type ${type}.`,
        ),
      ]);
    }
    expect((await get('q.field=s&q.type=')).body).toBe(fault('A q item with an empty type needs a value.'));
  });
});

describe('limit', () => {
  test('0 and none mean the default (100); there is no maximum', async () => {
    const many: StoredEvent[] = Array.from({ length: 105 }, (_, i) => ({
      ...PROBE_EVENTS[6],
      message_id: `m${String(i).padStart(3, '0')}`,
    }));
    const big = await pankoApp({ events: many });
    expect(ids((await call(big, '/v2/events')).body)).toHaveLength(100);
    expect(ids((await call(big, '/v2/events?limit=0')).body)).toHaveLength(100);
    expect(ids((await call(big, '/v2/events?limit=100000000')).body)).toHaveLength(105);
    await big.close();
  });

  test("Python's int(): spaces, '+', '_'", async () => {
    expect(await idsOf(`limit=2&${ALL}`)).toEqual(['e1', 'e2']);
    expect(await idsOf(`limit=%20%2B5%20&${ALL}`)).toEqual(EVERYTHING.slice(0, 5));
    expect(await idsOf(`limit=1_0&${ALL}`)).toEqual(EVERYTHING);
  });

  test('refused: not an int, repeated, negative', async () => {
    const notInt = (shown: string) =>
      fault(
        `Invalid input for field/attribute limit. Value: '${shown}'. unable to convert to int. ` +
          `Error: invalid literal for int() with base 10: '${shown}'`,
      );
    for (const [query, shown] of [
      ['limit=abc', 'abc'],
      ['limit=1.5', '1.5'],
      ['limit=', ''],
      ['limit', ''],
      ['limit=0x5', '0x5'],
      ['limit=abc&foo=1', 'abc'],
    ]) {
      expect([query, ...(await refused(query))]).toEqual([query, 400, notInt(shown)]);
    }
    expect(await refused('limit=2&limit=3')).toEqual([
      400,
      fault(
        "Invalid input for field/attribute limit. Value: '['2', '3']'. unable to convert to int. " +
          "Error: int() argument must be a string, a bytes-like object or a number, not 'list'",
      ),
    ]);
    for (const [query, shown] of [
      ['limit=-2', '-2'],
      ['limit=-02', '-2'],
    ]) {
      expect(await refused(query)).toEqual([
        400,
        fault(
          `Invalid input for field/attribute limit. Value: '${shown}'. the limit should be a positive integer.`,
        ),
      ]);
    }
    expect((await body({ limit: '-1' })).body).toBe(
      fault("Invalid input for field/attribute limit. Value: '-1'. the limit should be a positive integer."),
    );
    expect(await refused('limit=-1&sort=foo')).toEqual([
      400,
      fault("Invalid input for field/attribute limit. Value: '-1'. the limit should be a positive integer."),
    ]);
  });
});

describe('sort and marker', () => {
  const HINT =
    "the sort parameter should be a pair of sort key and sort dir combined with ':', or only sort key " +
    "specified and sort dir will be default 'asc', the supported sort";

  test('key[:dir]; the default is generated then message_id; a sort is completed with message_id', async () => {
    expect(await idsOf(`sort=generated&${ALL}`)).toEqual(EVERYTHING);
    expect(await idsOf(`sort=generated:&${ALL}`)).toEqual(EVERYTHING);
    expect(await idsOf(`sort=message_id:desc&${ALL}`)).toEqual([...EVERYTHING].reverse());
    expect(await idsOf(`sort=generated:desc&sort=message_id:desc&${ALL}`)).toEqual([...EVERYTHING].reverse());
    // Deliberate difference: Panko leaves the order of e6 and e7 (same time) to the database.
    expect(await idsOf(`sort=generated:desc&${ALL}`)).toEqual(['e6', 'e7', 'e5', 'e3', 'e4', 'e2', 'e1']);
  });

  test('refused keys and directions', async () => {
    for (const query of ['sort=foo', 'sort=', 'sort=foo&marker=nope']) {
      const shown = query.split('&')[0].slice('sort='.length);
      expect(await refused(query)).toEqual([
        400,
        fault(
          `Invalid input for field/attribute sort. Value: '${shown}'. ${HINT} keys are: ('message_id', 'generated')`,
        ),
      ]);
    }
    expect(await refused('sort=generated:up')).toEqual([
      400,
      fault(
        `Invalid input for field/attribute sort direction. Value: 'generated:up'. ${HINT} directions are: ('asc', 'desc')`,
      ),
    ]);
    expect((await body({ sort: 'message_id:desc' })).body).toBe(
      fault(
        "Invalid input for field/attribute sort. Value: 'message_id:desc'. Value not a valid list: message_id:desc",
      ),
    );
  });

  test('the marker is the last event of the previous page, looked up in every project', async () => {
    expect(await idsOf(`marker=e3&${ALL}`)).toEqual(['e4', 'e5', 'e6', 'e7']);
    expect(await idsOf(`marker=e4&sort=generated&${ALL}`)).toEqual(['e5', 'e6', 'e7']);
    expect(await idsOf('marker=e2')).toEqual(['e5', 'e6', 'e7']);
    expect(await idsOf(`marker=&${ALL}`)).toEqual(EVERYTHING);
    expect(await idsOf(`marker=e1&marker=e5&${ALL}`)).toEqual(['e6', 'e7']);
    // Deliberate difference: with the message_id tie-break e4 (same time as e3) is not skipped.
    expect(await idsOf(`marker=e3&sort=generated:desc&${ALL}`)).toEqual(['e4', 'e2', 'e1']);
  });

  test('an unknown marker: 400 (Panko: 500)', async () => {
    expect(await refused('marker=nope')).toEqual([400, fault('Marker nope not found.')]);
    expect((await body({ marker: 5 })).body).toBe(fault('Marker 5 not found.'));
  });
});

describe('Link to the next page (beyond Panko)', () => {
  const link = async (url: string, options?: Call) => (await call(app, url, options)).headers.link;

  test('a full page links to the next with the same query; a short one does not', async () => {
    expect(await link(`/v2/events?limit=2&${ALL}`)).toBe(`</v2/events?limit=2&${ALL}&marker=e2>; rel="next"`);
    expect(await link(`/v2/events/?marker=e2&limit=2&sort=message_id:asc&${ALL}`)).toBe(
      `</v2/events/?limit=2&sort=message_id:asc&${ALL}&marker=e4>; rel="next"`,
    );
    expect(await link(`/v2/events?limit=7&${ALL}`)).toBe(`</v2/events?limit=7&${ALL}&marker=e7>; rel="next"`);
    expect(await link(`/v2/events?limit=8&${ALL}`)).toBeUndefined();
    expect(await link('/v2/events?q.field=nothing&q.value=x')).toBeUndefined();
  });

  test('following the links visits every event once', async () => {
    let url: string | undefined = `/v2/events?limit=3&sort=generated:desc&${ALL}`;
    const seen: string[] = [];
    while (url) {
      const answer = await call(app, url);
      seen.push(...ids(answer.body));
      url = /^<([^>]+)>/.exec(String(answer.headers.link ?? ''))?.[1];
    }
    expect(seen).toEqual(['e6', 'e7', 'e5', 'e3', 'e4', 'e2', 'e1']);
  });

  test('arguments from a JSON body are written as query parameters', async () => {
    const query = {
      q: [
        { field: 'all_tenants', value: 'true' },
        { field: 'i', type: 'integer', op: 'ge', value: '5' },
      ],
    };
    const next = await link('/v2/events', { body: { ...query, limit: 1, sort: ['generated:desc'] } });
    expect(next).toBe(
      '</v2/events?q.field=all_tenants&q.op=&q.type=string&q.value=true&q.field=i&q.op=ge&q.type=integer' +
        '&q.value=5&limit=1&sort=generated%3Adesc&marker=e4>; rel="next"',
    );
    const url = /^<([^>]+)>/.exec(String(next))![1];
    expect(ids((await call(app, url)).body)).toEqual(['e1']);
  });
});
