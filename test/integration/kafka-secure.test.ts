import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } from 'kafkajs';
import { connectionSettings } from '../../src/config/environment';
import { registerConsume } from '../../src/cli/consume';
import { registerProduce } from '../../src/cli/produce';
import { createKafka } from '../../src/kafka/client';
import { sampleCorpus } from '../support/corpus';
import { runInProcess, InProcessRun } from '../support/in-process-cli';
import { testNamespace } from '../support/namespace';
import { repoRoot } from '../support/stack';
import { waitFor } from '../support/topology-harness';

/**
 * Kafka security end to end on a private broker in scripts/kafka.sh's secure mode (SASL_SSL with
 * PLAIN and SCRAM-SHA-512, SSL with mutual TLS, StandardAuthorizer ACLs): the real CLI and a real
 * role process over each, a principal without ACLs stopped with one line, and no password in any
 * output, log file or command line.
 */

const ns = testNamespace();
const stackDir = mkdtempSync(join(tmpdir(), 'winchester-kafka-secure-'));
const kafkaScript = join(repoRoot, 'scripts', 'kafka.sh');
const scriptEnv = { ...process.env, WINCHESTER_STACK_DIR: stackDir, STACK_SECURE: '1', KAFKA_HEAP: '384m' };
const kafkaSh = (action: string) =>
  execFileSync('bash', [kafkaScript, action], { env: scriptEnv, encoding: 'utf8', stdio: 'pipe' }).trim();

type Mode = 'scram' | 'plain' | 'mtls' | 'limited';
const envs = {} as Record<Mode, NodeJS.ProcessEnv>;
const passwords: string[] = [];
/** Everything the commands and processes of this file wrote, for the password check. */
const outputs: string[] = [];
const roles: ChildProcess[] = [];

/** The environment without this machine's own Kafka settings (the suite may run on a secure stack). */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, SCHEMA_REGISTRY_URL: '', WINCHESTER_NAMESPACE: ns.prefix };
  for (const key of Object.keys(env)) if (/^KAFKA_(SASL_|SSL_|SECURITY_)/.test(key)) delete env[key];
  // Errors only: a role's output is then exactly what went wrong.
  return { ...env, LOG_FORMAT: 'json', LOG_LEVEL: 'error', METRICS_PORT: '0' };
}

beforeAll(() => {
  const bootstrap = kafkaSh('start');
  const printed = Object.fromEntries(
    kafkaSh('env')
      .split('\n')
      .map((line) => line.split(/=(.*)/s).slice(0, 2)),
  ) as Record<string, string>;
  const secrets = join(stackDir, 'secrets');
  for (const user of ['admin', 'winchester', 'limited']) {
    passwords.push(readFileSync(join(secrets, `kafka-${user}.password`), 'utf8').trim());
  }
  const { KAFKA_SSL_BROKERS, ...sasl } = printed;
  envs.scram = { ...baseEnv(), ...sasl, KAFKA_BROKERS: bootstrap };
  envs.plain = { ...envs.scram, KAFKA_SASL_MECHANISM: 'plain' };
  envs.limited = {
    ...envs.scram,
    KAFKA_SASL_USERNAME: 'limited',
    KAFKA_SASL_PASSWORD_FILE: join(secrets, 'kafka-limited.password'),
  };
  envs.mtls = {
    ...baseEnv(),
    KAFKA_BROKERS: KAFKA_SSL_BROKERS,
    KAFKA_SECURITY_PROTOCOL: 'SSL',
    KAFKA_SSL_CA_FILE: sasl.KAFKA_SSL_CA_FILE,
    KAFKA_SSL_CERT_FILE: join(stackDir, 'certs', 'client.pem'),
    KAFKA_SSL_KEY_FILE: join(stackDir, 'certs', 'client.key'),
  };
}, 180_000);

afterAll(async () => {
  for (const role of roles) if (role.exitCode === null) role.kill('SIGKILL');
  kafkaSh('stop');
  rmSync(stackDir, { recursive: true, force: true });
}, 60_000);

