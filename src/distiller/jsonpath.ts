import { dictKeys, isDict, NeedExactJson, numberReading, PyNumber, pyTypeName } from './python';

/**
 * The JSONPath dialect of jsonpath-rw 1.4, which StackDistiller uses for `fields`: its grammar
 * (including its operator precedence, where `|` binds tighter than `.`), its match order and its
 * quirks (`[*]` on a scalar yields the scalar, `[n]` on a dict or null raises), compiled once into
 * closures. Plain key chains such as `payload.image_meta.'org.openstack__1__os_version'`, nearly
 * every real definition, compile to direct property reads.
 */

export type PathNode =
  | { kind: 'root' }
  | { kind: 'this' }
  | { kind: 'parent' }
  | { kind: 'fields'; names: string[] }
  | { kind: 'index'; index: number }
  | { kind: 'slice'; start: number | null; end: number | null }
  | { kind: 'child' | 'descendants' | 'where' | 'union' | 'intersect'; left: PathNode; right: PathNode };

/** A path that does not parse, with the 0-based offset of the problem. */
export class JsonPathSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'JsonPathSyntaxError';
  }
}

/** Evaluating a path raised in jsonpath-rw (e.g. `[0]` applied to null): the notification cannot be distilled. */
export class PathFailure {
  constructor(readonly reason: string) {}
}

type TokenType =
  | 'ID'
  | 'NUMBER'
  | 'NAMED_OPERATOR'
  | 'WHERE'
  | 'DOUBLEDOT'
  | '*'
  | '.'
  | '['
  | ']'
  | '('
  | ')'
  | '$'
  | ','
  | ':'
  | '|'
  | '&'
  | 'EOF';

interface Token {
  type: TokenType;
  text: string;
  number: number;
  offset: number;
}

const ID_START = /[a-zA-Z_@]/;
const ID_REST = /[a-zA-Z0-9_@-]/;
const UNICODE_DIGIT = /\p{Nd}/u;
const LITERALS = new Set(['*', '.', '[', ']', '(', ')', '$', ',', ':', '|', '&']);

function unicodeDigitValue(ch: string): number {
  const cp = ch.codePointAt(0)!;
  if (cp < 128) return cp - 48;
  let run = 0;
  while (run < 100 && UNICODE_DIGIT.test(String.fromCodePoint(cp - run - 1))) run++;
  return run % 10;
}

/** A number lexeme (Unicode decimal digits, maybe after `-`) at `start`: its value and where it ends. */
function lexNumber(chars: string[], start: number): { value: number; end: number } {
  let i = start + 1;
  while (i < chars.length && UNICODE_DIGIT.test(chars[i])) i++;
  const lexeme = chars.slice(start, i);
  const negative = lexeme[0] === '-';
  let value = 0;
  for (const d of negative ? lexeme.slice(1) : lexeme) value = value * 10 + unicodeDigitValue(d);
  return { value: negative ? -value : value, end: i };
}

/** A quoted name opening at `start`: its text (backslash escapes any character) and where it ends. */
function lexQuoted(chars: string[], start: number): { value: string; end: number } {
  const quote = chars[start];
  let i = start + 1;
  let value = '';
  for (;;) {
    if (i >= chars.length) {
      throw new JsonPathSyntaxError('unexpected end of the path in a quoted name', start);
    }
    const d = chars[i];
    if (d === quote) return { value, end: i + 1 };
    if (d === '\\') {
      if (i + 1 >= chars.length || chars[i + 1] === '\n') {
        throw new JsonPathSyntaxError(`unexpected character ${JSON.stringify(d)} in a quoted name`, i);
      }
      value += chars[i + 1];
      i += 2;
    } else {
      value += d;
      i++;
    }
  }
}

