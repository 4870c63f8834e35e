import { WinchesterEvent } from '../../../src/events/event';
import { HandlerParamsError } from '../../../src/pipeline/handler';
import {
  auditPeriod,
  checkBlock,
  confirmDelete,
  confirmLaunchedAt,
  DEFAULT_CORE_FIELDS,
  EXISTS_FAILED,
  EXISTS_VERIFIED,
  EXISTS_WARNINGS,
  extractLaunchedAt,
  isEodExists,
  isExists,
  isNonEodExists,
  processBlock,
  UsageCheckError,
  usageHandler,
  verifyFields,
} from '../../../src/pipeline/handlers/usage';
import { derivedMessageId } from '../../../src/pipeline/handlers/uuid5';
import { at, datetime, makeEvent, recordingContext, testEnv } from '../../fixtures/pipeline/handler-context';

const EXISTS = 'compute.instance.exists';
const log = recordingContext().context.logger;

/** The code of the UsageCheckError `fn` throws (fails the test if it throws nothing or something else). */
function codeOf(fn: () => void): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof UsageCheckError) return error.code;
    throw error;
  }
  throw new Error('expected a UsageCheckError');
}

function messageOf(fn: () => void): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof UsageCheckError) return `${error.code} ${error.message}`;
    throw error;
  }
  throw new Error('expected a UsageCheckError');
}

const exists = (traits: Parameters<typeof makeEvent>[2], id = 'exists-1') => makeEvent(EXISTS, id, traits);
const period = (beginning: string, ending: string) => ({
  audit_period_beginning: datetime(beginning),
  audit_period_ending: datetime(ending),
});
const EOD = period('2014-12-30T00:00:00', '2014-12-31T00:00:00');

function runHandler(events: WinchesterEvent[], env = testEnv(), params: Record<string, unknown> = {}) {
  const { context, lines } = recordingContext();
  const handler = usageHandler.create(params, context);
  const out = handler.handleEvents(events, env) as WinchesterEvent[];
  return { out, created: out.slice(events.length), lines, env };
}

describe('usage handler: audit period and .exists detection', () => {
  test('the audit period is read from the .exists traits, either end may be missing', () => {
    expect(auditPeriod(makeEvent(EXISTS, 'a'))).toEqual({ beginning: undefined, ending: undefined });
    expect(
      auditPeriod(makeEvent(EXISTS, 'a', { audit_period_beginning: datetime('2014-12-30T00:00:00') })),
    ).toEqual({
      beginning: at('2014-12-30T00:00:00'),
      ending: undefined,
    });
    expect(
      auditPeriod(makeEvent(EXISTS, 'a', { audit_period_ending: datetime('2014-12-31T00:00:00') })),
    ).toEqual({
      beginning: undefined,
      ending: at('2014-12-31T00:00:00'),
    });
  });

  test('only compute.instance.exists is a .exists', () => {
    expect(isExists(makeEvent('foo', 'a'))).toBe(false);
    expect(isExists(makeEvent('compute.instance.exists.verified', 'a'))).toBe(false);
    expect(isExists(makeEvent(EXISTS, 'a'))).toBe(true);
  });

  test('a non-EOD .exists has an audit period that does not end the next day', () => {
    expect(isNonEodExists(exists(period('2014-12-31T00:00:00', '2015-01-01T00:00:00')))).toBe(false);
    expect(isNonEodExists(exists(period('2014-12-31T01:00:00', '2014-12-31T02:00:00')))).toBe(true);
    expect(
      isNonEodExists(
        makeEvent('compute.instance.foo', 'a', period('2014-12-31T01:00:00', '2014-12-31T02:00:00')),
      ),
    ).toBe(false);
    expect(
      isNonEodExists(
        makeEvent('compute.instance.foo', 'a', { audit_period_ending: datetime('2014-12-31T02:00:00') }),
      ),
    ).toBe(false);
    expect(isNonEodExists(exists({ audit_period_ending: datetime('2014-12-31T02:00:00') }))).toBe(false);
  });

  test('the EOD .exists runs from one midnight to the next', () => {
    expect(isEodExists(exists(period('2014-12-31T01:00:00', '2015-01-01T01:00:00')))).toBe(false);
    expect(isEodExists(exists(period('2014-12-31T00:00:00', '2014-12-31T01:00:00')))).toBe(false);
    expect(isEodExists(exists(period('2014-12-31T00:00:00', '2015-01-01T00:00:00')))).toBe(true);
    expect(
      isEodExists(
        makeEvent('compute.instance.foo', 'a', period('2014-12-31T00:00:00', '2015-01-01T00:00:00')),
      ),
    ).toBe(false);
    expect(
      isEodExists(
        makeEvent('compute.instance.foo', 'a', { audit_period_ending: datetime('2015-01-01T00:00:00') }),
      ),
    ).toBe(false);
    // Midnight means to the microsecond, as Python's time() == time(0, 0, 0).
    expect(isEodExists(exists(period('2014-12-31T00:00:00.000001', '2015-01-01T00:00:00')))).toBe(false);
  });
});

