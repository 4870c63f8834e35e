/**
 * Hostile configuration files: each must fail at load with its file, line and a message a
 * person can act on, or load safely where it is legal. Nothing may hang (alias and merge-key
 * bombs, deep nesting, huge paths and time expressions) or touch Object.prototype.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigurationError } from '../../../src/config/errors';
import { loadWinchesterConfig, WinchesterConfig } from '../../../src/config/winchester-config';
import { Distiller, EventDefinitionError, loadEventDefinitions } from '../../../src/distiller';
import { loadPipelines } from '../../../src/pipeline/config';
import { builtinHandlers } from '../../../src/pipeline/handlers';
import { TriggerConfigError } from '../../../src/triggers/errors';
import { loadTriggerDefinitions } from '../../../src/triggers/load';
import { TriggerDefinition } from '../../../src/triggers/definition';

type Kind = 'event_definitions' | 'triggers' | 'pipelines' | 'winchester';

type Loaded =
  | { ok: true; value: Distiller | TriggerDefinition[] | Map<string, unknown> | WinchesterConfig }
  | { ok: false; file: string; line: number; message: string };

const dir = mkdtempSync(join(tmpdir(), 'winchester-hostile-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const handlers = new Map(Object.entries(builtinHandlers));
/** A user trait plugin, so plugin parameters are converted (where an alias bomb would expand). */
const plugins = { mine: () => ({ traitValue: () => null }) };

/** `file:line[:column]: message` as ConfigurationErrors of pipelines and winchester.yaml spell it. */
function located(error: ConfigurationError): { file: string; line: number; message: string } {
  const m = /^(.+?):(\d+):(?:\d+:)? (.*)$/s.exec(error.message);
  if (!m) return { file: '', line: 0, message: error.message };
  return { file: m[1], line: Number(m[2]), message: m[3] };
}

let serial = 0;
/** Writes the text as that kind of file and loads it as a role would. Anything but a ConfigurationError escapes. */
function load(kind: Kind, content: string | Buffer): Loaded {
  const file = join(dir, `${++serial}-${kind}.yaml`);
  writeFileSync(file, content);
  try {
    switch (kind) {
      case 'event_definitions':
        return { ok: true, value: loadEventDefinitions(file, { plugins }) };
      case 'triggers':
        return { ok: true, value: loadTriggerDefinitions(file, { pipelines: ['p'] }).triggers };
      case 'pipelines':
        return { ok: true, value: loadPipelines(file, handlers) };
      case 'winchester':
        return { ok: true, value: loadWinchesterConfig(file, {}) };
    }
  } catch (error) {
    if (error instanceof EventDefinitionError) {
      return { ok: false, file: error.file, line: error.line, message: error.reason };
    }
    if (error instanceof TriggerConfigError) {
      return { ok: false, file: error.file, line: error.line, message: error.reason };
    }
    if (error instanceof ConfigurationError) return { ok: false, ...located(error) };
    throw error;
  }
}

/** The 1-based line of the first occurrence of `needle`. */
const lineOf = (text: string, needle: string) => {
  const at = text.indexOf(needle);
  if (at < 0) throw new Error(`${needle} not in the text`);
  return text.slice(0, at).split('\n').length;
};

/** Nine anchors, each a list of nine aliases of the one before: 9^9 "lol"s if expanded. */
const lolAnchors = (indent: string, key = (i: number) => `lol${i}`) =>
  Array.from({ length: 9 }, (_, i) => {
    const items = i === 0 ? Array(9).fill('"lol"') : Array(9).fill(`*l${i - 1}`);
    return `${indent}${key(i)}: &l${i} [${items.join(', ')}]`;
  }).join('\n');

/** A valid minimal file of each kind. */
const VALID: Record<Kind, string> = {
  event_definitions:
    '- event_type: compute.instance.*\n  traits:\n    instance_id:\n      fields: payload.instance_id\n',
  triggers:
    '- name: t\n  distinguished_by: [instance_id]\n  expiration: $last + 1h\n  fire_pipeline: p\n' +
    '  match_criteria: [{event_type: compute.instance.*}]\n  fire_criteria: [{event_type: compute.instance.exists}]\n',
  pipelines: 'p:\n  - logger\n',
  winchester: 'log_level: info\n',
};

interface Case {
  name: string;
  kind: Kind;
  text: string | Buffer;
  /** Fails at this line with a message matching; or loads (then `check` runs). */
  error?: { line: number; message: RegExp };
  check?: (value: unknown) => void;
}

const cases: Case[] = [];
const kinds: Kind[] = ['event_definitions', 'triggers', 'pipelines', 'winchester'];

