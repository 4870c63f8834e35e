import { PassThrough, Readable } from 'node:stream';
import { Command } from 'commander';
import { evaluateTimexRequest, registerTimex, runTimexBatch } from '../../../src/cli/timex';
import { parseIso8601 } from '../../../src/time/micros';

const NOW = parseIso8601('2014-08-15T13:45:30.123456Z')!;

async function timex(...args: string[]): Promise<{ out: string; exitCode: number }> {
  const program = new Command('winchester').exitOverride();
  registerTimex(program);
  const written: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  const previous = process.exitCode;
  process.exitCode = undefined;
  try {
    await program.parseAsync(['node', 'winchester', 'timex', ...args]);
    return { out: written.join(''), exitCode: Number(process.exitCode ?? 0) };
  } finally {
    process.exitCode = previous;
    write.mockRestore();
  }
}

describe('winchester timex', () => {
  it('prints a timestamp, a range, or an error kind with the message', async () => {
    expect(await timex('$last + 1h', '--var', 'last=2014-08-01T02:10:23.000550Z')).toEqual({
      out: '{"timestamp":"2014-08-01T03:10:23.000550Z"}\n',
      exitCode: 0,
    });
    expect(
      await timex('day + 6h', '--var', '$timestamp=2014-08-01T02:10:23Z', '--probe', '2014-08-01T05:00:00Z'),
    ).toEqual({
      out: '{"begin":"2014-07-31T06:00:00.000000Z","end":"2014-08-01T06:00:00.000000Z","contains":[true]}\n',
      exitCode: 0,
    });
    const failed = await timex('dya');
    expect(failed.exitCode).toBe(1);
    expect(JSON.parse(failed.out)).toEqual({
      error: 'parse',
      message: `unknown function 'dya' (the functions are hour, day, month, year; variables start with $) at column 1 of "dya"`,
    });
  });

  it('binds $timestamp to now unless given, as upstream did', () => {
    expect(evaluateTimexRequest({ expr: 'hour' }, NOW)).toEqual({
      begin: '2014-08-15T13:00:00.000000Z',
      end: '2014-08-15T14:00:00.000000Z',
    });
  });

  it('tells parse, variable, evaluation and input errors apart', () => {
    expect(evaluateTimexRequest({ expr: '$a +' }, NOW)).toMatchObject({ error: 'parse' });
    expect(evaluateTimexRequest({ expr: '$a' }, NOW)).toEqual({
      error: 'variable',
      message: 'variable $a is not defined',
    });
    expect(evaluateTimexRequest({ expr: '$timestamp @ 25h' }, NOW)).toMatchObject({ error: 'eval' });
    expect(evaluateTimexRequest({ expr: 5 }, NOW)).toEqual({
      error: 'input',
      message: '"expr" must be a string',
    });
    expect(evaluateTimexRequest({ expr: '$a', vars: { a: 'yesterday' } }, NOW)).toEqual({
      error: 'input',
      message: 'variable a: "yesterday" is not an ISO 8601 datetime',
    });
    expect(
      evaluateTimexRequest({ expr: '$a', vars: { a: '2014-08-01T00:00:00Z' }, probes: 'x' }, NOW),
    ).toMatchObject({
      error: 'input',
    });
  });

  it('--batch: one result line per request line, with contains for the probes', async () => {
    const input = Readable.from(
      [
        '{"expr": "day", "vars": {"timestamp": "2014-08-01T02:10:23Z"}, "probes": ["2014-08-01T23:59:59.999999Z", "2014-08-02T00:00:00Z"]}',
        '',
        '{"expr": "$first to $last", "vars": {"first": "2014-08-01T00:00:00Z", "last": "2014-08-01T00:00:01Z"}}',
        '{"expr": "$x"}',
        'not json',
        '[1]',
      ].join('\n'),
    );
    const output = new PassThrough();
    const chunks: string[] = [];
    output.on('data', (c: Buffer) => chunks.push(c.toString()));
    expect(await runTimexBatch(input, output, NOW)).toBe(5);
    const lines = chunks
      .join('')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown);
    expect(lines).toEqual([
      { begin: '2014-08-01T00:00:00.000000Z', end: '2014-08-02T00:00:00.000000Z', contains: [true, false] },
      { begin: '2014-08-01T00:00:00.000000Z', end: '2014-08-01T00:00:01.000000Z' },
      { error: 'variable', message: 'variable $x is not defined' },
      { error: 'input', message: expect.stringContaining('not JSON') },
      { error: 'input', message: 'each line is a JSON object {"expr", "vars", "probes"}' },
    ]);
  });
});