describe('usage handler: checks U1–U8', () => {
  test('U1: a .exists without launched_at', () => {
    expect(messageOf(() => extractLaunchedAt(exists({})))).toBe('U1 .exists has no launched_at value.');
    expect(extractLaunchedAt(exists({ launched_at: 'foo' }))).toEqual({ type: 'text', value: 'foo' });
  });

  test('U2: fields absent on both sides are skipped, equal ones pass, different ones conflict', () => {
    const a = makeEvent('x', '1', { a: 1, b: 2, c: 3 });
    verifyFields(a, a, ['d', 'e', 'f']);
    verifyFields(a, a, ['a', 'b', 'c']);
    const b = makeEvent('x', '2', { a: 10, b: 20, c: 30 });
    expect(messageOf(() => verifyFields(a, b, ['a', 'b', 'c']))).toBe(
      "U2 Conflicting 'a' values ('1' != '10')",
    );
  });

  test('U2 compares as Python does and shows values as Python prints them', () => {
    const five = makeEvent('x', '1', { n: 5 });
    verifyFields(five, makeEvent('x', '2', { n: { type: 'float', value: 5 } }), ['n']);
    expect(messageOf(() => verifyFields(five, makeEvent('x', '2', { n: '5' }), ['n']))).toBe(
      "U2 Conflicting 'n' values ('5' != '5')",
    );
    const launched = makeEvent('x', '1', { launched_at: datetime('2014-12-30T01:00:00') });
    const other = makeEvent('x', '2', { launched_at: datetime('2014-12-30T02:00:00.250000') });
    expect(messageOf(() => verifyFields(launched, other, ['launched_at']))).toBe(
      "U2 Conflicting 'launched_at' values ('2014-12-30 01:00:00' != '2014-12-30 02:00:00.250000')",
    );
  });

  test('U2: a field on one side only is a conflict with None (upstream raised KeyError)', () => {
    const a = makeEvent('x', '1', { os_distro: 'ubuntu' });
    expect(messageOf(() => verifyFields(a, makeEvent('x', '2'), ['os_distro']))).toBe(
      "U2 Conflicting 'os_distro' values ('ubuntu' != 'None')",
    );
  });

  test('U3, U4, U5: a deleted_at without a .delete.end event', () => {
    expect(
      messageOf(() =>
        confirmDelete(exists({ deleted_at: datetime('2014-12-30T05:00:00'), state: 'active' }), [], []),
      ),
    ).toBe("U3 .exists state not 'deleted' but .exists deleted_at is set.");
    expect(
      messageOf(() =>
        confirmDelete(
          exists({
            deleted_at: datetime('2014-12-31T01:00:00'),
            launched_at: datetime('2014-12-31T02:00:00'),
            state: 'deleted',
          }),
          [],
          [],
        ),
      ),
    ).toBe('U4 .exists deleted_at < .exists launched_at.');
    expect(
      messageOf(() =>
        confirmDelete(
          exists({
            ...EOD,
            deleted_at: datetime('2014-12-30T02:00:00'),
            launched_at: datetime('2014-12-30T01:00:00'),
            state: 'deleted',
          }),
          [],
          [],
        ),
      ),
    ).toBe('U5 .exists deleted_at in audit period, but no matching .delete event found.');
    // Deleted before the audit period: nothing to find in this one.
    confirmDelete(
      exists({
        ...EOD,
        deleted_at: datetime('2014-12-29T02:00:00'),
        launched_at: datetime('2014-12-29T01:00:00'),
        state: 'deleted',
      }),
      [],
      [],
    );
    // Nothing deleted, nothing to check.
    confirmDelete(exists({}), [], []);
  });

  test('U6, U7 and the .delete.end fields (U2)', () => {
    const deleteEnd = (id: string, traits: Parameters<typeof makeEvent>[2] = {}) =>
      makeEvent('compute.instance.delete.end', id, traits);
    expect(messageOf(() => confirmDelete(exists({}), [deleteEnd('d1')], []))).toBe(
      'U6 .deleted events found but .exists has no deleted_at value.',
    );
    const deleted = { deleted_at: datetime('2014-12-30T05:00:00'), state: 'deleted' };
    expect(messageOf(() => confirmDelete(exists(deleted), [deleteEnd('d1'), deleteEnd('d2')], []))).toBe(
      'U7 Multiple .delete.end events',
    );
    // Upstream's test expected U7 here, but its assertion never ran: state None fails U3 first.
    expect(
      codeOf(() =>
        confirmDelete(exists({ deleted_at: deleted.deleted_at }), [deleteEnd('d1'), deleteEnd('d2')], []),
      ),
    ).toBe('U3');
    // The .exists is compared with the (last) .delete.end on the given fields.
    confirmDelete(
      exists(deleted),
      [deleteEnd('d1', { deleted_at: deleted.deleted_at, foo: 1 })],
      ['deleted_at'],
    );
    expect(
      messageOf(() =>
        confirmDelete(
          exists(deleted),
          [deleteEnd('d1', { deleted_at: datetime('2014-12-30T06:00:00') })],
          ['deleted_at'],
        ),
      ),
    ).toBe("U2 Conflicting 'deleted_at' values ('2014-12-30 05:00:00' != '2014-12-30 06:00:00')");
  });

  test('U8 (and U1): an active instance launched in the audit period needs related events', () => {
    confirmLaunchedAt([], exists({ state: 'deleted' }));
    const launchedToday = exists({ ...EOD, state: 'active', launched_at: datetime('2014-12-30T01:00:00') });
    expect(messageOf(() => confirmLaunchedAt([], launchedToday))).toBe(
      'U8 .exists launched_at in audit period, but no related events found.',
    );
    confirmLaunchedAt([makeEvent('compute.instance.create.end', 'c1')], launchedToday);
    // Launched on an earlier day: no events expected.
    confirmLaunchedAt([], exists({ ...EOD, state: 'active', launched_at: datetime('2014-12-01T01:00:00') }));
    expect(codeOf(() => confirmLaunchedAt([], exists({ ...EOD, state: 'active' })))).toBe('U1');
  });

  test('checks: an EOD .exists with no operation event gives no warning and compares nothing', () => {
    const warnings: string[] = [];
    checkBlock([], exists({ ...EOD, os_distro: 'ubuntu' }), DEFAULT_CORE_FIELDS, warnings);
    expect(warnings).toEqual([]);
  });

  test('checks: a non-EOD .exists with no operation event warns', () => {
    const warnings: string[] = [];
    checkBlock(
      [],
      exists(period('2014-12-30T00:00:00', '2014-12-30T13:00:00'), 'ex-2'),
      DEFAULT_CORE_FIELDS,
      warnings,
    );
    expect(warnings).toEqual(['Non-EOD .exists found (msg_id: ex-2) with no operation event.']);
  });

  test('checks: only the last operation event is compared with the .exists', () => {
    const fresh = exists({ ...EOD, os_distro: 'ubuntu' });
    const rebuilt = (id: string, distro: string) =>
      makeEvent('compute.instance.rebuild.end', id, { os_distro: distro });
    expect(messageOf(() => checkBlock([rebuilt('r1', 'centos')], fresh, DEFAULT_CORE_FIELDS, []))).toBe(
      "U2 Conflicting 'os_distro' values ('centos' != 'ubuntu')",
    );
    checkBlock([rebuilt('r1', 'centos'), rebuilt('r2', 'ubuntu')], fresh, DEFAULT_CORE_FIELDS, []);
    // Only rebuild, finish_resize and rescue ends count as operations.
    checkBlock(
      [makeEvent('compute.instance.update', 'u1', { os_distro: 'centos' })],
      fresh,
      DEFAULT_CORE_FIELDS,
      [],
    );
    for (const type of ['compute.instance.finish_resize.end', 'compute.instance.rescue.end']) {
      expect(
        codeOf(() =>
          checkBlock([makeEvent(type, 'x', { os_distro: 'centos' })], fresh, DEFAULT_CORE_FIELDS, []),
        ),
      ).toBe('U2');
    }
  });
});

