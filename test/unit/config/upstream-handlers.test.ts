/**
 * Upstream's winchester.yaml names its handlers as Python classes; they load as the built-ins
 * that do their job. And roles load a bundle through `winchester check`'s own loader: whatever
 * check refuses, a role refuses with the same lines, and whatever check passes, a role loads.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerCheck } from '../../../src/cli/check';
import { loadWinchesterConfig } from '../../../src/config/winchester-config';
import { builtinHandlers, UPSTREAM_HANDLER_CLASSES } from '../../../src/pipeline/handlers';
import { UPSTREAM_HANDLER_NAMES } from '../../../src/pipeline/pipelines-file';
import { loadTopology, LoadedTopology, TopologyConfigError } from '../../../src/topology/bundle';
import { makeEvent, recordingContext, testEnv } from '../../fixtures/pipeline/handler-context';
import { runInProcess } from '../../support/in-process-cli';

const EXAMPLE = join(__dirname, '..', '..', '..', 'topologies', 'example');

/** `winchester check DIR --config FILE` in process: its output lines and exit code. */
async function runCheck(dir: string, configFile: string): Promise<{ lines: string[]; exitCode: number }> {
  const run = await runInProcess(registerCheck, ['check', dir, '--config', configFile]);
  return { lines: run.stdout.trimEnd().split('\n'), exitCode: run.code };
}

/** The error lines of check's report: without its warnings and its closing count. */
const errorLines = (lines: string[]) => lines.slice(0, -1).filter((line) => !/^\S+: warning: /.test(line));

/** A role's view: the bundle loaded as distiller/matcher/worker load it, or the error it stops with. */
function loadAsRole(dir: string, configFile: string): LoadedTopology | TopologyConfigError {
  try {
    return loadTopology(dir, loadWinchesterConfig(configFile, {}));
  } catch (error) {
    if (error instanceof TopologyConfigError) return error;
    throw error;
  }
}

/** Creates every pipeline's handlers with their params and runs them once, as a worker would. */
async function runEveryHandler(topology: LoadedTopology): Promise<string[]> {
  const ran: string[] = [];
  for (const [pipeline, steps] of topology.pipelines) {
    for (const step of steps) {
      const handler = topology.handlers.get(step.name)!.create(step.params, recordingContext().context);
      await handler.handleEvents([makeEvent('compute.instance.update', 'm1')], testEnv());
      await handler.rollback();
      ran.push(`${pipeline}: ${step.name}`);
    }
  }
  return ran;
}

