/** Trait plugins: the built-in split and bitfield, and user plugins loaded from a module path. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EventDefinitionError,
  isDistillError,
  isEvent,
  loadTraitPluginMap,
  loadTraitPlugins,
  parseEventDefinitions,
  PathMatch,
  PluginLoadError,
  TraitPluginProvider,
} from '../../../src/distiller';

const traitsOf = (yaml: string, notification: object, plugins: Record<string, TraitPluginProvider> = {}) => {
  const d = parseEventDefinitions(yaml, 'defs.yaml', { plugins });
  const result = d.distill({ event_type: 'x', message_id: 'm', timestamp: '2026-11-01', ...notification });
  if (!isEvent(result)) throw new Error(JSON.stringify(result));
  return Object.fromEntries(Object.entries(result.traits).map(([k, t]) => [k, t.value]));
};

describe('split', () => {
  const yaml = `
- event_type: x
  traits:
    host:
      fields: publisher_id
      plugin: {name: split, parameters: {segment: 1, max_split: 1}}
    service:
      fields: publisher_id
      plugin: split
    domain:
      fields: publisher_id
      plugin: {name: split, parameters: {segment: -1}}
    port:
      type: int
      fields: payload.address
      plugin: {name: split, parameters: {separator: ':', segment: 1}}
`;

  it('keeps the rest of a dotted publisher id in the host, as Python split(sep, maxsplit) does', () => {
    expect(
      traitsOf(yaml, { publisher_id: 'compute.host-1.example.org', payload: { address: '10.0.0.1:8774' } }),
    ).toEqual({
      host: 'host-1.example.org',
      service: 'compute',
      domain: 'org',
      port: 8774,
    });
  });

  it('gives no host for a publisher id without a dot (the segment does not exist)', () => {
    expect(traitsOf(yaml, { publisher_id: 'publisher-442621' })).toEqual({
      service: 'publisher-442621',
      domain: 'publisher-442621',
    });
  });

  it('splits the str() of a non-string value', () => {
    expect(traitsOf(yaml, { publisher_id: 12.5 })).toMatchObject({ host: '5', service: '12' });
  });
});

describe('bitfield', () => {
  const yaml = `
- event_type: x
  traits:
    flags:
      type: int
      fields: [payload.state, payload.flag, 'payload.list[*]']
      plugin:
        name: bitfield
        parameters:
          initial_bitfield: 256
          flags:
            - {path: payload.state, bit: 0, value: active}
            - {path: payload.flag, bit: 1}
            - {path: payload.flag, bit: 2, value: yes}
            - {path: 'payload.list.[1]', bit: 4}
            - {path: payload.state, bit: '6', value: deleted}
            - {path: payload.big, bit: 40}
    always:
      fields: payload.nothing
      plugin: {name: bitfield, parameters: {initial_bitfield: 3}}
`;

  it('sets a bit when the path matched (with the value, if one is given), on top of initial_bitfield', () => {
    expect(traitsOf(yaml, { payload: { state: 'active', flag: true, list: [7, 8] } })).toEqual({
      flags: 256 + 1 + 2 + 4 + 16,
      always: '3',
    });
    expect(traitsOf(yaml, { payload: { state: 'deleted', flag: false, list: [7] } })).toEqual({
      flags: 256 + 2 + 64,
      always: '3',
    });
  });

  it('yields its initial value even when no field matches', () => {
    expect(traitsOf(yaml, {})).toEqual({ flags: 256, always: '3' });
  });

  it('handles bits beyond 31', () => {
    const wide = yaml.replace("'payload.list[*]']", "'payload.list[*]', payload.big]");
    expect(traitsOf(wide, { payload: { big: 1 } })).toMatchObject({ flags: 256 + 2 ** 40 });
  });
});

describe('user plugins', () => {
  const yaml = (plugin: string, type = 'text') => `
- event_type: x
  traits:
    out:
      type: ${type}
      fields: [payload.a, 'payload.list[*]']
      plugin: ${plugin}
`;
  class Joiner {
    constructor(readonly params: Record<string, unknown>) {}
    traitValue(matches: PathMatch[]) {
      return matches
        .map(([path, value]) => `${path}=${String(value)}`)
        .join(String(this.params.separator ?? ','));
    }
  }

  it('constructs a class with its parameters and hands it every match with its path', () => {
    expect(
      traitsOf(
        yaml('{name: join, parameters: {separator: ";"}}'),
        { payload: { a: 'A', list: [1, null, 2] } },
        { join: Joiner },
      ),
    ).toEqual({ out: 'payload.a=A;payload.list.[0]=1;payload.list.[2]=2' });
  });

  it('calls a factory, or a Python-style trait_value, and even when nothing matched', () => {
    const seen: PathMatch[][] = [];
    const factory = () => ({
      traitValue: (matches: PathMatch[]) => {
        seen.push(matches);
        return matches.length;
      },
    });
    expect(traitsOf(yaml('count', 'int'), {}, { count: factory })).toEqual({ out: 0 });
    expect(seen).toEqual([[]]);
    const pythonic = () => ({ trait_value: (matches: PathMatch[]) => matches.length * 10 });
    expect(traitsOf(yaml('count'), { payload: { a: 1 } }, { count: pythonic })).toEqual({ out: '10' });
  });

  it('converts what the plugin returns to the trait type; null means no trait', () => {
    const returning = (value: unknown) => () => ({ traitValue: () => value });
    const d = parseEventDefinitions(yaml('constant'), 'defs.yaml', {
      plugins: { constant: returning(null) },
    });
    const result = d.distill({
      event_type: 'x',
      message_id: 'm',
      timestamp: '2026-11-01',
      publisher_id: 'p',
    });
    expect(isEvent(result) && Object.keys(result.traits)).toEqual(['service']);
    expect(traitsOf(yaml('constant'), {}, { constant: returning(5) })).toEqual({ out: '5' });
    expect(traitsOf(yaml('constant', 'float'), {}, { constant: returning('2.5') })).toEqual({ out: 2.5 });
  });

  it('turns a throwing plugin into a plugin error for that notification', () => {
    const failing = () => ({
      traitValue: () => {
        throw new Error('no luck');
      },
    });
    const d = parseEventDefinitions(yaml('failing'), 'defs.yaml', { plugins: { failing } });
    const result = d.distill({ event_type: 'x', message_id: 'm', timestamp: '2026-11-01' });
    expect(isDistillError(result) && [result.category, result.trait, result.detail]).toEqual([
      'plugin',
      'out',
      'trait out: plugin failing failed: no luck',
    ]);
  });

  it('fails the load when a plugin cannot be made, with the line', () => {
    const broken = () => ({ nothing: true });
    expect(() =>
      parseEventDefinitions(yaml('broken'), 'defs.yaml', { plugins: { broken } as never }),
    ).toThrow(
      new EventDefinitionError(
        'defs.yaml',
        7,
        7,
        'plugin broken for trait out could not be created: the plugin has no traitValue(matches) method',
      ),
    );
  });
});

describe('loading plugins from modules', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trait-plugins-'));
  writeFileSync(
    join(dir, 'upper.js'),
    'module.exports = class Upper { constructor(p) { this.p = p } traitValue(m) { return m.length ? String(m[0][1]).toUpperCase() + (this.p.suffix || "") : null } }\n',
  );
  writeFileSync(
    join(dir, 'several.js'),
    'exports.first = (p) => ({ traitValue: (m) => m.length ? m[0][0] : null });\nexports.other = () => ({ traitValue: () => "other" });\n',
  );
  writeFileSync(join(dir, 'nothing.js'), 'exports.value = 42;\n');
  const yaml =
    '- event_type: x\n  traits:\n    out:\n      fields: payload.a\n      plugin: {name: p, parameters: {suffix: "!"}}\n';

  it('loads name=path (relative to the base folder) and name=path#Export', () => {
    const plugins = loadTraitPlugins(['p=./upper.js', 'q=./several.js#other'], dir);
    expect(traitsOf(yaml, { payload: { a: 'abc' } }, plugins)).toEqual({ out: 'ABC!' });
    const viaExport = loadTraitPlugins([`p=${join(dir, 'several.js')}#first`]);
    expect(traitsOf(yaml, { payload: { a: 'abc' } }, viaExport)).toEqual({ out: 'payload.a' });
  });

  it("loads winchester.yaml's distiller_trait_plugins relative to the config folder", () => {
    const plugins = loadTraitPluginMap({ p: './upper.js' }, dir);
    expect(traitsOf(yaml, { payload: { a: 'x' } }, plugins)).toEqual({ out: 'X!' });
  });

  it.each([
    ['upper.js', /expected name=module\[#Export\]/],
    ['p=./missing.js', /trait plugin p: cannot load .*missing\.js: Cannot find module/],
    ['p=./nothing.js', /exports no plugin class or factory/],
    ['p=./several.js#absent', /exports no plugin class or factory named "absent"/],
  ])('refuses %s', (spec, message) => {
    expect(() => loadTraitPlugins([spec], dir)).toThrow(PluginLoadError);
    expect(() => loadTraitPlugins([spec], dir)).toThrow(message);
  });
});
