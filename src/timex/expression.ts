import { Micros } from '../time/micros';
import { TimexVariableError } from './errors';
import { parseTimexSyntax, TimexNode } from './parser';
import { applyOperation, pinnedRange, TimexRange, TimexTimestamp, TimexValue } from './values';

/** Variable values by name (without the `$`): a record, a map, or a lookup function. */
export type TimexVariables =
  Readonly<Record<string, Micros>> | ReadonlyMap<string, Micros> | ((name: string) => Micros | undefined);

/** The default variable: `day` means `day($timestamp)`. */
export const DEFAULT_VARIABLE = 'timestamp';

function lookupOf(variables: TimexVariables): (name: string) => Micros | undefined {
  if (typeof variables === 'function') return variables;
  if (variables instanceof Map) return (name) => variables.get(name);
  const record = variables as Readonly<Record<string, Micros>>;
  return (name) => (Object.hasOwn(record, name) ? record[name] : undefined);
}

function collectVariables(node: TimexNode, into: Set<string>): void {
  switch (node.type) {
    case 'variable':
      into.add(node.name);
      return;
    case 'function':
      if (node.argument) collectVariables(node.argument, into);
      else into.add(DEFAULT_VARIABLE);
      return;
    case 'to':
      collectVariables(node.from, into);
      collectVariables(node.until, into);
      return;
    case 'operation':
      collectVariables(node.operand, into);
      return;
  }
}

function evaluateNode(node: TimexNode, lookup: (name: string) => Micros | undefined): TimexValue {
  switch (node.type) {
    case 'variable': {
      const value = lookup(node.name);
      if (value === undefined) throw new TimexVariableError(node.name);
      return new TimexTimestamp(value);
    }
    case 'function': {
      let at: Micros;
      if (node.argument) {
        at = evaluateNode(node.argument, lookup).timestamp;
      } else {
        const value = lookup(DEFAULT_VARIABLE);
        if (value === undefined) throw new TimexVariableError(DEFAULT_VARIABLE);
        at = value;
      }
      return pinnedRange(node.name, at);
    }
    case 'to':
      return new TimexRange(
        evaluateNode(node.from, lookup).timestamp,
        evaluateNode(node.until, lookup).timestamp,
      );
    case 'operation':
      return applyOperation(evaluateNode(node.operand, lookup), node.op, node.duration);
  }
}

/**
 * A parsed time expression, ready to evaluate many times. Evaluation throws
 * TimexVariableError for a variable not given and TimexEvaluationError for an impossible
 * date; parsing (`parseTimex`) throws TimexParseError.
 */
export class TimexExpression {
  /** Every variable the expression reads, `timestamp` included when a function has no argument. */
  readonly variables: ReadonlySet<string>;
  /** Whether it evaluates to a range (known from the syntax alone). */
  readonly isRange: boolean;

  constructor(
    readonly source: string,
    readonly syntax: TimexNode,
  ) {
    const names = new Set<string>();
    collectVariables(syntax, names);
    this.variables = names;
    this.isRange = syntax.isRange;
  }

  evaluate(variables: TimexVariables): TimexValue {
    return evaluateNode(this.syntax, lookupOf(variables));
  }

  toString(): string {
    return this.source;
  }
}

export function parseTimex(source: string): TimexExpression {
  return new TimexExpression(source, parseTimexSyntax(source));
}
