import { registerApi } from '../../../src/cli/api';
import { runInProcess } from '../../support/in-process-cli';

/** `winchester api` options for /v2, refused before anything connects. */

const saved = process.env.EVENT_STORE_URL;
afterEach(() => {
  if (saved === undefined) delete process.env.EVENT_STORE_URL;
  else process.env.EVENT_STORE_URL = saved;
});

test('--trust-identity-headers without --events is a usage error', async () => {
  const run = await runInProcess(registerApi, ['api', '-t', 'topologies/none', '--trust-identity-headers']);
  expect([run.code, run.stderr]).toEqual([
    2,
    'winchester: --trust-identity-headers applies to /v2, which only --events serves\n',
  ]);
});

test('--events needs EVENT_STORE_URL, a postgres:// URL', async () => {
  delete process.env.EVENT_STORE_URL;
  const unset = await runInProcess(registerApi, ['api', '-t', 'topologies/none', '--events']);
  expect(unset.code).toBe(2);
  expect(unset.stderr).toMatch(/^winchester: EVENT_STORE_URL is not set/);
  process.env.EVENT_STORE_URL = 'mysql://x';
  const wrong = await runInProcess(registerApi, ['api', '-t', 'topologies/none', '--events']);
  expect(wrong.stderr).toMatch(/^winchester: EVENT_STORE_URL "mysql:\/\/x" is not a postgres:\/\/ URL/);
});