// --- YAML-level attacks, against every kind of file ------------------------------------------
for (const kind of kinds) {
  const deepFlow = `x: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`;
  cases.push({
    name: `${kind}: 100,000-deep flow nesting`,
    kind,
    text: deepFlow,
    error: { line: 1, message: /nesting exceeded maxDepth/ },
  });
  const deepBlock = Array.from({ length: 1000 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n');
  cases.push({
    name: `${kind}: 1,000-deep block nesting`,
    kind,
    text: deepBlock,
    error: { line: 100, message: /nesting exceeded maxDepth/ },
  });
  const tabs =
    kind === 'winchester'
      ? 'log_level: info\nkafka:\n\tnamespace: x\n'
      : VALID[kind].replace(/\n {2}(\S)/, '\n\t$1');
  cases.push({
    name: `${kind}: a tab in the indentation`,
    kind,
    text: tabs,
    error: { line: lineOf(tabs, '\t'), message: /tab/ },
  });
  cases.push({
    name: `${kind}: binary garbage`,
    kind,
    text: Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 37 + 11) % 256)),
    // The garbage holds line breaks: any line, as long as there is one.
    error: { line: 0, message: /null byte|non-printable/ },
  });
  cases.push({
    name: `${kind}: control characters, no NUL`,
    kind,
    text: `${VALID[kind]}\u0001\u0002: x\n`,
    error: { line: lineOf(`${VALID[kind]}\u0001`, '\u0001'), message: /non-printable|end of the stream/ },
  });
  const python = '!!python/object/apply:os.system ["touch /tmp/pwned"]';
  cases.push({
    name: `${kind}: a !!python/object/apply tag`,
    kind,
    text: kind === 'pipelines' || kind === 'winchester' ? `x: ${python}\n` : `- ${python}\n`,
    error: { line: 1, message: /unknown sequence tag/ },
  });
  cases.push({
    name: `${kind}: a !!js/function tag`,
    kind,
    text: `x: !!js/function "function () { globalThis.pwned = 1 }"\n`,
    error: { line: 1, message: /unknown scalar tag/ },
  });
  cases.push({
    name: `${kind}: two documents`,
    kind,
    text: `${VALID[kind]}---\n${VALID[kind]}`,
    error: { line: 1, message: /single document/ },
  });
}

