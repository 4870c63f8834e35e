/**
 * `.twc` files read as Twitcher reads them: its example, every Python quoting form, numbers,
 * the names it puts in a configuration's namespace, its defaults, positional arguments, and
 * the options added here (on_failure, exclusive).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readWatchFile } from '../../../src/watch/config-dir';
import { WatchSpec } from '../../../src/watch/spec';
import { parseTwcWatches } from '../../../src/watch/twc-evaluator';
import { formatWatchProblem } from '../../../src/watch/twc-errors';

const FIXTURES = join(__dirname, '../../fixtures/watch');

function watches(source: string, file = 'test.twc'): WatchSpec[] {
  return parseTwcWatches(source, file).watches;
}

function only(source: string): WatchSpec {
  const found = watches(source);
  expect(found).toHaveLength(1);
  return found[0];
}

/** The command of `RegisterWatch(znode='/a', action=Exec(<literal>))`, the literal written as given. */
function execOf(literal: string, header = ''): string | string[] {
  return only(`${header}RegisterWatch(znode='/a', action=Exec(${literal}))\n`).command;
}

describe("Twitcher's example configuration", () => {
  test("a command built with '\\n'.join([...]) over several lines, with the defaults", async () => {
    const file = join(FIXTURES, 'example-shape.twc');
    const { watches, warnings } = await readWatchFile(file);
    expect(warnings).toEqual([]);
    expect(watches).toEqual([
      {
        znode: '/example/poke',
        command: [
          'date >> /tmp/watch-example.log',
          'echo BEGIN >> /tmp/watch-example.log',
          'cat >> /tmp/watch-example.log',
          'echo DONE >> /tmp/watch-example.log',
          'sleep 2',
        ].join('\n'),
        pipeStdin: true,
        runOnLoad: true,
        runMode: 'queue',
        description: `${file}-1`,
        onFailure: { kind: 'keep' },
        exclusive: false,
        source: { file, line: 3 },
      },
    ]);
  });

  // Twitcher's own config/example.twc, where a copy of its source is at hand.
  const upstream = process.env.TWITCHER_EXAMPLE ?? '/tmp/twitcher/src/config/example.twc';
  (existsSync(upstream) ? test : test.skip)('the upstream example.twc parses', () => {
    const [watch] = parseTwcWatches(readFileSync(upstream, 'utf8'), upstream).watches;
    expect(watch.znode).toBe('/brady/test');
    expect(typeof watch.command).toBe('string');
    expect((watch.command as string).split('\n')).toHaveLength(5);
  });
});

describe('defaults (Twitcher’s RegisterWatch and TwitcherObject)', () => {
  test('only znode and action: pipe_stdin, run_on_load, QUEUE, description after the file', () => {
    expect(parseTwcWatches("RegisterWatch(znode='/a', action=Exec('true'))", '/etc/twitcher/a.twc')).toEqual({
      file: '/etc/twitcher/a.twc',
      watches: [
        {
          znode: '/a',
          command: 'true',
          pipeStdin: true,
          runOnLoad: true,
          runMode: 'queue',
          description: '/etc/twitcher/a.twc-1',
          onFailure: { kind: 'keep' },
          exclusive: false,
          source: { file: '/etc/twitcher/a.twc', line: 1 },
        },
      ],
      warnings: [],
    });
  });

  test('the default description counts every RegisterWatch of the file, named or not', () => {
    const found = watches(
      [
        "RegisterWatch(znode='/a', action=Exec('a'))",
        "RegisterWatch(znode='/b', action=Exec('b'), description='named')",
        "RegisterWatch(znode='/c', action=Exec('c'))",
      ].join('\n'),
      'conf/x.twc',
    );
    expect(found.map((w) => w.description)).toEqual(['conf/x.twc-1', 'named', 'conf/x.twc-3']);
    expect(found.map((w) => w.source.line)).toEqual([1, 2, 3]);
  });

  test('None for any option means its default, as in Twitcher', () => {
    const watch = only(
      "RegisterWatch(znode='/a', action=Exec('x'), pipe_stdin=None, run_on_load=None, run_mode=None, " +
        'description=None, uid=None, gid=None, watch_type=None, notify_signal=None, timeout=None, ' +
        'on_failure=None, exclusive=None)',
    );
    expect(watch).toEqual(only("RegisterWatch(znode='/a', action=Exec('x'))"));
    expect(Object.keys(watch)).not.toContain('uid');
  });
});