/** jsonpath-rw's PLY lexer: rules tried in its order (ID, NUMBER, quotes, newline, `..`, literals). */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  const chars = [...text];
  // Offsets are reported in code points, as Python counts them.
  let i = 0;
  const push = (type: TokenType, value: string, offset: number, number = 0) =>
    tokens.push({ type, text: value, number, offset });
  while (i < chars.length) {
    const c = chars[i];
    if (c === ' ' || c === '\t' || c === '\n') {
      i++;
      continue;
    }
    const start = i;
    if (ID_START.test(c)) {
      while (i < chars.length && ID_REST.test(chars[i])) i++;
      const id = chars.slice(start, i).join('');
      push(id === 'where' ? 'WHERE' : 'ID', id, start);
      continue;
    }
    if (UNICODE_DIGIT.test(c) || (c === '-' && i + 1 < chars.length && UNICODE_DIGIT.test(chars[i + 1]))) {
      const number = lexNumber(chars, start);
      i = number.end;
      push('NUMBER', chars.slice(start, i).join(''), start, number.value);
      continue;
    }
    if (c === "'" || c === '"' || c === '`') {
      const quoted = lexQuoted(chars, start);
      i = quoted.end;
      push(c === '`' ? 'NAMED_OPERATOR' : 'ID', quoted.value, start);
      continue;
    }
    if (c === '.' && chars[i + 1] === '.') {
      i += 2;
      push('DOUBLEDOT', '..', start);
      continue;
    }
    if (LITERALS.has(c)) {
      i++;
      push(c as TokenType, c, start);
      continue;
    }
    throw new JsonPathSyntaxError(`unexpected character ${JSON.stringify(c)}`, start);
  }
  push('EOF', '', chars.length);
  return tokens;
}

/** Binary operators and their precedence in jsonpath-rw's grammar (all left-associative). */
const BINARY: Partial<
  Record<TokenType, { prec: number; kind: 'child' | 'descendants' | 'where' | 'union' | 'intersect' }>
> = {
  DOUBLEDOT: { prec: 1, kind: 'descendants' },
  '.': { prec: 2, kind: 'child' },
  '|': { prec: 3, kind: 'union' },
  '&': { prec: 4, kind: 'intersect' },
  WHERE: { prec: 5, kind: 'where' },
};

/** More steps than this is refused: compiling and evaluating a path recurse over its tree. */
export const JSONPATH_MAX_STEPS = 500;

/** Parses a path as jsonpath-rw does; throws JsonPathSyntaxError. */
export function parseJsonPath(text: string): PathNode {
  return new PathParser(tokenize(text)).parse();
}

/** Precedence climbing over jsonpath-rw's grammar: expression ← postfix ← atom (← bracket). */
class PathParser {
  private pos = 0;
  private steps = 0;

  constructor(private readonly tokens: Token[]) {}

  parse(): PathNode {
    const result = this.expression(0);
    if (this.peek().type !== 'EOF') this.unexpected(this.peek());
    return result;
  }

  /** Binary operators of at least `minPrec`, left-associative. */
  private expression(minPrec: number): PathNode {
    let left = this.postfix();
    for (;;) {
      const op = BINARY[this.peek().type];
      if (!op || op.prec < minPrec) return left;
      this.step(this.peek());
      this.pos++;
      left = { kind: op.kind, left, right: this.expression(op.prec + 1) };
    }
  }

  private postfix(): PathNode {
    let node = this.atom();
    // A bracket after a path applies to its last step: jsonpath-rw's parser shifts `[` over any reduction.
    while (this.peek().type === '[') node = { kind: 'child', left: node, right: this.bracket() };
    return node;
  }

  private atom(): PathNode {
    const t = this.peek();
    switch (t.type) {
      case 'ID':
        return { kind: 'fields', names: this.fieldList() };
      case '*':
        this.pos++;
        return { kind: 'fields', names: ['*'] };
      case '$':
        this.pos++;
        return { kind: 'root' };
      case 'NAMED_OPERATOR':
        this.pos++;
        return this.namedOperator(t);
      case '[':
        return this.bracket();
      case '(':
        return this.parenthesized();
      default:
        return this.unexpected(t);
    }
  }

  private namedOperator(t: Token): PathNode {
    if (t.text === 'this') return { kind: 'this' };
    if (t.text === 'parent') return { kind: 'parent' };
    throw new JsonPathSyntaxError(`unknown named operator \`${t.text}\``, t.offset);
  }

  private parenthesized(): PathNode {
    this.step(this.peek());
    this.expect('(');
    const inner = this.expression(0);
    this.expect(')');
    return inner;
  }

  /** `[n]`, `[start:end]`, `[*]` or `[name, …]`. */
  private bracket(): PathNode {
    this.step(this.peek());
    this.expect('[');
    let node: PathNode;
    const t = this.peek();
    if (t.type === 'NUMBER' || t.type === ':') {
      node = this.indexOrSlice();
    } else if (t.type === '*') {
      this.pos++;
      node = { kind: 'slice', start: null, end: null };
    } else if (t.type === 'ID') {
      node = { kind: 'fields', names: this.fieldList() };
    } else {
      return this.unexpected(t);
    }
    this.expect(']');
    return node;
  }

