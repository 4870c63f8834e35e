import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../support/stack';

/**
 * Upstream Panko's own API tests (its gabbi YAML files, from the 10.0.0 sdist on PyPI) against
 * our /v2 API, and a check with OpenStack's pankoclient library: scripts/panko-gabbi.sh does
 * the work (a virtualenv and the sdist cached outside the checkout, two fixture servers).
 */

function runScript(): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(repoRoot, 'scripts', 'panko-gabbi.sh')], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output: output.join('') }));
  });
}

test('upstream gabbi files (no data, with data, basic, capabilities) and pankoclient pass', async () => {
  const { code, output } = await runScript();
  if (code !== 0) throw new Error(`scripts/panko-gabbi.sh failed (exit ${code}):\n${output}`);
  for (const file of ['api-events-no-data', 'api-events-with-data', 'basic', 'capabilities']) {
    expect(output).toContain(`-- ${file}.yaml`);
  }
  expect(output).toContain('every upstream gabbi test passed');
}, 600_000);
