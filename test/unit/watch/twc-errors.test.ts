/**
 * Everything outside the subset of Python a `.twc` file may use, and every wrong option,
 * fails with its file, line and column and a message that says what to write instead.
 */
import { WatchConfigError } from '../../../src/watch/twc-errors';
import { parseTwcWatches } from '../../../src/watch/twc-evaluator';

function errorOf(source: string): string {
  try {
    parseTwcWatches(source, 'bad.twc');
  } catch (error) {
    expect(error).toBeInstanceOf(WatchConfigError);
    return (error as Error).message;
  }
  throw new Error(`no error for: ${source}`);
}

const W = "RegisterWatch(znode='/a', action=Exec('x'), "; // options after it start at column 45
const FUNCTIONS = 'python function actions are not supported: use Exec';

const FUNCTION_ACTIONS: Array<[name: string, source: string, message: string]> = [
  ['def', "def action():\n  pass\nRegisterWatch(znode='/a', action=action)", `bad.twc:1:1: ${FUNCTIONS}`],
  ['lambda', "RegisterWatch(znode='/a', action=lambda: None)", `bad.twc:1:34: ${FUNCTIONS}`],
  ['a bare name', "RegisterWatch(znode='/a', action=pull)", `bad.twc:1:34: ${FUNCTIONS}`],
  [
    'a module function',
    "import os\nRegisterWatch(znode='/a', action=os.system)",
    `bad.twc:2:27: ${FUNCTIONS}`,
  ],
  ['a from-import', "from subprocess import call\nRegisterWatch('/a', call)", `bad.twc:2:21: ${FUNCTIONS}`],
  [
    'Exec uncalled',
    "RegisterWatch(znode='/a', action=Exec)",
    "bad.twc:1:27: action=Exec must be called with the command: action=Exec('command')",
  ],
  [
    'a string',
    "RegisterWatch(znode='/a', action='git pull')",
    "bad.twc:1:27: action must be Exec('shell command') or Exec(['argv', ...]), found a string (\"git pull\")",
  ],
];

describe('python function actions', () => {
  test.each(FUNCTION_ACTIONS)('%s', (_name, source, message) => {
    expect(errorOf(source)).toBe(message);
  });
});

const ARGUMENT_ERRORS: Array<[name: string, source: string, message: string]> = [
  [
    'unknown keyword',
    `${W}retries=3)`,
    "bad.twc:1:45: RegisterWatch() got an unexpected keyword argument 'retries' (it takes znode, action, pipe_stdin, run_on_load, run_mode, description, uid, gid, watch_type, notify_signal, timeout, on_failure, exclusive)",
  ],
  [
    'duplicate keyword',
    "RegisterWatch(znode='/a', znode='/b', action=Exec('x'))",
    'bad.twc:1:27: keyword argument repeated: znode',
  ],
  [
    'positional and keyword',
    "RegisterWatch('/a', Exec('x'), znode='/b')",
    "bad.twc:1:32: RegisterWatch() got multiple values for argument 'znode'",
  ],
  [
    'too many positional',
    "RegisterWatch('/a', Exec('x'), True, True, QUEUE, 'd', 0, 0, WATCH_DATA, 1, 5, 6)",
    'bad.twc:1:80: RegisterWatch() takes at most 11 positional arguments (12 given)',
  ],
  [
    'the new options are keyword-only',
    "RegisterWatch('/a', Exec('x'), True, True, QUEUE, 'd', 0, 0, WATCH_DATA, 1, 5, STOP_WATCHING)",
    'bad.twc:1:80: RegisterWatch() takes at most 11 positional arguments (12 given)',
  ],
  [
    'positional after keyword',
    "RegisterWatch(znode='/a', Exec('x'))",
    'bad.twc:1:27: positional argument follows keyword argument',
  ],
  [
    'argument unpacking',
    "RegisterWatch(*['/a'])",
    'bad.twc:1:15: argument unpacking (*args, **kwargs) is not supported in watch files',
  ],
];

describe('RegisterWatch arguments', () => {
  test.each(ARGUMENT_ERRORS)('%s', (_name, source, message) => {
    expect(errorOf(source)).toBe(message);
  });
});

