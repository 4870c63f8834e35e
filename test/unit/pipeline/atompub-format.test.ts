import { HandlerParamsError } from '../../../src/pipeline/handler';
import {
  atomEntry,
  atompubHandler,
  cufOptions,
  cufStatus,
  cufTimes,
  cufXml,
  formatEntry,
  readAtomPubParams,
} from '../../../src/pipeline/handlers/atompub';
import { EventTypeFilter } from '../../../src/pipeline/handlers/event-types';
import { at, datetime, makeEvent, recordingContext, testEnv } from '../../fixtures/pipeline/handler-context';

describe('atompub: event type selection (upstream test_constructor_event_types, test_match_type)', () => {
  test('no event_types includes everything; "!" excludes; only exclusions include the rest', () => {
    expect(new EventTypeFilter().matches('anything')).toBe(true);
    const one = new EventTypeFilter(
      readAtomPubParams({ url: 'http://feed', event_types: 'test.thing' }).eventTypes.patterns,
    );
    expect(one.matches('test.thing')).toBe(true);
    expect(one.matches('test.other')).toBe(false);
    const excluded = new EventTypeFilter(['!test.thing']);
    expect(excluded.matches('test.thing')).toBe(false);
    expect(excluded.matches('test.other')).toBe(true);
  });

  test('exact names and globs', () => {
    const exact = new EventTypeFilter(['test.foo.bar', '!test.wakka.wakka']);
    expect(exact.matches('test.foo.bar')).toBe(true);
    expect(exact.matches('test.wakka.wakka')).toBe(false);
    expect(exact.matches('test.foo.baz')).toBe(false);
    const globs = new EventTypeFilter(['test.foo.*', '!test.wakka.*']);
    expect(globs.matches('test.foo.bar')).toBe(true);
    expect(globs.matches('test.foo.baz')).toBe(true);
    expect(globs.matches('test.wakka.wakka')).toBe(false);
  });

  test('handleEvents passes every event on and keeps the matching ones for commit', async () => {
    const { context, published } = recordingContext({ dryRun: true });
    const handler = atompubHandler.create(
      { url: 'http://feed', event_types: ['test.foo.*', '!test.wakka.*'] },
      context,
    );
    const events = [
      makeEvent('test.foo.zazz', '1'),
      makeEvent('test.wakka.zazz', '2'),
      makeEvent('test.boingy', '3'),
    ];
    expect(await handler.handleEvents(events, testEnv())).toBe(events);
    expect((handler as unknown as { pending: unknown[] }).pending).toEqual([events[0]]);
    expect(published).toEqual([]);
  });
});

describe('atompub: content (upstream test_format_cuf_xml, test_generate_atom)', () => {
  test('cuf_xml of an active Windows instance', () => {
    const expected =
      '<event xmlns="http://docs.rackspace.com/core/event" ' +
      'xmlns:nova="http://docs.rackspace.com/event/nova" ' +
      'version="1" id="1234-56789" resourceId="98765-4321" ' +
      'resourceName="" dataCenter="TST1" region="TST" ' +
      'tenantId="" startTime="2015-08-10T00:00:00Z" ' +
      'endTime="2015-08-11T00:00:00Z" type="USAGE">' +
      '<nova:product version="1" ' +
      'serviceCode="CloudServersOpenStack" ' +
      'resourceType="SERVER" flavorId="" flavorName="" ' +
      'status="ACTIVE" osLicenseType="WINDOWS" ' +
      'bandwidthIn="" bandwidthOut=""/></event>';
    const event = makeEvent('test.thing', '1234-56789', {
      audit_period_beginning: datetime('2015-08-10T00:00:00'),
      audit_period_ending: datetime('2015-08-11T00:00:00'),
      launched_at: datetime('2015-08-09T15:21:00'),
      instance_id: '98765-4321',
      state: 'active',
      state_description: '',
      rax_options: '4',
    });
    expect(cufXml(event, { data_center: 'TST1', region: 'TST' })).toBe(expected);
  });

  test('the Atom entry with categories, original message id and title', () => {
    const expected =
      '<atom:entry xmlns:atom="http://www.w3.org/2005/Atom">' +
      '<atom:id>urn:uuid:12-34</atom:id>' +
      '<atom:category term="test.thing.bar" />' +
      '<atom:category term="original_message_id:56-78" />' +
      '<atom:title type="text">Server</atom:title>' +
      '<atom:content type="test/thing">TEST_CONTENT' +
      '</atom:content></atom:entry>';
    const event = makeEvent('test.thing', '12-34', { original_message_id: '56-78' });
    expect(atomEntry(event, 'test.thing.bar', 'TEST_CONTENT', 'test/thing', { title: 'Server' })).toBe(
      expected,
    );
  });

  test('configured categories come first; the title defaults to the event type', () => {
    const entry = atomEntry(makeEvent('t', '1'), 't', 'c', 'text/plain', { categories: ['a', 'b'] });
    expect(entry).toContain('<atom:category term="a" /><atom:category term="b" /><atom:category term="t" />');
    expect(entry).toContain('<atom:title type="text">t</atom:title>');
    expect(entry).not.toContain('original_message_id');
  });

  test('json content is the canonical event, escaped as text; cuf_xml is inline XML typed <type>.cuf', () => {
    const event = makeEvent('compute.instance.exists.verified', 'm1', {
      display_name: 'a<b>&"c"',
      state: 'active',
    });
    const json = formatEntry(event, readAtomPubParams({ url: 'http://feed' }));
    expect(json).toContain('<atom:content type="application/json">{"message_id":"m1",');
    expect(json).toContain('"display_name":"a&lt;b&gt;&amp;\\"c\\""');
    expect(json).toContain('<atom:category term="compute.instance.exists.verified" />');
    const xml = formatEntry(
      event,
      readAtomPubParams({ url: 'http://feed', content_format: 'cuf_xml', title: 'Server' }),
    );
    expect(xml).toContain('<atom:category term="compute.instance.exists.verified.cuf" />');
    expect(xml).toContain('<atom:title type="text">Server</atom:title>');
    expect(xml).toContain(
      '<atom:content type="application/xml"><event xmlns="http://docs.rackspace.com/core/event"',
    );
    expect(xml).toContain('resourceName="a&lt;b&gt;&amp;&quot;c&quot;"');
  });

  test('extra_info overrides event traits; numbers and booleans print as Python', () => {
    const event = makeEvent('t', 'm1', { region: 'EVENT', bandwidth_in: 5 });
    const xml = cufXml(event, { region: 'ORD', data_center: 1, tenant_id: true, bandwidth_out: 2.5 });
    expect(xml).toContain('dataCenter="1" region="ORD" tenantId="True"');
    expect(xml).toContain('bandwidthIn="5" bandwidthOut="2.5"');
  });
});

