import { SourcePoint, WatchFileContext } from './twc-errors';
import { Token } from './twc-tokenizer';

/**
 * The value of Python string literals, as Twitcher's Python 2 reads them. A plain string is
 * bytes: the file's UTF-8 bytes and its escapes (`\xNN`, octal) are bytes, and `\u` is not an
 * escape. A `u'...'` string (or any non-`b` string under `from __future__ import
 * unicode_literals`) is text, where `\u`, `\U` and `\xNN` are code points. Raw strings keep
 * every backslash. Adjacent literals are joined before the bytes are read as UTF-8, so
 * `'\xc3' '\xa9'` is "é" as it is in Python; bytes that are not UTF-8 cannot be handed to a
 * process as text and are an error.
 */

const SIMPLE_ESCAPES: Record<string, number> = {
  '\\': 0x5c,
  "'": 0x27,
  '"': 0x22,
  a: 0x07,
  b: 0x08,
  f: 0x0c,
  n: 0x0a,
  r: 0x0d,
  t: 0x09,
  v: 0x0b,
};

const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** The text of one string literal or of several adjacent ones (implicit concatenation). */
export function decodeStringTokens(
  tokens: readonly Token[],
  unicodeLiterals: boolean,
  context: WatchFileContext,
): string {
  const bytes: number[] = [];
  for (const token of tokens) {
    const prefix = token.prefix ?? '';
    const text = prefix.includes('u') || (unicodeLiterals && !prefix.includes('b'));
    new LiteralDecoder(token, text, prefix.includes('r'), bytes, context).run();
  }
  try {
    return utf8.decode(new Uint8Array(bytes));
  } catch {
    return context.fail(
      tokens[0],
      'string is not valid UTF-8 (a \\x or octal escape above \\x7f in a byte string?): write the characters themselves',
    );
  }
}

class LiteralDecoder {
  private index = 0;
  private line: number;
  private column: number;
  private readonly body: string;

  constructor(
    token: Token,
    private readonly text: boolean,
    private readonly raw: boolean,
    private readonly out: number[],
    private readonly context: WatchFileContext,
  ) {
    this.body = token.body ?? '';
    this.line = token.bodyAt?.line ?? token.line;
    this.column = token.bodyAt?.column ?? token.column;
  }

  run(): void {
    while (this.index < this.body.length) {
      const at: SourcePoint = { line: this.line, column: this.column };
      const c = this.takeOne();
      if (c !== '\\') this.appendText(c);
      else if (this.raw) this.appendText('\\' + this.takeOne());
      else this.escape(at);
    }
  }

  /** The next character (a whole code point), keeping line and column. */
  private takeOne(): string {
    const code = this.body.codePointAt(this.index)!;
    const c = code > 0xffff ? String.fromCodePoint(code) : this.body[this.index];
    this.index += c.length;
    if (c === '\n') {
      this.line++;
      this.column = 1;
    } else {
      this.column += c.length;
    }
    return c;
  }

  private take(count: number): string {
    let taken = '';
    for (let i = 0; i < count && this.index < this.body.length; i++) taken += this.takeOne();
    return taken;
  }

  private appendText(text: string): void {
    if (text.length === 1 && text.charCodeAt(0) < 0x80) this.out.push(text.charCodeAt(0));
    else for (const byte of encoder.encode(text)) this.out.push(byte);
  }

  /** A byte in a byte string, a code point in a text string. */
  private appendUnit(value: number, at: SourcePoint): void {
    if (!this.text) {
      this.out.push(value);
      return;
    }
    if (value > 0x10ffff) this.context.fail(at, 'escape is above U+10FFFF');
    if (value >= 0xd800 && value <= 0xdfff) this.context.fail(at, 'escape is a lone surrogate');
    this.appendText(String.fromCodePoint(value));
  }

  private escape(at: SourcePoint): void {
    const c = this.takeOne();
    if (c === '\n') return; // a backslash at the end of a line continues the string
    const simple = SIMPLE_ESCAPES[c];
    if (simple !== undefined) {
      this.out.push(simple);
      return;
    }
    if (/[0-7]/.test(c)) return this.octal(c, at);
    if (c === 'x') return this.appendUnit(this.hex(2, '\\x', at), at);
    if (this.text && c === 'u') return this.appendUnit(this.hex(4, '\\u', at), at);
    if (this.text && c === 'U') return this.appendUnit(this.hex(8, '\\U', at), at);
    if (this.text && c === 'N') {
      this.context.fail(at, '\\N{...} escapes are not supported: write the character itself or use \\u');
    }
    this.appendText('\\' + c); // Python keeps an unknown escape as written
  }

  private octal(first: string, at: SourcePoint): void {
    let digits = first;
    while (digits.length < 3 && /[0-7]/.test(this.body[this.index] ?? '')) digits += this.takeOne();
    const value = parseInt(digits, 8);
    if (!this.text && value > 0xff) this.context.fail(at, `octal escape \\${digits} is above \\377`);
    this.appendUnit(value, at);
  }

  private hex(length: number, name: string, at: SourcePoint): number {
    const digits = this.body.slice(this.index, this.index + length);
    if (!new RegExp(`^[0-9a-fA-F]{${length}}$`).test(digits)) {
      this.context.fail(at, `invalid ${name} escape: ${length} hex digits expected`);
    }
    this.take(length);
    return parseInt(digits, 16);
  }
}
