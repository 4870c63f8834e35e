import { join } from 'node:path';
import {
  formatProblem,
  loadTriggerDefinitions,
  parseTriggerDefinitions,
  readTriggerDefinitions,
  TriggerConfigError,
} from '../../../src/triggers';
import { ConfigurationError } from '../../../src/config/errors';
import { dt, event } from './helpers';

const ROOT = join(__dirname, '..', '..', '..');

/** A trigger file around one trigger's extra lines (indented two spaces, after line 5). */
function file(extra: string, criteria = '  match_criteria:\n  - event_type: compute.instance.*\n'): string {
  return (
    '---\n' +
    '- name: t1\n' +
    '  expiration: "$last + 1h"\n' +
    '  fire_pipeline: p\n' +
    '  fire_criteria:\n' +
    '  - event_type: compute.instance.exists\n' +
    criteria +
    extra
  );
}

const problems = (text: string, pipelines?: string[]) => {
  const result = readTriggerDefinitions(text, 'triggers.yaml', { pipelines });
  return {
    errors: result.errors.map(formatProblem),
    warnings: result.warnings.map(formatProblem),
    triggers: result.triggers,
  };
};

describe('loading triggers.yaml', () => {
  it("loads upstream's sample unchanged, honouring its misspelled map_distingushed_by with a warning", () => {
    const { triggers, warnings } = loadTriggerDefinitions(
      join(ROOT, 'topologies', 'example', 'triggers.yaml'),
      {
        pipelines: ['test_pipeline', 'test_expire_pipeline'],
      },
    );
    expect(triggers.map((t) => t.name)).toEqual(['test_trigger']);
    const [t] = triggers;
    expect(t.debugLevel).toBe(2);
    expect(t.distinguishedBy.map((d) => [d.name, d.expression?.source ?? null])).toEqual([
      ['instance_id', null],
      ['timestamp', 'day'],
    ]);
    expect(t.expiration.source).toBe('$last + 1h');
    expect([t.firePipeline, t.expirePipeline]).toEqual(['test_pipeline', 'test_expire_pipeline']);
    expect(t.matchCriteria.map((c) => [c.eventTypes.included, c.eventTypes.excluded])).toEqual([
      [['compute.instance.*'], ['compute.instance.exists']],
      [['compute.instance.exists'], []],
    ]);
    expect([...t.matchCriteria[1].mapDistinguishedBy]).toEqual([['timestamp', 'audit_period_beginning']]);
    expect(warnings.map(formatProblem)).toEqual([
      expect.stringMatching(
        /triggers\.yaml:20: warning: trigger 'test_trigger': match_criteria\[1\]: map_distingushed_by is a misspelling/,
      ),
    ]);
  });

  it("loads this project's openstack-usage topology without warnings", () => {
    const { triggers, warnings } = loadTriggerDefinitions(
      join(ROOT, 'topologies', 'openstack-usage', 'triggers.yaml'),
    );
    expect(triggers).toHaveLength(1);
    expect(warnings).toEqual([]);
  });

  it('reports a file that is not YAML with its line', () => {
    expect(problems('- name: t1\n  expiration: "$last\n  fire: [\n').errors).toEqual([
      expect.stringMatching(/^triggers\.yaml:\d+: not valid YAML: /),
    ]);
    expect(problems('- name: a\n - name: b\n').errors[0]).toMatch(/^triggers\.yaml:2: not valid YAML/);
  });

  it('reports a file that is not a list of triggers', () => {
    expect(problems('').errors).toEqual([
      'triggers.yaml:1: the file defines no triggers: expected a list of trigger definitions',
    ]);
    expect(problems('name: t1\n').errors).toEqual([
      'triggers.yaml:1: expected a list of trigger definitions, found a mapping',
    ]);
    expect(problems('- just text\n').errors).toEqual([
      'triggers.yaml:1: trigger \'#1\': expected a trigger definition (a mapping), found the text "just text"',
    ]);
  });

  it.each([
    [
      '  expiration2: 1\n',
      [],
      [
        "triggers.yaml:9: warning: trigger 't1': unknown key 'expiration2' ignored (did you mean expiration?)",
      ],
    ],
    [
      '  debug_level: 3\n',
      [
        "triggers.yaml:9: trigger 't1': debug_level is 0 (off), 1 (counts) or 2 (counts and reasons), found the number 3",
      ],
      [],
    ],
    [
      '  fire_delay: soon\n',
      ['triggers.yaml:9: trigger \'t1\': fire_delay is a number of seconds ≥ 0, found the text "soon"'],
      [],
    ],
    [
      '  distinguished_by: instance_id\n',
      [
        'triggers.yaml:9: trigger \'t1\': distinguished_by must be a list of trait names, found the text "instance_id"',
      ],
      [],
    ],
    [
      '  distinguished_by:\n  - {timestamp: day, launched_at: day}\n',
      [
        "triggers.yaml:10: trigger 't1': a distinguishing expression maps one trait to a time expression (e.g. timestamp: day), found 2 keys",
      ],
      [],
    ],
    [
      '  distinguished_by:\n  - timestamp: $last\n',
      [
        `triggers.yaml:10: trigger 't1': distinguishing expression for timestamp "$last" uses $last, but only $timestamp are defined there`,
      ],
      [],
    ],
    [
      '  distinguished_by:\n  - instance_id\n  - instance_id\n',
      ["triggers.yaml:11: trigger 't1': distinguishing trait 'instance_id' is listed twice"],
      [],
    ],
  ])('trigger keys: %j', (extra, errors, warnings) => {
    const result = problems(file(extra));
    expect(result.errors).toEqual(errors);
    expect(result.warnings).toEqual(warnings);
  });

  it('checks pipeline names against pipelines.yaml, when given', () => {
    expect(problems(file(''), ['q', 'r']).errors).toEqual([
      "triggers.yaml:4: trigger 't1': fire_pipeline 'p' is not defined in the pipelines file (defined: q, r)",
    ]);
    expect(problems(file(''), ['p']).errors).toEqual([]);
    expect(problems(file(''), []).errors[0]).toContain('(it defines none)');
  });

  it.each([
    [
      '    traits:\n      memory_mb:\n        int: ">4096"\n',
      `triggers.yaml:11: trigger 't1': match_criteria[0] trait 'memory_mb': invalid numeric criterion ">4096": '>4096' is not an int; put a space after the operator: "> 4096"`,
    ],
    [
      '    traits:\n      memory_mb:\n        int: "== 4096"\n',
      `triggers.yaml:11: trigger 't1': match_criteria[0] trait 'memory_mb': invalid numeric criterion "== 4096": unknown operator '==' (equality is '='); the operators are = != > < >= <=`,
    ],
    [
      '    traits:\n      memory_mb:\n        int: "> 4.5"\n',
      `triggers.yaml:11: trigger 't1': match_criteria[0] trait 'memory_mb': invalid numeric criterion "> 4.5": '4.5' is not an int; use {float: ...} for a number with decimals`,
    ],
    [
      '    traits:\n      memory_mb:\n        int: [1, 2]\n',
      `triggers.yaml:11: trigger 't1': match_criteria[0] trait 'memory_mb': {int: ...} holds an operator and a number such as "> 4096", found a list`,
    ],
    [
      '    traits:\n      memory_mb:\n        numeric: "> 4096"\n',
      `triggers.yaml:11: trigger 't1': match_criteria[0] trait 'memory_mb': unknown criterion type 'numeric' (use int or float); the types are int, float, datetime, string, text`,
    ],
    [
      '    traits:\n      memory_mb:\n        int: "> 4096"\n        float: "< 5"\n',
      `triggers.yaml:10: trigger 't1': match_criteria[0] trait 'memory_mb': a criterion has exactly one type (int, float, datetime, string or text), found 2: int, float`,
    ],
    [
      '    traits:\n      launched_at:\n        datetime: "day("\n',
      `triggers.yaml:11: trigger 't1': match_criteria[0] trait 'launched_at' datetime: expected $variable, hour, day, month, year or '(', but the expression ends at column 5 of "day("`,
    ],
    [
      '    traits:\n      os_distro:\n',
      `triggers.yaml:10: trigger 't1': match_criteria[0] trait 'os_distro': an empty (null) criterion never matches; give a value or remove the trait`,
    ],
    [
      '    traits:\n      on: yes\n',
      // the key was read as `true`, which is not how it is written: the line is the mapping's
      `triggers.yaml:9: trigger 't1': match_criteria[0]: a trait name must be text, found the boolean true (YAML 1.1 reads yes/no/on/off as booleans); quote it (YAML 1.1 reads on/off/yes/no and numbers as other types)`,
    ],
    [
      '    event_type: []\n',
      `triggers.yaml:9: trigger 't1': match_criteria[0]: an empty event_type list matches no event`,
    ],
    [
      '    event_type: [compute.*, 5]\n',
      `triggers.yaml:9: trigger 't1': match_criteria[0]: event_type is a glob or a list of globs, found a list`,
    ],
    [
      '    timestamp: "dya($launched_at)"\n',
      `triggers.yaml:9: trigger 't1': match_criteria[0] timestamp: unknown function 'dya' (the functions are hour, day, month, year; variables start with $) at column 1 of "dya($launched_at)"`,
    ],
    [
      '    map_distinguished_by:\n      instance_id: foo\n    map_distingushed_by:\n      instance_id: bar\n',
      `triggers.yaml:11: trigger 't1': match_criteria[0]: both map_distinguished_by and its misspelling map_distingushed_by are given; keep one`,
    ],
  ])('criteria: %j', (extra, error) => {
    expect(problems(file(extra)).errors).toEqual([error]);
  });

  it('rejects triggers with empty or malformed criteria lists', () => {
    expect(problems(file('', '  match_criteria: []\n')).errors).toEqual([
      "triggers.yaml:7: trigger 't1': match_criteria is empty: the trigger would match nothing",
    ]);
    expect(problems(file('', '  match_criteria: compute.*\n')).errors).toEqual([
      `triggers.yaml:7: trigger 't1': match_criteria must be a list of criteria, found the text "compute.*"`,
    ]);
    // an empty item has no position of its own: the line is its list's
    expect(problems(file('', '  match_criteria:\n  -\n')).errors).toEqual([
      "triggers.yaml:7: trigger 't1': match_criteria[0] must be a mapping (event_type, traits, …), found nothing (null)",
    ]);
  });

  it('warns about what upstream accepted silently but has no effect', () => {
    const text =
      '---\n' +
      '- name: t1\n' +
      '  expiration: "$last + 1h"\n' +
      '  fire_pipeline: p\n' +
      '  distinguished_by: [instance_id]\n' +
      '  match_criteria:\n' +
      '  - event_type: compute.*\n' +
      '    number: 2\n' +
      '    evnt_type: x\n' +
      '    timestamp: "$launched_at"\n' +
      '    map_distinguished_by:\n' +
      '      tenant_id: project_id\n' +
      '    traits:\n' +
      '      launched_at: 2014-08-01\n' +
      '      state: {string: 5}\n' +
      '  fire_criteria:\n' +
      '  - event_type: compute.instance.exists\n' +
      '    map_distinguished_by:\n' +
      '      instance_id: other\n' +
      '  fire_criteria:\n' +
      '  - event_type: compute.instance.exists\n';
    const result = problems(text);
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([
      'triggers.yaml:20: warning: key "fire_criteria" appears twice in one mapping: the last one wins',
      "triggers.yaml:9: warning: trigger 't1': match_criteria[0]: unknown key 'evnt_type' ignored (did you mean event_type?)",
      `triggers.yaml:10: warning: trigger 't1': match_criteria[0]: timestamp "$launched_at" is a single instant, so only events at exactly that time match; a range (e.g. day($launched_at)) was probably meant`,
      "triggers.yaml:14: warning: trigger 't1': match_criteria[0] trait 'launched_at': the date 2014-08-01 never equals a datetime trait (Python compares date and datetime as unequal); give a time, or use {datetime: ...}",
      "triggers.yaml:15: warning: trigger 't1': match_criteria[0] trait 'state': {string: ...} holds the number 5, not text; it is compared as that value (as upstream did), so a text trait never equals it",
      "triggers.yaml:8: warning: trigger 't1': match_criteria[0]: number only counts in fire_criteria; ignored here",
      "triggers.yaml:12: warning: trigger 't1': match_criteria[0]: map_distinguished_by maps 'tenant_id', which is not in distinguished_by; it has no effect",
    ]);
  });

  it('reads constants as PyYAML did: yes is a boolean, timestamps keep microseconds', () => {
    const { triggers } = parseTriggerDefinitions(
      file('    traits:\n      enabled: yes\n      launched_at: 2014-08-01 10:20:30.123456\n'),
      'triggers.yaml',
    );
    const c = triggers[0].matchCriteria[0];
    const base = { event_type: 'compute.instance.update', enabled: 1 };
    expect(c.matches(event({ ...base, launched_at: dt('2014-08-01T10:20:30.123456Z') }))).toBe(true);
    expect(c.matches(event({ ...base, launched_at: dt('2014-08-01T10:20:30.123457Z') }))).toBe(false);
    expect(
      c.matches(event({ ...base, enabled: 'yes', launched_at: dt('2014-08-01T10:20:30.123456Z') })),
    ).toBe(false);
  });

  it('rejects a second trigger of the same name, pointing at the first', () => {
    const text =
      file('') +
      '- name: t1\n  expiration: "$last + 1h"\n  fire_pipeline: p\n  fire_criteria: [{}]\n  match_criteria: [{}]\n';
    const result = readTriggerDefinitions(text, 'triggers.yaml');
    expect(result.errors.map(formatProblem)).toEqual([
      "triggers.yaml:9: trigger 't1': a trigger of this name is already defined at line 2",
    ]);
    expect(result.triggers).toHaveLength(1);
  });

  it('throws one error carrying every problem, the first one in its fields', () => {
    const text = file('  debug_level: 9\n  fire_delay: -1\n');
    let caught: unknown;
    try {
      parseTriggerDefinitions(text, 'broken.yaml');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TriggerConfigError);
    expect(caught).toBeInstanceOf(ConfigurationError);
    const error = caught as TriggerConfigError;
    expect([error.file, error.line, error.trigger]).toEqual(['broken.yaml', 9, 't1']);
    expect(error.reason).toContain('debug_level');
    expect(error.problems).toHaveLength(2);
    expect(error.message.split('\n')).toEqual([
      "broken.yaml:9: trigger 't1': debug_level is 0 (off), 1 (counts) or 2 (counts and reasons), found the number 9",
      "broken.yaml:10: trigger 't1': fire_delay is a number of seconds ≥ 0, found the number -1",
    ]);
  });

  it('says so when the file cannot be read', () => {
    expect(() => loadTriggerDefinitions('/nonexistent/triggers.yaml')).toThrow(
      /^\/nonexistent\/triggers\.yaml: cannot read the trigger definitions: ENOENT/,
    );
  });
});
