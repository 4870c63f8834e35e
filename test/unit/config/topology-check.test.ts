import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPipelines, UPSTREAM_HANDLER_NAMES } from '../../../src/pipeline/pipelines-file';
import { checkTopology } from '../../../src/topology/bundle-check';
import { formatProblem } from '../../../src/triggers';

describe('pipelines.yaml check', () => {
  const check = (text: string, known: Parameters<typeof readPipelines>[2] = UPSTREAM_HANDLER_NAMES) => {
    const result = readPipelines(text, 'pipelines.yaml', known);
    return { errors: result.errors.map(formatProblem), warnings: result.warnings.map(formatProblem), result };
  };

  it('reads names and {name, params} entries', () => {
    const { errors, result } = check('a:\n  - logger\n  - name: usage\n    params: {strict: yes}\nb: []\n');
    expect(errors).toEqual([]);
    expect([...result.pipelines]).toEqual([
      [
        'a',
        [
          { name: 'logger', params: {}, line: 2 },
          { name: 'usage', params: { strict: true }, line: 3 },
        ],
      ],
      ['b', []],
    ]);
  });

  it('reports each structural mistake with its line', () => {
    const text =
      'a: logger\nb:\n  - params: {}\n  - 5\n  - name: logger\n    parms: {}\n  -\n7: [logger]\nc: []\n';
    const { errors, warnings, result } = check(text);
    expect(errors).toEqual([
      'pipelines.yaml:1: pipeline \'a\': expected a list of handlers, found "logger"',
      "pipelines.yaml:3: pipeline 'b': handler 1 has no name: a handler is a name or {name, params}",
      "pipelines.yaml:4: pipeline 'b': a handler is a name or {name, params}, found 5",
      // an empty item has no position of its own: the line is its list's
      "pipelines.yaml:2: pipeline 'b': a handler is a name or {name, params}, found nothing (null)",
      "pipelines.yaml:8: pipeline '7': a pipeline name must be text, found 7; quote it",
    ]);
    expect(warnings).toEqual([
      "pipelines.yaml:6: warning: pipeline 'b': handler 'logger': unknown key 'parms' ignored",
      "pipelines.yaml:9: warning: pipeline 'c': has no handlers: its streams are completed without any work",
    ]);
    // a broken pipeline still exists, so triggers naming it are not reported too
    expect(result.pipelines.has('a')).toBe(true);
  });

  it('knows the handlers it is given, and validates their params when it has their definitions', () => {
    expect(check('a: [loger]\n').errors).toEqual([
      "pipelines.yaml:1: pipeline 'a': unknown handler 'loger' (known: atompub, logger, notabene, usage; add your own under pipeline_handlers in winchester.yaml)",
    ]);
    const strict = new Map([
      [
        'strict',
        {
          validateParams(params: Record<string, unknown>) {
            if (typeof params.level !== 'string') throw new Error('level must be text');
          },
        },
      ],
    ]);
    expect(check('a:\n  - name: strict\n    params: {level: 3}\n', strict).errors).toEqual([
      "pipelines.yaml:3: pipeline 'a': handler 'strict': level must be text",
    ]);
    expect(check('a:\n  - name: strict\n    params: {level: warn}\n', strict).errors).toEqual([]);
  });

  it('reports YAML syntax errors and documents that are not mappings', () => {
    expect(check('a: [logger\n').errors[0]).toMatch(/^pipelines\.yaml:\d+: not valid YAML: /);
    expect(check('- logger\n').errors).toEqual([
      'pipelines.yaml:1: expected a mapping of pipeline name to a list of handlers, found a list',
    ]);
  });
});

describe('topology check', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'winchester-check-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string) => writeFileSync(join(dir, name), text);

  it('warns about traits no event definition produces, and time expressions over non-datetimes', () => {
    write(
      'event_definitions.yaml',
      '- event_type: compute.instance.*\n  traits:\n    instance_id:\n      fields: payload.instance_id\n' +
        '    launched_at:\n      fields: payload.launched_at\n',
    );
    write('pipelines.yaml', 'p: [logger]\n');
    write(
      'triggers.yaml',
      '- name: t\n  expiration: "$last + 1h"\n  fire_pipeline: p\n  distinguished_by: [instance_id, {audit: day}]\n' +
        '  match_criteria:\n  - event_type: compute.*\n    traits: {os_distrib: ubuntu}\n' +
        '  fire_criteria:\n  - timestamp: day($launched_at)\n',
    );
    const result = checkTopology(dir, { knownHandlers: ['logger'] });
    expect(result.errors).toEqual([]);
    expect(result.warnings.map((w) => `${w.line}: ${w.message}`)).toEqual([
      "6: match_criteria[0] (distinguished_by audit) reads trait 'audit', which no event definition produces",
      "6: match_criteria[0] reads trait 'os_distrib', which no event definition produces",
      "9: fire_criteria[0] timestamp needs 'launched_at' as a datetime, but event definitions make it text",
    ]);
  });

  it('takes file names and handler names from the bundle winchester.yaml', () => {
    write(
      'winchester.yaml',
      'distiller_config: defs.yaml\ntrigger_definitions: trig.yaml\npipeline_config: pipes.yaml\n' +
        'pipeline_handlers:\n  mine: ./mine.js#Mine\n',
    );
    // Loaded as a role loads it: a module that is missing would fail the check.
    write('mine.js', 'exports.Mine = class { handleEvents(e) { return e; } commit() {} rollback() {} };\n');
    write('defs.yaml', '- event_type: "*"\n  traits: {}\n');
    write('pipes.yaml', 'p: [mine]\n');
    write(
      'trig.yaml',
      '- name: t\n  expiration: "$last + 1h"\n  expire_pipeline: p\n  match_criteria: [{}]\n  fire_criteria: [{}]\n',
    );
    const result = checkTopology(dir);
    expect(result.errors.map(formatProblem)).toEqual([]);
    expect(result.triggers.map((t) => t.name)).toEqual(['t']);
    expect([...result.knownHandlers.keys()]).toContain('mine');
  });
});