  private indexOrSlice(): PathNode {
    const start = this.optionalNumber();
    if (this.peek().type !== ':') return { kind: 'index', index: start! };
    this.pos++;
    return { kind: 'slice', start, end: this.optionalNumber() };
  }

  private fieldList(): string[] {
    const names = [this.expect('ID').text];
    while (this.peek().type === ',') {
      this.pos++;
      names.push(this.expect('ID').text);
    }
    return names;
  }

  private optionalNumber(): number | null {
    return this.peek().type === 'NUMBER' ? this.tokens[this.pos++].number : null;
  }

  /** Counts an operator, bracket or parenthesis: together they bound the tree's depth. */
  private step(t: Token): void {
    if (++this.steps > JSONPATH_MAX_STEPS) {
      throw new JsonPathSyntaxError(`the path has more than ${JSONPATH_MAX_STEPS} steps`, t.offset);
    }
  }

  private peek(): Token {
    return this.tokens[this.pos];
  }

  private expect(type: TokenType): Token {
    const t = this.tokens[this.pos];
    if (t.type !== type) this.unexpected(t);
    this.pos++;
    return t;
  }

  private unexpected(t: Token): never {
    throw new JsonPathSyntaxError(
      t.type === 'EOF' ? 'unexpected end of the path' : `unexpected ${JSON.stringify(t.text)}`,
      t.offset,
    );
  }
}

/** A value found by a path, with its parent chain (jsonpath-rw's DatumInContext). */
interface Datum {
  value: unknown;
  /** This step's part of the full path: a key, or `[i]`; null for a root. */
  step: string | null;
  context: Datum | null;
}

const hasOwn = Object.prototype.hasOwnProperty;
/** Names an own-property check must guard: reading them from a plain object finds Object.prototype. */
const PROTOTYPE_NAMES = new Set(Object.getOwnPropertyNames(Object.prototype));

function pyLength(v: unknown): number {
  if (Array.isArray(v)) return v.length;
  if (typeof v === 'string') return codePoints(v).length;
  if (isDict(v)) return Object.keys(v).length;
  throw new PathFailure(`object of type '${pyTypeName(v)}' has no len()`);
}

const SURROGATE = /[\ud800-\udfff]/;
const codePoints = (s: string): string[] => (SURROGATE.test(s) ? [...s] : s.split(''));

/** Python's `range(n)[start:end]`. */
function sliceRange(n: number, start: number | null, end: number | null): [number, number] {
  const clamp = (x: number) => (x < 0 ? Math.max(0, n + x) : Math.min(n, x));
  return [start === null ? 0 : clamp(start), end === null ? n : clamp(end)];
}

/** Is this a Python int (as opposed to a float)? In fast mode an integral number may have been a float. */
function isPyInt(v: unknown): boolean {
  if (typeof v === 'boolean') return true;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return false;
    if (numberReading.fast) throw NeedExactJson.instance;
    return true;
  }
  return v instanceof PyNumber && !PyNumber.isFloat(v);
}

function find(node: PathNode, d: Datum): Datum[] {
  switch (node.kind) {
    case 'root': {
      let top = d;
      while (top.context) top = top.context;
      return [{ value: top.value, step: null, context: null }];
    }
    case 'this':
      return [d];
    case 'parent':
      if (!d.context) throw new PathFailure('`parent` of the root');
      return [d.context];
    case 'fields':
      return findFields(node.names, d);
    case 'index':
      return findIndex(node.index, d);
    case 'slice':
      return findSlice(node.start, node.end, d);
    case 'child': {
      const out: Datum[] = [];
      for (const sub of find(node.left, d)) for (const m of find(node.right, sub)) out.push(m);
      return out;
    }
    case 'where':
      return find(node.left, d).filter((sub) => find(node.right, sub).length > 0);
    case 'union':
      return find(node.left, d).concat(find(node.right, d));
    case 'descendants': {
      const out: Datum[] = [];
      for (const m of find(node.left, d)) findInTree(node.right, m, out);
      return out;
    }
    case 'intersect':
      throw new PathFailure('`&` (intersection) is not implemented by jsonpath-rw');
  }
}

function findFields(names: string[], d: Datum): Datum[] {
  const v = d.value;
  if (!isDict(v)) return [];
  const out: Datum[] = [];
  for (const name of names.includes('*') ? dictKeys(v) : names) {
    if (hasOwn.call(v, name)) out.push({ value: v[name], step: name, context: d });
  }
  return out;
}