describe('usage handler: verdict events', () => {
  const passing = () =>
    exists({
      ...EOD,
      instance_id: 'inst',
      state: 'active',
      launched_at: datetime('2014-12-01T00:00:00'),
      tenant_id: 't1',
    });

  test('a passing .exists gives one .verified event carrying the .exists traits', () => {
    const source = passing();
    const events = processBlock([], source, '123', DEFAULT_CORE_FIELDS, log);
    expect(events).toHaveLength(1);
    const [verdict] = events;
    expect(verdict.event_type).toBe(EXISTS_VERIFIED);
    expect(verdict.timestamp).toBe(source.timestamp);
    expect(verdict.message_id).toBe(derivedMessageId('exists-1', 'compute.instance.exists.verdict'));
    const t = verdict.traits;
    expect(t.stream_id).toEqual({ type: 'text', value: '123' });
    expect(t.instance_id).toEqual({ type: 'text', value: 'inst' });
    expect(t.tenant_id).toEqual({ type: 'text', value: 't1' });
    expect(t.audit_period_beginning).toEqual(source.traits.audit_period_beginning);
    expect(t.error).toEqual({ type: 'text', value: 'None' });
    expect(t.error_code).toBeUndefined();
    expect(t.original_message_id).toEqual({ type: 'text', value: 'exists-1' });
    expect(t.publisher_id).toEqual({ type: 'text', value: 'stv3' });
    // Upstream's defaults for the usage notification.
    expect(t.bandwidth_in).toEqual({ type: 'int', value: 0 });
    expect(t.bandwidth_out).toEqual({ type: 'int', value: 0 });
    expect(t.rax_options).toEqual({ type: 'text', value: '0' });
    // The source event is not changed.
    expect(source.traits.error).toBeUndefined();
  });

  test('bandwidth and options on the .exists are kept', () => {
    const source = exists({ ...EOD, bandwidth_in: 10, bandwidth_out: 20, rax_options: '4' });
    const [verdict] = processBlock([], source, '1', DEFAULT_CORE_FIELDS, log);
    expect(verdict.traits.bandwidth_in).toEqual({ type: 'int', value: 10 });
    expect(verdict.traits.bandwidth_out).toEqual({ type: 'int', value: 20 });
    expect(verdict.traits.rax_options).toEqual({ type: 'text', value: '4' });
  });

  test('a failing .exists gives one .failed event with the error and its code', () => {
    const source = exists({
      ...EOD,
      instance_id: 'inst',
      deleted_at: datetime('2014-12-30T05:00:00'),
      state: 'stopped',
    });
    const { context, lines } = recordingContext();
    const events = processBlock([], source, '123', DEFAULT_CORE_FIELDS, context.logger);
    expect(events).toHaveLength(1);
    const [verdict] = events;
    expect(verdict.event_type).toBe(EXISTS_FAILED);
    expect(verdict.timestamp).toBe(source.timestamp);
    expect(verdict.traits.stream_id).toEqual({ type: 'text', value: '123' });
    expect(verdict.traits.instance_id).toEqual({ type: 'text', value: 'inst' });
    expect(verdict.traits.error).toEqual({
      type: 'text',
      value: ".exists state not 'deleted' but .exists deleted_at is set.",
    });
    expect(verdict.traits.error_code).toEqual({ type: 'text', value: 'U3' });
    expect(verdict.traits.original_message_id).toEqual({ type: 'text', value: 'exists-1' });
    expect(
      lines.some(
        (l) =>
          l.msg ===
          "Stream 123 UsageException: (U3) .exists state not 'deleted' but .exists deleted_at is set.",
      ),
    ).toBe(true);
  });

  test('warnings come as a .warnings event before the verdict', () => {
    const source = exists({ ...period('2014-12-30T00:00:00', '2014-12-30T13:00:00'), instance_id: 'inst' });
    const events = processBlock([], source, '123', DEFAULT_CORE_FIELDS, log);
    expect(events.map((e) => e.event_type)).toEqual([EXISTS_WARNINGS, EXISTS_VERIFIED]);
    const [warning] = events;
    expect(warning.traits.warnings).toEqual({
      type: 'text',
      value: 'Non-EOD .exists found (msg_id: exists-1) with no operation event.',
    });
    expect(warning.traits.instance_id).toEqual({ type: 'text', value: 'inst' });
    expect(warning.traits.publisher_id).toEqual({ type: 'text', value: 'stv3' });
    expect(warning.traits.stream_id).toEqual({ type: 'text', value: '123' });
    expect(warning.message_id).toBe(derivedMessageId('exists-1', EXISTS_WARNINGS));
    expect(warning.timestamp).toBe(source.timestamp);
    // Without an instance_id the warning names none.
    const [anonymous] = processBlock(
      [],
      exists(period('2014-12-30T00:00:00', '2014-12-30T13:00:00')),
      '1',
      [],
      log,
    );
    expect(anonymous.traits.instance_id).toEqual({ type: 'text', value: 'n/a' });
  });

  test('a warning found before a failing check is still emitted', () => {
    const source = exists({
      ...period('2014-12-30T00:00:00', '2014-12-30T13:00:00'),
      deleted_at: datetime('2014-12-30T05:00:00'),
    });
    const events = processBlock([], source, '1', DEFAULT_CORE_FIELDS, log);
    expect(events.map((e) => [e.event_type, e.traits.error_code?.value])).toEqual([
      [EXISTS_WARNINGS, undefined],
      [EXISTS_FAILED, 'U3'],
    ]);
  });
});