const ZNODE_AND_ACTION_ERRORS: Array<[name: string, source: string, message: string]> = [
  [
    'no znode',
    "RegisterWatch(action=Exec('x'))",
    "bad.twc:1:1: RegisterWatch needs a znode: znode='/path/to/node'",
  ],
  [
    'znode=None',
    "RegisterWatch(znode=None, action=Exec('x'))",
    "bad.twc:1:1: RegisterWatch needs a znode: znode='/path/to/node'",
  ],
  [
    'no action',
    "\n\nRegisterWatch(znode='/a')",
    "bad.twc:3:1: RegisterWatch needs an action: action=Exec('command')",
  ],
  [
    'relative',
    "RegisterWatch(znode='git/head', action=Exec('x'))",
    'bad.twc:1:15: znode "git/head" is not an absolute ZooKeeper path: it must start with /',
  ],
  [
    'empty',
    "RegisterWatch(znode='', action=Exec('x'))",
    'bad.twc:1:15: znode "" is not an absolute ZooKeeper path: it must start with /',
  ],
  [
    'trailing slash',
    "RegisterWatch(znode='/a/', action=Exec('x'))",
    'bad.twc:1:15: znode "/a/" is not an absolute ZooKeeper path: it must not end with /',
  ],
  [
    'empty segment',
    "RegisterWatch(znode='/a//b', action=Exec('x'))",
    'bad.twc:1:15: znode "/a//b" is not an absolute ZooKeeper path: it has an empty segment (//)',
  ],
  [
    'dot segment',
    "RegisterWatch(znode='/a/../b', action=Exec('x'))",
    'bad.twc:1:15: znode "/a/../b" is not an absolute ZooKeeper path: it has a relative segment (. or ..)',
  ],
  [
    'control character',
    "RegisterWatch(znode=u'/a\\u0007', action=Exec('x'))",
    'bad.twc:1:15: znode "/a\\u0007" is not an absolute ZooKeeper path: it contains the character U+0007, which ZooKeeper does not allow',
  ],
  [
    'a character beyond U+FFFF (ZooKeeper checks UTF-16 units)',
    "RegisterWatch(znode=u'/a/\\U0001F600', action=Exec('x'))",
    'bad.twc:1:15: znode "/a/😀" is not an absolute ZooKeeper path: it contains the character U+1F600, which ZooKeeper does not allow',
  ],
  [
    'not a string',
    "RegisterWatch(znode=5, action=Exec('x'))",
    'bad.twc:1:15: znode must be a string, found the number 5',
  ],
];

describe('missing znode or action, bad ZooKeeper paths', () => {
  test.each(ZNODE_AND_ACTION_ERRORS)('%s', (_name, source, message) => {
    expect(errorOf(source)).toBe(message);
  });
});