// --- event_definitions.yaml ------------------------------------------------------------------
const defs = (traits: string, eventType = 'compute.instance.*') =>
  `- event_type: ${JSON.stringify(eventType)}\n  traits:\n${traits}`;
{
  const text = `${VALID.event_definitions}${lolAnchors('  ')}\n`;
  cases.push({
    name: 'event_definitions: billion laughs in unknown keys',
    kind: 'event_definitions',
    text,
    check: (d) =>
      expect((d as Distiller).warnings.map((w) => w.message)).toContain(
        'unknown key "lol8" in event definition 1 (ignored)',
      ),
  });
}
{
  const text = defs(
    `    t:\n      fields: payload.t\n      plugin:\n        name: mine\n        parameters:\n${lolAnchors('          ')}\n          all: *l8\n`,
  );
  cases.push({
    name: 'event_definitions: billion laughs in user plugin parameters',
    kind: 'event_definitions',
    text,
  });
}
{
  // Nine anchors merged nine times over, then a bad trait only the last mapping has: finding
  // where it was written must not search the merge tree once per path through it.
  let text = '- event_type: a\n  traits: {t: {fields: a}}\n  x0: &z0 {q: {fields: a}}\n';
  for (let i = 1; i <= 12; i++)
    text += `  x${i}: &z${i} {<<: [${Array(9)
      .fill(`*z${i - 1}`)
      .join(', ')}]}\n`;
  text += '  k: &k {bad: 5}\n- event_type: b\n  traits: {<<: [*z12, *k]}\n';
  cases.push({
    name: 'event_definitions: a merge-key bomb with an error at the end',
    kind: 'event_definitions',
    text,
    error: { line: lineOf(text, 'bad: 5'), message: /trait bad: expected a mapping/ },
  });
}
{
  const text = defs('    t:\n      type: bigint\n      fields: payload.t\n');
  cases.push({
    name: 'event_definitions: a trait of an unknown type',
    kind: 'event_definitions',
    text,
    error: {
      line: lineOf(text, 'type: bigint'),
      message: /invalid trait type "bigint" for trait t: use one of text, int, float, datetime/,
    },
  });
}
for (const plugin of ['eval', 'constructor', '__proto__', 'toString']) {
  const text = defs(`    t:\n      fields: payload.t\n      plugin: ${plugin}\n`);
  cases.push({
    name: `event_definitions: unknown plugin ${plugin}`,
    kind: 'event_definitions',
    text,
    error: {
      line: lineOf(text, 'plugin:'),
      message: new RegExp(`no plugin named the string "${plugin}" available for trait t`),
    },
  });
}
{
  const path = Array.from({ length: 20_000 }, (_, i) => `k${i}`).join('.');
  const text = defs(`    t:\n      fields: ${path}\n`);
  cases.push({
    name: 'event_definitions: a 20,000-step JSONPath',
    kind: 'event_definitions',
    text,
    error: { line: lineOf(text, 'fields:'), message: /the path has more than 500 steps/ },
  });
  const parens = defs(`    t:\n      fields: "${'('.repeat(10_000)}a${')'.repeat(10_000)}"\n`);
  cases.push({
    name: 'event_definitions: a JSONPath in 10,000 parentheses',
    kind: 'event_definitions',
    text: parens,
    error: { line: lineOf(parens, 'fields:'), message: /the path has more than 500 steps/ },
  });
  const union = defs(
    `    t:\n      fields: "${Array.from({ length: 5000 }, (_, i) => `k${i}`).join('|')}"\n`,
  );
  cases.push({
    name: 'event_definitions: a union of 5,000 JSONPaths',
    kind: 'event_definitions',
    text: union,
    error: { line: lineOf(union, 'fields:'), message: /the path has more than 500 steps/ },
  });
  const bad = defs('    t:\n      fields: payload.[\n');
  cases.push({
    name: 'event_definitions: a JSONPath that does not parse',
    kind: 'event_definitions',
    text: bad,
    error: {
      line: lineOf(bad, 'fields:'),
      message: /parse error in JSONPath specification "payload\.\[" for trait t/,
    },
  });
}
{
  const glob = `${'*a'.repeat(30)}*b`;
  const text = defs('    t:\n      fields: payload.t\n', glob);
  cases.push({
    name: 'event_definitions: a 31-star glob (legal; matching stays linear)',
    kind: 'event_definitions',
    text,
    check: (d) => {
      const distiller = d as Distiller;
      // Backtracking would take longer than the universe on this; it must just return.
      expect(distiller.definitionFor('a'.repeat(10_000))).toBeUndefined();
      expect(distiller.definitionFor(`${'a'.repeat(40)}b`)).toBeDefined();
    },
  });
}
{
  const text = defs(
    '    __proto__:\n      fields: payload.__proto__\n    constructor:\n      type: int\n      fields: payload.constructor\n' +
      '    prototype:\n      fields: payload.prototype\n    hasOwnProperty:\n      fields: payload.hasOwnProperty\n',
  );
  cases.push({
    name: 'event_definitions: traits named __proto__, constructor, prototype, hasOwnProperty',
    kind: 'event_definitions',
    text,
    check: (d) => {
      const distiller = d as Distiller;
      const envelope =
        '"event_type": "compute.instance.update", "message_id": "m", "timestamp": "2026-01-01 00:00:00"';
      // Absent from the payload: not read from Object.prototype.
      const none = distiller.distillText(`{${envelope}, "payload": {"x": 1}}`);
      expect(none).toMatchObject({ kind: 'dropped', reason: 'no-traits' });
      const all = distiller.distillText(
        `{${envelope}, "payload": {"__proto__": {"polluted": 1}, "constructor": "7", "prototype": "p", "hasOwnProperty": "h"}}`,
      );
      expect('traits' in all && Object.keys(all.traits).sort()).toEqual([
        '__proto__',
        'constructor',
        'hasOwnProperty',
        'prototype',
      ]);
      if (!('traits' in all)) return;
      expect(all.traits.__proto__).toEqual({ type: 'text', value: "{'polluted': 1}" });
      expect(all.traits.constructor).toEqual({ type: 'int', value: 7 });
    },
  });
}
{
  const text = `${VALID.event_definitions}- event_type: x\n  traits:\n    t: {fields: a}\n    t: {fields: b}\n`;
  cases.push({
    name: 'event_definitions: duplicate keys (the last wins, with a warning)',
    kind: 'event_definitions',
    text,
    check: (d) =>
      expect((d as Distiller).warnings).toContainEqual(
        expect.objectContaining({
          line: lineOf(text, 't: {fields: b}'),
          message: expect.stringMatching(/appears twice/),
        }),
      ),
  });
}
cases.push({
  name: 'event_definitions: an empty file',
  kind: 'event_definitions',
  text: '',
  error: { line: 1, message: /the file is empty/ },
});
cases.push({
  name: 'event_definitions: a mapping instead of a list',
  kind: 'event_definitions',
  text: '__proto__: {polluted: 1}\n',
  error: { line: 1, message: /expected a list of event definitions, found a mapping/ },
});

