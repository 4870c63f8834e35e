import { parseWinchesterConfig } from '../../../src/config/winchester-config';
import { retentionMillis, topicOptionsFor } from '../../../src/config/topology-settings';

const parse = (text: string) => parseWinchesterConfig(text, 'winchester.yaml', {});

describe('kafka.topics and kafka.create_topics', () => {
  test('unset: roles create topics, every setting is the broker default', () => {
    const { topology } = parse('kafka:\n  namespace: x\n');
    expect(topology.createTopics).toBe(true);
    expect(topology.topicConfig).toEqual({ all: {}, dlq: {}, byRole: {} });
  });

  test('an empty topics mapping (only comments under it) is no settings', () => {
    expect(parse('kafka:\n  topics:\n    # retention: 7d\n').topology.topicConfig.all).toEqual({});
  });

  test('settings for every topic, for the DLQs and per role, most specific first', () => {
    const { topology, warnings } = parse(
      [
        'kafka:',
        '  create_topics: false',
        '  topics:',
        '    replication_factor: 3',
        '    min_insync_replicas: 2',
        '    retention: 7d',
        '    cleanup_policy: delete',
        '    configs: {segment.ms: 3600000, unclean.leader.election.enable: false}',
        '    dlq:',
        '      retention: forever',
        '    events_dlq:',
        '      retention_ms: 86400000',
        '    errors:',
        '      cleanup_policy: [compact, delete]',
        '      configs: {segment.ms: 600000}',
        '',
      ].join('\n'),
    );
    expect(warnings).toEqual([]);
    expect(topology.createTopics).toBe(false);
    const config = topology.topicConfig;
    expect(topicOptionsFor(config, 'events')).toEqual({
      replicationFactor: 3,
      minInsyncReplicas: 2,
      retentionMs: 7 * 86_400_000,
      cleanupPolicy: 'delete',
      configs: { 'segment.ms': '3600000', 'unclean.leader.election.enable': 'false' },
    });
    expect(topicOptionsFor(config, 'streams_dlq').retentionMs).toBe(-1);
    expect(topicOptionsFor(config, 'events_dlq').retentionMs).toBe(86_400_000);
    expect(topicOptionsFor(config, 'errors')).toMatchObject({
      cleanupPolicy: 'compact,delete',
      retentionMs: 7 * 86_400_000,
      configs: { 'segment.ms': '600000', 'unclean.leader.election.enable': 'false' },
    });
  });

  test.each([
    ['7d', 7 * 86_400_000],
    ['12h', 12 * 3_600_000],
    ['30m', 1_800_000],
    ['3600s', 3_600_000],
    ['3600', 3_600_000],
    [3600, 3_600_000],
    ['500ms', 500],
    ['1.5h', 5_400_000],
    ['2w', 14 * 86_400_000],
    ['forever', -1],
    ['0', undefined],
    ['7 days', undefined],
    ['-1', undefined],
    [true, undefined],
  ])('retention %j is %j ms', (value, ms) => {
    expect(retentionMillis(value)).toBe(ms);
  });

  test.each([
    ['kafka:\n  create_topics: maybe\n', /^winchester.yaml:2: kafka.create_topics: expected true or false/],
    ['kafka:\n  topics: 3\n', /^winchester.yaml:2: kafka.topics: expected a mapping$/],
    [
      'kafka:\n  topics:\n    replication_factor: 0\n',
      /^winchester.yaml:3: kafka.topics.replication_factor: expected a positive integer, got 0$/,
    ],
    [
      'kafka:\n  topics:\n    events:\n      min_insync_replicas: two\n',
      /^winchester.yaml:4: kafka.topics.events.min_insync_replicas: expected a positive integer/,
    ],
    [
      'kafka:\n  topics:\n    retention: 7 days\n',
      /^winchester.yaml:3: kafka.topics.retention: expected a duration such as 7d/,
    ],
    [
      'kafka:\n  topics:\n    streams:\n      retention_ms: 0\n',
      /^winchester.yaml:4: kafka.topics.streams.retention_ms: expected milliseconds/,
    ],
    [
      'kafka:\n  topics:\n    retention: 7d\n    retention_ms: 1000\n',
      /^winchester.yaml:4: kafka.topics.retention_ms: give retention or retention_ms, not both$/,
    ],
    [
      'kafka:\n  topics:\n    cleanup_policy: shred\n',
      /^winchester.yaml:3: kafka.topics.cleanup_policy: expected delete, compact or compact,delete/,
    ],
    [
      'kafka:\n  topics:\n    cleanup_policy: [compact, compact]\n',
      /^winchester.yaml:3: kafka.topics.cleanup_policy: expected delete, compact/,
    ],
    [
      'kafka:\n  topics:\n    topology:\n      cleanup_policy: delete\n',
      /^winchester.yaml:4: kafka.topics.topology.cleanup_policy: the topology topics must stay compact/,
    ],
    ['kafka:\n  topics:\n    events: [1]\n', /^winchester.yaml:3: kafka.topics.events: expected a mapping$/],
    [
      'kafka:\n  topics:\n    configs:\n      retention.ms: 1000\n',
      /^winchester.yaml:4: kafka.topics.configs.retention.ms: set it with retention or retention_ms instead$/,
    ],
    [
      'kafka:\n  topics:\n    configs:\n      Segment-MS: 1\n',
      /^winchester.yaml:4: kafka.topics.configs.Segment-MS: expected a Kafka topic config name/,
    ],
    [
      'kafka:\n  topics:\n    configs:\n      segment.ms: [1]\n',
      /^winchester.yaml:4: kafka.topics.configs.segment.ms: expected a string, number or boolean/,
    ],
    [
      'kafka:\n  topics:\n    replication_factor: 2\n    min_insync_replicas: 3\n',
      /^winchester.yaml:4: kafka.topics.min_insync_replicas: 3 exceeds the replication factor 2 of the input topics/,
    ],
    [
      'kafka:\n  topics:\n    replication_factor: 3\n    min_insync_replicas: 2\n    dlq:\n      replication_factor: 1\n',
      /^winchester.yaml:4: kafka.topics.min_insync_replicas: 2 exceeds the replication factor 1 of the notifications_dlq topics/,
    ],
    [
      'kafka:\n  topics:\n    replication_factor: 3\n    repartition:\n      min_insync_replicas: 4\n',
      /^winchester.yaml:5: kafka.topics.repartition.min_insync_replicas: 4 exceeds the replication factor 3/,
    ],
  ])('%j fails with file, line and reason', (text, message) => {
    expect(() => parse(text)).toThrow(message);
  });

  test('unknown keys are warnings with their line, naming the topics it knows', () => {
    const { warnings } = parse(
      'kafka:\n  topics:\n    evnts:\n      retention: 1d\n    events:\n      replicas: 3\n',
    );
    expect(warnings).toEqual([
      expect.stringMatching(
        /^winchester.yaml:3: unknown setting kafka.topics.evnts ignored \(topics: dlq, input, events, repartition, /,
      ),
      'winchester.yaml:6: unknown setting kafka.topics.events.replicas ignored',
    ]);
  });
});
