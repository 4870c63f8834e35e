import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load, YAML11_SCHEMA } from 'js-yaml';
import { connectionSettings, redisUrlFrom } from '../../../src/config/environment';
import { ConfigurationError } from '../../../src/config/errors';

const repo = join(__dirname, '..', '..', '..');

describe('connection settings', () => {
  test('reads brokers, redis and the optional registry', () => {
    const s = connectionSettings({ KAFKA_BROKERS: 'a:1, b:2', REDIS_URL: 'redis://x:6379/1' });
    expect(s.kafkaBrokers).toEqual(['a:1', 'b:2']);
    expect(s.redisUrl).toBe('redis://x:6379/1');
    expect(s.schemaRegistryUrl).toBeUndefined();
  });

  test.each([
    [{ REDIS_URL: 'redis://x' }, /KAFKA_BROKERS is not set/],
    [{ KAFKA_BROKERS: 'nohost', REDIS_URL: 'redis://x' }, /not host:port/],
    [{ KAFKA_BROKERS: '\u001b[0m127.0.0.1:9092', REDIS_URL: 'redis://x' }, /not host:port/],
  ])('rejects %j with an actionable message', (env, message) => {
    expect(() => connectionSettings(env)).toThrow(ConfigurationError);
    expect(() => connectionSettings(env)).toThrow(message);
  });

  test('Kafka-only commands need no REDIS_URL; commands that use Redis check it', () => {
    expect(connectionSettings({ KAFKA_BROKERS: 'a:1' }).kafkaBrokers).toEqual(['a:1']);
    expect(redisUrlFrom({ REDIS_URL: 'rediss://x:6380' })).toBe('rediss://x:6380');
    expect(() => redisUrlFrom({})).toThrow(/REDIS_URL is not set/);
    expect(() => redisUrlFrom({ REDIS_URL: 'http://x' })).toThrow(/not a redis:\/\//);
  });
});

describe('docker-compose.yml', () => {
  const compose = load(readFileSync(join(repo, 'docker-compose.yml'), 'utf8'), { schema: YAML11_SCHEMA }) as {
    services: Record<string, { environment?: Record<string, string>; command?: string[]; build?: string }>;
  };

  test('has the stack the README promises', () => {
    for (const name of ['kafka', 'schema-registry', 'redis', 'prometheus', 'grafana']) {
      expect(compose.services[name]).toBeDefined();
    }
  });

  test('every role is built from the Dockerfile and configured by the documented variables', () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    const roles = Object.entries(compose.services).filter(([, s]) => s.build);
    expect(roles.length).toBeGreaterThanOrEqual(3);
    for (const [, service] of roles) {
      for (const variable of ['KAFKA_BROKERS', 'REDIS_URL', 'SCHEMA_REGISTRY_URL']) {
        expect(service.environment?.[variable]).toBeTruthy();
        expect(readme).toContain(`\`${variable}\``);
      }
      // The broker and registry addresses point at services of this file.
      expect(compose.services[service.environment!.KAFKA_BROKERS.split(':')[0]]).toBeDefined();
    }
  });
});
