/**
 * Mistaken invocations, as a user makes them: each must end with one line that says what is
 * wrong, the documented exit code (2: the command line or configuration; 1: a failure while
 * running) and no stack trace. Services that should be unreachable are pointed at closed
 * ports; the busy-port case binds a real port first.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliPath, requireBuild } from '../support/processes';
import { amqpUrl, repoRoot } from '../support/stack';
import { testNamespace } from '../support/namespace';

interface Mistake {
  name: string;
  args: string[];
  exit: 1 | 2;
  /** Words the message must contain (case-insensitive). */
  says: RegExp;
  env?: NodeJS.ProcessEnv;
  stdin?: Buffer | string;
  /** Commands that report per-line rejections before the final line. */
  otherLines?: boolean;
}

interface Outcome {
  code: number | null;
  stderr: string;
}

function run(args: string[], env: NodeJS.ProcessEnv, stdin?: Buffer | string): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      cwd: repoRoot,
      env: { ...process.env, LOG_LEVEL: 'info', ...env },
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.on('error', () => undefined); // the command may exit before reading it
    child.stdin.end(stdin ?? '');
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

const dir = mkdtempSync(join(tmpdir(), 'winchester-mistakes-'));
const file = (name: string, content: Buffer | string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};
const topology = join(repoRoot, 'topologies', 'openstack-usage');
const definitions = join(topology, 'event_definitions.yaml');
const corpus = join(repoRoot, 'data', 'notifications-openstack-26h.jsonl.gz');
const notJson = file('words.txt', 'these are\nnot notifications\n');
const truncatedGz = file('truncated.jsonl.gz', readFileSync(corpus).subarray(0, 5000));
const corruptGz = file('corrupt.jsonl.gz', Buffer.from([0x1f, 0x8b, 0x42, 0x00, 0x01, 0x02]));
const badConfig = file('winchester.yaml', 'metrics_port: [1, 2\n');
const closedKafka = { KAFKA_BROKERS: '127.0.0.1:1' };
const closedRedis = { REDIS_URL: 'redis://127.0.0.1:1' };
const closedEventStore = { EVENT_STORE_URL: 'postgres://winchester@127.0.0.1:1/winchester' };
const badTtlConfig = file('ttl.yaml', 'log_level: info\nevent_ttl: forever\n');