function findIndex(index: number, d: Datum): Datum[] {
  const v = d.value;
  const length = pyLength(v);
  if (length <= index) return [];
  const items = Array.isArray(v) ? v : typeof v === 'string' ? codePoints(v) : undefined;
  if (!items) throw new PathFailure(`KeyError: ${index} (an index applied to a dict)`);
  const i = index < 0 ? length + index : index;
  if (i < 0) throw new PathFailure(`IndexError: index ${index} out of range`);
  return [{ value: items[i], step: `[${index}]`, context: d }];
}

function findSlice(start: number | null, end: number | null, d: Datum): Datum[] {
  let v = d.value;
  let base = d;
  if (isDict(v) || typeof v === 'string' || isPyInt(v)) {
    // jsonpath-rw: a slice of a dict, string or int is a slice of a one-item list holding it.
    v = [v];
    base = { value: v, step: d.step, context: d.context };
  }
  if (!Array.isArray(v)) throw new PathFailure(`object of type '${pyTypeName(v)}' has no len()`);
  const [from, to] = sliceRange(v.length, start, end);
  const out: Datum[] = [];
  for (let i = from; i < to; i++) out.push({ value: v[i], step: `[${i}]`, context: base });
  return out;
}

/** `node` matched at `m` and at every value below it, depth first (jsonpath-rw's `..`). */
function findInTree(node: PathNode, m: Datum, out: Datum[]): void {
  for (const r of find(node, m)) out.push(r);
  const v = m.value;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) findInTree(node, { value: v[i], step: `[${i}]`, context: m }, out);
  } else if (isDict(v)) {
    for (const k of dictKeys(v)) findInTree(node, { value: v[k], step: k, context: m }, out);
  }
}

/** jsonpath-rw's full path of a match as StackDistiller joins it for plugins: `payload.image_meta.[0]`. */
function fullPath(d: Datum): string {
  const steps: string[] = [];
  for (let x: Datum | null = d; x && x.context; x = x.context) steps.push(x.step!);
  return steps.reverse().join('.');
}

/**
 * Every match of a path in a value, null values included, by the general evaluator (no compiled
 * shortcuts): [full path, value] in jsonpath-rw's order. Throws PathFailure where jsonpath-rw raises.
 */
export function evaluateJsonPath(node: PathNode, body: unknown): PathMatch[] {
  return find(node, { value: body, step: null, context: null }).map((m) => [fullPath(m), m.value]);
}

/** A match handed to trait plugins: [full path, value]. */
export type PathMatch = [path: string, value: unknown];

/** A path compiled for a trait: what its `fields` find in a notification. */
export interface CompiledPath {
  /** The first match whose value is not null (StackDistiller's default), or undefined. */
  first(body: unknown): unknown;
  /** Every match whose value is not null, in jsonpath-rw's order, with its full path (for plugins). */
  matches(body: unknown): PathMatch[];
  /** True when evaluating it can raise (index, slice, parent): it is then always evaluated in full. */
  readonly canFail: boolean;
  /** When every path is a plain key chain: the chains, for callers that generate their own readers. */
  readonly chains?: readonly (readonly string[])[];
}

/** The keys of a path that is only a chain of plain keys (`a.b.'c.d'`), else undefined. */
function keyChain(node: PathNode): string[] | undefined {
  const leaves: PathNode[] = [];
  const flatten = (n: PathNode) => {
    if (n.kind === 'child') {
      flatten(n.left);
      flatten(n.right);
    } else leaves.push(n);
  };
  flatten(node);
  const keys: string[] = [];
  for (let i = 0; i < leaves.length; i++) {
    const leaf = leaves[i];
    if (leaf.kind === 'this' || (leaf.kind === 'root' && i === 0)) continue;
    if (leaf.kind !== 'fields' || leaf.names.length !== 1 || leaf.names[0] === '*') return undefined;
    keys.push(leaf.names[0]);
  }
  return keys.length ? keys : undefined;
}

type Getter = (body: unknown) => unknown;

/**
 * JS source that reads the chain `keys` from `body` into `target` (undefined when a step is
 * missing or not a dict), inside a block labelled `label`. Keys enter the source only as JSON
 * string literals; names Object.prototype has are read only as own properties. Generated code
 * gets its own inline caches per read, which stay monomorphic where a shared closure's would not.
 * Needs `hasOwn` (Object.prototype.hasOwnProperty) in scope.
 */
