import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerTopology } from '../../src/cli/topology';
import { loadWinchesterConfig } from '../../src/config/winchester-config';
import { createKafka } from '../../src/kafka/client';
import { WinchesterMetrics } from '../../src/metrics/metrics';
import { loadTopology } from '../../src/topology/bundle';
import { TopologyFollower } from '../../src/topology/versions/follower';
import { runInProcess } from '../support/in-process-cli';
import { testNamespace } from '../support/namespace';
import { repoRoot } from '../support/stack';
import { waitFor } from '../support/topology-harness';

const ns = testNamespace();
const usage = join(repoRoot, 'topologies', 'openstack-usage');

/** A copy of the usage bundle whose pipelines.yaml is changed by `edit`. */
function variant(edit: (pipelines: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), 'winchester-bundle-'));
  cpSync(usage, dir, { recursive: true });
  const file = join(dir, 'pipelines.yaml');
  writeFileSync(file, edit(readFileSync(file, 'utf8')));
  return dir;
}

const topology = (...args: string[]) =>
  runInProcess(registerTopology, ['topology', ...args, '--namespace', ns.prefix]);

describe('topology versions: apply, follow, roll back, status', () => {
  const config = loadWinchesterConfig(undefined, { WINCHESTER_NAMESPACE: ns.prefix });
  const kafka = createKafka(ns.settings, ns.prefix);
  let follower: TopologyFollower | undefined;
  afterAll(async () => follower?.stop());

  test('a role follows applied versions and rollbacks; a broken bundle is refused at apply', async () => {
    const metrics = new WinchesterMetrics('worker');
    const base = loadTopology(usage, config);
    follower = await TopologyFollower.start({
      kafka,
      namespace: ns.prefix,
      config,
      role: 'worker',
      base,
      metrics,
      maxRecordBytes: config.topology.maxRecordBytes,
    });
    expect(follower.current.version).toBe(0);
    const seen: number[] = [];
    follower.onChange((version) => void seen.push(version));

    const first = await topology('apply', '-t', usage);
    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout).toMatch(/^version 1 applied/);
    await waitFor(() => follower!.current.version === 1, 5000);
    expect((await topology('apply', '-t', usage)).stdout).toMatch(
      /version 1 is current and has the same files/,
    );

    const second = variant((text) => `${text}\nextra_pipeline:\n  - logger\n`);
    expect((await topology('apply', '-t', second)).stdout).toMatch(/^version 2 applied/);
    await waitFor(() => follower!.current.version === 2, 5000);
    expect([...follower.current.topology.pipelines.keys()]).toContain('extra_pipeline');
    expect([...follower.topologyOf(1)!.pipelines.keys()]).not.toContain('extra_pipeline');

    const broken = variant((text) => `${text}\nbroken:\n  - no_such_handler\n`);
    const refused = await topology('apply', '-t', broken);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/pipelines\.yaml:\d+: .*no_such_handler/);

    expect((await topology('apply', '--version', '1')).stdout).toMatch(
      /version 1 is current again \(was 2\)/,
    );
    await waitFor(() => follower!.current.version === 1, 5000);
    expect(seen).toEqual([1, 2, 1]);
    expect(await metrics.registry.getSingleMetricAsString('winchester_topology_version')).toMatch(/ 1$/m);

    const list = await topology('list');
    expect(list.lines).toEqual([expect.stringMatching(/^\* 1\t/), expect.stringMatching(/^ {2}2\t/)]);
    const status = await topology('status');
    expect(status.lines[0]).toBe('current version: 1');
    expect(status.lines.slice(1)).toEqual([expect.stringMatching(/^worker\tworker\/.+\tversion 1\tok$/)]);
  }, 120000);

  test('export and apply --bundle carry a version whole; wrong input is one line', async () => {
    const exported = await topology('export', '--version', '2');
    const file = join(mkdtempSync(join(tmpdir(), 'winchester-export-')), 'bundle.json');
    writeFileSync(file, exported.stdout);
    const applied = await topology('apply', '--bundle', file);
    expect(applied.stdout).toMatch(/^version 3 applied/);
    await waitFor(() => follower!.current.version === 3, 5000);
    expect([...follower!.current.topology.pipelines.keys()]).toContain('extra_pipeline');

    writeFileSync(file, '{"files": {"triggers.yaml": ""}}');
    expect(await topology('apply', '--bundle', file)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(
        /a bundle document maps each of event_definitions.yaml, triggers.yaml, pipelines.yaml/,
      ),
    });
    expect(await topology('apply', '--version', '9')).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/there is no version 9/),
    });
    expect(await topology('apply')).toMatchObject({ code: 2, stderr: expect.stringMatching(/give one of/) });
  }, 120000);

  test('a version this role cannot load is reported, and the role keeps the one it runs', async () => {
    // Applied under a configuration that names a custom handler this role's configuration lacks.
    const dir = mkdtempSync(join(tmpdir(), 'winchester-custom-'));
    cpSync(usage, join(dir, 'bundle'), { recursive: true });
    writeFileSync(
      join(dir, 'handler.js'),
      'class Noop { constructor() {} handleEvents(s, e) { return e; } commit() {} rollback() {} }\nmodule.exports = { Noop };\n',
    );
    writeFileSync(join(dir, 'winchester.yaml'), 'pipeline_handlers:\n  noop: ./handler.js#Noop\n');
    const pipelines = join(dir, 'bundle', 'pipelines.yaml');
    writeFileSync(pipelines, `${readFileSync(pipelines, 'utf8')}\ncustom:\n  - noop\n`);
    const applied = await runInProcess(registerTopology, [
      'topology',
      'apply',
      '-t',
      join(dir, 'bundle'),
      '-c',
      join(dir, 'winchester.yaml'),
      '--namespace',
      ns.prefix,
    ]);
    expect(applied.stdout).toMatch(/^version 4 applied/);
    await waitFor(
      async () => /error: version 4 cannot be loaded/.test((await topology('status')).stdout),
      15000,
    );
    expect(follower!.current.version).toBe(3);
  }, 120000);
});