function mistakes(busyPort: number): Mistake[] {
  return [
    { name: 'unknown command', args: ['frobnicate'], exit: 2, says: /unknown command/ },
    {
      name: 'unknown option',
      args: ['distill', '--definitions', definitions, '--catch-al'],
      exit: 2,
      says: /unknown option/,
    },
    { name: 'missing required option', args: ['simulate'], exit: 2, says: /--topology/ },
    {
      name: 'clock mode in the wrong case',
      args: ['simulate', '--clock', 'Event', '-t', topology],
      exit: 2,
      says: /event, wall/,
    },
    {
      name: 'unknown log format',
      args: ['--log-format', 'xml', 'timex', '1h'],
      exit: 2,
      says: /json, pretty/,
    },
    {
      name: 'rate not a number',
      args: ['generate', '--rate', 'abc'],
      exit: 2,
      says: /--rate.*positive number/,
    },
    { name: 'rate zero', args: ['dev', '--rate', '0', '--live'], exit: 2, says: /--rate.*positive/ },
    {
      name: 'start not a date',
      args: ['generate', '--rate', '1', '--start', 'tomorrow'],
      exit: 2,
      says: /--start.*ISO-8601/,
    },
    {
      name: 'output in a missing directory',
      args: ['generate', '--rate', '1', '--hours', '0.01', '-o', join(dir, 'no', 'x')],
      exit: 1,
      says: /no such file/,
    },
    { name: 'clock advance without a target', args: ['clock', 'advance'], exit: 2, says: /--to.*--end/ },
    {
      name: 'port not a number',
      args: ['api', '-t', topology, '--port', 'eighty'],
      exit: 2,
      says: /--port.*port number/,
    },
    {
      name: 'count zero',
      args: ['streams', 'list', '--count', '0'],
      exit: 2,
      says: /--count.*positive integer/,
    },
    {
      name: 'unknown LOG_LEVEL',
      args: ['timex', '1h'],
      exit: 2,
      says: /LOG_LEVEL=verbose.*debug/,
      env: { LOG_LEVEL: 'verbose' },
    },
    {
      name: 'unknown LOG_FORMAT',
      args: ['timex', '1h'],
      exit: 2,
      says: /LOG_FORMAT=xml/,
      env: { LOG_FORMAT: 'xml' },
    },
    {
      name: 'bridge without AMQP_URL',
      args: ['bridge'],
      exit: 2,
      says: /AMQP_URL is not set/,
      env: { AMQP_URL: '' },
    },
    {
      name: 'bridge with an AMQP_URL that is not amqp://',
      args: ['bridge'],
      exit: 2,
      says: /AMQP_URL must start with amqp:\/\/ or amqps:\/\//,
      env: { AMQP_URL: 'http://127.0.0.1:5672' },
    },
    {
      name: 'bridge with RabbitMQ unreachable',
      args: ['bridge'],
      exit: 1,
      says: /cannot reach RabbitMQ at 127\.0\.0\.1:1 vhost \/ \(ECONNREFUSED\)/,
      env: { AMQP_URL: 'amqp://guest:s3cret-pw@127.0.0.1:1' },
    },
    {
      name: 'bridge with a wrong password (never printed)',
      args: ['bridge'],
      exit: 1,
      says: /RabbitMQ at 127\.0\.0\.1:\d+ vhost \/ refused the bridge: .*ACCESS_REFUSED(?!.*s3cret-pw)/,
      env: { AMQP_URL: amqpUrl().replace('guest:guest', 'guest:s3cret-pw') },
    },
    {
      name: 'bridge with a bad bridge: setting',
      args: ['bridge', '-c', file('bridge.yaml', 'bridge:\n  prefetch: lots\n')],
      exit: 2,
      says: /bridge\.yaml:2: bridge\.prefetch: expected an integer/,
    },
    {
      name: 'METRICS_PORT not a port',
      args: ['distiller', '-t', topology],
      exit: 2,
      says: /METRICS_PORT=abc/,
      env: { METRICS_PORT: 'abc' },
    },
    {
      name: 'metrics port checked before connecting',
      args: ['distiller', '-t', topology, '--metrics-port', 'ninety'],
      exit: 2,
      says: /--metrics-port "ninety"/,
      env: closedKafka,
    },
    {
      name: 'unknown topic (consume)',
      args: ['consume', 'no-such-topic', '-n', '1'],
      exit: 2,
      says: /no-such-topic/,
    },
    {
      name: 'missing config file',
      args: ['distiller', '-t', topology, '-c', join(dir, 'nope.yaml')],
      exit: 2,
      says: /cannot read/,
    },
    {
      name: 'broken config file',
      args: ['distiller', '-t', topology, '-c', badConfig],
      exit: 2,
      says: /winchester\.yaml/,
    },
    { name: 'missing topology', args: ['simulate', '-t', join(dir, 'nope')], exit: 2, says: /nope/ },
    {
      name: 'no brokers set',
      args: ['produce', notJson],
      exit: 2,
      says: /KAFKA_BROKERS is not set/,
      env: { KAFKA_BROKERS: '' },
    },
    {
      name: 'missing input file',
      args: ['simulate', '-t', topology, join(dir, 'missing.jsonl')],
      exit: 1,
      says: /missing\.jsonl: no such file/,
    },
    {
      name: 'a directory as input',
      args: ['distill', '--definitions', definitions, dir],
      exit: 1,
      says: /is a directory/,
    },
    {
      name: 'truncated gzip',
      args: ['simulate', '-t', topology, truncatedGz],
      exit: 1,
      says: /not a valid gzip file.*truncated/,
    },
    {
      name: 'corrupt gzip',
      args: ['distill', '--definitions', definitions, corruptGz],
      exit: 1,
      says: /not a valid gzip file/,
    },
    {
      name: 'no JSON at all (distill)',
      args: ['distill', '--definitions', definitions, notJson],
      exit: 1,
      says: /no valid notification/,
      otherLines: true,
    },
    {
      name: 'no JSON at all (simulate, stdin)',
      args: ['simulate', '-t', topology],
      stdin: 'not json\n',
      exit: 1,
      says: /no valid notification in stdin/,
      otherLines: true,
    },
    { name: 'empty input', args: ['simulate', '-t', topology], stdin: '', exit: 1, says: /stdin is empty/ },
    {
      name: 'unreachable Kafka (produce)',
      args: ['produce', corpus],
      exit: 1,
      says: /cannot reach Kafka at 127\.0\.0\.1:1/,
      env: closedKafka,
    },
    {
      name: 'unreachable Kafka (a role)',
      args: ['distiller', '-t', topology],
      exit: 1,
      says: /cannot reach Kafka/,
      env: closedKafka,
    },
    {
      name: 'unreachable Redis (matcher)',
      args: ['matcher', '-t', topology],
      exit: 1,
      says: /cannot reach Redis at 127\.0\.0\.1:1/,
      env: closedRedis,
    },
    {
      name: 'unreachable Redis (streams)',
      args: ['streams', 'list'],
      exit: 1,
      says: /cannot reach Redis/,
      env: closedRedis,
    },
    {
      name: 'EVENT_STORE_URL not set (events)',
      args: ['events', 'types'],
      exit: 2,
      says: /EVENT_STORE_URL is not set/,
      env: { EVENT_STORE_URL: '' },
    },
    {
      name: 'EVENT_STORE_URL not a postgres URL (archiver)',
      args: ['archiver', '--metrics-port', 'off'],
      exit: 2,
      says: /EVENT_STORE_URL "mysql:\/\/127\.0\.0\.1\/panko" is not a postgres:\/\/ URL/,
      env: { EVENT_STORE_URL: 'mysql://127.0.0.1/panko' },
    },
    {
      name: 'unreachable event store (events list)',
      args: ['events', 'list'],
      exit: 1,
      says: /cannot reach the event store at 127\.0\.0\.1:1\/winchester/,
      env: closedEventStore,
    },
    {
      name: 'unreachable event store (archiver)',
      args: ['archiver', '--metrics-port', 'off'],
      exit: 1,
      says: /cannot reach the event store/,
      env: closedEventStore,
    },
    {
      name: 'event_ttl not a duration',
      args: ['archiver', '-c', badTtlConfig],
      exit: 2,
      says: /ttl\.yaml:2: event_ttl: expected a positive duration/,
    },
    {
      name: 'trait filter with an unknown operator',
      args: ['events', 'list', '--trait', 'memory_mb:gte:integer:5'],
      exit: 2,
      says: /Operator gte is not supported\. The supported operators are/,
    },
    {
      name: 'trait filter with an unknown type',
      args: ['events', 'list', '--trait', 'memory_mb:ge:int:5'],
      exit: 2,
      says: /The data type int is not supported/,
    },
    {
      name: 'trait filter value of the wrong type',
      args: ['events', 'list', '--trait', 'memory_mb:ge:integer:lots'],
      exit: 2,
      says: /Unable to convert the value lots to the expected data type integer/,
    },
    {
      name: 'trait filter without its parts',
      args: ['events', 'list', '--trait', 'memory_mb=5'],
      exit: 2,
      says: /NAME:OP:TYPE:VALUE/,
    },
    {
      name: 'expiry without a ttl',
      args: ['store', 'expire'],
      exit: 2,
      says: /--ttl/,
    },
    {
      name: 'expiry ttl not a duration',
      args: ['store', 'expire', '--ttl', 'a week'],
      exit: 2,
      says: /--ttl "a week": expected a positive duration such as 7d/,
    },
    {
      name: 'api on an address this host does not have',
      args: ['api', '-t', topology, '--host', '999.1.1.1', '--port', '0'],
      exit: 1,
      says: /cannot listen on 999\.1\.1\.1/,
      env: { WINCHESTER_API_TOKEN: 't' },
    },
    {
      name: 'metrics port in use',
      args: ['distiller', '-t', topology, '--metrics-port', String(busyPort)],
      exit: 1,
      says: new RegExp(`--metrics-port ${busyPort}.*in use`),
    },
    {
      name: 'api port in use',
      args: ['api', '-t', topology, '--port', String(busyPort)],
      exit: 1,
      says: /--port .*in use/,
    },
  ];
}

const STACK_FRAME = /^\s+at .+[(:]\d+/m;

function listen(): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

describe('mistaken invocations: one line, the documented exit code, no stack trace', () => {
  const ns = testNamespace();
  let busy: Server;
  beforeAll(async () => {
    requireBuild();
    busy = await listen();
  });
  afterAll(() => new Promise<void>((resolve) => busy.close(() => resolve())));

  const port = () => (busy.address() as { port: number }).port;
  const cases = mistakes(0).map((m) => m.name);

  test.each(cases)('%s', async (name) => {
    const mistake = mistakes(port()).find((m) => m.name === name)!;
    const env = { WINCHESTER_NAMESPACE: ns.prefix, ...mistake.env };
    const { code, stderr } = await run(mistake.args, env, mistake.stdin);
    const lines = stderr.trimEnd().split('\n');
    const last = lines[lines.length - 1];
    expect({ code, last }).toEqual({ code: mistake.exit, last: expect.stringMatching(/^winchester: /) });
    expect(last).toMatch(new RegExp(mistake.says.source, 'i'));
    expect(stderr).not.toMatch(STACK_FRAME);
    if (!mistake.otherLines) expect(lines).toHaveLength(1);
  });
});