/** A command of the real CLI, in this process, under `env`. */
async function winchester(
  env: NodeJS.ProcessEnv,
  register: (program: Command) => void,
  args: string[],
): Promise<InProcessRun> {
  const saved = process.env;
  process.env = env;
  try {
    const run = await runInProcess(register, args);
    outputs.push(run.stdout, run.stderr);
    return run;
  } finally {
    process.env = saved;
  }
}

/** `winchester <role> -t topologies/example` as a process of its own, from the source. */
function startRole(role: string, env: NodeJS.ProcessEnv): ChildProcess & { output: string[] } {
  const entry = [
    "const { Command } = require('commander');",
    "const { registerRoles } = require('./src/cli/roles.ts');",
    "const { reportFor } = require('./src/cli/errors.ts');",
    "const program = new Command('winchester').exitOverride();",
    'registerRoles(program);',
    "program.parseAsync(process.argv.slice(1), { from: 'user' }).catch((error) => {",
    '  const report = reportFor(error);',
    "  process.stderr.write('winchester: ' + report.message + '\\n');",
    '  process.exit(report.exitCode);',
    '});',
  ].join('\n');
  const child = spawn(
    process.execPath,
    ['-r', join(repoRoot, 'test/support/swc-register.cjs'), '-e', entry, role, '-t', 'topologies/example'],
    { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] },
  ) as ChildProcess & { output: string[] };
  child.output = [];
  const keep = (chunk: Buffer) => child.output.push(chunk.toString());
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  roles.push(child);
  return child;
}

/** The process's exit code, once it has exited by itself. */
const exited = (child: ChildProcess) =>
  child.exitCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise<number>((r) => child.once('exit', r));

