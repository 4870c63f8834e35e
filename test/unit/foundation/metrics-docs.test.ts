/** docs/metrics.md names every metric a role exports, and nothing that is not exported. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WinchesterMetrics } from '../../../src/metrics/metrics';

const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'metrics.md'), 'utf8');

describe('docs/metrics.md', () => {
  test('documents every exported metric', async () => {
    const exported = (await new WinchesterMetrics('test').registry.getMetricsAsJSON()).map((m) => m.name);
    expect(exported.filter((name) => !doc.includes(`\`${name}\``) && !doc.includes(name))).toEqual([]);
  });

  test('documents no winchester metric that is not exported', async () => {
    const exported = new Set(
      (await new WinchesterMetrics('test').registry.getMetricsAsJSON()).map((m) => m.name),
    );
    const documented = [...doc.matchAll(/`(winchester_[a-z0-9_]+)`/g)].map((m) => m[1]);
    expect(documented.filter((name) => !exported.has(name))).toEqual([]);
  });
});
