import { Duration, DurationUnit, isAmbiguous, sumDurations, UNIT_WORDS } from './duration';
import { TimexParseError } from './errors';
import { isPinUnit, Operator, PIN_UNITS, PinUnit } from './values';

/*
 * Grammar (upstream's, with its precedences resolved):
 *
 *   expression := operand ('to' operand)?          both operands timestamps; the result a range
 *   operand    := primary (('+' | '-' | '@') duration)*
 *   primary    := '$' NAME | FUNCTION ('(' expression ')')? | '(' expression ')'
 *   duration   := (NUMBER UNIT?)+                     `6h 30m`; a bare number only on a range
 *
 * `$a to $b + 1h` is `$a to ($b + 1h)`; `+ - @` apply left to right. A node knows statically
 * whether it is a range, which decides where `to`, function arguments and bare numbers fit.
 */

interface Span {
  readonly start: number;
  readonly end: number;
}

export type TimexNode =
  | (Span & { readonly type: 'variable'; readonly name: string; readonly isRange: false })
  | (Span & {
      readonly type: 'function';
      readonly name: PinUnit;
      /** Null: `day` alone, i.e. `day($timestamp)`. */
      readonly argument: TimexNode | null;
      readonly isRange: true;
    })
  | (Span & {
      readonly type: 'to';
      readonly from: TimexNode;
      readonly until: TimexNode;
      readonly isRange: true;
    })
  | (Span & {
      readonly type: 'operation';
      readonly op: Operator;
      readonly operand: TimexNode;
      readonly duration: Duration;
      readonly isRange: boolean;
    });

type Token =
  | (Span & { kind: 'number'; value: number; text: string })
  | (Span & { kind: 'word'; text: string })
  | (Span & { kind: '+' | '-' | '@' | '$' | '(' | ')'; text: string })
  | (Span & { kind: 'end'; text: '' });

const SYMBOLS = new Set(['+', '-', '@', '$', '(', ')']);

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isWordStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

/** Upstream's lexer: blanks and newlines skipped, words `[A-Za-z_][A-Za-z0-9_]*`, numbers `\d+`. */
function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source.charCodeAt(i);
    const ch = source[i];
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      i++;
    } else if (isDigit(c)) {
      const start = i;
      while (i < source.length && isDigit(source.charCodeAt(i))) i++;
      const text = source.slice(start, i);
      const value = Number(text);
      if (!Number.isSafeInteger(value))
        throw new TimexParseError(source, start, `number ${text} is too large`);
      tokens.push({ kind: 'number', value, text, start, end: i });
    } else if (isWordStart(c)) {
      const start = i;
      while (i < source.length && (isWordStart(source.charCodeAt(i)) || isDigit(source.charCodeAt(i)))) i++;
      tokens.push({ kind: 'word', text: source.slice(start, i), start, end: i });
    } else if (SYMBOLS.has(ch)) {
      tokens.push({ kind: ch as '+', text: ch, start: i, end: i + 1 });
      i++;
    } else {
      throw new TimexParseError(source, i, `unexpected character ${JSON.stringify(ch)}`);
    }
  }
  tokens.push({ kind: 'end', text: '', start: source.length, end: source.length });
  return tokens;
}

const unitOf = (token: Token): DurationUnit | undefined =>
  token.kind === 'word' && Object.hasOwn(UNIT_WORDS, token.text) ? UNIT_WORDS[token.text] : undefined;

function describe(token: Token): string {
  switch (token.kind) {
    case 'end':
      return 'the end of the expression';
    case 'number':
      return `number ${token.text}`;
    case 'word':
      if (token.text === 'to') return "'to'";
      return unitOf(token) ? `unit '${token.text}'` : `'${token.text}'`;
    default:
      return `'${token.text}'`;
  }
}

/** More operations and parentheses than this are refused: evaluation recurses over the tree. */
export const TIMEX_MAX_STEPS = 256;

class Parser {
  private index = 0;
  private steps = 0;

  constructor(
    private readonly source: string,
    private readonly tokens: Token[],
  ) {}

  private get token(): Token {
    return this.tokens[this.index];
  }

  /** Counts an operation or a parenthesis: together they bound the tree's depth. */
  private step(token: Token): void {
    if (++this.steps > TIMEX_MAX_STEPS) {
      throw new TimexParseError(
        this.source,
        token.start,
        `the expression has more than ${TIMEX_MAX_STEPS} operations and parentheses`,
      );
    }
  }

  private fail(token: Token, reason: string): never {
    const found = token.kind === 'end' ? 'the expression ends' : `found ${describe(token)}`;
    throw new TimexParseError(this.source, token.start, `${reason}, but ${found}`);
  }