describe('every option', () => {
  test('keywords, in any order', () => {
    const watch = only(
      [
        'import signal',
        'RegisterWatch(',
        "    timeout=2.5, uid='nobody', gid=65534, description='all of them',",
        '    notify_signal=signal.SIGUSR1, run_mode=QUEUE, run_on_load=False, pipe_stdin=False,',
        "    action=Exec(['/bin/echo', 'hi']), znode='/svc/all', watch_type=WATCH_DATA,",
        '    on_failure=Retry(4, backoff=0.5, then=STOP_WATCHING), exclusive=True,',
        ')',
      ].join('\n'),
    );
    expect(watch).toEqual({
      znode: '/svc/all',
      command: ['/bin/echo', 'hi'],
      pipeStdin: false,
      runOnLoad: false,
      runMode: 'queue',
      uid: 'nobody',
      gid: 65534,
      notifySignal: 'SIGUSR1',
      timeoutSeconds: 2.5,
      description: 'all of them',
      onFailure: { kind: 'retry', times: 4, backoffSeconds: 0.5, then: 'stop' },
      exclusive: true,
      source: { file: 'test.twc', line: 2 },
    });
  });

  test("positional arguments in RegisterWatch's order", () => {
    const watch = only(
      "RegisterWatch('/p', Exec('x'), False, True, DISCARD, 'pos', 'www', 'adm', WATCH_DATA, None, 7)",
    );
    expect(watch).toMatchObject({
      znode: '/p',
      command: 'x',
      pipeStdin: false,
      runOnLoad: true,
      runMode: 'discard',
      description: 'pos',
      uid: 'www',
      gid: 'adm',
      timeoutSeconds: 7,
    });
  });
});

describe('option forms', () => {
  test('run modes by name, and by the numbers Twitcher compares them with', () => {
    const mode = (written: string) =>
      only(`RegisterWatch(znode='/a', action=Exec('x'), run_mode=${written})`).runMode;
    expect([mode('QUEUE'), mode('DISCARD'), mode('PARALLEL')]).toEqual(['queue', 'discard', 'parallel']);
    expect([mode('1'), mode('2'), mode('3')]).toEqual(['queue', 'parallel', 'discard']);
  });

  test('signals: signal.NAME, aliases, from-imports, star imports, module aliases and bare numbers', () => {
    const signalOf = (header: string, written: string) =>
      only(`${header}\nRegisterWatch(znode='/a', action=Exec('x'), notify_signal=${written})`).notifySignal;
    expect(signalOf('import signal', 'signal.SIGHUP')).toBe('SIGHUP');
    expect(signalOf('import signal', 'signal.SIGIOT')).toBe('SIGABRT');
    expect(signalOf('import signal', 'signal.SIGCLD')).toBe('SIGCHLD');
    expect(signalOf('import signal as sig', 'sig.SIGUSR2')).toBe('SIGUSR2');
    expect(signalOf('from signal import SIGTERM, SIGINT as STOP', 'STOP')).toBe('SIGINT');
    expect(signalOf('from signal import (SIGTERM,\n    SIGWINCH,)', 'SIGWINCH')).toBe('SIGWINCH');
    expect(signalOf('from signal import *', 'SIGQUIT')).toBe('SIGQUIT');
    expect(signalOf('', '15')).toBe('SIGTERM');
    expect(signalOf('', '0x1')).toBe('SIGHUP');
  });

  test('on_failure: KEEP_WATCHING, STOP_WATCHING and Retry with its defaults', () => {
    const policy = (written: string) =>
      only(`RegisterWatch(znode='/a', action=Exec('x'), on_failure=${written})`).onFailure;
    expect(policy('KEEP_WATCHING')).toEqual({ kind: 'keep' });
    expect(policy('STOP_WATCHING')).toEqual({ kind: 'stop' });
    expect(policy('Retry(2)')).toEqual({ kind: 'retry', times: 2, backoffSeconds: 1, then: 'keep' });
    expect(policy('Retry(times=3, then=STOP_WATCHING)')).toEqual({
      kind: 'retry',
      times: 3,
      backoffSeconds: 1,
      then: 'stop',
    });
    expect(policy('Retry(1, 0, KEEP_WATCHING)')).toEqual({
      kind: 'retry',
      times: 1,
      backoffSeconds: 0,
      then: 'keep',
    });
  });

  test('uid and gid as names or numbers, 0 included', () => {
    const watch = only("RegisterWatch(znode='/a', action=Exec('x'), uid=0, gid='wheel')");
    expect([watch.uid, watch.gid]).toEqual([0, 'wheel']);
  });

  test('ZooKeeper paths: the root and deep paths with any allowed character', () => {
    expect(only("RegisterWatch(znode='/', action=Exec('x'))").znode).toBe('/');
    expect(only("RegisterWatch(znode='/a b/ü-ß/x.y/...z', action=Exec('x'))").znode).toBe(
      '/a b/ü-ß/x.y/...z',
    );
  });
});