function notificationsFile(name: string, lines: string[]): string {
  const file = join(stackDir, `${name}.jsonl`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const messageId = (line: string) => (JSON.parse(line) as { message_id: string }).message_id;

test('SCRAM-SHA-512, PLAIN and mutual TLS each carry notifications through a distiller to events', async () => {
  const corpus = sampleCorpus().slice(0, 6);
  const modes: Mode[] = ['scram', 'plain', 'mtls'];
  for (const [i, mode] of modes.entries()) {
    const file = notificationsFile(mode, corpus.slice(2 * i, 2 * i + 2));
    const run = await winchester(envs[mode], registerProduce, ['produce', file]);
    expect({ mode, code: run.code, stderr: run.stderr }).toEqual({ mode, code: 0, stderr: '' });
  }
  // Every log line there is, kafkajs's debug included, for the password check below.
  const distiller = startRole('distiller', { ...envs.scram, LOG_LEVEL: 'debug', KAFKAJS_LOG_LEVEL: 'debug' });
  const reader = createKafka(connectionSettings(envs.scram), `${ns.prefix}-reader`);
  const seen = new Set<string>();
  const consumer = reader.consumer({ groupId: `${ns.prefix}.reader` });
  await consumer.connect();
  await consumer.subscribe({ topic: `${ns.prefix}.events`, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => void seen.add(messageId(String(message.value))),
  });
  await waitFor(() => seen.size >= 6, 60_000).finally(() => consumer.disconnect());

  for (const mode of modes) {
    const run = await winchester(envs[mode], registerConsume, [
      'consume',
      'events',
      '--from-beginning',
      '-n',
      '6',
    ]);
    expect({ mode, code: run.code }).toEqual({ mode, code: 0 });
    const ids = run.lines.map(
      (line) => (JSON.parse(line) as { value: { message_id: string } }).value.message_id,
    );
    expect(ids.sort()).toEqual(corpus.map(messageId).sort());
  }
  // No password on the command line of the role or of the broker.
  for (const pid of [
    distiller.pid,
    Number(readFileSync(join(stackDir, 'kafka-secure', 'kafka.pid'), 'utf8')),
  ]) {
    const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    for (const password of passwords) expect(commandLine).not.toContain(password);
  }
  distiller.kill('SIGTERM');
  expect(await exited(distiller)).toBe(0);
  outputs.push(...distiller.output);
}, 120_000);

test('wrong credentials are one line naming broker and principal, not the password', async () => {
  const wrong = join(stackDir, 'wrong.password');
  writeFileSync(wrong, 'not-the-password\n');
  const run = await winchester({ ...envs.scram, KAFKA_SASL_PASSWORD_FILE: wrong }, registerProduce, [
    'produce',
    notificationsFile('wrong', sampleCorpus().slice(0, 1)),
  ]);
  expect(run.code).toBe(1);
  expect(run.stderr).toMatch(
    /^winchester: Kafka at 127\.0\.0\.1:\d+ refused the credentials \(SASL_SSL, SCRAM-SHA-512 as User:winchester\): .*invalid credentials.*\n$/,
  );
  expect(run.stderr).not.toContain('not-the-password');
}, 60_000);

/** Grants `limited` operations on the namespace's topics or groups (prefixed), as the admin user. */
async function grantToLimited(
  resourceType: AclResourceTypes,
  operations: AclOperationTypes[],
): Promise<void> {
  const admin = createKafka(
    connectionSettings({
      ...envs.scram,
      KAFKA_SASL_USERNAME: 'admin',
      KAFKA_SASL_PASSWORD_FILE: join(stackDir, 'secrets', 'kafka-admin.password'),
    }),
    `${ns.prefix}-admin`,
  ).admin();
  await admin.connect();
  await admin.createAcls({
    acl: operations.map((operation) => ({
      resourceType,
      resourceName: ns.prefix,
      resourcePatternType: ResourcePatternTypes.PREFIXED,
      principal: 'User:limited',
      host: '*',
      operation,
      permissionType: AclPermissionTypes.ALLOW,
    })),
  });
  await admin.disconnect();
}

/**
 * A distiller as `limited`: it must stop by itself (a refusal is not retried), exit code 1, with
 * one line and nothing else.
 */
async function refusedDistiller(): Promise<string> {
  const role = startRole('distiller', envs.limited);
  expect(await exited(role)).toBe(1);
  const line = role.output.join('').trim();
  outputs.push(line);
  return line;
}

test('a principal short of ACLs stops with one line naming the topic or group it may not use', async () => {
  const as = 'as User:limited \\(kafka ACL\\)';
  const prefix = ns.prefix.replace(/[.-]/g, '\\$&');
  // No rights at all: the role cannot see its topics, so it tries to create them.
  expect(await refusedDistiller()).toMatch(
    new RegExp(`^winchester: not authorized to create topic ${prefix}\\.\\S+ \\(and \\d+ more\\) ${as}$`),
  );
  // It may see the topics, but not use a consumer group.
  await grantToLimited(AclResourceTypes.TOPIC, [AclOperationTypes.DESCRIBE, AclOperationTypes.WRITE]);
  expect(await refusedDistiller()).toMatch(
    new RegExp(`^winchester: not authorized to use consumer group ${prefix}\\.topology\\.\\S+ ${as}$`),
  );
  // It may join its groups, but not read: refused at the first fetch, after the start.
  await grantToLimited(AclResourceTypes.GROUP, [AclOperationTypes.READ, AclOperationTypes.DESCRIBE]);
  expect(await refusedDistiller()).toMatch(
    new RegExp(`^winchester: not authorized to read topic ${prefix}\\.(topology|notifications) ${as}$`),
  );
}, 90_000);

test('no password reached any output, or any log file of the broker and its tools', () => {
  const brokerDir = join(stackDir, 'kafka-secure');
  const logs = readdirSync(brokerDir)
    .filter((name) => name.endsWith('.log'))
    .map((name) => readFileSync(join(brokerDir, name), 'utf8'));
  expect(logs.length).toBeGreaterThanOrEqual(3);
  expect(outputs.join('').length).toBeGreaterThan(0);
  for (const text of [...outputs, ...logs]) {
    for (const password of passwords) expect(text).not.toContain(password);
  }
  expect(existsSync(join(brokerDir, 'format.args'))).toBe(false);
});