let dir: string;
const write = (name: string, text: string) => writeFileSync(join(dir, name), text);
const upstreamConfig = () => readFileSync(join(EXAMPLE, 'winchester.yaml'), 'utf8');
/** Upstream's sample winchester.yaml with its `pipeline_handlers` section replaced. */
const upstreamConfigWithHandlers = (handlers: Record<string, string>) =>
  upstreamConfig().replace(
    /^pipeline_handlers:\n(?: {4}.*\n?)*/m,
    `pipeline_handlers:\n${Object.entries(handlers)
      .map(([name, target]) => `    ${name}: ${target}\n`)
      .join('')}`,
  );

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'winchester-upstream-handlers-'));
  for (const name of ['event_definitions.yaml', 'triggers.yaml', 'pipelines.yaml', 'winchester.yaml']) {
    copyFileSync(join(EXAMPLE, name), join(dir, name));
  }
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("upstream's Python handler paths", () => {
  it('map to the built-ins that do their job', () => {
    expect(UPSTREAM_HANDLER_CLASSES).toEqual({
      'winchester.pipeline_handler:LoggingHandler': 'logger',
      'winchester.pipeline_handler:UsageHandler': 'usage',
      'winchester.pipeline_handler:AtomPubHandler': 'atompub',
      'winchester.pipeline_handler:NotabeneHandler': 'notabene',
    });
    for (const name of [...Object.values(UPSTREAM_HANDLER_CLASSES), ...UPSTREAM_HANDLER_NAMES]) {
      expect(builtinHandlers[name]).toBeDefined();
    }
  });

  it("upstream's sample winchester.yaml and pipelines.yaml load, and their handlers run", async () => {
    const configFile = join(EXAMPLE, 'winchester.yaml');
    expect(upstreamConfig()).toContain('logger: winchester.pipeline_handler:LoggingHandler');
    const topology = loadAsRole(EXAMPLE, configFile) as LoadedTopology;
    expect(topology).not.toBeInstanceOf(Error);
    expect(topology.handlers.get('logger')).toBe(builtinHandlers.logger);
    expect(await runEveryHandler(topology)).toEqual([
      'test_pipeline: logger',
      'test_expire_pipeline: logger',
    ]);
    expect((await runCheck(EXAMPLE, configFile)).exitCode).toBe(0);
  });

  it('all four, named as upstream names them and under names of their own, with upstream params', async () => {
    write(
      'winchester.yaml',
      upstreamConfigWithHandlers({
        logger: 'winchester.pipeline_handler:LoggingHandler',
        usage: 'winchester.pipeline_handler:UsageHandler',
        atompub: 'winchester.pipeline_handler:AtomPubHandler',
        notabene: 'winchester.pipeline_handler:NotabeneHandler',
        nova_usage: 'winchester.pipeline_handler:UsageHandler',
      }),
    );
    write(
      'pipelines.yaml',
      [
        'test_pipeline:',
        '    - logger',
        '    - nova_usage',
        '    - name: notabene',
        '      params:',
        '        host: localhost',
        '        port: 5672',
        '        user: guest',
        '        password: guest',
        '        exchange: nova',
        '        exchange_type: topic',
        '        queue_name: monitor.info',
        '        env_keys: [usage_notifications]',
        'test_expire_pipeline:',
        '    - name: logger',
        '      params: {level: debug}',
        '    - usage',
        '    - name: atompub',
        '      params:',
        '        url: http://atom.example.com/events',
        '        event_types: [compute.instance.*]',
        '',
      ].join('\n'),
    );
    const configFile = join(dir, 'winchester.yaml');
    const topology = loadAsRole(dir, configFile) as LoadedTopology;
    expect(topology).not.toBeInstanceOf(Error);
    expect(topology.handlers.get('nova_usage')).toBe(builtinHandlers.usage);
    expect(topology.handlers.get('notabene')).toBe(builtinHandlers.notabene);
    expect(topology.handlers.get('atompub')).toBe(builtinHandlers.atompub);
    expect(await runEveryHandler(topology)).toEqual([
      'test_pipeline: logger',
      'test_pipeline: nova_usage',
      'test_pipeline: notabene',
      'test_expire_pipeline: logger',
      'test_expire_pipeline: usage',
      'test_expire_pipeline: atompub',
    ]);
    const { lines, exitCode } = await runCheck(dir, configFile);
    expect(exitCode).toBe(0);
    expect(lines).toContain('    test_pipeline: logger → nova_usage → notabene');
  });

  it('any other Python class is an error at its line that says what to write instead', async () => {
    write(
      'winchester.yaml',
      upstreamConfigWithHandlers({
        logger: 'winchester.pipeline_handler:LoggingHandler',
        mine: 'mycompany.handlers:AuditHandler',
      }),
    );
    write('pipelines.yaml', 'test_pipeline:\n    - mine\ntest_expire_pipeline:\n    - logger\n');
    const configFile = join(dir, 'winchester.yaml');
    const line = upstreamConfig().split('\n').indexOf('pipeline_handlers:') + 3;
    const expected =
      `${configFile}:${line}: pipeline_handlers.mine: mycompany.handlers:AuditHandler is a Python class, which cannot run here. ` +
      "Upstream's own classes (winchester.pipeline_handler:LoggingHandler → logger, UsageHandler → usage, " +
      'AtomPubHandler → atompub, NotabeneHandler → notabene) run as built-in handlers, and pipelines can name ' +
      'any built-in without an entry here: atompub, exec, kafka, logger, notabene, usage, usage_pipeline, zookeeper. ' +
      'For a handler of your own, write a JavaScript module exporting a class with handleEvents(events, env), ' +
      'commit() and rollback() (or an object with create(params, context)) and name it here as ' +
      './path/to/module.js#ExportName, relative to this file';
    // Only that line: the pipeline naming `mine` is not reported a second time.
    expect((loadAsRole(dir, configFile) as Error).message).toBe(expected);
    expect(errorLines((await runCheck(dir, configFile)).lines)).toEqual([expected]);
  });
});

