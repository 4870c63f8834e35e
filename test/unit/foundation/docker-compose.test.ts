/*
 * docker-compose.yml, checked without a Docker engine: services wait only on services that
 * exist (and, for `service_healthy`, have a healthcheck), volumes are declared, Kafka has a
 * listener for containers and one for the host, and the roles' healthchecks run: their Node
 * one-liners are executed against a real /healthz server here. Where `docker compose` exists
 * it validates the file too.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { buildApi } from '../../../src/api/server';
import { loadYaml11, plainFromYaml } from '../../../src/config/yaml11';
import { WinchesterMetrics } from '../../../src/metrics/metrics';

const repo = join(__dirname, '..', '..', '..');

interface Healthcheck {
  test: string[];
}
interface Service {
  image?: string;
  build?: string;
  command?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  environment?: Record<string, string | number>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: Healthcheck;
}
/** Read with merge keys (`<<: *winchester`), as Compose reads them. */
const readYaml = (file: string) =>
  plainFromYaml(loadYaml11(readFileSync(join(repo, file), 'utf8'), file).value);
const compose = readYaml('docker-compose.yml') as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const services = compose.services;
const roles = ['distiller', 'matcher', 'worker', 'api'];
const metricsPort = (readYaml('etc/winchester.yaml') as { metrics_port: number }).metrics_port;

const dependencies = (service: Service): Array<[string, string]> =>
  Array.isArray(service.depends_on)
    ? service.depends_on.map((name) => [name, 'service_started'])
    : Object.entries(service.depends_on ?? {}).map(([name, { condition }]) => [name, condition]);

/**
 * Runs a healthcheck's CMD (a `node -e` one-liner) with its URL pointed at `port`; its exit
 * code. Asynchronously: the server it asks lives in this process.
 */
function runHealthcheck(check: Healthcheck, port: number): Promise<number | null> {
  const [kind, command, ...args] = check.test;
  expect([kind, command, args[0]]).toEqual(['CMD', 'node', '-e']);
  const script = args[1].replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore', timeout: 10_000 });
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
}

describe('docker-compose.yml', () => {
  it('waits only on services that exist, healthy only where there is a healthcheck', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, condition] of dependencies(service)) {
        expect({ name, dependency, exists: dependency in services }).toEqual({
          name,
          dependency,
          exists: true,
        });
        expect(['service_started', 'service_healthy', 'service_completed_successfully']).toContain(condition);
        if (condition === 'service_healthy') expect(services[dependency].healthcheck?.test).toBeDefined();
      }
    }
    for (const role of roles) {
      expect(Object.fromEntries(dependencies(services[role]))).toEqual({
        kafka: 'service_healthy',
        redis: 'service_healthy',
        'schema-registry': 'service_healthy',
      });
    }
  });

  it('declares every named volume it mounts', () => {
    for (const service of Object.values(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0];
        if (!source.startsWith('.') && !source.startsWith('/'))
          expect(compose.volumes).toHaveProperty(source);
      }
    }
  });

  it('gives Kafka a listener for containers, one for the host, and its data a volume', () => {
    const kafka = services.kafka;
    const env = kafka.environment!;
    expect(env.KAFKA_ADVERTISED_LISTENERS).toBe('PLAINTEXT://kafka:9092,HOST://localhost:9094');
    expect(String(env.KAFKA_LISTENERS).split(',')).toEqual(
      expect.arrayContaining(['PLAINTEXT://:9092', 'HOST://:9094']),
    );
    expect(env.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP).toContain('HOST:PLAINTEXT');
    expect(kafka.ports).toEqual(['9094:9094']);
    expect(kafka.volumes).toContain(`kafka-data:${env.KAFKA_LOG_DIRS}`);
    for (const role of roles) expect(services[role].environment?.KAFKA_BROKERS).toBe('kafka:9092');
    expect(kafka.healthcheck?.test).toContain('/opt/kafka/bin/kafka-broker-api-versions.sh');
  });

  it("checks each role's readiness on the port it serves /healthz on", () => {
    for (const role of roles.filter((r) => r !== 'api')) {
      expect(services[role].healthcheck?.test.join(' ')).toContain(`127.0.0.1:${metricsPort}/healthz/ready`);
    }
    const api = services.api;
    const portOption = api.command!.indexOf('--port');
    const apiPort = portOption >= 0 ? api.command![portOption + 1] : '8080';
    expect(api.ports).toEqual([`${apiPort}:${apiPort}`]);
    expect(api.healthcheck?.test.join(' ')).toContain(`127.0.0.1:${apiPort}/healthz/ready`);
    // Required: the API refuses to listen on 0.0.0.0 without a token.
    expect(api.environment?.WINCHESTER_API_TOKEN).toMatch(/^\$\{WINCHESTER_API_TOKEN:\?/);
  });

  it("the roles' healthchecks pass on a ready server, fail on an unready or absent one", async () => {
    let ready = true;
    // Readiness follows what the server depends on: here a Redis that answers or not.
    const redis = { ping: () => (ready ? Promise.resolve('PONG') : Promise.reject(new Error('down'))) };
    const app = buildApi({
      metrics: new WinchesterMetrics('test'),
      namespace: 'test',
      redis: redis as unknown as Redis,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    try {
      for (const role of roles) {
        const check = services[role].healthcheck!;
        ready = true;
        expect(await runHealthcheck(check, port)).toBe(0);
        ready = false;
        expect(await runHealthcheck(check, port)).toBe(1);
      }
    } finally {
      await app.close();
    }
    expect(await runHealthcheck(services.api.healthcheck!, port)).toBe(1);
  });

  const composeCli = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' }).status === 0;
  (composeCli ? it : it.skip)('is valid for `docker compose config` (where Docker Compose exists)', () => {
    execFileSync('docker', ['compose', '-f', join(repo, 'docker-compose.yml'), 'config', '--quiet'], {
      cwd: repo,
    });
  });
});
