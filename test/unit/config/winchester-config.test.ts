import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseWinchesterConfig } from '../../../src/config/winchester-config';

const repo = join(__dirname, '..', '..', '..');

describe('winchester.yaml', () => {
  test('the shipped etc/winchester.yaml loads with its topology settings', () => {
    const file = join(repo, 'etc', 'winchester.yaml');
    const config = parseWinchesterConfig(readFileSync(file, 'utf8'), file, {});
    expect(config.topology.namespace).toBe('winchester');
    expect(config.topology.partitions).toEqual({ events: 3, repartition: 3, streams: 3 });
    expect(config.topology.topics.events).toBe('winchester.events');
    expect(config.warnings).toEqual([]);
  });

  test("upstream's sample loads; its database and paths are reported as having no effect", () => {
    const file = join(repo, 'topologies', 'example', 'winchester.yaml');
    const text = readFileSync(file, 'utf8');
    const config = parseWinchesterConfig(text, 'winchester.yaml', {});
    expect(config.logLevel).toBe('debug');
    expect(config.warnings.join('\n')).toMatch(/database has no effect/);
  });

  test.each([
    ['statistics_period: soon\n', /winchester.yaml:1: statistics_period: expected a number/],
    ['kafka:\n  clock: sundial\n', /winchester.yaml:2: kafka.clock: expected wall or event/],
    [
      'kafka:\n  partitions:\n    repartition: 0\n',
      /winchester.yaml:3: kafka.partitions.repartition: expected a positive integer/,
    ],
    [
      'purge_completed_streams: maybe\n',
      /winchester.yaml:1: purge_completed_streams: expected true or false/,
    ],
    ['pipeline_handlers:\n  x: 5\n', /winchester.yaml:2: pipeline_handlers.x: expected a module path/],
  ])('%j fails with file, line and reason', (text, message) => {
    expect(() => parseWinchesterConfig(text, 'winchester.yaml', {})).toThrow(message);
  });

  test('YAML 1.1 booleans, env overrides and unknown keys', () => {
    const config = parseWinchesterConfig('purge_completed_streams: no\nfrobnicate: 1\n', 'w.yaml', {
      WINCHESTER_NAMESPACE: 'replay',
      WINCHESTER_CLOCK: 'event',
    });
    expect(config.purgeCompletedStreams).toBe(false);
    expect(config.topology.namespace).toBe('replay');
    expect(config.topology.clock).toBe('event');
    expect(config.warnings).toEqual(['w.yaml:2: unknown setting frobnicate ignored']);
  });
});