describe('usage handler: whole streams', () => {
  test('no events, no new events', () => {
    expect(runHandler([]).out).toEqual([]);
  });

  test('events but no .exists: a U0 failure after them', () => {
    const foo = makeEvent('foo', 'f1', { instance_id: 'inst' });
    const { out, created } = runHandler([foo], testEnv({ stream_id: '123' }));
    expect(out).toHaveLength(2);
    expect(out[0]).toBe(foo);
    const [failure] = created;
    expect(failure.event_type).toBe(EXISTS_FAILED);
    expect(failure.traits.error).toEqual({
      type: 'text',
      value: 'Notifications, but no .exists notification found.',
    });
    expect(failure.traits.error_code).toEqual({ type: 'text', value: 'U0' });
    expect(failure.traits.instance_id).toEqual({ type: 'text', value: 'inst' });
    expect(failure.traits.stream_id).toEqual({ type: 'text', value: '123' });
    expect(failure.timestamp).toBe(foo.timestamp);
    expect(failure.message_id).toBe(derivedMessageId('f1', 'compute.instance.exists.missing'));
  });

  test('each .exists closes a block: events, .exists → one verdict, appended after the input', () => {
    const input = [makeEvent('foo', 'f1'), exists(EOD, 'e1')];
    const { out, created } = runHandler(input);
    expect(out.slice(0, 2)).toEqual(input);
    expect(created.map((e) => [e.event_type, e.traits.original_message_id?.value])).toEqual([
      [EXISTS_VERIFIED, 'e1'],
    ]);
  });

  test('a dangling block after the last .exists gets a U0 failure at the end', () => {
    const input = [makeEvent('foo', 'f1'), exists(EOD, 'e1'), makeEvent('foo', 'f2')];
    const { out } = runHandler(input);
    expect(out).toHaveLength(5);
    expect(out.slice(3).map((e) => [e.event_type, e.traits.error_code?.value])).toEqual([
      [EXISTS_VERIFIED, undefined],
      [EXISTS_FAILED, 'U0'],
    ]);
  });

  test('a day of a new instance: create, then the EOD .exists, verifies; without the create, U8', () => {
    const launched = datetime('2014-12-30T08:00:00');
    const day = [
      makeEvent('compute.instance.create.start', 'c1', { instance_id: 'i1' }, '2014-12-30T07:59:00'),
      makeEvent(
        'compute.instance.create.end',
        'c2',
        { instance_id: 'i1', launched_at: launched },
        '2014-12-30T08:00:00',
      ),
      exists({ ...EOD, instance_id: 'i1', state: 'active', launched_at: launched }, 'e1'),
    ];
    expect(runHandler(day).created.map((e) => e.event_type)).toEqual([EXISTS_VERIFIED]);
    expect(runHandler(day.slice(2)).created.map((e) => e.traits.error_code?.value)).toEqual(['U8']);
  });

  test('a deletion with its .delete.end verifies; the .exists fields must match the delete', () => {
    const deletedAt = datetime('2014-12-30T10:00:00');
    const launched = datetime('2014-12-01T00:00:00');
    const del = makeEvent('compute.instance.delete.end', 'd1', {
      launched_at: launched,
      deleted_at: deletedAt,
    });
    const ex = exists({ ...EOD, state: 'deleted', launched_at: launched, deleted_at: deletedAt }, 'e1');
    expect(runHandler([del, ex]).created.map((e) => e.event_type)).toEqual([EXISTS_VERIFIED]);
    expect(runHandler([ex]).created.map((e) => e.traits.error_code?.value)).toEqual(['U5']);
    const otherLaunch = makeEvent('compute.instance.delete.end', 'd1', {
      launched_at: deletedAt,
      deleted_at: deletedAt,
    });
    expect(runHandler([otherLaunch, ex]).created.map((e) => e.traits.error_code?.value)).toEqual(['U2']);
  });

  test('warnings are per .exists: a later clean .exists emits none', () => {
    const input = [
      exists(period('2014-12-30T00:00:00', '2014-12-30T13:00:00'), 'e1'),
      makeEvent('compute.instance.update', 'u1'),
      exists(EOD, 'e2'),
    ];
    const { created } = runHandler(input);
    expect(created.map((e) => [e.event_type, e.traits.original_message_id?.value])).toEqual([
      [EXISTS_WARNINGS, undefined],
      [EXISTS_VERIFIED, 'e1'],
      [EXISTS_VERIFIED, 'e2'],
    ]);
  });

  test('earlier audit output in the stream is no part of a block', () => {
    const launched = datetime('2014-12-30T08:00:00');
    const ex = exists({ ...EOD, state: 'active', launched_at: launched }, 'e1');
    const recorded = makeEvent(EXISTS_VERIFIED, 'v-old', { original_message_id: 'e0' });
    // A recorded verdict is not a "related event" (U8 still holds) and no U0 follows it.
    const { created } = runHandler([recorded, ex, makeEvent(EXISTS_WARNINGS, 'w-old')]);
    expect(created.map((e) => [e.event_type, e.traits.error_code?.value])).toEqual([[EXISTS_FAILED, 'U8']]);
  });

  test('the new events are also left in env.usage_notifications', () => {
    const { created, env } = runHandler([makeEvent('foo', 'f1'), exists(EOD, 'e1')]);
    expect(env.usage_notifications).toEqual(created);
  });

  test('core_fields replaces the fields compared with the last operation', () => {
    const ex = exists({ ...EOD, os_distro: 'ubuntu', memory_mb: 512 }, 'e1');
    const rebuild = makeEvent('compute.instance.rebuild.end', 'r1', { os_distro: 'ubuntu', memory_mb: 1024 });
    expect(runHandler([rebuild, ex]).created[0].event_type).toBe(EXISTS_VERIFIED);
    const { created } = runHandler([rebuild, ex], testEnv(), { core_fields: ['memory_mb'] });
    expect(created[0].traits.error).toEqual({
      type: 'text',
      value: "Conflicting 'memory_mb' values ('1024' != '512')",
    });
  });
});

