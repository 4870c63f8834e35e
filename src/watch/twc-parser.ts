import { SourcePoint, WatchFileContext } from './twc-errors';
import { Token, tokenizer } from './twc-tokenizer';

/**
 * A recursive-descent parser for the statements a `.twc` file is made of: expression
 * statements (RegisterWatch calls, docstrings), `NAME = value`, `import` and `from ... import`,
 * `pass`. Expressions are names, literals, lists, tuples, attribute access, calls with
 * positional and keyword arguments, and `+ - *`. Everything else Python has is an error that
 * says so, at its line and column; nothing is ever executed.
 */

export type Expr =
  | { type: 'name'; name: string; at: SourcePoint }
  | { type: 'constant'; value: true | false | null; at: SourcePoint }
  | { type: 'string'; tokens: Token[]; at: SourcePoint }
  | { type: 'number'; value: number; integer: boolean; at: SourcePoint }
  | { type: 'list' | 'tuple'; items: Expr[]; at: SourcePoint }
  | { type: 'attribute'; object: Expr; name: string; at: SourcePoint }
  | { type: 'call'; callee: Expr; args: Argument[]; at: SourcePoint }
  | { type: 'binary'; operator: '+' | '-' | '*'; left: Expr; right: Expr; at: SourcePoint }
  | { type: 'unary'; operator: '+' | '-'; operand: Expr; at: SourcePoint };

export interface Argument {
  keyword?: string;
  value: Expr;
  at: SourcePoint;
}

/** `import a.b as c` binds c to module a.b; `from a import b as c` binds c to member b of a. */
export interface ImportBinding {
  local: string;
  module: string;
  member?: string;
}

export type Statement =
  | { type: 'expression'; expr: Expr; at: SourcePoint }
  | { type: 'assign'; name: string; value: Expr; at: SourcePoint }
  | { type: 'import'; bindings: ImportBinding[]; star?: string; at: SourcePoint }
  | { type: 'pass'; at: SourcePoint };

export const FUNCTION_ACTIONS_UNSUPPORTED = 'python function actions are not supported: use Exec';
const SUPPORTED_STATEMENTS =
  'a watch file holds only top-level RegisterWatch(...) calls, imports and NAME = value lines';

/** Python 2 and 3 keywords: none of them may be a name, and most start a statement that is refused. */
const KEYWORDS = new Set(
  (
    'and as assert async await break class continue def del elif else except exec finally ' +
    'for from global if import in is lambda nonlocal not or pass print raise return try while with yield'
  ).split(' '),
);
/** Python operators that are valid Python but not part of the subset: named in the error. */
const UNSUPPORTED_OPERATORS = new Set(
  '** / // % @ << >> & | ^ ~ < > <= >= == != <> += -= *= /= //= %= **= >>= <<= &= |= ^= @= := ->'.split(' '),
);

const MAX_NESTING = 100;
const MAX_CHAIN = 1000;

export function parseTwc(source: string, context: WatchFileContext): Statement[] {
  return new Parser(tokenizer(source, context), context).file();
}

class Parser {
  /** Tokens read ahead of the parse; at most two are ever looked at before being consumed. */
  private readonly ahead: Token[] = [];

  constructor(
    private readonly nextToken: () => Token,
    private readonly context: WatchFileContext,
  ) {}

  file(): Statement[] {
    const statements: Statement[] = [];
    while (this.peek().kind !== 'end') {
      const token = this.peek();
      if (token.kind === 'indent') this.context.fail(token, `unexpected indent: ${SUPPORTED_STATEMENTS}`);
      if (token.kind === 'newline') this.next();
      else statements.push(this.statement());
    }
    return statements;
  }

  private peek(offset = 0): Token {
    while (this.ahead.length <= offset) {
      const last = this.ahead.at(-1);
      this.ahead.push(last?.kind === 'end' ? last : this.nextToken());
    }
    return this.ahead[offset];
  }

  private next(): Token {
    const token = this.peek();
    this.ahead.shift();
    return token;
  }

  private skip(count: number): void {
    for (let i = 0; i < count; i++) this.next();
  }

  private isOp(text: string, offset = 0): boolean {
    const token = this.peek(offset);
    return token.kind === 'op' && token.text === text;
  }

  private isKeyword(token: Token): boolean {
    return token.kind === 'name' && KEYWORDS.has(token.text);
  }

  private expectOp(text: string): Token {
    if (!this.isOp(text)) this.unexpected(this.peek(), `'${text}'`);
    return this.next();
  }