const OPTION_TYPE_ERRORS: Array<[name: string, source: string, message: string]> = [
  ['pipe_stdin', `${W}pipe_stdin='yes')`, 'pipe_stdin must be True or False, found a string ("yes")'],
  ['run_on_load', `${W}run_on_load=1)`, 'run_on_load must be True or False, found the number 1'],
  ['exclusive', `${W}exclusive='yes')`, 'exclusive must be True or False, found a string ("yes")'],
  ['uid bool', `${W}uid=True)`, 'uid must be a user name or a number (0 or more), found True'],
  ['uid empty', `${W}uid='')`, 'uid must be a user name or a number (0 or more), found a string ("")'],
  ['gid negative', `${W}gid=-1)`, 'gid must be a group name or a number (0 or more), found the number -1'],
  ['gid list', `${W}gid=[0])`, 'gid must be a group name or a number (0 or more), found a list'],
  [
    'timeout string',
    `${W}timeout='10')`,
    'timeout must be a number of seconds above 0, found a string ("10")',
  ],
  ['timeout zero', `${W}timeout=0)`, 'timeout must be a number of seconds above 0, found the number 0'],
  [
    'run_mode string',
    `${W}run_mode='QUEUE')`,
    'run_mode must be QUEUE, DISCARD or PARALLEL, found a string ("QUEUE")',
  ],
  ['run_mode number', `${W}run_mode=4)`, 'run_mode must be QUEUE, DISCARD or PARALLEL, found the number 4'],
  [
    'run_mode of the wrong family',
    `${W}run_mode=STOP_WATCHING)`,
    'run_mode must be QUEUE, DISCARD or PARALLEL, found STOP_WATCHING',
  ],
  ['description', `${W}description=5)`, 'description must be a string, found the number 5'],
  [
    'notify_signal above 31',
    `${W}notify_signal=40)`,
    'notify_signal must be a signal: signal.SIGHUP or a number from 1 to 31, found the number 40',
  ],
  [
    'notify_signal string',
    `${W}notify_signal='SIGHUP')`,
    'notify_signal must be a signal: signal.SIGHUP or a number from 1 to 31, found a string ("SIGHUP")',
  ],
  [
    'WATCH_CHILDREN',
    `${W}watch_type=WATCH_CHILDREN)`,
    "watch_type=WATCH_CHILDREN is not supported: only a node's data is watched (WATCH_DATA)",
  ],
  ['watch_type', `${W}watch_type=3)`, 'watch_type must be WATCH_DATA, found the number 3'],
  [
    'on_failure',
    `${W}on_failure='retry')`,
    'on_failure must be KEEP_WATCHING, STOP_WATCHING or Retry(times, backoff=seconds, then=...), found a string ("retry")',
  ],
];

const VALUE_ERRORS: Array<[name: string, source: string, message: string]> = [
  [
    'signal name',
    "import signal\nRegisterWatch(znode='/a', action=Exec('x'), notify_signal=signal.SIGFOO)",
    'bad.twc:2:59: signal.SIGFOO is not a signal name',
  ],
  [
    'SIG_IGN is no signal',
    "import signal\nRegisterWatch(znode='/a', action=Exec('x'), notify_signal=signal.SIG_IGN)",
    'bad.twc:2:59: signal.SIG_IGN is not a signal name',
  ],
  [
    'empty argv',
    "RegisterWatch(znode='/a', action=Exec([]))",
    'bad.twc:1:39: Exec needs a command: the argv list is empty',
  ],
  [
    'argv not strings',
    "RegisterWatch(znode='/a', action=Exec(['ls', 1]))",
    "bad.twc:1:39: Exec's argv list must hold only strings, found the number 1",
  ],
  [
    'Exec number',
    "RegisterWatch(znode='/a', action=Exec(5))",
    'bad.twc:1:39: Exec takes a shell command string or a list of argv strings, found the number 5',
  ],
  ['Exec()', "RegisterWatch(znode='/a', action=Exec())", 'bad.twc:1:34: Exec() needs an argument'],
  [
    'Exec two arguments',
    "RegisterWatch(znode='/a', action=Exec('x', 'y'))",
    'bad.twc:1:44: Exec() takes at most 1 positional argument (2 given)',
  ],
  [
    'Retry(0)',
    `${W}on_failure=Retry(0))`,
    "bad.twc:1:62: Retry's times must be a whole number of retries (1 or more), found the number 0",
  ],
  ['Retry()', `${W}on_failure=Retry())`, 'bad.twc:1:56: Retry() needs an argument'],
  [
    'Retry then',
    `${W}on_failure=Retry(2, then=Retry(1)))`,
    "bad.twc:1:65: Retry's then must be KEEP_WATCHING or STOP_WATCHING, found Retry(...)",
  ],
  [
    'Retry backoff',
    `${W}on_failure=Retry(2, backoff=-1))`,
    "bad.twc:1:65: Retry's backoff must be a number of seconds (0 or more), found the number -1",
  ],
  [
    'second watch',
    `${W.slice(0, -2)})\n${W}uid=[0])`,
    'bad.twc:2:45: uid must be a user name or a number (0 or more), found a list',
  ],
];

describe('wrong types and values', () => {
  test.each(OPTION_TYPE_ERRORS)('%s', (_name, source, message) => {
    expect(errorOf(source)).toBe(`bad.twc:1:45: ${message}`);
  });

  test.each(VALUE_ERRORS)('%s', (_name, source, message) => {
    expect(errorOf(source)).toBe(message);
  });
});

