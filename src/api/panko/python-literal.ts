/**
 * What Python's `ast.literal_eval` makes of a text (Python 3.8, as Panko runs): a q item with
 * an empty `type` has its value read this way. Only the outcome's kind matters here: a
 * string literal (`'abc'`, `u"x" 'y'`) gives its decoded string, any other literal (`7`,
 * `None`, `[1]`, `b'x'`) its Python type name, and a text that is no literal (`abc`,
 * `hello world`, `f'x'`) undefined: Panko then keeps the text as it is.
 */
export type LiteralOutcome = { kind: 'str'; value: string } | { kind: 'other'; type: string };

class NotALiteral extends Error {}

const fail = (): never => {
  throw new NotALiteral();
};

export function literalEval(text: string): LiteralOutcome | undefined {
  try {
    return new LiteralParser(text).parseWhole();
  } catch (error) {
    if (error instanceof NotALiteral) return undefined;
    throw error;
  }
}

type Parsed =
  | { kind: 'str'; value: string }
  | { kind: 'bytes' }
  | { kind: 'number'; type: 'int' | 'float' | 'complex' }
  | { kind: 'other'; type: string };

const NUMBER =
  /^(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|(?:(?:[0-9](?:_?[0-9])*)?\.[0-9](?:_?[0-9])*|[0-9](?:_?[0-9])*\.?)(?:[eE][+-]?[0-9](?:_?[0-9])*)?[jJ]?)/;