  private expectName(what: string): Token {
    const token = this.peek();
    if (token.kind !== 'name' || this.isKeyword(token)) this.unexpected(token, what);
    return this.next();
  }

  /** Fails at `token`, naming what it is and, when given, what was expected there. */
  private unexpected(token: Token, expected?: string): never {
    const wanted = expected ? `: expected ${expected}` : '';
    if (token.kind === 'op' && UNSUPPORTED_OPERATORS.has(token.text)) {
      this.context.fail(token, `operator '${token.text}' is not supported in watch files`);
    }
    if (this.isKeyword(token)) {
      if (token.text === 'lambda') this.context.fail(token, FUNCTION_ACTIONS_UNSUPPORTED);
      this.context.fail(token, `'${token.text}' is not supported here${wanted}`);
    }
    const found =
      token.kind === 'newline'
        ? 'end of line'
        : token.kind === 'end'
          ? 'end of file'
          : token.kind === 'op'
            ? `'${token.text}'`
            : `${token.kind} ${token.text}`;
    this.context.fail(token, `unexpected ${found}${wanted}`);
  }

  private statement(): Statement {
    const statement = this.simpleStatement();
    if (this.isOp(';')) {
      this.next();
      if (this.peek().kind === 'newline') this.next();
    } else if (this.peek().kind === 'newline') {
      this.next();
    } else if (this.peek().kind !== 'end') {
      this.unexpected(this.peek());
    }
    return statement;
  }

  private simpleStatement(): Statement {
    const token = this.peek();
    if (this.isKeyword(token)) return this.keywordStatement(token);
    if (token.kind === 'name' && this.isOp('=', 1)) {
      this.skip(2);
      return { type: 'assign', name: token.text, value: this.expression(), at: token };
    }
    return { type: 'expression', expr: this.expression(), at: token };
  }

  private keywordStatement(token: Token): Statement {
    switch (token.text) {
      case 'import':
        return this.importStatement();
      case 'from':
        return this.fromImport();
      case 'pass':
        this.next();
        return { type: 'pass', at: token };
      case 'def':
      case 'lambda':
        return this.context.fail(token, FUNCTION_ACTIONS_UNSUPPORTED);
      case 'class':
        return this.context.fail(token, `class definitions are not supported: ${SUPPORTED_STATEMENTS}`);
      default:
        return this.context.fail(
          token,
          `'${token.text}' statements are not supported: ${SUPPORTED_STATEMENTS}`,
        );
    }
  }

  private dottedName(): string {
    const parts = [this.expectName('a module name').text];
    while (this.isOp('.')) {
      this.next();
      parts.push(this.expectName('a module name').text);
    }
    return parts.join('.');
  }

  private importStatement(): Statement {
    const at = this.next();
    const bindings: ImportBinding[] = [];
    do {
      if (bindings.length) this.next();
      const module = this.dottedName();
      if (this.peek().text === 'as' && this.peek().kind === 'name') {
        this.next();
        bindings.push({ local: this.expectName('a name').text, module });
      } else {
        const top = module.split('.')[0];
        bindings.push({ local: top, module: top });
      }
    } while (this.isOp(','));
    return { type: 'import', bindings, at };
  }

  private fromImport(): Statement {
    const at = this.next();
    if (this.isOp('.')) this.context.fail(this.peek(), 'relative imports are not supported in watch files');
    const module = this.dottedName();
    if (this.peek().kind !== 'name' || this.peek().text !== 'import') {
      this.unexpected(this.peek(), "'import'");
    }
    this.next();
    if (this.isOp('*')) {
      this.next();
      return { type: 'import', bindings: [], star: module, at };
    }
    const parenthesized = this.isOp('(');
    if (parenthesized) this.next();
    const bindings: ImportBinding[] = [];
    for (;;) {
      const member = this.expectName('a name to import').text;
      let local = member;
      if (this.peek().kind === 'name' && this.peek().text === 'as') {
        this.next();
        local = this.expectName('a name').text;
      }
      bindings.push({ local, module, member });
      if (!this.isOp(',')) break;
      this.next();
      if (parenthesized && this.isOp(')')) break;
    }
    if (parenthesized) this.expectOp(')');
    return { type: 'import', bindings, at };
  }

  /** Brackets, calls and signs nest this deep at most (Python's own parser stops near here too). */
  private depth = 0;

