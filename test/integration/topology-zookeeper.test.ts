/**
 * A fleet-wide topology change as one poke: a bundle document kept in a znode, applied by a
 * watch action (`winchester topology apply --bundle -` with the znode's data on stdin), and
 * followed by a role.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerTopology } from '../../src/cli/topology';
import { loadWinchesterConfig } from '../../src/config/winchester-config';
import { createKafka } from '../../src/kafka/client';
import { loadTopology } from '../../src/topology/bundle';
import { readBundleFiles } from '../../src/topology/versions/bundle-record';
import { TopologyFollower } from '../../src/topology/versions/follower';
import { startWatchDaemon, WatchDaemon } from '../../src/watch/daemon';
import { ZkSession } from '../../src/zookeeper/session';
import { removeDir, scratchDir } from '../fixtures/watch-daemon/harness';
import { runInProcess } from '../support/in-process-cli';
import { testNamespace } from '../support/namespace';
import { cliPath, requireBuild } from '../support/processes';
import { repoRoot, zookeeperConnect } from '../support/stack';
import { waitFor } from '../support/topology-harness';

const ns = testNamespace();
const znode = `/winchester-test/topology-${randomBytes(4).toString('hex')}`;
const usage = join(repoRoot, 'topologies', 'openstack-usage');

describe('a topology bundle in ZooKeeper, applied by a watch', () => {
  let daemon: WatchDaemon | undefined;
  let follower: TopologyFollower | undefined;
  let writer: ZkSession | undefined;
  let dir: string;
  afterAll(async () => {
    await daemon?.stop();
    await follower?.stop();
    await writer?.remove(znode).catch(() => undefined);
    await writer?.close();
    removeDir(dir);
  });

  test('poking the znode with a bundle document makes it the version every role runs', async () => {
    requireBuild();
    const config = loadWinchesterConfig(undefined, { WINCHESTER_NAMESPACE: ns.prefix });
    const kafka = createKafka(ns.settings, ns.prefix);
    follower = await TopologyFollower.start({
      kafka,
      namespace: ns.prefix,
      config,
      role: 'matcher',
      base: loadTopology(usage, config),
      maxRecordBytes: config.topology.maxRecordBytes,
    });
    dir = scratchDir('topology-zk');
    mkdirSync(join(dir, 'watches'));
    const argv = [process.execPath, cliPath, 'topology', 'apply', '--bundle', '-', '--namespace', ns.prefix];
    writeFileSync(
      join(dir, 'watches', 'topology.twc'),
      `RegisterWatch(znode=${JSON.stringify(znode)}, action=Exec(${JSON.stringify(argv)}), pipe_stdin=True)\n`,
    );
    daemon = await startWatchDaemon({ configDir: join(dir, 'watches'), zookeeper: zookeeperConnect() });
    writer = await ZkSession.connect(zookeeperConnect());

    const files = readBundleFiles(usage, config);
    files['pipelines.yaml'] += '\nfleet_pipeline:\n  - logger\n';
    await writer.poke(znode, JSON.stringify({ files }));
    await waitFor(() => follower!.current.version === 1, 30000);
    expect([...follower.current.topology.pipelines.keys()]).toContain('fleet_pipeline');
    const status = await runInProcess(registerTopology, ['topology', 'status', '--namespace', ns.prefix]);
    expect(status.lines).toContain('current version: 1');
  }, 120000);
});