const NAME = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*/u;
const STRING_PREFIX = /^(?:[rR][bB]?|[bB][rR]?|[uU]|[fF][rR]?|[rR][fF])?(?='|")/;
const DECIMAL_LEADING_ZERO = /^0+[0-9_]*[1-9]/;

class LiteralParser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly text: string) {}

  parseWhole(): LiteralOutcome {
    this.skipBlankLines();
    // A first line that starts indented is an IndentationError.
    if (/^[ \t\f]/.test(this.text.slice(this.pos))) fail();
    const value = this.parseTuple(() => this.restIsBlank());
    this.skipSpace(true);
    if (!this.atEnd()) fail();
    if (value.kind === 'str') return value;
    return { kind: 'other', type: value.kind === 'bytes' ? 'bytes' : value.type };
  }

  /** Only spaces, comments and newlines are left: the end of the input. */
  private restIsBlank(): boolean {
    return /^(?:[ \t\f\r\n]|#[^\n]*|\\\n)*$/.test(this.text.slice(this.pos));
  }

  private atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  private peek(): string {
    return this.text[this.pos] ?? '';
  }

  /** Blank or comment-only lines before the expression. */
  private skipBlankLines(): void {
    const m = /^(?:[ \t\f]*(?:#[^\n]*)?\r?\n)*/.exec(this.text)!;
    this.pos = m[0].length;
  }

  /** Spaces and comments; newlines only inside brackets (or at the very end, with `trailing`). */
  private skipSpace(trailing = false): void {
    for (;;) {
      const ch = this.peek();
      if (ch === ' ' || ch === '\t' || ch === '\f') this.pos++;
      else if (ch === '#') while (!this.atEnd() && this.peek() !== '\n') this.pos++;
      else if (ch === '\\' && this.text[this.pos + 1] === '\n') this.pos += 2;
      else if ((ch === '\n' || ch === '\r') && (this.depth > 0 || trailing)) this.pos++;
      else return;
    }
  }

  private take(token: string): boolean {
    this.skipSpace();
    if (!this.text.startsWith(token, this.pos)) return false;
    this.pos += token.length;
    return true;
  }

  /** `a, b, c` (a tuple when a comma is there), up to what `done` recognises. */
  private parseTuple(done: () => boolean): Parsed {
    const first = this.parseExpression();
    this.skipSpace();
    if (this.peek() !== ',') return first;
    while (this.take(',')) {
      if (done()) break;
      this.parseExpression();
      this.skipSpace();
    }
    return { kind: 'other', type: 'tuple' };
  }

  /** A literal, a signed number, or a real number plus or minus an imaginary one. */
  private parseExpression(): Parsed {
    const left = this.parseSigned();
    this.skipSpace();
    const op = this.peek();
    if (op !== '+' && op !== '-') return left;
    if (left.kind !== 'number' || left.type === 'complex') fail();
    this.pos++;
    this.skipSpace();
    const right = this.parseAtom();
    if (right.kind !== 'number' || right.type !== 'complex') fail();
    return { kind: 'number', type: 'complex' };
  }

  private parseSigned(): Parsed {
    this.skipSpace();
    if (this.peek() !== '+' && this.peek() !== '-') return this.parseAtom();
    this.pos++;
    const operand = this.parseAtom();
    // Only numbers take a sign (`-True` is no literal).
    if (operand.kind !== 'number') fail();
    return operand;
  }

  private parseAtom(): Parsed {
    this.skipSpace();
    const ch = this.peek();
    if (ch === '(' || ch === '[' || ch === '{') return this.parseBrackets(ch);
    if (this.text.startsWith('...', this.pos)) {
      this.pos += 3;
      return { kind: 'other', type: 'ellipsis' };
    }
    const rest = this.text.slice(this.pos);
    if (STRING_PREFIX.test(rest)) return this.parseStrings();
    const number = NUMBER.exec(rest);
    if (number && number[0] !== '.') return this.parseNumber(number[0]);
    const name = NAME.exec(rest);
    if (!name) fail();
    this.pos += name![0].length;
    if (name![0] === 'True' || name![0] === 'False') return { kind: 'other', type: 'bool' };
    if (name![0] === 'None') return { kind: 'other', type: 'NoneType' };
    return fail();
  }

  private parseNumber(text: string): Parsed {
    this.pos += text.length;
    // `1x`, `1if`, `07` are syntax errors.
    if (NAME.test(this.text.slice(this.pos)) || /^[0-9]/.test(this.peek())) fail();
    if (/[jJ]$/.test(text)) return { kind: 'number', type: 'complex' };
    if (/^0[xXoObB]/.test(text)) return { kind: 'number', type: 'int' };
    if (/[.eE]/.test(text)) return { kind: 'number', type: 'float' };
    if (DECIMAL_LEADING_ZERO.test(text)) fail();
    return { kind: 'number', type: 'int' };
  }

  private parseBrackets(open: string): Parsed {
    const close = open === '(' ? ')' : open === '[' ? ']' : '}';
    this.pos++;
    this.depth++;
    const closed = () => {
      this.skipSpace();
      return this.peek() === close;
    };
    let result: Parsed;
    if (closed()) result = { kind: 'other', type: open === '(' ? 'tuple' : open === '[' ? 'list' : 'dict' };
    else if (open === '{') result = this.parseBraces(closed);
    else {
      const inner = this.parseTuple(closed);
      result = open === '(' ? inner : { kind: 'other', type: 'list' };
    }
    if (!closed()) fail();
    this.pos++;
    this.depth--;
    return result;
  }

  /** `{k: v, …}` or `{a, b, …}`. */
  private parseBraces(closed: () => boolean): Parsed {
    this.parseExpression();
    const isDict = this.take(':');
    if (isDict) this.parseExpression();
    while (this.take(',')) {
      if (closed()) break;
      this.parseExpression();
      if (isDict) {
        if (!this.take(':')) fail();
        this.parseExpression();
      }
    }
    return { kind: 'other', type: isDict ? 'dict' : 'set' };
  }

  /** Adjacent string literals concatenate; str and bytes do not mix, f-strings are no literals. */
  private parseStrings(): Parsed {
    const parts: { bytes: boolean; value: string }[] = [];
    do {
      parts.push(this.parseString());
      this.skipSpace();
    } while (STRING_PREFIX.test(this.text.slice(this.pos)));
    if (parts.some((p) => p.bytes !== parts[0].bytes)) fail();
    return parts[0].bytes ? { kind: 'bytes' } : { kind: 'str', value: parts.map((p) => p.value).join('') };
  }

  private parseString(): { bytes: boolean; value: string } {
    const prefix = STRING_PREFIX.exec(this.text.slice(this.pos))![0].toLowerCase();
    if (prefix.includes('f')) fail();
    this.pos += prefix.length;
    const quote = this.text.startsWith(this.peek().repeat(3), this.pos) ? this.peek().repeat(3) : this.peek();
    this.pos += quote.length;
    const start = this.pos;
    for (;;) {
      if (this.atEnd()) fail();
      const ch = this.peek();
      if (ch === '\\') this.pos += 2;
      else if (this.text.startsWith(quote, this.pos)) break;
      else if (ch === '\n' && quote.length === 1) fail();
      else this.pos++;
    }
    const body = this.text.slice(start, this.pos);
    this.pos += quote.length;
    const bytes = prefix.includes('b');
    if (bytes && /[\u0080-\uffff]/.test(body)) fail();
    return { bytes, value: prefix.includes('r') ? body : unescapeString(body, bytes) };
  }
}

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\n': '',
};

/** Python's escapes in a non-raw literal; `\N{…}` names cannot be checked here, so they are refused. */
function unescapeString(body: string, bytes: boolean): string {
  return body.replace(/\\(x[^]{0,2}|u[^]{0,4}|U[^]{0,8}|N|[0-7]{1,3}|[^])/g, (escape, code: string) => {
    const kind = code[0];
    if (kind in SIMPLE_ESCAPES && code.length === 1) return SIMPLE_ESCAPES[kind];
    if (/^[0-7]/.test(code)) return String.fromCodePoint(parseInt(code, 8));
    if (kind === 'x') return hexEscape(code, 2);
    if ((kind === 'u' || kind === 'U') && !bytes) return hexEscape(code, kind === 'u' ? 4 : 8);
    if (kind === 'N' && !bytes) fail();
    return escape;
  });
}

function hexEscape(code: string, digits: number): string {
  const hex = code.slice(1);
  if (hex.length !== digits || !/^[0-9a-fA-F]+$/.test(hex)) fail();
  const value = parseInt(hex, 16);
  if (value > 0x10ffff) fail();
  return String.fromCodePoint(value);
}
