import { SourcePoint, WatchFileContext } from './twc-errors';

/**
 * Python's tokenizer, for the part of the language a `.twc` file uses: names, numbers, every
 * string quoting form, operators, and logical lines (brackets and backslashes join physical
 * lines; comments and blank lines vanish). Strings are kept as written: their escapes are
 * decoded later (src/watch/twc-strings.ts), because `from __future__ import unicode_literals`
 * changes what a plain string means.
 */

/** `indent`: a statement that does not start at column 1 (only top-level statements exist here). */
export type TokenKind = 'name' | 'number' | 'string' | 'op' | 'newline' | 'indent' | 'end';

export interface Token extends SourcePoint {
  kind: TokenKind;
  /** The source text of the token (the whole literal for strings; '' for newline and end). */
  text: string;
  /** Numbers: the value; `integer` is false for floats. */
  number?: { value: number; integer: boolean };
  /** Strings: the prefix letters, lowercased ('', 'r', 'u', 'b', 'ur', 'br', 'rb'). */
  prefix?: string;
  /** Strings: the text between the quotes, escapes undecoded. */
  body?: string;
  /** Strings: where the body starts, to locate a bad escape. */
  bodyAt?: SourcePoint;
}

/** Longest first, so `**=` is one token and not `*`, `*`, `=`. */
const OPERATORS = (
  '**= //= >>= <<= == != <> <= >= ** // << >> += -= *= /= %= &= |= ^= @= -> := ' +
  '( ) [ ] { } , : . ; @ = + - * / % & | ^ ~ < > `'
).split(' ');
const OPERATORS_BY_FIRST = new Map<string, string[]>();
for (const op of OPERATORS) OPERATORS_BY_FIRST.set(op[0], [...(OPERATORS_BY_FIRST.get(op[0]) ?? []), op]);
const CLOSING: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
const STRING_PREFIXES = new Set(['', 'r', 'u', 'b', 'ur', 'br', 'rb']);
const FORMAT_PREFIXES = new Set(['f', 'fr', 'rf']);
const IDENTIFIER_START = /[A-Za-z_]/;
const IDENTIFIER_PART = /[A-Za-z0-9_]/;

const NUMBER_FORMS: Array<{ pattern: RegExp; radix: number; integer: boolean }> = [
  { pattern: /0[xX](?:_?[0-9a-fA-F])+/y, radix: 16, integer: true },
  { pattern: /0[oO](?:_?[0-7])+/y, radix: 8, integer: true },
  { pattern: /0[bB](?:_?[01])+/y, radix: 2, integer: true },
  {
    pattern:
      /(?:\d(?:_?\d)*\.(?:\d(?:_?\d)*)?|\.\d(?:_?\d)*)(?:[eE][-+]?\d(?:_?\d)*)?|\d(?:_?\d)*[eE][-+]?\d(?:_?\d)*/y,
    radix: 10,
    integer: false,
  },
  { pattern: /\d(?:_?\d)*/y, radix: 10, integer: true },
];

/**
 * Tokens on demand, so a parse error is reported before a tokenizer error further down the
 * file (the first problem in file order is the one reported).
 */