const SYNTAX_ERRORS: Array<[name: string, source: string, message: string]> = [
  [
    'unterminated string',
    "RegisterWatch(znode='/a', action=Exec('x), timeout=5)",
    'bad.twc:1:39: unterminated string',
  ],
  [
    'unterminated triple-quoted string',
    "RegisterWatch(znode='/a', action=Exec('''x)\n\n",
    'bad.twc:1:39: unterminated triple-quoted string',
  ],
  [
    'unclosed bracket',
    "RegisterWatch(znode='/a',\n    action=Exec('x'),\n",
    "bad.twc:1:14: '(' was never closed",
  ],
  ['unmatched bracket', "RegisterWatch(znode='/a', action=Exec('x')))", "bad.twc:1:44: unmatched ')'"],
  [
    'indentation',
    "  RegisterWatch(znode='/a', action=Exec('x'))",
    'bad.twc:1:3: unexpected indent: a watch file holds only top-level RegisterWatch(...) calls, imports and NAME = value lines',
  ],
  [
    'if',
    "if True:\n    RegisterWatch(znode='/a', action=Exec('x'))",
    "bad.twc:1:1: 'if' statements are not supported: a watch file holds only top-level RegisterWatch(...) calls, imports and NAME = value lines",
  ],
  [
    'for',
    "for z in ['/a']:\n    RegisterWatch(znode=z, action=Exec('x'))",
    "bad.twc:1:1: 'for' statements are not supported: a watch file holds only top-level RegisterWatch(...) calls, imports and NAME = value lines",
  ],
  [
    'class',
    'class Foo:\n    pass',
    'bad.twc:1:1: class definitions are not supported: a watch file holds only top-level RegisterWatch(...) calls, imports and NAME = value lines',
  ],
  [
    'print',
    "print 'loading'",
    "bad.twc:1:1: 'print' statements are not supported: a watch file holds only top-level RegisterWatch(...) calls, imports and NAME = value lines",
  ],
  ['comparison', `${W}timeout=1 == 1)`, "bad.twc:1:55: operator '==' is not supported in watch files"],
  [
    '% formatting',
    "RegisterWatch(znode='/a/%s' % 'b', action=Exec('x'))",
    "bad.twc:1:29: operator '%' is not supported in watch files",
  ],
  ['augmented assignment', 'x += 1', "bad.twc:1:3: operator '+=' is not supported in watch files"],
  [
    'conditional expression',
    `${W}timeout=5 if True else 6)`,
    "bad.twc:1:55: 'if' is not supported here: expected ')'",
  ],
  [
    'dictionary',
    `${W}description={})`,
    'bad.twc:1:57: dictionaries and sets are not supported in watch files',
  ],
  [
    'indexing',
    "RegisterWatch(znode='/a', action=Exec(['a', 'b'][0]))",
    'bad.twc:1:49: indexing and slicing are not supported in watch files',
  ],
  [
    'f-string',
    "RegisterWatch(znode=f'/a', action=Exec('x'))",
    'bad.twc:1:21: f-strings are not supported in watch files',
  ],
  [
    'long integer',
    `${W}timeout=10L)`,
    'bad.twc:1:53: invalid number literal: Python 2 long integers (10L) are not needed, drop the L',
  ],
  [
    'leading zero',
    `${W}timeout=09)`,
    'bad.twc:1:53: invalid number literal 09: a leading 0 makes it octal in Python 2',
  ],
  ['complex', `${W}timeout=1j)`, 'bad.twc:1:53: invalid number literal: complex numbers are not supported'],
  [
    'short \\x escape',
    "RegisterWatch(znode='/a', action=Exec('ok\\x4'))",
    'bad.twc:1:42: invalid \\x escape: 2 hex digits expected',
  ],
  [
    '\\N escape',
    "RegisterWatch(znode='/a', action=Exec(u'\\N{EM DASH}'))",
    'bad.twc:1:41: \\N{...} escapes are not supported: write the character itself or use \\u',
  ],
  [
    'byte that is not UTF-8',
    "RegisterWatch(znode='/a', action=Exec('\\xff'))",
    'bad.twc:1:39: string is not valid UTF-8 (a \\x or octal escape above \\x7f in a byte string?): write the characters themselves',
  ],
  [
    'octal byte above \\377',
    "RegisterWatch(znode='/a', action=Exec('\\777'))",
    'bad.twc:1:40: octal escape \\777 is above \\377',
  ],
  [
    'undefined name',
    "RegisterWatch(znode=ROOT, action=Exec('x'))",
    "bad.twc:1:21: name 'ROOT' is not defined",
  ],
  [
    'builtin call',
    "RegisterWatch(znode='/a', action=Exec(open('x').read()))",
    "bad.twc:1:39: name 'open' is not defined",
  ],
  [
    'module call',
    "import os\nRegisterWatch(znode='/a', action=Exec(os.getenv('CMD')))",
    'bad.twc:2:39: calling os.getenv is not supported in a watch file',
  ],
  [
    'str + int',
    "RegisterWatch(znode='/a' + 1, action=Exec('x'))",
    'bad.twc:1:26: unsupported operands for +: a string ("/a") and the number 1',
  ],
  [
    'string method',
    "RegisterWatch(znode='/A'.lower(), action=Exec('x'))",
    'bad.twc:1:21: the string method lower is not supported (only join is)',
  ],
  [
    'join of numbers',
    "RegisterWatch(znode='/a', action=Exec(' '.join([1])))",
    'bad.twc:1:48: join() needs strings, found the number 1',
  ],
  [
    'unary minus on a string',
    `${W}timeout=-'5')`,
    'bad.twc:1:53: unsupported operand for unary -: a string ("5")',
  ],
  [
    'text after a backslash',
    "RegisterWatch(znode='/a', \\ action=Exec('x'))",
    'bad.twc:1:27: unexpected character after a line continuation (\\): it must end its line',
  ],
  [
    'relative import',
    'from . import watches',
    'bad.twc:1:6: relative imports are not supported in watch files',
  ],
  [
    'stray character',
    "RegisterWatch(znode='/a', action=Exec('x')) $",
    'bad.twc:1:45: unexpected character "$"',
  ],
  [
    'two statements on a line',
    "RegisterWatch(znode='/a', action=Exec('x')) RegisterWatch",
    'bad.twc:1:45: unexpected name RegisterWatch',
  ],
  [
    'a syntax error below is found before a type error above',
    `${W}uid=True)\nRegisterWatch(`,
    "bad.twc:2:14: '(' was never closed",
  ],
];

