/** Unit tests are pure and fast; integration tests run against the real Kafka and Redis
 *  that test/support/global-setup.ts starts (or reuses when KAFKA_BROKERS/REDIS_URL are set). */
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] };
module.exports = {
  testTimeout: 120000,
  // A failed integration test may leave a role's client reconnecting to a service that
  // globalTeardown then stops; the run has its verdict by then and must not hang CI.
  forceExit: true,
  projects: [
    {
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
      transform,
      testEnvironment: 'node',
      testEnvironmentOptions: { globalsCleanup: 'on' },
    },
    {
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      transform,
      testEnvironment: 'node',
      testEnvironmentOptions: { globalsCleanup: 'on' },
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
