import { HandlerParamsError } from '../handler';

/**
 * Reads one handler's params from pipelines.yaml, throwing HandlerParamsError with the param's
 * name and what was expected. A YAML `key:` with no value (null) counts as absent.
 */
export class ParamReader {
  constructor(
    readonly handler: string,
    readonly params: Record<string, unknown>,
    known: readonly string[],
  ) {
    if (params === null || typeof params !== 'object' || Array.isArray(params)) {
      throw new HandlerParamsError(handler, `params must be a mapping, got ${describe(params)}`);
    }
    const unknown = Object.keys(params).filter((k) => !known.includes(k));
    if (unknown.length) {
      throw new HandlerParamsError(
        handler,
        `unknown param${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} ` +
          `(known: ${known.length ? [...known].sort().join(', ') : 'none'})`,
      );
    }
  }

  fail(name: string, expected: string): never {
    throw new HandlerParamsError(
      this.handler,
      `param ${name}: expected ${expected}, got ${describe(this.params[name])}`,
    );
  }

  has(name: string): boolean {
    return this.params[name] !== undefined && this.params[name] !== null;
  }

  string(name: string): string | undefined {
    const v = this.params[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') this.fail(name, 'a string');
    return v;
  }

  requiredString(name: string): string {
    const v = this.string(name);
    if (v === undefined || v === '') this.fail(name, 'a non-empty string (it is required)');
    return v;
  }

  oneOf<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const v = this.string(name);
    if (v === undefined) return fallback;
    if (!(choices as readonly string[]).includes(v)) this.fail(name, `one of ${choices.join(', ')}`);
    return v as T;
  }

  number(name: string, fallback: number, opts: { min?: number; integer?: boolean } = {}): number {
    const v = this.params[name];
    if (v === undefined || v === null) return fallback;
    const min = opts.min ?? 0;
    const what = `${opts.integer ? 'an integer' : 'a number'} >= ${min}`;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) this.fail(name, what);
    if (opts.integer && !Number.isInteger(v)) this.fail(name, what);
    return v;
  }

  /** A list of strings; a single string is a one-item list (as upstream's event_types). */
  stringList(name: string, opts: { single?: boolean } = {}): string[] | undefined {
    const v = this.params[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string' && opts.single) return [v];
    if (!Array.isArray(v) || v.some((item) => typeof item !== 'string')) {
      this.fail(name, opts.single ? 'a string or a list of strings' : 'a list of strings');
    }
    return v as string[];
  }

  /** A mapping of names to scalars (string, number, boolean). */
  scalarMap(name: string): Record<string, string | number | boolean> {
    const v = this.params[name];
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(name, 'a mapping');
    for (const item of Object.values(v as Record<string, unknown>)) {
      if (!['string', 'number', 'boolean'].includes(typeof item)) {
        this.fail(name, 'a mapping of names to strings, numbers or booleans');
      }
    }
    return v as Record<string, string | number | boolean>;
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `a list (${JSON.stringify(v)})`;
  if (v instanceof Date) return `a timestamp (${v.toISOString()})`;
  if (typeof v === 'object') return `a mapping (${JSON.stringify(v)})`;
  return `${typeof v} ${JSON.stringify(v)}`;
}
