/** Loading event_definitions.yaml: Winchester's files unchanged, and errors a person can act on. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigurationError } from '../../../src/config/errors';
import {
  Distiller,
  EventDefinitionError,
  isEvent,
  loadEventDefinitions,
  parseEventDefinitions,
} from '../../../src/distiller';

const SAMPLE = join(__dirname, '..', '..', '..', 'topologies', 'openstack-usage', 'event_definitions.yaml');

const load = (yaml: string, options = {}) => parseEventDefinitions(yaml, 'defs.yaml', options);
const failure = (yaml: string, options = {}): EventDefinitionError => {
  try {
    load(yaml, options);
  } catch (error) {
    if (error instanceof EventDefinitionError) return error;
    throw error;
  }
  throw new Error('expected an EventDefinitionError');
};
const distill = (d: Distiller, notification: object) => {
  const result = d.distill({ message_id: 'm', timestamp: '2026-11-01 00:00:00', ...notification });
  if (!isEvent(result)) throw new Error(`not an event: ${JSON.stringify(result)}`);
  return Object.fromEntries(Object.entries(result.traits).map(([k, t]) => [k, t.value]));
};

describe('the sample definitions (Winchester etc/event_definitions.yaml)', () => {
  const distiller = loadEventDefinitions(SAMPLE);

  it('load without warnings, in priority order (the last in the file first)', () => {
    expect(distiller.warnings).toEqual([]);
    expect(distiller.definitions.map((d) => d.eventTypes)).toEqual([
      ['compute.instance.exists'],
      ['compute.instance.*'],
    ]);
    expect(distiller.definitions.map((d) => d.position.line)).toEqual([54, 2]);
  });

  it('expand the merge key: exists gets the instance traits, the audit period and the defaults', () => {
    const names = distiller.definitions[0].traits.map((t) => t.name);
    expect(names.slice(0, 3)).toEqual(['service', 'request_id', 'tenant_id']);
    expect(names).toEqual(
      expect.arrayContaining(['instance_id', 'launched_at', 'audit_period_beginning', 'host']),
    );
    // 18 instance traits (two of them override defaults) + request_id + the audit period.
    expect(names).toHaveLength(21);
    expect(distiller.definitions[1].traits).toHaveLength(19);
  });

  it('pick the definition by event type: exists has the audit period, update does not', () => {
    const payload = { audit_period_beginning: '2026-11-01 00:00:00', instance_id: 'i' };
    expect(distill(distiller, { event_type: 'compute.instance.exists', payload })).toHaveProperty(
      'audit_period_beginning',
    );
    expect(distill(distiller, { event_type: 'compute.instance.update', payload })).not.toHaveProperty(
      'audit_period_beginning',
    );
  });
});

describe('definitions', () => {
  it('apply globs and exclusions; only exclusions include everything else', () => {
    const d = load(`
- event_type: '!compute.*'
  traits: {which: {fields: payload.v}}
- event_type: [compute.instance.*, '!compute.instance.exists']
  traits: {instance: {fields: payload.v}}
`);
    expect(d.definitionFor('compute.instance.update')?.index).toBe(1);
    expect(d.definitionFor('compute.instance.exists')).toBeUndefined();
    expect(d.definitionFor('image.upload')?.index).toBe(0);
    expect(d.definitionFor('compute.host')).toBeUndefined();
    expect(d.definitions.some((def) => def.isCatchAll)).toBe(false);
  });

  it('add a catch-all with the default traits when asked, unless the file has one', () => {
    const withCatchAll = load(`- event_type: compute.*\n  traits: {}\n`, { catchAll: true });
    expect(withCatchAll.definitions.map((d) => [d.eventTypes, d.index])).toEqual([
      [['compute.*'], 0],
      [['*'], -1],
    ]);
    expect(distill(withCatchAll, { event_type: 'x', publisher_id: 'p.h', _context_tenant: 't' })).toEqual({
      service: 'p.h',
      tenant_id: 't',
    });
    const own = load(`- event_type: '*'\n  traits: {}\n`, { catchAll: true });
    expect(own.definitions).toHaveLength(1);
  });

  it('let a definition override a default trait', () => {
    const d = load(`
- event_type: x
  traits:
    service: {fields: payload.service}
    tenant_id: {type: int, fields: payload.n}
`);
    expect(
      distill(d, {
        event_type: 'x',
        publisher_id: 'pub',
        payload: { service: 'mine', n: '7', tenant_id: 't' },
      }),
    ).toEqual({
      service: 'mine',
      tenant_id: 7,
    });
  });

  it('read YAML 1.1: `yes` in a bitfield flag is the boolean true', () => {
    const d = load(`
- event_type: x
  traits:
    flags:
      type: int
      fields: payload.on
      plugin:
        name: bitfield
        parameters:
          flags: [{path: payload.on, bit: 0, value: yes}, {path: payload.on, bit: 1, value: 'yes'}]
`);
    expect(distill(d, { event_type: 'x', payload: { on: true } })).toEqual({ flags: 1 });
    expect(distill(d, { event_type: 'x', payload: { on: 'yes' } })).toEqual({ flags: 2 });
  });

  it('warn about what upstream ignores silently', () => {
    const d = load(`
- event_type: x
  trait: {}
  traits:
    a: {fields: payload.a, typ: int}
    a: {fields: payload.b}
    s: {fields: p, plugin: {name: split, parameters: {segmnt: 1}}}
`);
    expect(d.warnings.map((w) => `${w.line}:${w.column} ${w.message}`)).toEqual([
      '6:5 key "a" appears twice in one mapping: the last one wins',
      '3:3 unknown key "trait" in event definition 1 (ignored)',
      '7:55 plugin split: unknown parameter "segmnt" (ignored)',
    ]);
  });
});

describe('errors name the file, the line and what to change', () => {
  it.each([
    ['', 1, 1, 'the file is empty: expected a list of event definitions'],
    ['a: 1\n', 1, 1, 'expected a list of event definitions, found a mapping'],
    [
      '- just a string\n',
      1,
      3,
      'event definition 1 must be a mapping with event_type and traits, found the string "just a string"',
    ],
    ['- traits: {}\n', 1, 3, 'event definition 1: required field event_type not specified'],
    ['- event_type: x\n', 1, 3, 'event definition 1: required field traits not specified'],
    [
      '- event_type: x\n  traits:\n',
      2,
      3,
      'traits must be a mapping of trait name to trait definition, found nothing (null)',
    ],
    [
      '- event_type: [x, 5]\n  traits: {}\n',
      1,
      3,
      'event_type must be a string or a list of strings, found a list',
    ],
    [
      '- event_type: x\n  traits:\n    a: payload.a\n',
      3,
      5,
      'trait a: expected a mapping with fields (and type, plugin), found the string "payload.a"',
    ],
    [
      '- event_type: x\n  traits:\n    a:\n      type: integer\n      fields: a\n',
      4,
      7,
      'invalid trait type "integer" for trait a: use one of text, int, float, datetime',
    ],
    [
      '- event_type: x\n  traits:\n    a:\n      type: int\n',
      3,
      5,
      'trait a: required field fields not specified',
    ],
    [
      '- event_type: x\n  traits:\n    a:\n      fields: []\n',
      4,
      7,
      'trait a: fields must be a path or a non-empty list of paths, found a list',
    ],
    [
      '- event_type: x\n  traits:\n    a:\n      fields: [a, 5]\n',
      4,
      7,
      'trait a: fields must be a path or a non-empty list of paths, found a list',
    ],
    [
      '- event_type: x\n  traits:\n    a:\n      fields:\n        - payload.a\n        - payload.[\n',
      6,
      11,
      'parse error in JSONPath specification "payload.[" for trait a: unexpected end of the path (at character 10)',
    ],
    [
      '- event_type: x\n  traits:\n    a:\n      fields: a & b\n',
      4,
      7,
      'JSONPath specification "a & b" for trait a: `&` (intersection) is not implemented by jsonpath-rw: every lookup would fail',
    ],
    [
      '- event_type: x\n  traits:\n    a:\n      fields: a\n      plugin: {parameters: {}}\n',
      5,
      7,
      'plugin specified, but no plugin name supplied for trait a',
    ],
    [
      '- event_type: x\n  traits:\n    a:\n      fields: a\n      plugin: splitter\n',
      5,
      7,
      'no plugin named the string "splitter" available for trait a (known: split, bitfield; load others with --plugin name=module)',
    ],
    [
      "- event_type: x\n  traits:\n    a:\n      fields: a\n      plugin: {name: split, parameters: {separator: ''}}\n",
      5,
      42,
      'split separator for trait a must be a non-empty string (or null for whitespace), found the string ""',
    ],
    [
      '- event_type: x\n  traits:\n    a:\n      fields: a\n      plugin: {name: split, parameters: {segment: first}}\n',
      5,
      42,
      'split segment for trait a must be an integer, found the string "first"',
    ],
    [
      '- event_type: x\n  traits:\n    a:\n      fields: a\n      plugin: {name: bitfield, parameters: {flags: {path: a}}}\n',
      5,
      45,
      'bitfield flags for trait a must be a list, found a mapping',
    ],
    [
      '- event_type: x\n  traits:\n    a:\n      fields: a\n      plugin: {name: bitfield, parameters: {flags: [{bit: 1}]}}\n',
      5,
      53,
      'bitfield flag 1 for trait a: path must be a string, found nothing (null)',
    ],
    [
      '- event_type: x\n  traits:\n    a:\n      fields: a\n      plugin: {name: bitfield, parameters: {flags: [{path: a, bit: 60}]}}\n',
      5,
      53,
      'bitfield flag 1 for trait a: bit 60 is outside 0..52',
    ],
    [
      '- event_type: x\n  traits:\n    a:\n      fields: a\n      plugin: {name: bitfield, parameters: {flags: [{path: a, bit: x}]}}\n',
      5,
      53,
      "bitfield flag 1 for trait a: bit must be an integer (invalid literal for int() with base 10: 'x')",
    ],
    [
      '- event_type: x\n  traits:\n    yes: {fields: a}\n',
      2,
      3,
      'trait names must be strings, found boolean true (quote it in the YAML)',
    ],
    ['- event_type: x\n  traits: [\n', 3, 1, 'deficient indentation'],
  ])('%j → line %i, column %i: %s', (yaml, line, column, reason) => {
    const error = failure(yaml);
    expect([error.line, error.column, error.reason]).toEqual([line, column, reason]);
    expect(error.file).toBe('defs.yaml');
    expect(error.message).toBe(`defs.yaml:${line}:${column}: ${reason}`);
    expect(error).toBeInstanceOf(ConfigurationError);
  });

  it('names a file it cannot read', () => {
    expect(() => loadEventDefinitions('/nonexistent/event_definitions.yaml')).toThrow(
      /^\/nonexistent\/event_definitions\.yaml: cannot read the event definitions: ENOENT/,
    );
  });

  it('points into the anchor for a trait brought in by a merge key', () => {
    const error = failure(`
- event_type: a
  traits: &shared
    bad: {type: wrong, fields: x}
- event_type: b
  traits:
    <<: *shared
`);
    expect([error.line, error.reason]).toEqual([
      4,
      'invalid trait type "wrong" for trait bad: use one of text, int, float, datetime',
    ]);
  });

  it('reads files from disk with the same checks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'definitions-'));
    const file = join(dir, 'event_definitions.yaml');
    writeFileSync(file, '- event_type: x\n  traits:\n    a: {fields: "payload.["}\n');
    expect(() => loadEventDefinitions(file)).toThrow(`${file}:3:9: parse error in JSONPath specification`);
  });
});
