import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LUA_COMMANDS } from '../../../src/redis/commands';

const DIR = join(__dirname, '..', '..', '..', 'src', 'redis', 'commands');
const files = readdirSync(DIR).filter((file) => file.endsWith('.lua'));

describe('the Redis Lua commands', () => {
  test('index.ts embeds every .lua file as it is (npm run build regenerates it)', () => {
    const fromFiles = Object.fromEntries(
      files.map((file) => {
        const [, name, keys] = /^(\w+)-(\d+)\.lua$/.exec(file)!;
        return [name, { numberOfKeys: Number(keys), lua: readFileSync(join(DIR, file), 'utf8') }];
      }),
    );
    expect(LUA_COMMANDS).toEqual(fromFiles);
  });

  test.each(files)(
    '%s documents every key and argument it uses, and touches keys only through KEYS',
    (file) => {
      const lua = readFileSync(join(DIR, file), 'utf8');
      const [header, body] = lua.split(']]\n');
      const keyCount = Number(/-(\d+)\.lua$/.exec(file)![1]);
      const used = (kind: string) =>
        new Set([...body.matchAll(new RegExp(`${kind}\\[(\\d+)\\]`, 'g'))].map((m) => m[1]));
      for (const i of used('KEYS')) expect(Number(i)).toBeLessThanOrEqual(keyCount);
      for (let i = 1; i <= keyCount; i++) expect(header).toContain(`KEYS[${i}]`);
      for (const i of used('ARGV')) expect(header).toContain(`ARGV[${i}]`);
      expect(header).toContain('Output:');
      // A key named in the script itself would escape the partition's hash tag.
      expect(body).not.toMatch(/redis\.call\('\w+', '/);
    },
  );
});
