import { WatchFile, WatchSpec } from './spec';
import { SourcePoint, WatchFileContext } from './twc-errors';
import {
  Argument,
  Expr,
  FUNCTION_ACTIONS_UNSUPPORTED,
  ImportBinding,
  parseTwc,
  Statement,
} from './twc-parser';
import {
  ALL_PARAMETERS,
  buildWatchSpec,
  execCommand,
  REGISTER_WATCH_PARAMETERS,
  retryPolicy,
  SIGNAL_NUMBERS,
  WatchOption,
} from './twc-register-watch';
import { decodeStringTokens } from './twc-strings';
import { describeValue, NONE, PyValue, RUN_MODE_NUMBERS, WATCH_TYPE_NUMBERS } from './twc-values';

/**
 * Evaluates a parsed `.twc` file as data: the names Twitcher gives a configuration
 * (RegisterWatch, Exec, QUEUE, ...), plus Retry, KEEP_WATCHING and STOP_WATCHING for
 * on_failure, `signal.SIGxxx` after `import signal`, and names assigned earlier in the file.
 * Imports of other modules are accepted and do nothing until something of theirs is used,
 * which is then an error: a watch file describes watches, it does not run code.
 */

/** Reads a `.twc` file's text; throws WatchConfigError at the first problem. */
export function parseTwcWatches(source: string, file: string): WatchFile {
  const context = new WatchFileContext(file);
  const evaluator = new Evaluator(context);
  for (const statement of parseTwc(source, context)) evaluator.statement(statement);
  return { file, watches: evaluator.watches, warnings: context.warnings };
}

function twitcherGlobals(): Map<string, PyValue> {
  const globals = new Map<string, PyValue>([
    ['RegisterWatch', { kind: 'builtin', name: 'RegisterWatch' }],
    ['Exec', { kind: 'builtin', name: 'Exec' }],
    ['Retry', { kind: 'builtin', name: 'Retry' }],
    ['KEEP_WATCHING', { kind: 'policy', policy: { kind: 'keep' }, constant: 'KEEP_WATCHING' }],
    ['STOP_WATCHING', { kind: 'policy', policy: { kind: 'stop' }, constant: 'STOP_WATCHING' }],
  ]);
  for (const [name, value] of Object.entries({ ...RUN_MODE_NUMBERS, ...WATCH_TYPE_NUMBERS })) {
    globals.set(name, { kind: 'int', value, constant: name });
  }
  return globals;
}

const CALL_PARAMETERS = {
  Exec: { parameters: ['command'], keywordOnly: [] as string[] },
  Retry: { parameters: ['times', 'backoff', 'then'], keywordOnly: [] as string[] },
  RegisterWatch: {
    parameters: [...REGISTER_WATCH_PARAMETERS] as string[],
    keywordOnly: ['on_failure', 'exclusive'],
  },
};

class Evaluator {
  readonly watches: WatchSpec[] = [];
  private readonly names = twitcherGlobals();
  private unicodeLiterals = false;

  constructor(private readonly context: WatchFileContext) {}

  statement(statement: Statement): void {
    switch (statement.type) {
      case 'expression':
        this.evaluate(statement.expr);
        return;
      case 'assign':
        this.names.set(statement.name, this.evaluate(statement.value));
        return;
      case 'import':
        return this.importNames(statement.bindings, statement.star);
      case 'pass':
        return;
    }
  }

  private importNames(bindings: ImportBinding[], star: string | undefined): void {
    if (star === 'signal') {
      for (const name of SIGNAL_NUMBERS.keys()) this.names.set(name, this.signalValue(name, name));
    }
    for (const { local, module, member } of bindings) {
      if (module === '__future__') {
        this.unicodeLiterals ||= member === 'unicode_literals'; // the only feature that changes a value
      } else {
        this.names.set(local, this.imported(module, member));
      }
    }
  }

