/**
 * The schema registry secured as `scripts/stack.sh start --secure` runs it (Apicurio over
 * HTTPS only, HTTP basic auth against its embedded user), a private instance in a state
 * directory of its own: the topology's Avro round trip through it, and each mistake an
 * operator can make (wrong password, none, untrusted CA) as one line that names the variable
 * to fix and never the password. Mutual TLS is checked against a Node HTTPS server that
 * requires a client certificate: this build of Apicurio cannot be told to.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:https';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reportFor } from '../../src/cli/errors';
import { defaultTopologySettings } from '../../src/config/topology-settings';
import { newTraits, WinchesterEvent } from '../../src/events/event';
import { SchemaRegistryError } from '../../src/kafka/registry-client';
import { topologyDecoders, topologySerializers } from '../../src/topology/serialization';
import { requireRegistry } from '../../src/topology/serialization-registry';
import { repoRoot, schemaRegistryUrl } from '../support/stack';

const dir = mkdtempSync(join(tmpdir(), 'winchester-registry-secure-'));
const certs = join(dir, 'certs');

/** scripts/schema-registry.sh in secure mode, on the private state directory. */
function registryScript(action: 'start' | 'stop' | 'env'): string {
  const env: NodeJS.ProcessEnv = { ...process.env, WINCHESTER_STACK_DIR: dir, STACK_SECURE: '1' };
  delete env.SCHEMA_REGISTRY_DIR;
  return execFileSync('bash', [join(repoRoot, 'scripts', 'schema-registry.sh'), action], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** The variables that secure the registry: all SCHEMA_REGISTRY_* but the URL. */
const REGISTRY_VARIABLES = /^SCHEMA_REGISTRY_(?!URL$)/;

/** Runs `fn` with exactly these of the registry's security variables set, then restores them. */
async function withRegistryEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.entries(process.env).filter(([name]) => REGISTRY_VARIABLES.test(name));
  for (const [name] of saved) delete process.env[name];
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const name of Object.keys(process.env)) if (REGISTRY_VARIABLES.test(name)) delete process.env[name];
    for (const [name, value] of saved) process.env[name] = value;
  }
}

/** What main() would print for the error a promise ends with: its lines, and the exit code. */
async function failureOf(
  attempt: Promise<unknown>,
): Promise<{ lines: string[]; code: number; error: unknown }> {
  const error = await attempt.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error === undefined) throw new Error('it succeeded');
  const report = reportFor(error);
  return { lines: `winchester: ${report.message}`.split('\n'), code: report.exitCode, error };
}

const event: WinchesterEvent = {
  message_id: 'm-secure-1',
  event_type: 'compute.instance.exists',
  timestamp: 1_790_000_000_123_457,
  traits: Object.assign(newTraits(), {
    instance_id: { type: 'text', value: 'i-1' },
    memory_mb: { type: 'int', value: 512 },
    load: { type: 'float', value: 2.5 },
    launched_at: { type: 'datetime', value: 1_789_000_000_000_001 },
  }),
};

const topics = () => defaultTopologySettings({ namespace: `t.registry-secure.${Date.now()}` }).topics;

let url: string;
let secure: Record<string, string>;
let password: string;

beforeAll(() => {
  url = registryScript('start');
  secure = Object.fromEntries(
    registryScript('env')
      .split('\n')
      .map((line) => line.split(/=(.*)/s).slice(0, 2)),
  ) as Record<string, string>;
  password = readFileSync(secure.SCHEMA_REGISTRY_PASSWORD_FILE, 'utf8').trim();
}, 120_000);

afterAll(() => {
  registryScript('stop');
  rmSync(dir, { recursive: true, force: true });
});