  parse(): TimexNode {
    const node = this.expression();
    if (this.token.kind !== 'end') {
      if (this.token.kind === 'word' && this.token.text === 'to') {
        throw new TimexParseError(
          this.source,
          this.token.start,
          "a range cannot be the start of another 'to'",
        );
      }
      this.fail(this.token, "expected an operator ('+', '-', '@' or 'to')");
    }
    return node;
  }

  private expression(): TimexNode {
    const from = this.operand();
    const to = this.token;
    if (!(to.kind === 'word' && to.text === 'to')) return from;
    if (from.isRange) {
      throw new TimexParseError(this.source, to.start, "'to' needs a timestamp on its left, not a range");
    }
    this.index++;
    const until = this.operand();
    if (until.isRange) {
      throw new TimexParseError(this.source, until.start, "'to' needs a timestamp on its right, not a range");
    }
    return { type: 'to', from, until, isRange: true, start: from.start, end: until.end };
  }

  private operand(): TimexNode {
    let node = this.primary();
    for (;;) {
      const op = this.token;
      if (op.kind !== '+' && op.kind !== '-' && op.kind !== '@') return node;
      this.step(op);
      this.index++;
      const { duration, start, end } = this.duration(op.kind);
      if (isAmbiguous(duration) && !node.isRange) {
        throw new TimexParseError(
          this.source,
          start,
          'a bare number needs a unit (y mo d h m s us) when applied to a timestamp',
        );
      }
      node = {
        type: 'operation',
        op: op.kind,
        operand: node,
        duration,
        isRange: node.isRange,
        start: node.start,
        end,
      };
    }
  }

  private duration(op: Operator): { duration: Duration; start: number; end: number } {
    const first = this.token;
    if (first.kind !== 'number') this.fail(first, `expected a duration such as 1h after '${op}'`);
    let duration: Duration = {};
    let end = first.end;
    while (this.token.kind === 'number') {
      const count = this.token as Extract<Token, { kind: 'number' }>;
      this.index++;
      const next: Token = this.tokens[this.index];
      const unit = unitOf(next);
      if (unit) {
        end = next.end;
        this.index++;
        duration = sumDurations(duration, { [unit]: count.value });
      } else {
        if (next.kind === 'word' && next.text !== 'to') {
          this.fail(next, `expected a unit (y mo d h m s us, or yr hr min sec) after ${count.text}`);
        }
        end = count.end;
        duration = sumDurations(duration, { unknown: count.value });
      }
    }
    return { duration, start: first.start, end };
  }

  private primary(): TimexNode {
    const token = this.token;
    if (token.kind === '(') {
      this.step(token);
      this.index++;
      const inner = this.expression();
      this.closeParen(token);
      return inner;
    }
    if (token.kind === '$') {
      this.index++;
      const name = this.token;
      if (name.kind !== 'word') this.fail(name, "expected a variable name after '$'");
      this.index++;
      return { type: 'variable', name: name.text, isRange: false, start: token.start, end: name.end };
    }
    if (token.kind === 'word' && !unitOf(token) && token.text !== 'to') {
      if (!isPinUnit(token.text)) {
        throw new TimexParseError(
          this.source,
          token.start,
          `unknown function '${token.text}' (the functions are ${PIN_UNITS.join(', ')}; variables start with $)`,
        );
      }
      this.index++;
      if (this.token.kind !== '(') {
        return {
          type: 'function',
          name: token.text,
          argument: null,
          isRange: true,
          start: token.start,
          end: token.end,
        };
      }
      const open = this.token;
      this.step(open);
      this.index++;
      const argument = this.expression();
      if (argument.isRange) {
        throw new TimexParseError(
          this.source,
          argument.start,
          `${token.text}() takes a timestamp, not a range`,
        );
      }
      const end = this.closeParen(open);
      return { type: 'function', name: token.text, argument, isRange: true, start: token.start, end };
    }
    return this.fail(token, "expected $variable, hour, day, month, year or '('");
  }

  private closeParen(open: Token): number {
    const close = this.token;
    if (close.kind !== ')') {
      if (close.kind === 'end') {
        throw new TimexParseError(this.source, open.start, "this '(' is never closed");
      }
      this.fail(close, "expected ')'");
    }
    this.index++;
    return close.end;
  }
}

/** Parses a time expression into its syntax tree; throws TimexParseError with the position. */
export function parseTimexSyntax(source: string): TimexNode {
  if (typeof source !== 'string') throw new TimexParseError(String(source), 0, 'a time expression is text');
  const tokens = tokenize(source);
  if (tokens.length === 1) throw new TimexParseError(source, 0, 'the time expression is empty');
  return new Parser(source, tokens).parse();
}
