import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  localStackRegistryEnv,
  localStackRegistryUrl,
  readStackEnvFile,
} from '../../../src/config/stack-env';

describe('the local stack environment (.stack/env)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'winchester-stack-env-'));
  const file = join(dir, 'env');
  const registry = 'http://127.0.0.1:41234/apis/ccompat/v7';
  beforeAll(() =>
    writeFileSync(
      file,
      `KAFKA_BROKERS=127.0.0.1:40305\nREDIS_URL=redis://127.0.0.1:46729\nSCHEMA_REGISTRY_URL=${registry}\n`,
    ),
  );
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('reads every KEY=value line', () => {
    expect(readStackEnvFile(file)).toEqual({
      KAFKA_BROKERS: '127.0.0.1:40305',
      REDIS_URL: 'redis://127.0.0.1:46729',
      SCHEMA_REGISTRY_URL: registry,
    });
    expect(readStackEnvFile(join(dir, 'missing'))).toEqual({});
  });

  test("the stack's registry serves a process on the stack's Kafka", () => {
    expect(localStackRegistryUrl(file, { KAFKA_BROKERS: '127.0.0.1:40305' })).toBe(registry);
  });

  test('SCHEMA_REGISTRY_URL in the environment wins; set but empty means none', () => {
    const env = { KAFKA_BROKERS: '127.0.0.1:40305' };
    expect(localStackRegistryUrl(file, { ...env, SCHEMA_REGISTRY_URL: 'http://sr:8081' })).toBe(
      'http://sr:8081',
    );
    expect(localStackRegistryUrl(file, { ...env, SCHEMA_REGISTRY_URL: '' })).toBeUndefined();
  });

  test("another Kafka does not get the stack's registry", () => {
    expect(localStackRegistryUrl(file, { KAFKA_BROKERS: 'kafka-1:9092' })).toBeUndefined();
    expect(localStackRegistryUrl(join(dir, 'missing'), { KAFKA_BROKERS: '127.0.0.1:40305' })).toBeUndefined();
  });

  test("a --secure stack's registry comes with its credentials and CA; another choice sets nothing", () => {
    const secure = join(dir, 'secure-env');
    writeFileSync(
      secure,
      [
        'KAFKA_BROKERS=127.0.0.1:40305',
        'SCHEMA_REGISTRY_URL=https://127.0.0.1:41235/apis/ccompat/v7',
        'SCHEMA_REGISTRY_USERNAME=winchester',
        'SCHEMA_REGISTRY_PASSWORD_FILE=/stack/secrets/registry.password',
        'SCHEMA_REGISTRY_CA_FILE=/stack/certs/ca.pem',
        'REDIS_PASSWORD_FILE=/stack/secrets/redis.password',
        '',
      ].join('\n'),
    );
    expect(localStackRegistryEnv(secure, { KAFKA_BROKERS: '127.0.0.1:40305' })).toEqual({
      SCHEMA_REGISTRY_URL: 'https://127.0.0.1:41235/apis/ccompat/v7',
      SCHEMA_REGISTRY_USERNAME: 'winchester',
      SCHEMA_REGISTRY_PASSWORD_FILE: '/stack/secrets/registry.password',
      SCHEMA_REGISTRY_CA_FILE: '/stack/certs/ca.pem',
    });
    expect(localStackRegistryEnv(file, { KAFKA_BROKERS: '127.0.0.1:40305' })).toEqual({
      SCHEMA_REGISTRY_URL: registry,
    });
    const own = { KAFKA_BROKERS: '127.0.0.1:40305', SCHEMA_REGISTRY_URL: '' };
    expect(localStackRegistryEnv(secure, own)).toEqual({});
    expect(localStackRegistryEnv(secure, { KAFKA_BROKERS: 'kafka-1:9092' })).toEqual({});
  });
});