describe('notify_signal outside QUEUE is accepted with a warning (Twitcher ignores it)', () => {
  test.each(['DISCARD', 'PARALLEL'])('%s', (mode) => {
    const result = parseTwcWatches(
      `RegisterWatch(znode='/a', action=Exec('x'),\n    run_mode=${mode}, notify_signal=1)`,
      'w.twc',
    );
    expect(result.watches[0].notifySignal).toBe('SIGHUP');
    expect(result.warnings.map(formatWatchProblem)).toEqual([
      `w.twc:2:${mode.length + 16}: warning: notify_signal is ignored: it is sent only in run_mode QUEUE, and this watch runs in ${mode}`,
    ]);
  });

  test('no warning in QUEUE', () => {
    expect(
      parseTwcWatches("RegisterWatch(znode='/a', action=Exec('x'), notify_signal=1)", 'w.twc').warnings,
    ).toEqual([]);
  });
});

const QUOTING_FORMS: Array<[literal: string, value: string]> = [
  ["'single'", 'single'],
  ['"double"', 'double'],
  ["'''triple\nsingle'''", 'triple\nsingle'],
  ['"""triple "quoted" double"""', 'triple "quoted" double'],
  ["'it\\'s'", "it's"],
  ['"say \\"hi\\""', 'say "hi"'],
  ['"it\'s"', "it's"],
  ["'''a ''b'' c'''", "a ''b'' c"],
  ["'tab\\tnew\\nline\\\\back'", 'tab\tnew\nline\\back'],
  ["'\\a\\b\\f\\v\\r'", '\x07\b\f\v\r'],
  ["'\\x41\\x62'", 'Ab'],
  ["'\\101\\60\\0'", 'A0\0'],
  ["'\\q \\d'", '\\q \\d'],
  ["'joined \\\nacross lines'", 'joined across lines'],
  ["r'\\d+\\n'", '\\d+\\n'],
  ["R'\\''", "\\'"],
  ["r'''raw\\\nnewline'''", 'raw\\\nnewline'],
  ["u'caf\\u00e9 \\U0001F600 \\xe9 \\351'", 'café 😀 é é'],
  ["U'x'", 'x'],
  ["b'bytes'", 'bytes'],
  ["B'\\x41'", 'A'],
  ["ur'\\d'", '\\d'],
  ["br'\\d'", '\\d'],
  ["Rb'\\d'", '\\d'],
  // A plain string is bytes in Python 2: \u is no escape, and \xNN are UTF-8 bytes.
  ["'\\u00e9'", '\\u00e9'],
  ["'\\xc3\\xa9'", 'é'],
  ["'\\303\\251'", 'é'],
  ["'caf\u00e9 😀'", 'café 😀'],
  ["''", ''],
  ['""""""', ''],
];