describe('sizes that could exhaust the stack fail as configuration errors', () => {
  test.each([
    [
      'nested brackets',
      `RegisterWatch(znode=${'('.repeat(150)}'/a'${')'.repeat(150)})`,
      'bad.twc:1:120: expression nested more than 100 levels deep',
    ],
    [
      'signs',
      `RegisterWatch(znode='/a', action=Exec('x'), timeout=${'-'.repeat(150)}1)`,
      'bad.twc:1:152: expression nested more than 100 levels deep',
    ],
    [
      'an operator chain',
      `X = ${"'a' + ".repeat(1001)}'a'`,
      'bad.twc:1:6009: more than 1000 operators in one expression',
    ],
    [
      'an attribute chain',
      `X = signal${'.x'.repeat(1002)}`,
      'bad.twc:1:2013: more than 1000 calls and attributes in a row',
    ],
  ])('%s', (_name, source, message) => {
    expect(errorOf(source)).toBe(message);
  });
});

describe('syntax outside the subset', () => {
  test.each(SYNTAX_ERRORS)('%s', (_name, source, message) => {
    expect(errorOf(source)).toBe(message);
  });
});

describe('option combinations', () => {
  test('exclusive=True with PARALLEL fails at parse time, so watch check reports it', () => {
    expect(errorOf(`${W}run_mode=PARALLEL, exclusive=True)`)).toBe(
      'bad.twc:1:64: exclusive=True needs run_mode QUEUE or DISCARD: PARALLEL runs a process per update, which one lease cannot cover',
    );
  });
});
