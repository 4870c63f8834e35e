/**
 * Lets plain `node` run this checkout's TypeScript without a build (`node -r
 * ./test/support/swc-register.cjs file.ts`): each .ts file is compiled with @swc/core as the
 * jest transform compiles it. For test entry points started from shell scripts.
 */
const { readFileSync } = require('node:fs');
const { transformSync } = require('@swc/core');

require.extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(readFileSync(filename, 'utf8'), {
    filename,
    sourceMaps: 'inline',
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};