export function tokenizer(source: string, context: WatchFileContext): () => Token {
  const scanner = new Tokenizer(source.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n'), context);
  return () => scanner.nextToken();
}

class Tokenizer {
  private index = 0;
  private line = 1;
  private column = 1;
  /** Tokens scanned but not yet handed out (one character can end a line and start a token). */
  private readonly tokens: Token[] = [];
  private ended = false;
  private readonly brackets: Token[] = [];
  private lineHasTokens = false;

  constructor(
    private readonly text: string,
    private readonly context: WatchFileContext,
  ) {}

  nextToken(): Token {
    while (this.tokens.length === 0) this.scanMore();
    return this.tokens.shift()!;
  }

  private scanMore(): void {
    if (this.ended) {
      this.tokens.push({ kind: 'end', text: '', line: this.line, column: this.column });
    } else if (this.index < this.text.length) {
      if (!this.lineHasTokens && this.brackets.length === 0 && this.skipBlankOrIndent()) return;
      this.scanOne();
    } else {
      const open = this.brackets.at(-1);
      if (open) this.context.fail(open, `'${open.text}' was never closed`);
      this.endLogicalLine();
      this.ended = true;
    }
  }

  private get here(): SourcePoint {
    return { line: this.line, column: this.column };
  }

  private peek(offset = 0): string {
    return this.text[this.index + offset] ?? '';
  }

  private advance(count = 1): void {
    for (let i = 0; i < count && this.index < this.text.length; i++) {
      if (this.text[this.index++] === '\n') {
        this.line++;
        this.column = 1;
      } else {
        this.column++;
      }
    }
  }

  /** At the start of a logical line: skips blank and comment-only lines, and marks indentation. */
  private skipBlankOrIndent(): boolean {
    const start = this.here;
    while (this.peek() === ' ' || this.peek() === '\t' || this.peek() === '\f') this.advance();
    const next = this.peek();
    if (next === '#' || next === '\n' || next === '') {
      while (this.peek() !== '\n' && this.peek() !== '') this.advance();
      this.advance();
      return true;
    }
    if (this.column > start.column) this.push({ kind: 'indent', text: '', ...this.here });
    return false;
  }

  private scanOne(): void {
    const c = this.peek();
    if (c === ' ' || c === '\t' || c === '\f') return this.advance();
    if (c === '#') {
      while (this.peek() !== '\n' && this.peek() !== '') this.advance();
      return;
    }
    if (c === '\n') {
      if (this.brackets.length === 0) this.endLogicalLine();
      return this.advance();
    }
    if (c === '\\') return this.lineContinuation();
    if (IDENTIFIER_START.test(c)) return this.nameOrString();
    if (/\d/.test(c) || (c === '.' && /\d/.test(this.peek(1)))) return this.number();
    if (c === '"' || c === "'") return this.string('', this.here, this.index);
    this.operator();
  }

  private push(token: Token): void {
    this.tokens.push(token);
    this.lineHasTokens = true;
  }

  private endLogicalLine(): void {
    if (!this.lineHasTokens) return;
    this.tokens.push({ kind: 'newline', text: '', line: this.line, column: this.column });
    this.lineHasTokens = false;
  }

  private lineContinuation(): void {
    const at = this.here;
    if (this.peek(1) === '\n') return this.advance(2);
    if (this.peek(1) === '') this.context.fail(at, 'unexpected end of file after a line continuation (\\)');
    this.context.fail(at, 'unexpected character after a line continuation (\\): it must end its line');
  }

  private nameOrString(): void {
    const at = this.here;
    const start = this.index;
    while (IDENTIFIER_PART.test(this.peek())) this.advance();
    const word = this.text.slice(start, this.index);
    const quote = this.peek();
    if (quote === '"' || quote === "'") {
      const prefix = word.toLowerCase();
      if (STRING_PREFIXES.has(prefix)) return this.string(prefix, at, start);
      if (FORMAT_PREFIXES.has(prefix)) this.context.fail(at, 'f-strings are not supported in watch files');
    }
    this.push({ kind: 'name', text: word, ...at });
  }

  private string(prefix: string, at: SourcePoint, start: number): void {
    const quote = this.peek();
    const triple = this.peek(1) === quote && this.peek(2) === quote;
    const delimiter = triple ? quote.repeat(3) : quote;
    this.advance(delimiter.length);
    const bodyAt = this.here;
    const bodyStart = this.index;
    for (;;) {
      const c = this.peek();
      if (c === '') {
        this.context.fail(at, triple ? 'unterminated triple-quoted string' : 'unterminated string');
      }
      if (c === '\n' && !triple) {
        this.context.fail(
          at,
          'unterminated string: a quoted string ends on its line (use a triple-quoted string, or \\n)',
        );
      }
      if (this.text.startsWith(delimiter, this.index)) break;
      // A backslash keeps the next character from closing the string, in raw strings too.
      this.advance(c === '\\' ? 2 : 1);
    }
    const body = this.text.slice(bodyStart, this.index);
    this.advance(delimiter.length);
    this.push({ kind: 'string', text: this.text.slice(start, this.index), prefix, body, bodyAt, ...at });
  }

  private number(): void {
    const at = this.here;
    const form = NUMBER_FORMS.find(({ pattern }) => {
      pattern.lastIndex = this.index;
      return pattern.test(this.text);
    })!;
    const text = this.text.slice(this.index, form.pattern.lastIndex);
    this.advance(text.length);
    const after = this.peek();
    if (IDENTIFIER_PART.test(after)) {
      const hint = /[lL]/.test(after)
        ? ': Python 2 long integers (10L) are not needed, drop the L'
        : /[jJ]/.test(after)
          ? ': complex numbers are not supported'
          : '';
      this.context.fail(at, `invalid number literal${hint}`);
    }
    this.push({ kind: 'number', text, number: this.numberValue(text, form, at), ...at });
  }

  private numberValue(
    text: string,
    form: { radix: number; integer: boolean },
    at: SourcePoint,
  ): { value: number; integer: boolean } {
    const digits = text.replace(/_/g, '');
    if (!form.integer) return { value: Number(digits), integer: false };
    let value: number;
    if (form.radix !== 10) {
      value = parseInt(digits.slice(2), form.radix);
    } else if (/^0+$/.test(digits) || digits[0] !== '0') {
      value = Number(digits);
    } else if (/^[0-7]+$/.test(digits)) {
      value = parseInt(digits, 8); // Python 2 reads 0777 as octal
    } else {
      return this.context.fail(at, `invalid number literal ${text}: a leading 0 makes it octal in Python 2`);
    }
    if (!Number.isSafeInteger(value)) this.context.fail(at, `integer ${text} is too large`);
    return { value, integer: true };
  }

  private operator(): void {
    const at = this.here;
    const op = OPERATORS_BY_FIRST.get(this.peek())?.find((candidate) =>
      this.text.startsWith(candidate, this.index),
    );
    if (op === undefined) {
      const c = String.fromCodePoint(this.text.codePointAt(this.index)!);
      this.context.fail(at, `unexpected character ${JSON.stringify(c)}`);
    }
    const token: Token = { kind: 'op', text: op, ...at };
    this.advance(op.length);
    if (op === '(' || op === '[' || op === '{') this.brackets.push(token);
    const opener = CLOSING[op];
    if (opener !== undefined) {
      const open = this.brackets.pop();
      if (open?.text !== opener) this.context.fail(at, `unmatched '${op}'`);
    }
    this.push(token);
  }
}