  private nested<T>(parse: () => T): T {
    if (++this.depth > MAX_NESTING) {
      this.context.fail(this.peek(), `expression nested more than ${MAX_NESTING} levels deep`);
    }
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  private expression(): Expr {
    return this.nested(() => {
      let left = this.term();
      for (let operators = 0; this.isOp('+') || this.isOp('-'); operators++) {
        const operator = this.chained(operators);
        left = {
          type: 'binary',
          operator: operator.text as '+' | '-',
          left,
          right: this.term(),
          at: operator,
        };
      }
      return left;
    });
  }

  private term(): Expr {
    let left = this.unary();
    for (let operators = 0; this.isOp('*'); operators++) {
      const operator = this.chained(operators);
      left = { type: 'binary', operator: '*', left, right: this.unary(), at: operator };
    }
    return left;
  }

  /** The next operator of a chain; a chain is evaluated recursively, so its length is bounded. */
  private chained(operators: number): Token {
    if (operators >= MAX_CHAIN) {
      this.context.fail(this.peek(), `more than ${MAX_CHAIN} operators in one expression`);
    }
    return this.next();
  }

  private unary(): Expr {
    if (this.isOp('-') || this.isOp('+')) {
      const operator = this.next();
      const operand = this.nested(() => this.unary());
      return { type: 'unary', operator: operator.text as '+' | '-', operand, at: operator };
    }
    return this.postfix();
  }

  private postfix(): Expr {
    let expr = this.atom();
    for (let links = 0; ; links++) {
      if (links > MAX_CHAIN) {
        this.context.fail(this.peek(), `more than ${MAX_CHAIN} calls and attributes in a row`);
      }
      if (this.isOp('(')) {
        this.next();
        expr = { type: 'call', callee: expr, args: this.callArguments(), at: expr.at };
      } else if (this.isOp('.')) {
        this.next();
        expr = {
          type: 'attribute',
          object: expr,
          name: this.expectName('an attribute name').text,
          at: expr.at,
        };
      } else if (this.isOp('[')) {
        this.context.fail(this.peek(), 'indexing and slicing are not supported in watch files');
      } else {
        return expr;
      }
    }
  }

  private atom(): Expr {
    const token = this.peek();
    if (token.kind === 'string') return this.strings();
    if (token.kind === 'number') {
      this.next();
      return { type: 'number', value: token.number!.value, integer: token.number!.integer, at: token };
    }
    if (token.kind === 'name' && !this.isKeyword(token)) {
      this.next();
      if (token.text === 'True' || token.text === 'False' || token.text === 'None') {
        return { type: 'constant', value: token.text === 'None' ? null : token.text === 'True', at: token };
      }
      return { type: 'name', name: token.text, at: token };
    }
    if (this.isOp('(')) return this.parenthesized();
    if (this.isOp('[')) {
      this.next();
      return { type: 'list', items: this.sequence(']'), at: token };
    }
    if (this.isOp('{')) this.context.fail(token, 'dictionaries and sets are not supported in watch files');
    return this.unexpected(token, 'a value');
  }

  private strings(): Expr {
    const tokens: Token[] = [];
    while (this.peek().kind === 'string') tokens.push(this.next());
    return { type: 'string', tokens, at: tokens[0] };
  }

  /** `(x)` is x; `()`, `(x,)` and `(x, y)` are tuples. */
  private parenthesized(): Expr {
    const open = this.next();
    if (this.isOp(')')) {
      this.next();
      return { type: 'tuple', items: [], at: open };
    }
    const first = this.expression();
    if (this.isOp(')')) {
      this.next();
      return first;
    }
    this.expectOp(',');
    return { type: 'tuple', items: [first, ...this.sequence(')')], at: open };
  }

  /** Items up to the closing bracket, a trailing comma allowed. */
  private sequence(close: string): Expr[] {
    const items: Expr[] = [];
    while (!this.isOp(close)) {
      items.push(this.expression());
      if (!this.isOp(',')) break;
      this.next();
    }
    this.expectOp(close);
    return items;
  }

  private callArguments(): Argument[] {
    const args: Argument[] = [];
    const keywords = new Set<string>();
    while (!this.isOp(')')) {
      const token = this.peek();
      if (this.isOp('*') || this.isOp('**')) {
        this.context.fail(token, 'argument unpacking (*args, **kwargs) is not supported in watch files');
      }
      if (token.kind === 'name' && this.isOp('=', 1)) {
        if (keywords.has(token.text)) this.context.fail(token, `keyword argument repeated: ${token.text}`);
        keywords.add(token.text);
        this.skip(2);
        args.push({ keyword: token.text, value: this.expression(), at: token });
      } else {
        if (keywords.size) this.context.fail(token, 'positional argument follows keyword argument');
        args.push({ value: this.expression(), at: token });
      }
      if (!this.isOp(',')) break;
      this.next();
    }
    this.expectOp(')');
    return args;
  }
}