describe('atompub: CUF mappings', () => {
  const status = (state?: string, description?: string) =>
    cufStatus(
      makeEvent('t', 'm', {
        ...(state === undefined ? {} : { state }),
        ...(description === undefined ? {} : { state_description: description }),
      }),
    );

  test('nova vm and task states to CUF status', () => {
    expect(status('building')).toBe('BUILD');
    expect(status('stopped')).toBe('SHUTOFF');
    expect(status('paused')).toBe('PAUSED');
    expect(status('suspended')).toBe('SUSPENDED');
    expect(status('rescued')).toBe('RESCUE');
    expect(status('error')).toBe('ERROR');
    expect(status('deleted')).toBe('DELETED');
    expect(status('soft-delete')).toBe('SOFT_DELETED');
    expect(status('shelved')).toBe('SHELVED');
    expect(status('shelved_offloaded')).toBe('SHELVED_OFFLOADED');
    expect(status('resized', 'resize_reverting')).toBe('REVERT_RESIZE');
    expect(status('resized', 'anything')).toBe('VERIFY_RESIZE');
    expect(status('resized')).toBe('VERIFY_RESIZE');
    expect(status('active')).toBe('ACTIVE');
    expect(status('active', '')).toBe('ACTIVE');
    expect(status('active', 'rebooting')).toBe('REBOOT');
    expect(status('active', 'rebooting_hard')).toBe('HARD_REBOOT');
    expect(status('active', 'updating_password')).toBe('PASSWORD');
    for (const d of ['rebuilding', 'rebuild_block_device_mapping', 'rebuild_spawning']) {
      expect(status('active', d)).toBe('REBUILD');
    }
    expect(status('active', 'migrating')).toBe('MIGRATING');
    for (const d of ['resize_prep', 'resize_migrating', 'resize_migrated', 'resize_finish']) {
      expect(status('active', d)).toBe('RESIZE');
    }
    expect(status('active', 'powering-off')).toBe('ACTIVE');
    expect(status('toString')).toBe('UNKNOWN');
  });

  test('an unknown status is logged as an error', () => {
    const { context, lines } = recordingContext();
    expect(cufStatus(makeEvent('t', 'm9', { state: 'weird' }), context.logger)).toBe('UNKNOWN');
    expect(lines.map((l) => l.msg)).toEqual(['Unknown status for event m9: state weird ()']);
  });

  test('rax_options bits to license types', () => {
    const options = (rax?: string | number) =>
      cufOptions(makeEvent('t', 'm', rax === undefined ? {} : { rax_options: rax }));
    expect(options()).toBe('osLicenseType="LINUX"');
    expect(options('0')).toBe('osLicenseType="LINUX"');
    expect(options('1')).toBe('osLicenseType="RHEL"');
    expect(options('4')).toBe('osLicenseType="WINDOWS"');
    expect(options(64)).toBe('osLicenseType="VYATTA"');
    expect(options('12')).toBe('osLicenseType="WINDOWS" applicationLicense="MSSQL"');
    expect(options('36')).toBe('osLicenseType="WINDOWS" applicationLicense="MSSQL_WEB"');
    expect(options('69')).toBe('osLicenseType="VYATTA"');
    expect(options(' 4 ')).toBe('osLicenseType="WINDOWS"');
    expect(() => options('four')).toThrow("rax_options: invalid literal for int() with base 10: 'four'");
  });

  test('usage window: launch or audit start to termination, deletion or audit end', () => {
    const apb = datetime('2015-08-10T00:00:00');
    const ape = datetime('2015-08-11T00:00:00');
    const times = (traits: Parameters<typeof makeEvent>[2]) => cufTimes(makeEvent('t', 'm', traits));
    const base = { audit_period_beginning: apb, audit_period_ending: ape };
    expect(times({ ...base, launched_at: datetime('2015-08-09T01:00:00') })).toEqual({
      start: at('2015-08-10T00:00:00'),
      end: at('2015-08-11T00:00:00'),
    });
    expect(times({ ...base, launched_at: datetime('2015-08-10T06:00:00') })).toEqual({
      start: at('2015-08-10T06:00:00'),
      end: at('2015-08-11T00:00:00'),
    });
    expect(
      times({
        ...base,
        launched_at: datetime('2015-08-10T06:00:00'),
        terminated_at: datetime('2015-08-10T09:00:00'),
      }),
    ).toEqual({ start: at('2015-08-10T06:00:00'), end: at('2015-08-10T09:00:00') });
    expect(
      times({
        ...base,
        launched_at: datetime('2015-08-10T06:00:00'),
        deleted_at: datetime('2015-08-12T09:00:00'),
      }),
    ).toEqual({ start: at('2015-08-10T06:00:00'), end: at('2015-08-11T00:00:00') });
    // Terminated before launch in this window: from the audit start.
    expect(
      times({
        ...base,
        launched_at: datetime('2015-08-10T06:00:00'),
        deleted_at: datetime('2015-08-10T05:00:00'),
      }),
    ).toEqual({ start: at('2015-08-10T00:00:00'), end: at('2015-08-10T05:00:00') });
    expect(times({})).toEqual({ start: undefined, end: undefined });
  });
});

