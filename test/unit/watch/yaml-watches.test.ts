/**
 * YAML watch files: the same options as RegisterWatch, giving the same WatchSpecs as the
 * same watches written as a `.twc` file, with errors located at their line and column.
 */
import { join } from 'node:path';
import { readWatchFile } from '../../../src/watch/config-dir';
import { WatchSpec } from '../../../src/watch/spec';
import { WatchConfigError } from '../../../src/watch/twc-errors';
import { parseYamlWatches } from '../../../src/watch/yaml-watches';

const FIXTURES = join(__dirname, '../../fixtures/watch');

/** A spec without where it was written, to compare watches read from different files. */
function content({ source: _source, ...rest }: WatchSpec): Omit<WatchSpec, 'source'> {
  return rest;
}

function errorOf(source: string): string {
  try {
    parseYamlWatches(source, 'bad.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(WatchConfigError);
    return (error as Error).message;
  }
  throw new Error(`no error for: ${source}`);
}

test('the same watches from a .twc file and a .yaml file', async () => {
  const twc = await readWatchFile(join(FIXTURES, 'equivalent/watches.twc'));
  const yaml = await readWatchFile(join(FIXTURES, 'equivalent/watches.yaml'));
  expect(twc.watches).toHaveLength(3);
  expect(yaml.watches.map(content)).toEqual(
    twc.watches.map((watch) => ({
      ...content(watch),
      // The one watch without a description is named after its own file.
      description: watch.description.replace(/watches\.twc-1$/, 'watches.yaml-1'),
    })),
  );
  expect(yaml.watches.map((w) => w.source.line)).toEqual([2, 5, 17]);
  expect(twc.watches[1]).toMatchObject({
    command: ['/usr/local/bin/deploy', '--service', 'web'],
    runMode: 'discard',
    onFailure: { kind: 'retry', times: 3, backoffSeconds: 2, then: 'stop' },
  });
  expect(twc.watches[2].notifySignal).toBe('SIGHUP');
});

describe('forms', () => {
  test('a mapping with watches:, defaults as in RegisterWatch', () => {
    const { watches } = parseYamlWatches('watches:\n  - znode: /a\n    exec: "true"\n', 'w.yml');
    expect(watches).toEqual([
      {
        znode: '/a',
        command: 'true',
        pipeStdin: true,
        runOnLoad: true,
        runMode: 'queue',
        description: 'w.yml-1',
        onFailure: { kind: 'keep' },
        exclusive: false,
        source: { file: 'w.yml', line: 2 },
      },
    ]);
  });

  test('an empty file, an empty list and an empty watches: have no watches', () => {
    for (const text of ['', '# nothing\n', '[]', 'watches:\n', 'watches: []']) {
      expect(parseYamlWatches(text, 'w.yaml').watches).toEqual([]);
    }
  });

  test('names as strings in any case; signals by name, short name or number; null is the default', () => {
    const [watch] = parseYamlWatches(
      '- {znode: /a, exec: x, run_mode: Parallel, notify_signal: usr1, on_failure: Keep_Watching, ' +
        'watch_type: WATCH_DATA, timeout: ~, uid: 0}\n',
      'w.yaml',
    ).watches;
    expect(watch).toMatchObject({
      runMode: 'parallel',
      notifySignal: 'SIGUSR1',
      onFailure: { kind: 'keep' },
      uid: 0,
    });
    expect(watch.timeoutSeconds).toBeUndefined();
    const numbered = parseYamlWatches('- {znode: /a, exec: x, notify_signal: 15, run_mode: 3}', 'w.yaml');
    expect(numbered.watches[0]).toMatchObject({ notifySignal: 'SIGTERM', runMode: 'discard' });
  });
});

describe('on_failure and notify_signal', () => {
  test('retry with only a count', () => {
    const [watch] = parseYamlWatches('- {znode: /a, exec: x, on_failure: {retry: 2}}', 'w.yaml').watches;
    expect(watch.onFailure).toEqual({ kind: 'retry', times: 2, backoffSeconds: 1, then: 'keep' });
  });

  test('notify_signal outside QUEUE gives the same warning as in .twc', () => {
    const { warnings } = parseYamlWatches(
      '- znode: /a\n  exec: x\n  run_mode: DISCARD\n  notify_signal: HUP\n',
      'w.yaml',
    );
    expect(warnings).toEqual([
      {
        severity: 'warning',
        file: 'w.yaml',
        line: 4,
        column: 3,
        message:
          'notify_signal is ignored: it is sent only in run_mode QUEUE, and this watch runs in DISCARD',
      },
    ]);
  });
});

const YAML_ERRORS: Array<[name: string, source: string, message: string]> = [
  ['YAML syntax', '- znode: /a\n  exec: [x\n', 'bad.yaml:3:1: deficient indentation'],
  ['not a list', 'znode: /a\n', 'bad.yaml:1:1: unknown top-level key "znode": only watches is allowed'],
  [
    'a scalar',
    'hello\n',
    'bad.yaml:1:1: a watch file holds a list of watches (or a mapping with watches: [...])',
  ],
  ['watches not a list', 'watches: {znode: /a}\n', 'bad.yaml:1:1: watches must be a list of watches'],
  ['entry not a mapping', '- /a\n', 'bad.yaml:1:3: each watch must be a mapping of RegisterWatch options'],
  [
    'unknown option',
    '- znode: /a\n  exec: x\n  retries: 3\n',
    'bad.yaml:3:3: unknown option "retries" (a watch takes znode, action, pipe_stdin, run_on_load, run_mode, description, uid, gid, watch_type, notify_signal, timeout, on_failure, exclusive, or exec)',
  ],
  [
    'duplicate key',
    '- znode: /a\n  exec: x\n  znode: /b\n',
    'bad.yaml:3:3: key "znode" appears twice in one mapping',
  ],
  [
    'action and exec',
    '- znode: /a\n  action: {exec: x}\n  exec: y\n',
    'bad.yaml:3:3: give either action: {exec: ...} or exec: ..., not both',
  ],
  [
    'action a string',
    '- znode: /a\n  action: git pull\n',
    "bad.yaml:2:3: action must be {exec: 'shell command'} or {exec: [argv, ...]}",
  ],
  [
    'argv not strings',
    '- znode: /a\n  exec: [ls, 1]\n',
    "bad.yaml:2:3: Exec's argv list must hold only strings, found the number 1",
  ],
  ['missing action', '- znode: /a\n', "bad.yaml:1:3: RegisterWatch needs an action: action=Exec('command')"],
  ['missing znode', '- exec: x\n', "bad.yaml:1:3: RegisterWatch needs a znode: znode='/path/to/node'"],
  [
    'relative znode',
    '- {znode: a/b, exec: x}\n',
    'bad.yaml:1:4: znode "a/b" is not an absolute ZooKeeper path: it must start with /',
  ],
  [
    'unquoted number description',
    '- {znode: /a, exec: x, description: 12}\n',
    'bad.yaml:1:24: description must be a string, found the number 12',
  ],
  [
    'bool as string',
    "- {znode: /a, exec: x, pipe_stdin: 'yes'}\n",
    'bad.yaml:1:24: pipe_stdin must be True or False, found a string ("yes")',
  ],
  [
    'run mode',
    '- {znode: /a, exec: x, run_mode: sometimes}\n',
    'bad.yaml:1:24: run_mode must be QUEUE, DISCARD or PARALLEL, found a string ("sometimes")',
  ],
  [
    'signal',
    '- {znode: /a, exec: x, notify_signal: SIGNOPE}\n',
    'bad.yaml:1:24: notify_signal: unknown signal "SIGNOPE"',
  ],
  [
    'retry key',
    '- {znode: /a, exec: x, on_failure: {retry: 2, wait: 1}}\n',
    'bad.yaml:1:24: on_failure: unknown key "wait" (it takes retry, backoff, then)',
  ],
  [
    'retry then',
    '- {znode: /a, exec: x, on_failure: {retry: 2, then: later}}\n',
    'bad.yaml:1:24: on_failure: Retry\'s then must be KEEP_WATCHING or STOP_WATCHING, found a string ("later")',
  ],
  [
    'on_failure mapping type',
    '- {znode: /a, exec: x, on_failure: [1]}\n',
    'bad.yaml:1:24: on_failure must be KEEP_WATCHING, STOP_WATCHING or Retry(times, backoff=seconds, then=...), found a list',
  ],
  [
    'timeout as a mapping',
    '- {znode: /a, exec: x, timeout: {s: 1}}\n',
    'bad.yaml:1:24: timeout must be a number of seconds above 0, found a mapping',
  ],
];

describe('errors', () => {
  test.each(YAML_ERRORS)('%s', (_name, source, message) => {
    expect(errorOf(source)).toBe(message);
  });
});
