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
    ['kafka:\n  partitions:\n', /winchester.yaml:2: kafka.partitions: expected a mapping/],
    ['kafka:\n  partitions: 3\n', /winchester.yaml:2: kafka.partitions: expected a mapping/],
    [
      'purge_completed_streams: maybe\n',
      /winchester.yaml:1: purge_completed_streams: expected true or false/,
    ],
    ['pipeline_handlers:\n  x: 5\n', /winchester.yaml:2: pipeline_handlers.x: expected a module path/],
  ])('%j fails with file, line and reason', (text, message) => {
    expect(() => parseWinchesterConfig(text, 'winchester.yaml', {})).toThrow(message);
  });

  describe('event_ttl', () => {
    const ttl = (text: string) => parseWinchesterConfig(text, 'winchester.yaml', {}).eventTtlSeconds;

    test.each([
      ['event_ttl: 7d\n', 7 * 86400],
      ['event_ttl: 12h\n', 12 * 3600],
      ['event_ttl: 30m\n', 1800],
      ['event_ttl: 3600s\n', 3600],
      ['event_ttl: 3600\n', 3600],
      ['event_ttl: "86400"\n', 86400],
      ['event_ttl: 1.5h\n', 5400],
      ['event_ttl: 2w\n', 14 * 86400],
    ])('%j is %d seconds', (text, seconds) => {
      expect(ttl(text)).toBe(seconds);
    });

    test('unset or empty keeps events for ever', () => {
      expect(ttl('log_level: info\n')).toBeUndefined();
      expect(ttl('event_ttl:\n')).toBeUndefined();
    });

    test('the shipped example line, uncommented, is what it says', () => {
      const file = join(repo, 'etc', 'winchester.yaml');
      const text = readFileSync(file, 'utf8');
      expect(text).toMatch(/^#event_ttl: 30d$/m);
      expect(ttl(text.replace(/^#event_ttl:/m, 'event_ttl:'))).toBe(30 * 86400);
    });

    test.each([
      ['log_level: info\nevent_ttl: soon\n', 2, '"soon"'],
      ['event_ttl: 0\n', 1, '0'],
      ['event_ttl: -5d\n', 1, '"-5d"'],
      ['event_ttl: 7 days\n', 1, '"7 days"'],
      ['event_ttl: 7D\n', 1, '"7D"'],
      ['event_ttl: true\n', 1, 'true'],
      ['event_ttl: [7d]\n', 1, '["7d"]'],
      ['kafka:\n  namespace: x\nevent_ttl: 1y\n', 3, '"1y"'],
    ])('%j fails with file:line and what it expects', (text, line, shown) => {
      expect(() => parseWinchesterConfig(text, 'winchester.yaml', {})).toThrow(
        `winchester.yaml:${line}: event_ttl: expected a positive duration such as 7d, 12h, 30m, 3600s ` +
          `or a number of seconds, got ${shown}`,
      );
    });
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