  private imported(module: string, member: string | undefined): PyValue {
    if (member === undefined) return { kind: 'module', name: module };
    if (module === 'signal' && SIGNAL_NUMBERS.has(member)) return this.signalValue(member, member);
    return { kind: 'foreign', name: `${module}.${member}` };
  }

  private signalValue(name: string, written: string): PyValue {
    return { kind: 'int', value: SIGNAL_NUMBERS.get(name)!, constant: written };
  }

  private fail(at: SourcePoint, reason: string): never {
    return this.context.fail(at, reason);
  }

  evaluate(expr: Expr): PyValue {
    switch (expr.type) {
      case 'name': {
        const value = this.names.get(expr.name);
        return value ?? this.fail(expr.at, `name '${expr.name}' is not defined`);
      }
      case 'constant':
        return expr.value === null ? NONE : { kind: 'bool', value: expr.value };
      case 'string':
        return { kind: 'str', value: decodeStringTokens(expr.tokens, this.unicodeLiterals, this.context) };
      case 'number':
        return expr.integer ? { kind: 'int', value: expr.value } : { kind: 'float', value: expr.value };
      case 'list':
      case 'tuple':
        return { kind: expr.type, items: expr.items.map((item) => this.evaluate(item)) };
      case 'attribute':
        return this.attribute(this.evaluate(expr.object), expr.name, expr.at);
      case 'call':
        return this.call(expr.callee, expr.args, expr.at);
      case 'binary':
        return this.binary(expr.operator, this.evaluate(expr.left), this.evaluate(expr.right), expr.at);
      case 'unary':
        return this.negate(expr.operator, this.evaluate(expr.operand), expr.at);
    }
  }

  private attribute(object: PyValue, name: string, at: SourcePoint): PyValue {
    if (object.kind === 'module' && object.name === 'signal') {
      if (SIGNAL_NUMBERS.has(name)) return this.signalValue(name, `signal.${name}`);
      return this.fail(at, `signal.${name} is not a signal name`);
    }
    if (object.kind === 'module' || object.kind === 'foreign') {
      return { kind: 'foreign', name: `${object.name}.${name}` };
    }
    if (object.kind === 'str' && name === 'join') {
      return { kind: 'method', name: 'join', receiver: object.value };
    }
    if (object.kind === 'str') {
      return this.fail(at, `the string method ${name} is not supported (only join is)`);
    }
    return this.fail(at, `${describeValue(object)} has no attribute ${name} in a watch file`);
  }

  private call(calleeExpr: Expr, args: Argument[], at: SourcePoint): PyValue {
    const callee = this.evaluate(calleeExpr);
    if (callee.kind === 'method') return this.join(callee.receiver, args, at);
    if (callee.kind !== 'builtin') {
      return this.fail(at, `calling ${describeValue(callee)} is not supported in a watch file`);
    }
    const bound = this.bindArguments(callee.name, args, at);
    switch (callee.name) {
      case 'Exec':
        return this.exec(bound, at);
      case 'Retry':
        return this.retry(bound, at);
      case 'RegisterWatch':
        this.watches.push(
          buildWatchSpec({ at, index: this.watches.length + 1, options: bound }, this.context),
        );
        return NONE;
    }
  }

  /** Python's binding of arguments to parameters, with its errors; values are evaluated in order. */
  private bindArguments(
    name: keyof typeof CALL_PARAMETERS,
    args: Argument[],
    at: SourcePoint,
  ): Map<string, WatchOption> {
    const { parameters, keywordOnly } = CALL_PARAMETERS[name];
    const bound = new Map<string, WatchOption>();
    args.forEach((arg, index) => {
      const parameter = arg.keyword ?? parameters[index];
      if (parameter === undefined) {
        const most = `${parameters.length} positional argument${parameters.length === 1 ? '' : 's'}`;
        this.fail(arg.at, `${name}() takes at most ${most} (${args.length} given)`);
      }
      if (arg.keyword !== undefined && !parameters.includes(parameter) && !keywordOnly.includes(parameter)) {
        const known = name === 'RegisterWatch' ? ` (it takes ${ALL_PARAMETERS.join(', ')})` : '';
        this.fail(arg.at, `${name}() got an unexpected keyword argument '${parameter}'${known}`);
      }
      if (bound.has(parameter)) {
        this.fail(arg.at, `${name}() got multiple values for argument '${parameter}'`);
      }
      bound.set(parameter, { value: this.argumentValue(name, parameter, arg.value), at: arg.at });
    });
    if (args.length === 0 && name !== 'RegisterWatch') this.fail(at, `${name}() needs an argument`);
    return bound;
  }

