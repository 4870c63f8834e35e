import { createInterface } from 'node:readline';
import { Readable, Writable } from 'node:stream';
import { once } from 'node:events';
import { Command } from 'commander';
import { formatMicros, Micros, parseIso8601 } from '../time/micros';
import { DEFAULT_VARIABLE, parseTimex, TimexError } from '../timex';

/** What `winchester timex` prints for one expression. */
export type TimexResult =
  | { timestamp: string; contains?: boolean[] }
  | { begin: string; end: string; contains?: boolean[] }
  | { error: 'parse' | 'variable' | 'eval' | 'input'; message: string };

export interface TimexRequest {
  expr: unknown;
  /** name → ISO 8601 datetime; `timestamp` defaults to `now`, as upstream defaulted it to utcnow. */
  vars?: unknown;
  probes?: unknown;
}

const inputError = (message: string): TimexResult => ({ error: 'input', message });

/** Evaluates one request; never throws for a bad request, which becomes an `error` result. */
export function evaluateTimexRequest(request: TimexRequest, now: Micros): TimexResult {
  if (typeof request.expr !== 'string') return inputError('"expr" must be a string');
  const variables: Record<string, Micros> = Object.create(null);
  if (request.vars !== undefined && request.vars !== null) {
    if (typeof request.vars !== 'object' || Array.isArray(request.vars)) {
      return inputError('"vars" must be an object of name: ISO 8601 datetime');
    }
    for (const [name, iso] of Object.entries(request.vars)) {
      const t = typeof iso === 'string' ? parseIso8601(iso) : undefined;
      if (t === undefined)
        return inputError(`variable ${name}: ${JSON.stringify(iso)} is not an ISO 8601 datetime`);
      variables[name] = t;
    }
  }
  if (!(DEFAULT_VARIABLE in variables)) variables[DEFAULT_VARIABLE] = now;
  let probes: Micros[] | undefined;
  if (request.probes !== undefined && request.probes !== null) {
    if (!Array.isArray(request.probes)) return inputError('"probes" must be a list of ISO 8601 datetimes');
    probes = [];
    for (const probe of request.probes) {
      const t = typeof probe === 'string' ? parseIso8601(probe) : undefined;
      if (t === undefined) return inputError(`probe ${JSON.stringify(probe)} is not an ISO 8601 datetime`);
      probes.push(t);
    }
  }
  try {
    const value = parseTimex(request.expr).evaluate(variables);
    const contains = probes ? { contains: probes.map((t) => value.contains(t)) } : {};
    return value.isRange
      ? { begin: formatMicros(value.begin), end: formatMicros(value.end), ...contains }
      : { timestamp: formatMicros(value.timestamp), ...contains };
  } catch (error) {
    if (error instanceof TimexError) return { error: error.kind, message: error.message };
    throw error;
  }
}

/** `--batch`: one JSON request per line in, one result line out; blank lines are skipped. */
export async function runTimexBatch(input: Readable, output: Writable, now: Micros): Promise<number> {
  let count = 0;
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    if (line.trim() === '') continue;
    let result: TimexResult;
    try {
      const request = JSON.parse(line) as unknown;
      result =
        request !== null && typeof request === 'object' && !Array.isArray(request)
          ? evaluateTimexRequest(request as TimexRequest, now)
          : inputError('each line is a JSON object {"expr", "vars", "probes"}');
    } catch (error) {
      result = inputError(`not JSON: ${(error as Error).message}`);
    }
    if (!output.write(`${JSON.stringify(result)}\n`)) await once(output, 'drain');
    count++;
  }
  return count;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerTimex(program: Command): void {
  program
    .command('timex')
    .description(
      'evaluate a time expression (Winchester\'s timex, e.g. "$last + 1h", "day($launched_at) @ 6h") and ' +
        'print {"timestamp"} or {"begin", "end"} as JSON, or {"error": "parse"|"variable"|"eval", "message"}',
    )
    .argument('[expr]', 'the time expression (omit with --batch)')
    .option(
      '--var <name=datetime>',
      'bind $name to an ISO 8601 datetime; repeatable ($timestamp defaults to now)',
      collect,
      [],
    )
    .option(
      '--probe <datetime>',
      'also say whether the result contains this datetime; repeatable',
      collect,
      [],
    )
    .option(
      '--batch',
      'read JSON lines {"expr", "vars": {name: datetime}, "probes": [datetime...]} on stdin, write one result line each',
    )
    .action(async (expr: string | undefined, opts: { var: string[]; probe: string[]; batch?: boolean }) => {
      const now = Date.now() * 1000;
      const usage = (message: string) => {
        process.stderr.write(`winchester timex: ${message}\n`);
        process.exitCode = 2;
      };
      if (opts.batch) {
        if (expr !== undefined)
          return usage('with --batch the expressions come on stdin, not as an argument');
        await runTimexBatch(process.stdin, process.stdout, now);
        return;
      }
      if (expr === undefined) return usage('missing the time expression (or --batch)');
      const vars: Record<string, string> = {};
      for (const binding of opts.var) {
        const eq = binding.indexOf('=');
        if (eq <= 0) return usage(`--var ${binding}: expected name=datetime`);
        vars[binding.slice(0, eq).replace(/^\$/, '')] = binding.slice(eq + 1);
      }
      const result = evaluateTimexRequest(
        { expr, vars, probes: opts.probe.length ? opts.probe : undefined },
        now,
      );
      process.stdout.write(`${JSON.stringify(result)}\n`);
      if ('error' in result) process.exitCode = 1;
    });
}