// --- triggers.yaml ---------------------------------------------------------------------------
const trigger = (lines: Record<string, string>) => {
  const fields = {
    name: 't',
    distinguished_by: '[instance_id]',
    expiration: '$last + 1h',
    fire_pipeline: 'p',
    match_criteria: '[{event_type: compute.instance.*}]',
    fire_criteria: '[{event_type: compute.instance.exists}]',
    ...lines,
  };
  return `- ${Object.entries(fields)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n  ')}\n`;
};
{
  const anchors = `- name: t\n${lolAnchors('  ', (i) => `x${i}`)}`;
  const loads = trigger({}).replace('- name: t', anchors);
  cases.push({
    name: 'triggers: billion laughs in unknown keys',
    kind: 'triggers',
    text: loads,
    check: (t) => expect((t as TriggerDefinition[]).map((x) => x.name)).toEqual(['t']),
  });
  const fails = trigger({ match_criteria: '*l8' }).replace('- name: t', anchors);
  cases.push({
    name: 'triggers: billion laughs as match_criteria',
    kind: 'triggers',
    text: fails,
    error: { line: lineOf(fails, 'match_criteria:'), message: /match_criteria\[0\] must be a mapping/ },
  });
}
for (const [label, expression, message] of [
  [
    'overflows the representable years',
    '$last + 300000y',
    /expiration "\$last \+ 300000y" can never be computed: date out of range/,
  ],
  ['goes back before any representable time', '$last - 300000y', /can never be computed: date out of range/],
  [
    'replaces the hour with 99999999',
    '$last @ 99999999h',
    /can never be computed: cannot replace \(@ 99999999h\): hour must be in 0\.\.23/,
  ],
  ['has a number beyond 2^53', '$last + 99999999999999999999y', /number 99999999999999999999 is too large/],
  [
    'nests 5,000 parentheses',
    `${'('.repeat(5000)}$last${')'.repeat(5000)} + 1h`,
    /more than 256 operations and parentheses/,
  ],
  ['chains 20,000 additions', `$last${' + 1h'.repeat(20_000)}`, /more than 256 operations and parentheses/],
  ['uses an unknown function', 'dya($last)', /unknown function 'dya'/],
] as const) {
  const text = trigger({ expiration: JSON.stringify(expression) });
  cases.push({
    name: `triggers: an expiration that ${label}`,
    kind: 'triggers',
    text,
    error: { line: lineOf(text, 'expiration:'), message },
  });
}
{
  const text = trigger({ expiration: '"$last + 500y"' });
  cases.push({
    name: 'triggers: an expiration computable for early times only (legal)',
    kind: 'triggers',
    text,
    check: (t) => expect((t as TriggerDefinition[]).map((x) => x.name)).toEqual(['t']),
  });
}
{
  const text = trigger({
    fire_criteria: '[{event_type: compute.instance.exists, traits: {memory_mb: {int: "> 1e400"}}}]',
  });
  cases.push({
    name: 'triggers: an int criterion of 1e400',
    kind: 'triggers',
    text,
    error: { line: lineOf(text, 'fire_criteria:'), message: /'1e400' is not an int/ },
  });
}
{
  const text = trigger({ fire_pipeline: 'constructor' });
  cases.push({
    name: 'triggers: a pipeline named constructor (not defined)',
    kind: 'triggers',
    text,
    error: {
      line: lineOf(text, 'fire_pipeline:'),
      message: /fire_pipeline 'constructor' is not defined in the pipelines file/,
    },
  });
}
{
  const glob = `${'*.'.repeat(40)}end`;
  const text = trigger({ match_criteria: `[{event_type: "${glob}"}]` });
  cases.push({
    name: 'triggers: a 40-star event_type glob (legal; matching stays linear)',
    kind: 'triggers',
    text,
    check: (t) => {
      const [definition] = t as TriggerDefinition[];
      const criterion = definition.matchCriteria[0];
      const event = (eventType: string) => ({
        message_id: 'm',
        event_type: eventType,
        timestamp: 0,
        traits: Object.create(null),
      });
      expect(criterion.test(event('.'.repeat(5000)))).not.toBeNull();
      expect(criterion.test(event(`${'a.'.repeat(40)}end`))).toBeNull();
    },
  });
}
{
  const text = trigger({
    distinguished_by: '[__proto__, constructor]',
    match_criteria: '[{event_type: compute.instance.*, traits: {__proto__: x, prototype: {int: "> 1"}}}]',
  }).replace('- name: t', '- __proto__: {polluted: 1}\n  name: t');
  cases.push({
    name: 'triggers: __proto__ and constructor as keys and trait names',
    kind: 'triggers',
    text,
    check: (t) => {
      const [definition] = t as TriggerDefinition[];
      expect(definition.distinguishedBy.map((d) => d.name)).toEqual(['__proto__', 'constructor']);
    },
  });
}
cases.push({
  name: 'triggers: the same name twice',
  kind: 'triggers',
  text: `${trigger({})}${trigger({})}`,
  error: { line: trigger({}).split('\n').length, message: /already defined at line 1/ },
});