describe('strings in every Python quoting form (Python 2 semantics, as Twitcher runs)', () => {
  test.each(QUOTING_FORMS)('%s', (literal, expected) => {
    expect(execOf(literal)).toBe(expected);
  });

  test('from __future__ import unicode_literals makes plain strings text (b-strings stay bytes)', () => {
    const header = 'from __future__ import unicode_literals, print_function\n';
    expect(execOf("'\\u00e9'", header)).toBe('é');
    expect(execOf("b'\\u00e9'", header)).toBe('\\u00e9');
  });

  test('implicit concatenation, across lines and forms; byte escapes are joined before UTF-8 is read', () => {
    expect(execOf("'a' \"b\" '''c''' r'\\d'")).toBe('abc\\d');
    expect(execOf("'echo one; '\n    'echo two'")).toBe('echo one; echo two');
    expect(execOf("'\\xc3' '\\xa9'")).toBe('é');
  });

  test("+ between strings and lists, '<sep>'.join over lists and tuples", () => {
    expect(execOf("'a' + 'b' + \"c\"")).toBe('abc');
    expect(execOf("['ls'] + ['-l', '/tmp']")).toEqual(['ls', '-l', '/tmp']);
    expect(execOf("('ls',) + ('-a',)")).toEqual(['ls', '-a']);
    expect(execOf("' && '.join(('cd /srv', 'make'))")).toBe('cd /srv && make');
    expect(execOf("'-'.join([])")).toBe('');
    expect(execOf("'\\n'.join(['a', 'b'] + ['c'])")).toBe('a\nb\nc');
  });
});

const NUMBER_FORMS: Array<[written: string, seconds: number]> = [
  ['30', 30],
  ['0x1F', 31],
  ['0o17', 15],
  ['017', 15],
  ['0b101', 5],
  ['1_000', 1000],
  ['2.5', 2.5],
  ['.5', 0.5],
  ['5.', 5],
  ['1e1', 10],
  ['1_0.2_5', 10.25],
  ['2 * 60 + 0.5', 120.5],
  ['10 - -2', 12],
  ['+4', 4],
];

describe('numbers', () => {
  test.each(NUMBER_FORMS)('timeout=%s', (written, seconds) => {
    expect(only(`RegisterWatch(znode='/a', action=Exec('x'), timeout=${written})`).timeoutSeconds).toBe(
      seconds,
    );
  });
});

describe('the rest of the file', () => {
  test('comments, blank lines, docstrings, imports, pass, semicolons, continuations, assignments', () => {
    const source = [
      '#!/usr/bin/env python',
      '# -*- coding: utf-8 -*-',
      '"""Watches for the build farm."""',
      '',
      'import os, sys',
      'import os.path as osp',
      'from subprocess import call',
      'pass',
      "ROOT = '/farm'  # every node lives under here",
      "CMD = ['make', '-C', '/srv/build']",
      '',
      'RegisterWatch(znode=ROOT + "/a", action=Exec(CMD)); RegisterWatch(znode=ROOT + "/b", \\',
      "    action=Exec(CMD + ['clean']),)",
    ];
    const found = watches(source.join('\n'));
    expect(found.map((w) => [w.znode, w.command, w.source.line])).toEqual([
      ['/farm/a', ['make', '-C', '/srv/build'], 12],
      ['/farm/b', ['make', '-C', '/srv/build', 'clean'], 12],
    ]);
  });

  test('CRLF line endings, a byte-order mark, tabs inside brackets, no final newline', () => {
    const found = watches(
      "\uFEFFRegisterWatch(\r\n\tznode='/a',\r\n\t\taction=Exec('x'))\r\nRegisterWatch(znode='/b', action=Exec('y'))",
    );
    expect(found.map((w) => [w.znode, w.source.line])).toEqual([
      ['/a', 1],
      ['/b', 4],
    ]);
  });

  test('an empty file, and one with only comments, has no watches', () => {
    expect(watches('')).toEqual([]);
    expect(watches('# nothing yet\n\n   # indented comment\n')).toEqual([]);
  });

  test('a name can be rebound, and the last binding is used', () => {
    expect(only("Z = '/a'\nZ = '/b'\nRegisterWatch(znode=Z, action=Exec('x'))").znode).toBe('/b');
  });
});
