import { FailurePolicy } from './spec';

/**
 * The values a watch file can compute: Python's literals, the results of Exec(...) and
 * Retry(...), and the few names Twitcher puts in a configuration's namespace. YAML watch
 * files are converted to these too, so both are checked by the same code.
 */
export type PyValue =
  | { kind: 'str'; value: string }
  /** `constant` names where the number came from (`QUEUE`, `signal.SIGHUP`), for messages. */
  | { kind: 'int'; value: number; constant?: string }
  | { kind: 'float'; value: number }
  | { kind: 'bool'; value: boolean }
  | { kind: 'none' }
  | { kind: 'list' | 'tuple'; items: PyValue[] }
  | { kind: 'exec'; command: string | string[] }
  | { kind: 'policy'; policy: FailurePolicy; constant?: string }
  | { kind: 'builtin'; name: 'RegisterWatch' | 'Exec' | 'Retry' }
  | { kind: 'method'; name: string; receiver: string }
  | { kind: 'module'; name: string }
  /** Something from an imported module that a watch file cannot use (os.system, time.sleep). */
  | { kind: 'foreign'; name: string };

export const NONE: PyValue = { kind: 'none' };

/** Python's values of Twitcher's run-mode and watch-type names (core.py). */
export const RUN_MODE_NUMBERS = { QUEUE: 1, PARALLEL: 2, DISCARD: 3 } as const;
export const WATCH_TYPE_NUMBERS = { WATCH_DATA: 1, WATCH_CHILDREN: 2 } as const;

/** What a value is, as an error message names it. */
export function describeValue(value: PyValue): string {
  switch (value.kind) {
    case 'str':
      return `a string (${JSON.stringify(value.value.length > 40 ? value.value.slice(0, 40) + '…' : value.value)})`;
    case 'int':
      return value.constant ? `${value.constant} (the number ${value.value})` : `the number ${value.value}`;
    case 'float':
      return `the number ${value.value}`;
    case 'bool':
      return value.value ? 'True' : 'False';
    case 'none':
      return 'None';
    case 'list':
    case 'tuple':
      return `a ${value.kind}`;
    case 'exec':
      return 'Exec(...)';
    case 'policy':
      return value.constant ?? 'Retry(...)';
    case 'builtin':
      return `the function ${value.name}`;
    case 'method':
      return `the method ${value.name}`;
    case 'module':
      return `the module ${value.name}`;
    case 'foreign':
      return value.name;
  }
}