describe('atompub: params', () => {
  const invalid = (params: Record<string, unknown>) => () => atompubHandler.validateParams!(params);

  test('defaults follow upstream', () => {
    const o = readAtomPubParams({ url: 'https://feed.example/usage' });
    expect(o).toMatchObject({
      url: 'https://feed.example/usage',
      contentFormat: 'json',
      categories: [],
      extraInfo: {},
      authServer: undefined,
      waitIntervalMs: 30000,
      maxWaitMs: 600000,
      httpTimeoutMs: 120000,
      maxAttempts: 5,
    });
    expect(readAtomPubParams({ url: 'http://f', auth_url: 'http://auth/v2.0/tokens' }).authServer).toBe(
      'http://auth/v2.0/tokens',
    );
  });

  test('bad params fail at load time with the param named', () => {
    expect(invalid({})).toThrow(HandlerParamsError);
    expect(invalid({})).toThrow(
      'handler atompub: param url: expected a non-empty string (it is required), got nothing',
    );
    expect(invalid({ url: 'ftp://x' })).toThrow('param url: expected an http:// or https:// URL');
    expect(invalid({ url: 'http://x', content_format: 'xml' })).toThrow(
      'param content_format: expected one of json, cuf_xml',
    );
    expect(invalid({ url: 'http://x', event_types: [1] })).toThrow(
      'param event_types: expected a string or a list of strings',
    );
    expect(invalid({ url: 'http://x', wait_interval: -1 })).toThrow(
      'param wait_interval: expected a number >= 0',
    );
    expect(invalid({ url: 'http://x', max_attempts: 1.5 })).toThrow(
      'param max_attempts: expected an integer >= 1',
    );
    expect(invalid({ url: 'http://x', extra_info: ['a'] })).toThrow('param extra_info: expected a mapping');
    expect(invalid({ url: 'http://x', auth_server: 'http://a', auth_url: 'http://b' })).toThrow(
      'only one of auth_server and auth_url',
    );
    expect(invalid({ url: 'http://x', auth_server: 'auth.example' })).toThrow(
      'param auth_server: expected an http://',
    );
    expect(invalid({ url: 'http://x', urls: 'y' })).toThrow('unknown param urls');
  });

  test('a dry run only logs what it would post', async () => {
    const { context, lines } = recordingContext({ dryRun: true });
    // Nothing listens on port 9: a real post would fail.
    const handler = atompubHandler.create({ url: 'http://127.0.0.1:9/feed' }, context);
    await handler.handleEvents([makeEvent('a.b', 'm1')], testEnv());
    await handler.commit();
    expect(lines.map((l) => l.msg)).toContain(
      'atompub (dry run): would post a.b m1 to http://127.0.0.1:9/feed',
    );
  });
});
