/** docs/metrics.md names every metric a role exports, and nothing that is not exported. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WinchesterMetrics } from '../../../src/metrics/metrics';
import { WatchMetrics } from '../../../src/watch/watch-metrics';

const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'metrics.md'), 'utf8');

/** What the roles and the watch daemon export. */
async function exportedNames(): Promise<string[]> {
  const registries = [
    new WinchesterMetrics('test').registry,
    new WatchMetrics({ processMetrics: false }).registry,
  ];
  const metrics = await Promise.all(registries.map((registry) => registry.getMetricsAsJSON()));
  return metrics.flat().map((m) => m.name);
}

describe('docs/metrics.md', () => {
  test('documents every exported metric', async () => {
    const exported = await exportedNames();
    expect(exported.filter((name) => !doc.includes(`\`${name}\``) && !doc.includes(name))).toEqual([]);
  });

  test('documents no winchester metric that is not exported', async () => {
    const exported = new Set(await exportedNames());
    const documented = [...doc.matchAll(/`(winchester_[a-z0-9_]+)`/g)].map((m) => m[1]);
    expect(documented.filter((name) => !exported.has(name))).toEqual([]);
  });
});