describe('the secure registry of the local stack', () => {
  test('serves HTTPS at the URL `start` prints; `env` names the user and files, never the password', () => {
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7$/);
    expect(secure).toEqual({
      SCHEMA_REGISTRY_USERNAME: 'winchester',
      SCHEMA_REGISTRY_PASSWORD_FILE: join(dir, 'secrets', 'registry.password'),
      SCHEMA_REGISTRY_CA_FILE: join(certs, 'ca.pem'),
    });
    expect(password).toMatch(/^[0-9a-f]{48}$/);
    expect(statSync(secure.SCHEMA_REGISTRY_PASSWORD_FILE).mode & 0o777).toBe(0o600);
    // Its configuration holds a digest only, and the JVM's command line no secret.
    const config = join(dir, 'schema-registry-secure', 'config', 'application.properties');
    expect(statSync(config).mode & 0o777).toBe(0o600);
    expect(readFileSync(config, 'utf8')).not.toContain(password);
    const pid = readFileSync(join(dir, 'schema-registry-secure', 'schema-registry.pid'), 'utf8').trim();
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(password);
  });

  test('Avro round trip: schemas registered, a record encoded, and decoded by a fresh reader', async () => {
    await withRegistryEnv(secure, async () => {
      const serializers = await topologySerializers(url, topics());
      expect(serializers.format).toBe('avro');
      const written = (await serializers.events.encode(event)) as Buffer;
      expect(written[0]).toBe(0);
      // A fresh client has no schema cached: it fetches the writer's by id, with credentials.
      expect(await topologyDecoders(url).events.decode(written)).toEqual(event);
    });
  });

  test('a wrong password: one line naming the variables, exit 1, the password nowhere', async () => {
    const wrongFile = join(dir, 'wrong.password');
    writeFileSync(wrongFile, 'not-the-password\n', { mode: 0o600 });
    const wrong = { ...secure, SCHEMA_REGISTRY_PASSWORD_FILE: wrongFile };
    const { lines, code } = await withRegistryEnv(wrong, () => failureOf(topologySerializers(url, topics())));
    expect(lines).toEqual([
      `winchester: schema registry ${url} refused the credentials (HTTP 401): check SCHEMA_REGISTRY_USERNAME and its password`,
    ]);
    expect(code).toBe(1);
    // Nor does the registry's own log carry either password.
    const serverLog = readFileSync(join(dir, 'schema-registry-secure', 'server.log'), 'utf8');
    expect(serverLog).toContain('Authentication');
    for (const secret of [password, 'not-the-password']) expect(serverLog).not.toContain(secret);
    const none = await withRegistryEnv({ SCHEMA_REGISTRY_CA_FILE: secure.SCHEMA_REGISTRY_CA_FILE }, () =>
      failureOf(requireRegistry(url)),
    );
    expect(none.lines[0]).toMatch(
      /wants credentials \(HTTP 401\): set SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD_FILE$/,
    );
  });

  test('a record read with refused credentials is the registry’s fault, not the record’s: it is kept', async () => {
    const written = await withRegistryEnv(secure, async () => {
      const serializers = await topologySerializers(url, topics());
      return (await serializers.events.encode(event)) as Buffer;
    });
    const wrong = { ...secure, SCHEMA_REGISTRY_PASSWORD: 'nope', SCHEMA_REGISTRY_PASSWORD_FILE: '' };
    const { error, lines } = await withRegistryEnv(wrong, () =>
      failureOf(topologyDecoders(url).events.decode(written)),
    );
    // A SchemaRegistryError makes the batch loop try again instead of dead-lettering the record.
    expect(error).toBeInstanceOf(SchemaRegistryError);
    expect(lines[0]).toMatch(/schema id \d+: schema registry .* refused the credentials \(HTTP 401\)/);
  });

  test('an untrusted CA: one line naming SCHEMA_REGISTRY_CA_FILE', async () => {
    const { SCHEMA_REGISTRY_CA_FILE: _ca, ...withoutCa } = secure;
    const { lines, code } = await withRegistryEnv(withoutCa, () =>
      failureOf(topologySerializers(url, topics())),
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^winchester: cannot reach the schema registry at ${url.replace(/\./g, '\\.')}: its TLS certificate is not trusted \\(.+\\); set SCHEMA_REGISTRY_CA_FILE to the CA that signed it$`,
      ),
    );
    expect(code).toBe(1);
  });

  test('the plain registry still works with no SCHEMA_REGISTRY_* security set', async () => {
    await withRegistryEnv({}, async () => {
      const serializers = await topologySerializers(schemaRegistryUrl(), topics());
      const written = (await serializers.events.encode(event)) as Buffer;
      expect(await topologyDecoders(schemaRegistryUrl()).events.decode(written)).toEqual(event);
    });
  });
});

describe('mutual TLS', () => {
  let server: Server;
  let httpsUrl: string;
  const clientNames: string[] = [];

  beforeAll(async () => {
    // A server that, like a registry behind a TLS proxy, wants a client certificate from our CA.
    const pem = (name: string) => readFileSync(join(certs, name));
    server = createServer(
      {
        cert: pem('server.pem'),
        key: pem('server.key'),
        ca: pem('ca.pem'),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (request, response) => {
        const peer = (request.socket as import('node:tls').TLSSocket).getPeerCertificate();
        clientNames.push(String(peer.subject?.CN));
        response.setHeader('content-type', 'application/vnd.schemaregistry.v1+json');
        response.end(JSON.stringify({ compatibilityLevel: 'BACKWARD' }));
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    httpsUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}/apis/ccompat/v7`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('the client presents SCHEMA_REGISTRY_CERT_FILE and _KEY_FILE; without them, one line says so', async () => {
    const ca = { SCHEMA_REGISTRY_CA_FILE: join(certs, 'ca.pem') };
    const mutual = {
      ...ca,
      SCHEMA_REGISTRY_CERT_FILE: join(certs, 'client.pem'),
      SCHEMA_REGISTRY_KEY_FILE: join(certs, 'client.key'),
    };
    await withRegistryEnv(mutual, () => requireRegistry(httpsUrl));
    expect(clientNames).toEqual(['winchester']);
    const { lines } = await withRegistryEnv(ca, () => failureOf(requireRegistry(httpsUrl)));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /refused the TLS handshake \(.+\); does it want a client certificate \(SCHEMA_REGISTRY_CERT_FILE, SCHEMA_REGISTRY_KEY_FILE\)/,
    );
  });
});
