/**
 * A watch configuration directory: every .twc and YAML file under it, recursively, each with
 * its watches or its own error, in a fixed order; and what `winchester watch check` prints.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkWatchDirectory,
  isWatchFileName,
  listWatchFiles,
  readWatchDirectory,
  readWatchFile,
  watchCheckReport,
} from '../../../src/watch/config-dir';
import { WatchConfigError } from '../../../src/watch/twc-errors';

const scratch = mkdtempSync(join(tmpdir(), 'winchester-watch-dir-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let serial = 0;
/** A fresh directory holding the given files (paths relative to it). */
function directory(files: Record<string, string | Buffer>): string {
  const root = join(scratch, `d${++serial}`);
  mkdirSync(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const watch = (znode: string) => `RegisterWatch(znode='${znode}', action=Exec('true'))\n`;

test('watch file names', () => {
  expect(['a.twc', 'a.yaml', 'a.yml', '.a.twc'].map(isWatchFileName)).toEqual([true, true, true, true]);
  expect(['a.twc.bak', 'a.twc~', 'a.py', 'twc', 'a.json'].map(isWatchFileName)).toEqual([
    false,
    false,
    false,
    false,
    false,
  ]);
});

describe('listing', () => {
  test('recursive, sorted, hidden directories skipped, links followed once, dangling links ignored', async () => {
    const root = directory({
      'b.twc': watch('/b'),
      'a.twc': watch('/a'),
      '.h.twc': watch('/h'),
      'notes.txt': 'not a watch file',
      'a.twc.bak': 'not a watch file',
      '.git/hooks.twc': watch('/git'),
      'sub/c.yaml': '- {znode: /c, exec: "true"}',
      'sub/deeper/d.yml': '[]',
      'dir.twc/e.twc': watch('/e'),
      'elsewhere/f.twc': watch('/f'),
    });
    symlinkSync(root, join(root, 'sub/back')); // a loop
    symlinkSync(join(root, 'elsewhere'), join(root, 'a-link')); // the same directory twice
    symlinkSync(join(root, 'missing.twc'), join(root, '.#lock.twc')); // an editor's lock link
    const { files, problems } = await listWatchFiles(root);
    expect(problems).toEqual([]);
    expect(files.map((file) => file.slice(root.length + 1))).toEqual([
      '.h.twc',
      'a.twc',
      'b.twc',
      'dir.twc/e.twc',
      'elsewhere/f.twc',
      'sub/c.yaml',
      'sub/deeper/d.yml',
    ]);
  });

  test("paths are joined as Twitcher's os.path.join does, keeping the directory as given", async () => {
    const root = directory({ 'x.twc': watch('/x') });
    const slashed = await readWatchDirectory(`${root}/`);
    expect(slashed.outcomes.map((o) => o.file)).toEqual([`${root}/x.twc`]);
    const outcome = slashed.outcomes[0];
    expect(outcome.ok && outcome.watches[0].description).toBe(`${root}/x.twc-1`);
  });
});

describe('directories that cannot be read', () => {
  test('the watch directory itself: an error with its system code', async () => {
    const missing = join(scratch, 'no-such-dir');
    await expect(listWatchFiles(missing)).rejects.toMatchObject({
      name: 'WatchConfigError',
      file: missing,
      line: 0,
      systemCode: 'ENOENT',
    });
  });

  test('a subdirectory: reported, and the rest is still read', async () => {
    const root = directory({ 'a.twc': watch('/a'), 'locked/b.twc': watch('/b') });
    chmodSync(join(root, 'locked'), 0o000);
    try {
      const { files, problems } = await listWatchFiles(root);
      if (process.getuid?.() === 0) {
        // root reads any directory: nothing to report.
        expect(problems).toEqual([]);
        expect(files).toHaveLength(2);
      } else {
        expect(files).toEqual([`${root}/a.twc`]);
        expect(problems).toEqual([expect.objectContaining({ file: `${root}/locked`, severity: 'error' })]);
      }
    } finally {
      chmodSync(join(root, 'locked'), 0o755);
    }
  });
});

describe('reading', () => {
  test('each file gives its watches or its own error; a broken file does not stop the others', async () => {
    const root = directory({
      'a.twc': watch('/a') + watch('/a2'),
      'b.twc': "RegisterWatch(znode='/b',\n    action=lambda: 0)\n",
      'c.yaml': '- {znode: /c, exec: "true", run_mode: PARALLEL, notify_signal: HUP}\n',
    });
    const result = await readWatchDirectory(root);
    expect(result.outcomes.map((o) => [o.file.slice(root.length + 1), o.ok])).toEqual([
      ['a.twc', true],
      ['b.twc', false],
      ['c.yaml', true],
    ]);
    const [a, b, c] = result.outcomes;
    expect(a.ok && a.watches.map((w) => [w.znode, w.description])).toEqual([
      ['/a', `${root}/a.twc-1`],
      ['/a2', `${root}/a.twc-2`],
    ]);
    expect(!b.ok && b.error.message).toBe(
      `${root}/b.twc:2:12: python function actions are not supported: use Exec`,
    );
    expect(c.ok && c.warnings).toHaveLength(1);
  });

  test('the same znode and description in two files are two watches', async () => {
    const same = "RegisterWatch(znode='/same', action=Exec('true'), description='twin')\n";
    const result = await readWatchDirectory(directory({ 'one.twc': same, 'two.twc': same }));
    const all = result.outcomes.flatMap((o) => (o.ok ? o.watches : []));
    expect(all.map((w) => [w.znode, w.description, w.source.file.replace(/.*\//, '')])).toEqual([
      ['/same', 'twin', 'one.twc'],
      ['/same', 'twin', 'two.twc'],
    ]);
  });

  test('readWatchFile: a missing file carries ENOENT; a file that is not UTF-8 names its line', async () => {
    const root = directory({
      'latin1.twc': Buffer.concat([Buffer.from('# ok\n# caf'), Buffer.from([0xe9]), Buffer.from('\n')]),
    });
    const missing = join(root, 'gone.twc');
    const error = await readWatchFile(missing).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WatchConfigError);
    expect(error).toMatchObject({ systemCode: 'ENOENT', line: 0 });
    expect((error as Error).message).toMatch(new RegExp(`^${missing}: cannot read the file: ENOENT`));
    await expect(readWatchFile(join(root, 'latin1.twc'))).rejects.toThrow(
      `${root}/latin1.twc:2: this line is not valid UTF-8`,
    );
  });
});

describe('winchester watch check', () => {
  test('errors and warnings one per line, a summary, exit code 1', async () => {
    const root = directory({
      'a.twc': watch('/a'),
      'b.twc': "RegisterWatch(znode='b', action=Exec('true'))\n",
      'sub/c.yml': '- {znode: /c, exec: "true", run_mode: DISCARD, notify_signal: 1}\n',
      'sub/d.yaml': '- {znode: /d}\n',
    });
    expect(await checkWatchDirectory(root)).toEqual({
      lines: [
        `${root}/b.twc:1:15: znode "b" is not an absolute ZooKeeper path: it must start with /`,
        `${root}/sub/d.yaml:1:3: RegisterWatch needs an action: action=Exec('command')`,
        `${root}/sub/c.yml:1:48: warning: notify_signal is ignored: it is sent only in run_mode QUEUE, and this watch runs in DISCARD`,
        `${root}: 2 errors, 1 warning`,
      ],
      exitCode: 1,
    });
  });

  test('a clean directory: ok, with the number of watches and files', async () => {
    const root = directory({ 'a.twc': watch('/a') + watch('/b'), 'c.yaml': '- {znode: /c, exec: x}' });
    expect(await checkWatchDirectory(root)).toEqual({
      lines: [`${root}: ok, 3 watches in 2 files`],
      exitCode: 0,
    });
  });

  test('an empty directory is ok with a warning; a missing one fails', async () => {
    const root = directory({});
    expect(watchCheckReport(await readWatchDirectory(root))).toEqual({
      lines: [
        `${root}: warning: no watch files (*.twc, *.yaml, *.yml) found`,
        `${root}: ok, 0 watches in 0 files`,
      ],
      exitCode: 0,
    });
    const missing = join(scratch, 'absent');
    const report = await checkWatchDirectory(missing);
    expect(report.exitCode).toBe(1);
    expect(report.lines).toEqual([
      expect.stringMatching(new RegExp(`^${missing}: cannot read the watch directory: ENOENT`)),
    ]);
  });
});