describe('a role refuses what check refuses, with the same lines', () => {
  const MODULE = 'exports.Mine = class { handleEvents(e) { return e; } commit() {} rollback() {} };\n';
  interface BrokenCase {
    name: string;
    /** pipelines.yaml, or null for none at all. */
    pipelines: string | null;
    /** pipeline_handlers entries besides upstream's logger. */
    handlers?: Record<string, string>;
  }
  const OTHERWISE_EMPTY = 'test_expire_pipeline: []\n';
  const broken: BrokenCase[] = [
    { name: 'an unknown handler', pipelines: 'test_pipeline: [loger]\n' + OTHERWISE_EMPTY },
    {
      name: 'params that are not a mapping',
      pipelines: 'test_pipeline:\n  - name: logger\n    params: [1]\n' + OTHERWISE_EMPTY,
    },
    {
      // logger is upstream's Python class here: its params are still the built-in's to check.
      name: 'a bad param of a mapped handler',
      pipelines: 'test_pipeline:\n  - name: logger\n    params: {level: loud}\n' + OTHERWISE_EMPTY,
    },
    {
      name: 'notabene without a queue',
      pipelines: 'test_pipeline:\n  - name: notabene\n    params: {exchange: nova}\n' + OTHERWISE_EMPTY,
    },
    {
      name: 'atompub without a url',
      pipelines: 'test_pipeline:\n  - name: atompub\n    params: {}\n' + OTHERWISE_EMPTY,
    },
    { name: 'a handler without a name', pipelines: 'test_pipeline:\n  - params: {}\n' + OTHERWISE_EMPTY },
    { name: 'a pipeline that is not a list', pipelines: 'test_pipeline: logger\n' + OTHERWISE_EMPTY },
    // The triggers then name pipelines that do not exist: both say so.
    { name: 'YAML that does not parse', pipelines: 'test_pipeline: [logger\n' },
    { name: 'a list instead of a mapping', pipelines: '- logger\n' },
    { name: 'an empty file', pipelines: '' },
    { name: 'a missing file', pipelines: null },
    {
      name: 'a handler module that is not there',
      pipelines: 'test_pipeline: [mine]\n' + OTHERWISE_EMPTY,
      handlers: { mine: './nowhere.js#Mine' },
    },
    {
      name: 'a handler module without that export',
      pipelines: 'test_pipeline: [mine]\n' + OTHERWISE_EMPTY,
      handlers: { mine: './mine.js#Other' },
    },
  ];

  it.each(broken)('$name', async ({ pipelines, handlers }) => {
    write('mine.js', MODULE);
    write(
      'winchester.yaml',
      upstreamConfigWithHandlers({ logger: 'winchester.pipeline_handler:LoggingHandler', ...handlers }),
    );
    if (pipelines === null) rmSync(join(dir, 'pipelines.yaml'));
    else write('pipelines.yaml', pipelines);
    const configFile = join(dir, 'winchester.yaml');
    const check = await runCheck(dir, configFile);
    const role = loadAsRole(dir, configFile);
    expect(check.exitCode).toBe(1);
    expect(role).toBeInstanceOf(TopologyConfigError);
    expect((role as Error).message.split('\n')).toEqual(errorLines(check.lines));
  });

  it('and loads what check passes, a custom module included', async () => {
    write('mine.js', MODULE);
    write('winchester.yaml', upstreamConfigWithHandlers({ mine: './mine.js#Mine' }));
    write('pipelines.yaml', 'test_pipeline: [logger, mine]\ntest_expire_pipeline: [mine]\n');
    const configFile = join(dir, 'winchester.yaml');
    expect((await runCheck(dir, configFile)).exitCode).toBe(0);
    const topology = loadAsRole(dir, configFile) as LoadedTopology;
    expect(await runEveryHandler(topology)).toEqual([
      'test_pipeline: logger',
      'test_pipeline: mine',
      'test_expire_pipeline: mine',
    ]);
  });
});
