/**
 * The Dockerfile, replayed without a Docker engine by scripts/docker-build-check.sh: the
 * repository's own must build and its image's command must run; a Dockerfile that drifts from
 * the tree (a COPY of a path that is missing or ignored, a failing RUN, a final stage copying
 * what the build stage never made, a command that cannot start) must fail at its line.
 */
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const REPO = join(__dirname, '..', '..');
const CHECK = join(REPO, 'scripts', 'docker-build-check.sh');
const HELPER = join(REPO, 'scripts', 'dockerfile.js');

interface Outcome {
  code: number | null;
  output: string;
}

/** Runs a command to its end; stdout and stderr together, in order. */
function run(command: string, args: string[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output: Buffer.concat(chunks).toString('utf8') }));
  });
}

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'docker-build-test-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Writes a Dockerfile into the scratch directory and replays it against the repository. */
function replay(name: string, lines: string[]): Promise<Outcome> {
  const file = join(scratch, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return run('bash', [CHECK, '--dockerfile', file]);
}

describe('the Dockerfile', () => {
  it(
    "builds from the tree, and the image's command, `check` and --version run from the final stage",
    async () => {
      const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
      const { code, output } = await run('bash', [
        CHECK,
        '--run',
        'check topologies/openstack-usage',
        '--run',
        '--version',
      ]);
      expect({ code, tail: output.slice(-3000) }).toEqual({ code: 0, tail: expect.any(String) });
      expect(output).toContain('==> run: node dist/src/cli/main.js --help');
      expect(output).toContain('Usage: winchester');
      expect(output).toContain('topologies/openstack-usage: ok');
      expect(output).toMatch(new RegExp(`^${version.replace(/\./g, '\\.')}$`, 'm'));
      expect(output).toContain('every step ran');
    },
    10 * 60_000,
  );
});

describe('a Dockerfile that drifts from the tree fails at its line', () => {
  const BASE = 'FROM node:20-bookworm-slim AS build';

  it('a COPY of a path that does not exist', async () => {
    const { code, output } = await replay('missing', [
      BASE,
      'WORKDIR /app',
      'COPY package.json nosuch.txt ./',
    ]);
    expect(code).toBe(1);
    expect(output).toContain('missing:3: COPY: nosuch.txt is not in the build context');
  });

  it('a COPY of a path .dockerignore keeps out of the context', async () => {
    const { code, output } = await replay('ignored', [BASE, 'WORKDIR /app', 'COPY bench ./bench']);
    expect(code).toBe(1);
    expect(output).toContain('ignored:3: COPY: bench is excluded from the build context by .dockerignore');
  });

  it('a RUN that fails', async () => {
    const { code, output } = await replay('run', [BASE, 'WORKDIR /app', 'RUN echo building && exit 3']);
    expect(code).toBe(1);
    expect(output).toContain('run:3: RUN failed with exit code 3: echo building && exit 3');
  });

  it('a final stage copying what the build stage never made', async () => {
    const { code, output } = await replay('from', [
      BASE,
      'WORKDIR /app',
      'COPY package.json ./',
      'FROM node:20-bookworm-slim',
      'COPY --from=build /app/dist ./dist',
    ]);
    expect(code).toBe(1);
    expect(output).toContain('from:5: COPY: /app/dist is not in stage build');
  });

  it('a final stage whose command cannot start', async () => {
    const { code, output } = await replay('command', [
      BASE,
      'WORKDIR /app',
      'COPY package.json ./',
      'FROM node:20-bookworm-slim',
      'WORKDIR /app',
      'COPY --from=build /app/package.json ./',
      'ENTRYPOINT ["node", "dist/src/cli/main.js"]',
    ]);
    expect(code).toBe(1);
    expect(output).toContain("command (final stage): the final stage's command failed");
  });

  it('what cannot be replayed without an engine', async () => {
    const heredoc = await replay('heredoc', [BASE, 'RUN <<EOF', 'echo hi', 'EOF']);
    expect(heredoc.code).toBe(1);
    expect(heredoc.output).toContain('heredoc:2: RUN with a heredoc is not replayed by this check');
    const image = await replay('image', [BASE, 'COPY --from=nginx:1 /etc/nginx ./nginx']);
    expect(image.code).toBe(1);
    expect(image.output).toContain('image:2: COPY --from=nginx:1: only earlier stages');
  });
});

describe('the build context', () => {
  /** Relative paths of every file under a directory. */
  function filesUnder(dir: string): string[] {
    const out: string[] = [];
    const walk = (at: string) => {
      for (const entry of readdirSync(at, { withFileTypes: true })) {
        const path = join(at, entry.name);
        if (entry.isDirectory()) walk(path);
        else out.push(relative(dir, path));
      }
    };
    walk(dir);
    return out.sort();
  }

  it('honours .dockerignore as Docker does: anchored patterns, **, ?, [ ], exceptions, last rule wins', async () => {
    const source = join(scratch, 'context-source');
    const files = [
      'keep.txt',
      'app.log',
      'deep/er/trace.log',
      'node_modules/x/index.js',
      'docs/a.md',
      'docs/keep.md',
      'abc',
      'x.txt',
      'z.txt',
      'sub/dist/out.js',
      'dist/out.js',
    ];
    for (const file of files) {
      mkdirSync(join(source, file, '..'), { recursive: true });
      writeFileSync(join(source, file), file);
    }
    writeFileSync(
      join(source, '.dockerignore'),
      [
        '# comment',
        'node_modules',
        '**/*.log',
        'docs',
        '!docs/keep.md',
        '/dist/',
        'a?c',
        '[xy].txt',
        '',
      ].join('\n'),
    );
    const dest = join(scratch, 'context-copy');
    const { code } = await run('node', [HELPER, 'context', source, dest]);
    expect(code).toBe(0);
    expect(filesUnder(dest)).toEqual([
      '.dockerignore',
      'docs/keep.md',
      'keep.txt',
      'sub/dist/out.js',
      'z.txt',
    ]);
  });

  it("of this repository holds what the image needs and none of the tree's local state", async () => {
    const dest = join(scratch, 'repo-context');
    const { code } = await run('node', [HELPER, 'context', REPO, dest]);
    expect(code).toBe(0);
    for (const needed of [
      'package.json',
      'package-lock.json',
      'tsconfig.image.json',
      'src',
      'data',
      'schemas',
    ]) {
      expect(existsSync(join(dest, needed))).toBe(true);
    }
    for (const left of ['node_modules', '.git', '.stack', 'dist', 'coverage', 'test', 'bench']) {
      expect(existsSync(join(dest, left))).toBe(false);
    }
  });
});
