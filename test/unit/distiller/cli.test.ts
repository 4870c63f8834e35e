/** `winchester distill`: JSON lines in, canonical events out, one JSON line per notification left out. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { Command } from 'commander';
import { registerDistill, runDistill } from '../../../src/cli/distill';
import { EventDefinitionError } from '../../../src/distiller';

const dir = mkdtempSync(join(tmpdir(), 'distill-cli-'));
const definitions = join(dir, 'event_definitions.yaml');
writeFileSync(
  definitions,
  [
    '- event_type: compute.*',
    '  traits:',
    '    memory_mb: {type: int, fields: payload.memory_mb}',
    '    label: {fields: payload.label, typo: 1}',
    '    tag: {fields: payload.a, plugin: {name: tagger}}',
    '',
  ].join('\n'),
);
writeFileSync(
  join(dir, 'tagger.js'),
  'module.exports = () => ({ traitValue: (m) => (m.length ? "tagged" : null) });\n',
);

const INPUT = [
  '{"event_type": "compute.x", "message_id": "m1", "timestamp": "2026-11-01 00:00:00", "payload": {"memory_mb": 512}}',
  '',
  'not json',
  '{"event_type": "image.x", "message_id": "m2", "timestamp": "2026-11-01 00:00:01"}',
  '{"event_type": "compute.y", "message_id": "m3", "timestamp": "2026-11-01 00:00:02", "payload": {"memory_mb": "x"}}',
  '{"event_type": "compute.z", "message_id": "m4", "timestamp": "2026-11-01 00:00:03", "payload": {"label": 5.0, "a": 1}}',
];

async function run(lines: string[], options: { plugins?: string[]; progress?: boolean } = {}) {
  const output = new PassThrough();
  const errors = new PassThrough();
  const read = async (s: PassThrough) => {
    let text = '';
    for await (const chunk of s) text += String(chunk);
    return text;
  };
  const [out, err, summary] = await Promise.all([
    read(output),
    read(errors),
    runDistill({
      definitions,
      plugins: options.plugins ?? [`tagger=${join(dir, 'tagger.js')}`],
      input: Readable.from([lines.join('\n')]),
      output,
      errors,
      progress: options.progress,
      progressIntervalMs: 0,
    }).finally(() => {
      output.end();
      errors.end();
    }),
  ]);
  return { out, err, summary };
}

describe('runDistill', () => {
  it('prints events in input order and reports the others with line, ids, outcome and reason', async () => {
    const { out, err, summary } = await run(INPUT);
    expect(out).toBe(
      '{"message_id":"m1","event_type":"compute.x","timestamp":"2026-11-01T00:00:00.000000Z","memory_mb":512}\n' +
        '{"message_id":"m4","event_type":"compute.z","timestamp":"2026-11-01T00:00:03.000000Z","label":"5.0","tag":"tagged"}\n',
    );
    const lines = err
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toEqual({ warning: `${definitions}:4:36: trait label: unknown key "typo" (ignored)` });
    expect(lines.slice(1)).toEqual([
      {
        line: 3,
        message_id: null,
        event_type: null,
        outcome: 'error',
        reason: expect.stringMatching(/^invalid-json: /),
      },
      { line: 4, message_id: 'm2', event_type: 'image.x', outcome: 'dropped', reason: 'unmatched' },
      {
        line: 5,
        message_id: 'm3',
        event_type: 'compute.y',
        outcome: 'error',
        reason: "conversion: trait memory_mb (int): invalid literal for int() with base 10: 'x'",
      },
    ]);
    expect(summary).toEqual({ notifications: 5, events: 2, dropped: 1, failed: 2 });
  });

  it('shows progress on a terminal, cleared before each report line', async () => {
    const { err } = await run(INPUT, { progress: true });
    expect(err).toContain('\r\x1b[K1 notifications: 1 events, 0 dropped, 0 failed');
    expect(err).toContain('\r\x1b[K{"line":3,');
    expect(err.endsWith('\r\x1b[K5 notifications: 2 events, 1 dropped, 2 failed\n')).toBe(true);
  });

  it('throws a configuration error when the definitions or a plugin cannot be loaded', async () => {
    await expect(run(INPUT, { plugins: [] })).rejects.toThrow(EventDefinitionError);
    await expect(run(INPUT, { plugins: ['tagger=./nowhere.js'] })).rejects.toThrow(/cannot load/);
  });
});

describe('the distill command', () => {
  it('reads a .gz file argument and writes to stdout and stderr', async () => {
    const file = join(dir, 'notifications.jsonl.gz');
    writeFileSync(file, gzipSync(INPUT.join('\n')));
    const stdout: string[] = [];
    const stderr: string[] = [];
    const out = jest
      .spyOn(process.stdout, 'write')
      .mockImplementation((chunk) => (stdout.push(String(chunk)), true));
    const err = jest
      .spyOn(process.stderr, 'write')
      .mockImplementation((chunk) => (stderr.push(String(chunk)), true));
    try {
      const program = new Command('winchester').exitOverride();
      registerDistill(program);
      await program.parseAsync(
        ['distill', '--definitions', definitions, '--plugin', `tagger=${join(dir, 'tagger.js')}`, file],
        {
          from: 'user',
        },
      );
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
    expect(
      stdout
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).message_id),
    ).toEqual(['m1', 'm4']);
    expect(stderr.join('')).toContain('"message_id":"m3"');
  });

  it('requires --definitions', async () => {
    const program = new Command('winchester').exitOverride();
    program.configureOutput({ writeErr: () => undefined });
    registerDistill(program);
    await expect(program.parseAsync(['distill'], { from: 'user' })).rejects.toThrow(/--definitions/);
  });
});
