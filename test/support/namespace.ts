import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import Redis from 'ioredis';
import { connectionSettings, ConnectionSettings } from '../../src/config/environment';

/**
 * A per-test-file namespace: topic names and Redis keys of one test file never collide
 * with another's, nor with an earlier run's on a reused broker.
 */
export interface TestNamespace {
  prefix: string;
  settings: ConnectionSettings;
  topic(name: string): string;
  /** A Redis connection whose keys are all under this namespace's prefix. */
  redis(): Redis;
}

export function testNamespace(): TestNamespace {
  const file = basename(expect.getState().testPath ?? 'test', '.test.ts').replace(/[^A-Za-z0-9]/g, '-');
  const prefix = `t.${file}.${randomBytes(3).toString('hex')}`;
  const settings = connectionSettings();
  return {
    prefix,
    settings,
    topic: (name) => `${prefix}.${name}`,
    redis: () => new Redis(settings.redisUrl, { keyPrefix: `${prefix}:`, maxRetriesPerRequest: 3 }),
  };
}