  /** An action given as a bare name is a Python function Twitcher would fork and call. */
  private argumentValue(callee: string, parameter: string, expr: Expr): PyValue {
    if (
      callee === 'RegisterWatch' &&
      parameter === 'action' &&
      expr.type === 'name' &&
      !this.names.has(expr.name)
    ) {
      return this.fail(expr.at, FUNCTION_ACTIONS_UNSUPPORTED);
    }
    return this.evaluate(expr);
  }

  private exec(bound: Map<string, WatchOption>, at: SourcePoint): PyValue {
    const argument = bound.get('command');
    const command = argument ? execCommand(argument.value) : { problem: 'Exec() needs a command' };
    if (typeof command === 'object' && !Array.isArray(command)) {
      return this.fail(argument?.at ?? at, command.problem);
    }
    return { kind: 'exec', command };
  }

  private retry(bound: Map<string, WatchOption>, at: SourcePoint): PyValue {
    const policy = retryPolicy(
      bound.get('times')?.value,
      bound.get('backoff')?.value,
      bound.get('then')?.value,
    );
    if ('problem' in policy) return this.fail(bound.get(policy.argument)?.at ?? at, policy.problem);
    return { kind: 'policy', policy };
  }

  private join(separator: string, args: Argument[], at: SourcePoint): PyValue {
    if (args.length !== 1 || args[0].keyword !== undefined) {
      return this.fail(at, 'join() takes one list of strings');
    }
    const iterable = this.evaluate(args[0].value);
    if (iterable.kind !== 'list' && iterable.kind !== 'tuple') {
      return this.fail(args[0].at, `join() takes a list of strings, found ${describeValue(iterable)}`);
    }
    const parts = iterable.items.map((item) =>
      item.kind === 'str'
        ? item.value
        : this.fail(args[0].at, `join() needs strings, found ${describeValue(item)}`),
    );
    return { kind: 'str', value: parts.join(separator) };
  }

  private binary(operator: '+' | '-' | '*', left: PyValue, right: PyValue, at: SourcePoint): PyValue {
    if (operator === '+' && left.kind === 'str' && right.kind === 'str') {
      return { kind: 'str', value: left.value + right.value };
    }
    if (operator === '+' && (left.kind === 'list' || left.kind === 'tuple') && right.kind === left.kind) {
      return { kind: left.kind, items: [...left.items, ...right.items] };
    }
    if ((left.kind === 'int' || left.kind === 'float') && (right.kind === 'int' || right.kind === 'float')) {
      const value =
        operator === '+'
          ? left.value + right.value
          : operator === '-'
            ? left.value - right.value
            : left.value * right.value;
      if (left.kind === 'float' || right.kind === 'float') return { kind: 'float', value };
      if (!Number.isSafeInteger(value)) this.fail(at, 'integer result is too large');
      return { kind: 'int', value };
    }
    return this.fail(
      at,
      `unsupported operands for ${operator}: ${describeValue(left)} and ${describeValue(right)}`,
    );
  }

  private negate(operator: '+' | '-', operand: PyValue, at: SourcePoint): PyValue {
    if (operand.kind !== 'int' && operand.kind !== 'float') {
      return this.fail(at, `unsupported operand for unary ${operator}: ${describeValue(operand)}`);
    }
    return { kind: operand.kind, value: operator === '-' ? 0 - operand.value : operand.value };
  }
}