// --- pipelines.yaml --------------------------------------------------------------------------
for (const handler of ['eval', 'constructor', '__proto__', 'hasOwnProperty']) {
  const text = `p:\n  - logger\n  - ${handler}\n`;
  cases.push({
    name: `pipelines: unknown handler ${handler}`,
    kind: 'pipelines',
    text,
    error: { line: 3, message: new RegExp(`unknown handler '${handler}'`) },
  });
}
{
  const text = `anchors:\n  - name: logger\n    params:\n${lolAnchors('      ')}\np:\n  - name: logger\n    params: {x: *l8}\n`;
  cases.push({
    name: 'pipelines: billion laughs in handler params',
    kind: 'pipelines',
    text,
    error: { line: 3, message: /unknown params lol0, lol1/ },
  });
}
{
  const text = 'p:\n  - logger\n__proto__:\n  - logger\nconstructor: [logger]\n';
  cases.push({
    name: 'pipelines: pipelines named __proto__ and constructor',
    kind: 'pipelines',
    text,
    check: (p) => expect([...(p as Map<string, unknown>).keys()]).toEqual(['p', '__proto__', 'constructor']),
  });
}

// --- winchester.yaml -------------------------------------------------------------------------
cases.push({
  name: 'winchester: billion laughs in unknown settings',
  kind: 'winchester',
  text: `${lolAnchors('')}\nall: *l8\n`,
  check: (c) => expect((c as WinchesterConfig).warnings.length).toBe(10),
});
cases.push({
  name: 'winchester: __proto__ keys at the top and under kafka',
  kind: 'winchester',
  text: '__proto__: {log_level: debug}\nkafka:\n  __proto__: {namespace: evil, max_record_bytes: 1}\n',
  check: (c) => {
    const config = c as WinchesterConfig;
    expect(config.logLevel).toBe('info');
    expect(config.topology.namespace).toBe('winchester');
    expect(config.topology.maxRecordBytes).toBe(8 * 1024 * 1024);
  },
});
{
  const text = 'log_level: info\nkafka:\n  input_pattern: "notifications.(info"\n';
  cases.push({
    name: 'winchester: an input_pattern that is not a regular expression',
    kind: 'winchester',
    text,
    error: { line: 3, message: /kafka\.input_pattern: not a regular expression/ },
  });
}
for (const value of ['1e400', '1.0e+400', '-5', '.nan', 'yes']) {
  const text = `kafka:\n  max_record_bytes: ${value}\n`;
  cases.push({
    name: `winchester: max_record_bytes ${value}`,
    kind: 'winchester',
    text,
    error: { line: 2, message: /kafka\.max_record_bytes: expected a positive integer/ },
  });
}
{
  const text = 'log_level: info\nkafka: &k\n  partitions: {events: *k}\n';
  cases.push({
    name: 'winchester: a mapping that contains itself',
    kind: 'winchester',
    text,
    error: { line: 3, message: /partitions\.events: expected a positive integer/ },
  });
}

describe('hostile configuration files', () => {
  const prototypeNames = Object.getOwnPropertyNames(Object.prototype).sort();
  afterAll(() => {
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeNames);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((globalThis as Record<string, unknown>).pwned).toBeUndefined();
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const result = load(c.kind, c.text);
    if (c.error) {
      expect(result).toMatchObject({ ok: false });
      if (result.ok) return;
      expect(result.file).toMatch(new RegExp(`-${c.kind}\\.yaml$`));
      if (c.error.line > 0) expect(result.line).toBe(c.error.line);
      else expect(result.line).toBeGreaterThan(0);
      expect(result.message).toMatch(c.error.message);
      // Short enough to read: the file is quoted by position, not wholesale.
      expect(result.message.length).toBeLessThan(2000);
      return;
    }
    if (!result.ok)
      throw new Error(`expected ${c.name} to load: ${result.file}:${result.line}: ${result.message}`);
    c.check?.(result.value);
  });
});