export function chainSource(keys: readonly string[], target: string, label: string): string {
  const lines = [`${label}: { ${target} = undefined; let v = body;`];
  for (const key of keys) {
    const literal = JSON.stringify(key);
    // PyNumber keeps its state under symbols, so it reads as a dict without keys.
    lines.push(`if (typeof v !== 'object' || v === null || Array.isArray(v)) break ${label};`);
    if (PROTOTYPE_NAMES.has(key)) lines.push(`if (!hasOwn.call(v, ${literal})) break ${label};`);
    lines.push(`v = v[${literal}];`);
  }
  lines.push(`${target} = v; }`);
  return lines.join('\n');
}

/** A direct reader of `body.k1.k2…`: undefined when a step is missing or not a dict. */
function chainGetter(keys: string[]): Getter {
  const source = `let value;\n${chainSource(keys, 'value', 'read')}\nreturn value;`;
  return new Function('hasOwn', `return function (body) {\n${source}\n};`)(hasOwn) as Getter;
}

function canFail(node: PathNode): boolean {
  switch (node.kind) {
    case 'index':
    case 'slice':
    case 'parent':
    case 'intersect':
      return true;
    case 'child':
    case 'descendants':
    case 'where':
    case 'union':
      return canFail(node.left) || canFail(node.right);
    default:
      return false;
  }
}

function compileGeneric(node: PathNode): CompiledPath {
  const all = (body: unknown) => find(node, { value: body, step: null, context: null });
  return {
    canFail: canFail(node),
    first(body) {
      // Evaluated in full, as upstream does, so a failing later branch fails here too.
      for (const m of all(body)) if (m.value !== null && m.value !== undefined) return m.value;
      return undefined;
    },
    matches(body) {
      const out: PathMatch[] = [];
      for (const m of all(body))
        if (m.value !== null && m.value !== undefined) out.push([fullPath(m), m.value]);
      return out;
    },
  };
}

/**
 * Compiles a trait's paths (StackDistiller's `fields`: one path, or several tried in order, as
 * jsonpath-rw's union `(p1)|(p2)`). A union of plain key chains reads each chain directly and
 * stops at the first non-null value; anything else runs the general evaluator.
 */
export function compilePaths(paths: PathNode[]): CompiledPath {
  const chains = paths.map(keyChain);
  if (chains.every((c): c is string[] => c !== undefined)) {
    const getters = chains.map(chainGetter);
    const names = chains.map((keys) => keys.join('.'));
    if (getters.length === 1) {
      const [get] = getters;
      const name = names[0];
      return {
        canFail: false,
        chains,
        first: (body) => {
          const v = get(body);
          return v === null ? undefined : v;
        },
        matches: (body) => {
          const v = get(body);
          return v === null || v === undefined ? [] : [[name, v]];
        },
      };
    }
    return {
      canFail: false,
      chains,
      first(body) {
        for (let i = 0; i < getters.length; i++) {
          const v = getters[i](body);
          if (v !== null && v !== undefined) return v;
        }
        return undefined;
      },
      matches(body) {
        const out: PathMatch[] = [];
        for (let i = 0; i < getters.length; i++) {
          const v = getters[i](body);
          if (v !== null && v !== undefined) out.push([names[i], v]);
        }
        return out;
      },
    };
  }
  const union = paths.reduce((left, right): PathNode => ({ kind: 'union', left, right }));
  return compileGeneric(union);
}

/** jsonpath-rw's `str()` of a path, for messages. */
export function formatJsonPath(node: PathNode): string {
  switch (node.kind) {
    case 'root':
      return '$';
    case 'this':
      return '`this`';
    case 'parent':
      return '`parent`';
    case 'fields':
      return node.names.join(',');
    case 'index':
      return `[${node.index}]`;
    case 'slice':
      return node.start === null && node.end === null ? '[*]' : `[${node.start ?? ''}:${node.end ?? ''}]`;
    case 'child':
      return `${formatJsonPath(node.left)}.${formatJsonPath(node.right)}`;
    case 'descendants':
      return `${formatJsonPath(node.left)}..${formatJsonPath(node.right)}`;
    case 'where':
      return `${formatJsonPath(node.left)} where ${formatJsonPath(node.right)}`;
    case 'union':
      return `(${formatJsonPath(node.left)})|(${formatJsonPath(node.right)})`;
    case 'intersect':
      return `(${formatJsonPath(node.left)})&(${formatJsonPath(node.right)})`;
  }
}

/** Does the path use a construct that upstream accepts at load time but always fails on? */
export function findUnsupported(node: PathNode): string | undefined {
  if (node.kind === 'intersect')
    return '`&` (intersection) is not implemented by jsonpath-rw: every lookup would fail';
  if ('left' in node) return findUnsupported(node.left) ?? findUnsupported(node.right);
  return undefined;
}