describe('usage handler: deterministic ids', () => {
  const UUID_SOURCE = '2b6b7d4a-6e5f-4c3a-9a0e-0123456789ab';

  test('a UUID message id gives uuid5(message id, kind), as Python computes it', () => {
    // python3 -c "import uuid; print(uuid.uuid5(uuid.UUID('2b6b...89ab'), 'compute.instance.exists.verdict'))"
    const ex = exists(period('2014-12-30T00:00:00', '2014-12-30T13:00:00'), UUID_SOURCE);
    const ids = runHandler([ex]).created.map((e) => [e.event_type, e.message_id]);
    expect(ids).toEqual([
      [EXISTS_WARNINGS, '2984a7cc-7dbb-52f4-b2ea-548df9bfb505'],
      [EXISTS_VERIFIED, '1a3b2253-c9e4-5389-942f-2b2d1ca52189'],
    ]);
  });

  test('a replay of the same stream emits the same ids, whatever stream id it runs under', () => {
    const input = [makeEvent('foo', 'f1'), exists(EOD, 'e1'), makeEvent('foo', 'f2')];
    const first = runHandler(input, testEnv({ stream_id: '1.aaa' })).created.map((e) => e.message_id);
    const again = runHandler(input, testEnv({ stream_id: '2.bbb' })).created.map((e) => e.message_id);
    expect(again).toEqual(first);
    expect(new Set(first).size).toBe(first.length);
  });

  test('the verdict id does not depend on the verdict', () => {
    const verified = runHandler([exists(EOD, 'e1')]).created[0];
    const failed = runHandler([exists({ ...EOD, deleted_at: datetime('2014-12-30T05:00:00') }, 'e1')])
      .created[0];
    expect([verified.event_type, failed.event_type]).toEqual([EXISTS_VERIFIED, EXISTS_FAILED]);
    expect(failed.message_id).toBe(verified.message_id);
  });
});

describe('usage handler: params', () => {
  test('core_fields must be a list of strings; unknown params are refused', () => {
    expect(() => usageHandler.validateParams!({})).not.toThrow();
    expect(() => usageHandler.validateParams!({ core_fields: ['a'] })).not.toThrow();
    expect(() => usageHandler.validateParams!({ core_fields: 'a' })).toThrow(HandlerParamsError);
    expect(() => usageHandler.validateParams!({ core_fields: 'a' })).toThrow(
      'handler usage: param core_fields: expected a list of strings, got string "a"',
    );
    expect(() => usageHandler.validateParams!({ corefields: ['a'] })).toThrow(
      'handler usage: unknown param corefields (known: core_fields)',
    );
  });
});
