/**
 * Property: any valid watch, printed as `.twc` text in any of the forms Python allows (every
 * quoting form, escapes, implicit and explicit concatenation, join, positional arguments,
 * None for defaults, numbers in every base, comments and continuations), parses back to
 * the same WatchSpec. Seeded, so a failure is reproducible from the seed it prints.
 */
import { FailurePolicy, RunMode, WatchSpec } from '../../../src/watch/spec';
import { parseTwcWatches } from '../../../src/watch/twc-evaluator';

type Random = () => number;

/** mulberry32: small, seedable, good enough to pick among cases. */
function seeded(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(r: Random, items: readonly T[]): T => items[Math.floor(r() * items.length)];
const chance = (r: Random, p = 0.5) => r() < p;
const int = (r: Random, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

const CHARACTERS = [
  ...'aZ09 /-_.,=#()[]{}$%*`;:',
  "'",
  '"',
  '\\',
  '\n',
  '\t',
  '\r',
  '\0',
  '\x07',
  '\x7f',
  'é',
  'ü',
  '€',
  '😀',
  '\u2028',
];

function randomText(r: Random, max = 12): string {
  let text = '';
  for (let n = int(r, 0, max); n > 0; n--) text += pick(r, CHARACTERS);
  return text;
}

// ---- printing strings -------------------------------------------------------------------

const hex2 = (n: number) => n.toString(16).padStart(2, '0');
// Octal escapes are written with three digits: `\0` before a digit would swallow it, in Python too.

/** One character inside a quoted literal, escaped or not as the form allows and chance picks. */
function escapeChar(r: Random, c: string, quote: string, unicode: boolean, triple: boolean): string {
  if (c === '\\') return '\\\\';
  if (c === quote) return `\\${c}`;
  if (c === '\n') return triple && chance(r) ? '\n' : pick(r, ['\\n', '\\012', '\\x0a']);
  if (c === '\t') return pick(r, ['\\t', '\t', '\\x09', '\\011']);
  if (c === '\r') return pick(r, ['\\r', '\\015']); // a raw CR would be read as a line end
  const code = c.codePointAt(0)!;
  if (code < 0x20 || code === 0x7f)
    return pick(r, [`\\x${hex2(code)}`, `\\${code.toString(8).padStart(3, '0')}`]);
  if (code < 0x80 || chance(r)) return c === "'" || c === '"' ? pick(r, [c, `\\${c}`]) : c;
  if (unicode) {
    return code > 0xffff
      ? `\\U${code.toString(16).padStart(8, '0')}`
      : pick(r, [`\\u${code.toString(16).padStart(4, '0')}`, c]);
  }
  return [...Buffer.from(c, 'utf8')]
    .map((b) => (chance(r) ? `\\x${hex2(b)}` : `\\${b.toString(8)}`))
    .join('');
}

function quoted(r: Random, text: string): string {
  const unicode = chance(r, 0.3);
  const triple = chance(r, 0.3);
  const quote = pick(r, ["'", '"']);
  const prefix = unicode ? pick(r, ['u', 'U']) : pick(r, ['', '', 'b', 'B']);
  const delimiter = triple ? quote.repeat(3) : quote;
  const units = [...text].map((c) => escapeChar(r, c, quote, unicode, triple));
  // A backslash-newline between characters is a continuation: it adds nothing.
  if (chance(r, 0.2)) units.splice(int(r, 0, units.length), 0, '\\\n');
  const body = units.join('');
  return `${prefix}${delimiter}${body}${delimiter}`;
}

/** A raw literal, when the text can be written as one. */
function raw(r: Random, text: string): string | undefined {
  const quote = /'/.test(text) ? '"' : "'";
  if (/'/.test(text) && /"/.test(text)) return undefined;
  // Line ends cannot be in a one-line literal; other control characters could, but are kept out of the source.
  if ([...text].some((c) => c.charCodeAt(0) < 0x20 || c === '\x7f') || text.endsWith('\\')) return undefined;
  return `${pick(r, ['r', 'R', 'ur', 'br', 'Rb'])}${quote}${text}${quote}`;
}

/** Any expression whose value is `text`. */
function printString(r: Random, text: string, depth = 0): string {
  const chars = [...text];
  const form = depth > 2 ? 0 : int(r, 0, 5);
  const cut = int(r, 0, chars.length);
  const [left, right] = [chars.slice(0, cut).join(''), chars.slice(cut).join('')];
  switch (form) {
    case 1:
      return raw(r, text) ?? quoted(r, text);
    case 2: {
      // Implicit concatenation, possibly across lines inside the brackets. Written with no space
      // between, `''` then `'x'` would read as the start of a triple-quoted string, in Python too.
      const leftText = quoted(r, left);
      const rightText = raw(r, right) ?? quoted(r, right);
      const tight = leftText.at(-1) !== rightText.replace(/^[a-zA-Z]+/, '')[0];
      return `${leftText}${pick(r, [' ', '\n    ', ...(tight ? [''] : [])])}${rightText}`;
    }
    case 3:
      return `${printString(r, left, depth + 1)} + ${printString(r, right, depth + 1)}`;
    case 4: {
      const separator = chars.length ? pick(r, chars) : ',';
      const parts = text.split(separator).map((part) => printString(r, part, depth + 1));
      return `${quoted(r, separator)}.join(${chance(r) ? `[${parts.join(', ')}]` : `(${parts.join(', ')},)`})`;
    }
    default:
      return quoted(r, text);
  }
}

// ---- random watches ---------------------------------------------------------------------

const SIGNALS = ['SIGHUP', 'SIGINT', 'SIGUSR1', 'SIGUSR2', 'SIGTERM', 'SIGWINCH', 'SIGCONT'] as const;
const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGTERM: 15,
  SIGWINCH: 28,
  SIGCONT: 18,
};
const MODES: Record<RunMode, [string, number]> = {
  queue: ['QUEUE', 1],
  parallel: ['PARALLEL', 2],
  discard: ['DISCARD', 3],
};

function randomZnode(r: Random): string {
  const segments = Array.from({ length: int(r, 1, 4) }, () => {
    let segment = '';
    for (let n = int(r, 1, 6); n > 0; n--) segment += pick(r, [...'abcxyz019_-.: ', 'é', '€']);
    return segment === '.' || segment === '..' ? 'dot' : segment;
  });
  return '/' + segments.join('/');
}

function randomPolicy(r: Random): FailurePolicy {
  const kind = pick(r, ['keep', 'stop', 'retry'] as const);
  if (kind !== 'retry') return { kind };
  return {
    kind,
    times: int(r, 1, 9),
    backoffSeconds: pick(r, [0, 0.25, 1, 2, 30]),
    then: pick(r, ['keep', 'stop'] as const),
  };
}

type Draft = Omit<WatchSpec, 'source' | 'description'> & { description?: string };

function randomWatch(r: Random): Draft {
  const draft: Draft = {
    znode: randomZnode(r),
    command: chance(r) ? randomText(r, 30) : Array.from({ length: int(r, 1, 4) }, () => randomText(r, 8)),
    pipeStdin: chance(r),
    runOnLoad: chance(r),
    runMode: pick(r, ['queue', 'discard', 'parallel'] as const),
    onFailure: chance(r) ? randomPolicy(r) : { kind: 'keep' },
    exclusive: false,
  };
  // One lease cannot cover a process per update: exclusive is refused with PARALLEL.
  draft.exclusive = draft.runMode !== 'parallel' && chance(r, 0.3);
  if (chance(r)) draft.uid = chance(r) ? int(r, 0, 70000) : pick(r, ['nobody', 'www-data', 'build']);
  if (chance(r)) draft.gid = chance(r) ? int(r, 0, 70000) : pick(r, ['nogroup', 'adm']);
  if (chance(r, 0.4)) draft.notifySignal = pick(r, SIGNALS);
  if (chance(r)) draft.timeoutSeconds = chance(r) ? int(r, 1, 3600) : int(r, 1, 100000) / 100;
  if (chance(r)) draft.description = randomText(r, 20);
  return draft;
}

// ---- printing a watch -------------------------------------------------------------------

function printInt(r: Random, n: number): string {
  return pick(r, [
    String(n),
    `0x${n.toString(16).toUpperCase()}`,
    `0o${n.toString(8)}`,
    `0b${n.toString(2)}`,
    n ? `0${n.toString(8)}` : '0',
    n.toLocaleString('en-US').replace(/,/g, '_'),
  ]);
}

/** Non-integers here have at most two decimals, so `<n × 100>e-2` is exact. */
function printNumber(r: Random, n: number): string {
  if (!Number.isInteger(n)) {
    const hundredths = Math.round(n * 100);
    return pick(r, [String(n), `${hundredths}e-2`, `${hundredths / 100}`.replace(/^0\./, '.')]);
  }
  return pick(r, [printInt(r, n), `${n}.0`, `${n}.`, `${n}e0`, `${n * 10}E-1`]);
}

function printPolicy(r: Random, policy: FailurePolicy): string {
  if (policy.kind === 'keep') return 'KEEP_WATCHING';
  if (policy.kind === 'stop') return 'STOP_WATCHING';
  const then = policy.then === 'keep' ? 'KEEP_WATCHING' : 'STOP_WATCHING';
  const backoff = printNumber(r, policy.backoffSeconds);
  return pick(r, [
    `Retry(${policy.times}, ${backoff}, ${then})`,
    `Retry(times=${policy.times}, then=${then}, backoff=${backoff})`,
    `Retry(${policy.times}, backoff=${backoff}${policy.then === 'keep' && chance(r) ? '' : `, then=${then}`})`,
  ]).replace(/, backoff=1\b(?![.e])/, policy.backoffSeconds === 1 && chance(r) ? '' : ', backoff=1');
}

function printCommand(r: Random, command: string | string[]): string {
  if (typeof command === 'string') return `Exec(${printString(r, command)})`;
  const items = command.map((arg) => printString(r, arg));
  if (items.length > 1 && chance(r, 0.3)) return `Exec([${items[0]}] + [${items.slice(1).join(', ')}])`;
  return chance(r) ? `Exec([${items.join(', ')}${chance(r) ? ',' : ''}])` : `Exec((${items.join(', ')},))`;
}

/** Each option's text, or undefined where the default is meant (printed as None or left out). */
function optionTexts(r: Random, watch: Draft): Record<string, string | undefined> {
  const identity = (v: string | number | undefined) =>
    v === undefined ? undefined : typeof v === 'number' ? printInt(r, v) : printString(r, v);
  const [modeName, modeNumber] = MODES[watch.runMode];
  const signal = watch.notifySignal;
  return {
    znode: printString(r, watch.znode),
    action: printCommand(r, watch.command),
    pipe_stdin: watch.pipeStdin ? pick(r, ['True', undefined]) : 'False',
    run_on_load: watch.runOnLoad ? pick(r, ['True', undefined]) : 'False',
    run_mode: watch.runMode === 'queue' && chance(r) ? undefined : pick(r, [modeName, String(modeNumber)]),
    description: watch.description === undefined ? undefined : printString(r, watch.description),
    uid: identity(watch.uid),
    gid: identity(watch.gid),
    watch_type: pick(r, [undefined, 'WATCH_DATA']),
    notify_signal:
      signal && pick(r, [`signal.${signal}`, String(SIGNAL_NUMBERS[signal]), `sig.${signal}`, signal]),
    timeout: watch.timeoutSeconds === undefined ? undefined : printNumber(r, watch.timeoutSeconds),
    on_failure: watch.onFailure.kind === 'keep' && chance(r) ? undefined : printPolicy(r, watch.onFailure),
    exclusive: watch.exclusive ? 'True' : pick(r, ['False', undefined]),
  };
}

const SEPARATORS = [', ', ',', ',\n    ', ',  # a comment, with (brackets\n  ', ', \\\n  '];

function printCall(r: Random, watch: Draft): string {
  const texts = optionTexts(r, watch);
  const names = Object.keys(texts);
  const positional = int(r, 0, 11);
  const args: string[] = [];
  names.slice(0, positional).forEach((name) => args.push(texts[name] ?? 'None'));
  const keywords = names.slice(positional).filter((name) => texts[name] !== undefined || chance(r, 0.2));
  for (let i = keywords.length - 1; i > 0; i--) {
    const j = int(r, 0, i);
    [keywords[i], keywords[j]] = [keywords[j], keywords[i]];
  }
  keywords.forEach((name) => args.push(`${name}${pick(r, ['=', ' = '])}${texts[name] ?? 'None'}`));
  const body = args.map((arg, i) => (i === 0 ? arg : `${pick(r, SEPARATORS)}${arg}`)).join('');
  return `RegisterWatch(${pick(r, ['', '\n    '])}${body}${pick(r, ['', ',', ',\n'])})`;
}

const HEADERS = [
  'import signal',
  'import signal as sig',
  'from signal import *',
  'import os',
  '# watches',
  '"""docstring"""',
  '',
];

function printFile(r: Random, drafts: Draft[], file: string): { text: string; expected: WatchSpec[] } {
  let text = 'import signal\nimport signal as sig\nfrom signal import *\n';
  text += Array.from({ length: int(r, 0, 3) }, () => pick(r, HEADERS)).join('\n') + '\n';
  const expected: WatchSpec[] = [];
  let ending = '\n';
  drafts.forEach((draft, index) => {
    const joinWithSemicolon = index > 0 && ending === '\n' && chance(r, 0.2);
    text = joinWithSemicolon ? text.replace(/\n$/, '; ') : text + pick(r, ['', '\n', '# between\n\n']);
    const line = text.split('\n').length;
    ending = pick(r, ['\n', '  # trailing comment\n', ';\n']);
    text += printCall(r, draft) + ending;
    const { description, ...rest } = draft;
    expected.push({ ...rest, description: description ?? `${file}-${index + 1}`, source: { file, line } });
  });
  return { text, expected };
}

test('random valid watches printed as .twc text parse back to the same specs', () => {
  const runs = Number(process.env.WATCH_ROUNDTRIP_RUNS ?? 400);
  const firstSeed = Number(process.env.WATCH_ROUNDTRIP_SEED ?? 1);
  for (let seed = firstSeed; seed < firstSeed + runs; seed++) {
    const r = seeded(seed);
    const drafts = Array.from({ length: int(r, 1, 4) }, () => randomWatch(r));
    const file = `/etc/twitcher/random-${seed}.twc`;
    const { text, expected } = printFile(r, drafts, file);
    let parsed;
    try {
      parsed = parseTwcWatches(text, file);
    } catch (error) {
      throw new Error(`seed ${seed}: ${(error as Error).message}\n--- file ---\n${text}`, { cause: error });
    }
    parsed.watches.forEach((watch, i) => {
      if (!isDeepEqual(watch, expected[i])) {
        throw new Error(
          `seed ${seed}, watch ${i + 1}:\n${JSON.stringify(watch)}\nexpected\n${JSON.stringify(expected[i])}\n--- file ---\n${text}`,
        );
      }
    });
    expect(parsed.watches).toHaveLength(expected.length);
    const ignoredSignals = expected.filter((w) => w.notifySignal && w.runMode !== 'queue').length;
    expect({ seed, warnings: parsed.warnings.length }).toEqual({ seed, warnings: ignoredSignals });
  }
});

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    expect(a).toEqual(b);
    return true;
  } catch {
    return false;
  }
}
