import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { Admin, Consumer, Producer } from 'kafkajs';
import { ConfigurationError } from '../../src/config/errors';
import { connectionSettings } from '../../src/config/environment';
import { parseWinchesterConfig } from '../../src/config/winchester-config';
import {
  AuthorizationLog,
  authorizationFailure,
  guardAdmin,
  guardConsumer,
  guardProducer,
  KafkaAuthorizationError,
} from '../../src/kafka/authorization';
import { createKafka } from '../../src/kafka/client';
import {
  certificateSubject,
  KafkaSecurityInput,
  kafkajsSecurityOptions,
  mergeSecurityInputs,
  resolveKafkaSecurity,
  Secret,
  securityInputFromEnv,
} from '../../src/kafka/security';
import { configureLogging } from '../../src/util/logger';

// A test CA and a client certificate (subject O=Example, CN=winchester) it signed, with the
// client's key, plain and encrypted with the password "key-secret". Test material only.
const CA = `-----BEGIN CERTIFICATE-----
MIIBezCCASGgAwIBAgIUdnUIhTOnRnwBdFW9Z+A1f/mlbQ0wCgYIKoZIzj0EAwIw
EjEQMA4GA1UEAwwHdGVzdC1jYTAgFw0yNjEyMDgwMDUzMjJaGA8yMTI2MTExNDAw
NTMyMlowEjEQMA4GA1UEAwwHdGVzdC1jYTBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABDiOiMnIsnaWG+k7HsjOyVA17g3RG6slRC4xnMKFwnwUPD7EJ0pei8WPYP2f
aEVMs4+5FQmNcgE+T4gTIl2qAy+jUzBRMB0GA1UdDgQWBBTPCrJLNLx9YjbW6+he
BRrHpVY6IzAfBgNVHSMEGDAWgBTPCrJLNLx9YjbW6+heBRrHpVY6IzAPBgNVHRMB
Af8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQDlauQfzzKI4DN3386ny3+b+BEQ
EHao3NIHvCvDDEzwmwIgMIWBHnN59Aj8rnicaH4DJ+q6OXKm71KcdgWgedspJ/8=
-----END CERTIFICATE-----
`;
const CLIENT_CERT = `-----BEGIN CERTIFICATE-----
MIIBNjCB3AIUfpAt89tosKdIptRqpWytEKmqiAEwCgYIKoZIzj0EAwIwEjEQMA4G
A1UEAwwHdGVzdC1jYTAgFw0yNjEyMDgwMDUzMjJaGA8yMTI2MTExNDAwNTMyMlow
JzEQMA4GA1UECgwHRXhhbXBsZTETMBEGA1UEAwwKd2luY2hlc3RlcjBZMBMGByqG
SM49AgEGCCqGSM49AwEHA0IABD4JElkfpk1HLWlum1tlC9L+YATLpFSlceBtP/60
hD1zv0uCy+VQ3FCJHhkzjkjxhhJTdV0XE6cy7G255k+yVqswCgYIKoZIzj0EAwID
SQAwRgIhAIyUztGpZ31bUfF26OWM5vfdKDtvx219DyZc0qTunzfpAiEA2Pn2oqHF
7t7D2xu2mvIHynHJnozo11etF8VV0JUbD10=
-----END CERTIFICATE-----
`;
const CLIENT_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgNeF7yu0QYbvD2v7Q
LA6yrMr+uHsagaCGyBHF6RPHa+KhRANCAAQ+CRJZH6ZNRy1pbptbZQvS/mAEy6RU
pXHgbT/+tIQ9c79LgsvlUNxQiR4ZM45I8YYSU3VdFxOnMuxtueZPslar
-----END PRIVATE KEY-----
`;
const CLIENT_KEY_ENCRYPTED = `-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhJ2TnnHRPi7AICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEIVbXfOVaDsMPxt+2C+C8YUEgZBZ
slL0oRN16rK4nDMcf+aoOLeXW6e1sDLeKblZdpu3Tx1QxhlTNRyXKGxngZ8yZFOF
UteWAu5xWk5iNSTDk4G0F52bIy7RJhUMFUBjfvMjDQO8aOy6kmCJpNN0DliCAEpg
3gBEyEY8KXhDtBypa4TOX5+S/NRcLtUDfymLSVlNv9pUIA3YiuDxG9Tj6czOBEo=
-----END ENCRYPTED PRIVATE KEY-----
`;
const OTHER_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();

const PASSWORD = 'pw-7f3a9c';

/** An in-memory file system for the injected reader. */
const FILES: Record<string, string> = {
  '/s/ca.pem': CA,
  '/s/client.pem': CLIENT_CERT,
  '/s/client.key': CLIENT_KEY,
  '/s/client.enc.key': CLIENT_KEY_ENCRYPTED,
  '/s/other.key': OTHER_KEY,
  '/s/key.password': 'key-secret\n',
  '/s/wrong.password': 'not-it\n',
  '/s/kafka.password': `${PASSWORD}\n`,
  '/s/empty.password': '\n',
  '/s/notes.txt': 'hello',
  '/s/broken.pem': '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n',
};
const read = (path: string): Buffer => {
  if (!(path in FILES)) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return Buffer.from(FILES[path]);
};
const resolveEnv = (env: NodeJS.ProcessEnv, file?: KafkaSecurityInput) =>
  resolveKafkaSecurity(mergeSecurityInputs(securityInputFromEnv(env), file), read);
const fails = (env: NodeJS.ProcessEnv, message: RegExp | string, file?: KafkaSecurityInput) => {
  expect(() => resolveEnv(env, file)).toThrow(ConfigurationError);
  expect(() => resolveEnv(env, file)).toThrow(message);
};

const SCRAM = {
  KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
  KAFKA_SASL_MECHANISM: 'scram-sha-512',
  KAFKA_SASL_USERNAME: 'winchester',
  KAFKA_SASL_PASSWORD_FILE: '/s/kafka.password',
  KAFKA_SSL_CA_FILE: '/s/ca.pem',
};
const MTLS = {
  KAFKA_SECURITY_PROTOCOL: 'SSL',
  KAFKA_SSL_CA_FILE: '/s/ca.pem',
  KAFKA_SSL_CERT_FILE: '/s/client.pem',
  KAFKA_SSL_KEY_FILE: '/s/client.key',
};

describe('Kafka security settings from the environment', () => {
  test('nothing set is PLAINTEXT as the anonymous principal, with no ssl or sasl option', () => {
    const security = resolveEnv({});
    expect(security).toEqual({ protocol: 'PLAINTEXT', principal: 'User:ANONYMOUS' });
    expect(kafkajsSecurityOptions(security)).toEqual({});
  });

  test('SASL_SSL with SCRAM-SHA-512: the password file without its newline, the CA as the only trust', () => {
    const security = resolveEnv(SCRAM);
    expect(security.principal).toBe('User:winchester');
    expect(kafkajsSecurityOptions(security)).toEqual({
      ssl: { ca: [CA] },
      sasl: { mechanism: 'scram-sha-512', username: 'winchester', password: PASSWORD },
    });
  });

  test.each([
    ['plain', 'plain'],
    ['PLAIN', 'plain'],
    ['SCRAM-SHA-256', 'scram-sha-256'],
  ])('mechanism %s is kafkajs %s; KAFKA_SASL_PASSWORD works as well', (given, mechanism) => {
    const env = {
      ...SCRAM,
      KAFKA_SASL_MECHANISM: given,
      KAFKA_SASL_PASSWORD_FILE: '',
      KAFKA_SASL_PASSWORD: 'x',
    };
    expect(kafkajsSecurityOptions(resolveEnv(env)).sasl).toEqual({
      mechanism,
      username: 'winchester',
      password: 'x',
    });
  });

  test('SSL with no CA trusts the system; SASL_PLAINTEXT has no ssl option', () => {
    expect(kafkajsSecurityOptions(resolveEnv({ KAFKA_SECURITY_PROTOCOL: 'ssl' }))).toEqual({ ssl: true });
    const plain = { ...SCRAM, KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_SSL_CA_FILE: '' };
    expect(kafkajsSecurityOptions(resolveEnv(plain)).ssl).toBeUndefined();
  });

  test('mutual TLS: the certificate names the principal as Kafka does (RFC 2253, last RDN first)', () => {
    const security = resolveEnv(MTLS);
    expect(security.principal).toBe('User:CN=winchester,O=Example');
    expect(kafkajsSecurityOptions(security)).toEqual({
      ssl: { ca: [CA], cert: CLIENT_CERT, key: CLIENT_KEY },
    });
    expect(certificateSubject(CA)).toBe('CN=test-ca');
  });

  test('an encrypted key opens with KAFKA_SSL_KEY_PASSWORD_FILE, which becomes the passphrase', () => {
    const env = {
      ...MTLS,
      KAFKA_SSL_KEY_FILE: '/s/client.enc.key',
      KAFKA_SSL_KEY_PASSWORD_FILE: '/s/key.password',
    };
    expect(kafkajsSecurityOptions(resolveEnv(env)).ssl).toMatchObject({ passphrase: 'key-secret' });
    fails(
      { ...env, KAFKA_SSL_KEY_PASSWORD_FILE: '/s/wrong.password' },
      /not a PEM private key that .* opens/,
    );
    fails({ ...env, KAFKA_SSL_KEY_PASSWORD_FILE: '' }, /encrypted key needs KAFKA_SSL_KEY_PASSWORD_FILE/);
  });

  test.each([
    [
      { KAFKA_SECURITY_PROTOCOL: 'TLS' },
      /KAFKA_SECURITY_PROTOCOL: unknown security protocol "TLS" \(expected PLAINTEXT, SSL/,
    ],
    [{ ...SCRAM, KAFKA_SASL_MECHANISM: 'gssapi' }, /KAFKA_SASL_MECHANISM: unknown SASL mechanism "gssapi"/],
    [
      { ...SCRAM, KAFKA_SASL_MECHANISM: '' },
      /KAFKA_SASL_MECHANISM \(or kafka.security.sasl.mechanism\) is not set/,
    ],
    [{ ...SCRAM, KAFKA_SASL_USERNAME: '' }, /KAFKA_SASL_USERNAME .* is not set/],
    [
      { ...SCRAM, KAFKA_SASL_PASSWORD_FILE: '' },
      /KAFKA_SASL_PASSWORD_FILE .* is not set.*or set KAFKA_SASL_PASSWORD/,
    ],
    [{ ...SCRAM, KAFKA_SASL_PASSWORD: 'x' }, /both set: keep one/],
    [
      { ...SCRAM, KAFKA_SECURITY_PROTOCOL: 'SSL' },
      'KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD_FILE: SASL settings need the security protocol SASL_SSL or SASL_PLAINTEXT, but it is SSL (KAFKA_SECURITY_PROTOCOL)',
    ],
    [{ KAFKA_SASL_USERNAME: 'w' }, /SASL settings need .* but it is PLAINTEXT \(the default\)/],
    [
      { KAFKA_SSL_CA_FILE: '/s/ca.pem' },
      /KAFKA_SSL_CA_FILE: TLS settings need the security protocol SSL or SASL_SSL/,
    ],
    [{ ...MTLS, KAFKA_SSL_KEY_FILE: '' }, /KAFKA_SSL_CERT_FILE is set without KAFKA_SSL_KEY_FILE/],
    [{ ...MTLS, KAFKA_SSL_CERT_FILE: '' }, /KAFKA_SSL_KEY_FILE is set without KAFKA_SSL_CERT_FILE/],
    [{ ...MTLS, KAFKA_SSL_KEY_FILE: '/s/other.key' }, /\/s\/other.key is not the key of \/s\/client.pem/],
    [{ ...MTLS, KAFKA_SSL_KEY_FILE: '/s/notes.txt' }, /is not a PEM private key/],
    [
      { ...MTLS, KAFKA_SSL_CA_FILE: '/s/notes.txt' },
      'KAFKA_SSL_CA_FILE: /s/notes.txt holds no PEM certificate',
    ],
    [
      { ...MTLS, KAFKA_SSL_CA_FILE: '/s/missing.pem' },
      'KAFKA_SSL_CA_FILE: /s/missing.pem cannot be read (ENOENT)',
    ],
    [
      { ...MTLS, KAFKA_SSL_CERT_FILE: '/s/broken.pem' },
      'KAFKA_SSL_CERT_FILE: /s/broken.pem holds no PEM certificate',
    ],
    [
      { ...SCRAM, KAFKA_SASL_PASSWORD_FILE: '/s/empty.password' },
      'KAFKA_SASL_PASSWORD_FILE: /s/empty.password is empty',
    ],
  ])('%j is refused at start: %s', (env, message) => fails(env, message));

  test('no message shows a password or a file content', () => {
    const attempts = [
      { ...SCRAM, KAFKA_SASL_PASSWORD: PASSWORD },
      {
        ...SCRAM,
        KAFKA_SASL_PASSWORD_FILE: '',
        KAFKA_SASL_PASSWORD: PASSWORD,
        KAFKA_SECURITY_PROTOCOL: 'SSL',
      },
      { ...MTLS, KAFKA_SSL_KEY_FILE: '/s/client.enc.key', KAFKA_SSL_KEY_PASSWORD_FILE: '/s/wrong.password' },
    ];
    for (const env of attempts) {
      const message = (() => {
        try {
          resolveEnv(env);
        } catch (error) {
          return (error as Error).message;
        }
        throw new Error('expected a refusal');
      })();
      for (const secret of [PASSWORD, 'not-it', 'PRIVATE KEY']) expect(message).not.toContain(secret);
    }
  });

  test('a resolved password prints as [redacted] however it is printed', () => {
    const security = resolveEnv(SCRAM);
    expect(JSON.stringify(security)).not.toContain(PASSWORD);
    expect(inspect(security, { depth: 5 })).not.toContain(PASSWORD);
    expect(`${security.sasl!.password}`).toBe('[redacted]');
    expect(new Secret('s').reveal()).toBe('s');
  });

  test('connectionSettings carries the resolved security; the environment wins over the file setting by setting', () => {
    const fromFile: KafkaSecurityInput = {
      protocol: { value: 'SSL', source: 'w.yaml:3: kafka.security.protocol' },
      caFile: { value: '/s/ca.pem', source: 'w.yaml:5: kafka.security.ssl.ca_file' },
      passwordFile: { value: '/s/other.password', source: 'w.yaml:9: kafka.security.sasl.password_file' },
    };
    const merged = mergeSecurityInputs(
      securityInputFromEnv({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_PASSWORD: 'p' }),
      fromFile,
    );
    expect(merged.protocol).toEqual({ value: 'SASL_SSL', source: 'KAFKA_SECURITY_PROTOCOL' });
    expect(merged.caFile?.source).toBe('w.yaml:5: kafka.security.ssl.ca_file');
    // Either password variable replaces the file's password_file: one setting, given two ways.
    expect(merged.passwordFile).toBeUndefined();
    expect(() => resolveKafkaSecurity(fromFile, read)).toThrow(
      'w.yaml:9: kafka.security.sasl.password_file: SASL settings need the security protocol SASL_SSL or SASL_PLAINTEXT, but it is SSL (w.yaml:3: kafka.security.protocol)',
    );
    expect(() =>
      resolveKafkaSecurity(
        {
          protocol: fromFile.protocol,
          certFile: { value: '/s/client.pem', source: 'w.yaml:6: kafka.security.ssl.cert_file' },
        },
        read,
      ),
    ).toThrow(
      'w.yaml:6: kafka.security.ssl.cert_file is set without KAFKA_SSL_KEY_FILE (or kafka.security.ssl.key_file): a client certificate needs its key',
    );
    expect(connectionSettings({ KAFKA_BROKERS: 'a:1' }).kafkaSecurity.protocol).toBe('PLAINTEXT');
  });
});

describe('kafka.security in winchester.yaml', () => {
  const yaml = (security: string) => `kafka:\n  namespace: n\n  security:\n${security}`;
  const parse = (security: string) => parseWinchesterConfig(yaml(security), '/etc/w/winchester.yaml', {});

  test('settings keep their file and line; relative file names are taken from the file’s directory', () => {
    const config = parse(
      '    protocol: sasl_ssl\n    sasl:\n      mechanism: SCRAM-SHA-512\n      username: w\n' +
        '      password_file: secrets/kafka.password\n    ssl:\n      ca_file: /s/ca.pem\n',
    );
    expect(config.warnings).toEqual([]);
    expect(config.topology.security).toEqual({
      protocol: { value: 'sasl_ssl', source: '/etc/w/winchester.yaml:4: kafka.security.protocol' },
      mechanism: {
        value: 'SCRAM-SHA-512',
        source: '/etc/w/winchester.yaml:6: kafka.security.sasl.mechanism',
      },
      username: { value: 'w', source: '/etc/w/winchester.yaml:7: kafka.security.sasl.username' },
      passwordFile: {
        value: '/etc/w/secrets/kafka.password',
        source: '/etc/w/winchester.yaml:8: kafka.security.sasl.password_file',
      },
      caFile: { value: '/s/ca.pem', source: '/etc/w/winchester.yaml:10: kafka.security.ssl.ca_file' },
    });
    expect(parseWinchesterConfig(yaml('    {}\n'), 'w.yaml', {}).topology.security).toEqual({});
    expect(parseWinchesterConfig('kafka: {}\n', 'w.yaml', {}).topology.security).toBeUndefined();
  });

  test.each([
    [
      '    sasl:\n      password: hunter2\n',
      /winchester.yaml:5: kafka.security.sasl.password: passwords are not kept in winchester.yaml/,
    ],
    [
      '    ssl:\n      key_password: x\n',
      /winchester.yaml:5: kafka.security.ssl.key_password: passwords are not kept/,
    ],
    [
      '    ssl:\n      ca-file: /s/ca.pem\n',
      /:5: kafka.security.ssl.ca-file: unknown setting \(expected ca_file, cert_file/,
    ],
    ['    protocol: TLS\n', /winchester.yaml:4: kafka.security.protocol: unknown security protocol "TLS"/],
    [
      '    sasl:\n      mechanism: kerberos\n',
      /:5: kafka.security.sasl.mechanism: unknown SASL mechanism "kerberos"/,
    ],
    ['    sasl: [plain]\n', /:4: kafka.security.sasl: expected a mapping/],
    ['    protocol: 3\n', /:4: kafka.security.protocol: expected a non-empty string/],
  ])('%j fails at its file and line', (security, message) => {
    expect(() => parse(security)).toThrow(ConfigurationError);
    expect(() => parse(security)).toThrow(message);
  });

  test('the refusal of a password does not repeat it', () => {
    expect(() => parse('    sasl:\n      password: hunter2\n')).not.toThrow(/hunter2/);
  });
});

/** A kafkajs error as the library builds it: a protocol error, optionally wrapped by a retrier. */
const protocolError = (type: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(type), { name: 'KafkaJSProtocolError', type, retriable: false, ...extra });
const wrapped = (cause: Error) =>
  Object.assign(new Error(cause.message), { name: 'KafkaJSNonRetriableError', cause });

describe('ACL refusals as one line', () => {
  const context = () => ({ principal: 'User:limited', log: new AuthorizationLog() });

  test('finds the refusal inside retriers and aggregates, with the topics the broker named', () => {
    expect(authorizationFailure(wrapped(protocolError('GROUP_AUTHORIZATION_FAILED')))).toEqual({
      kind: 'group',
      topics: [],
    });
    const aggregate = Object.assign(new Error('Topic creation errors'), {
      name: 'KafkaJSAggregateError',
      errors: [
        protocolError('TOPIC_AUTHORIZATION_FAILED', { topic: 'n.events' }),
        protocolError('TOPIC_AUTHORIZATION_FAILED', { topic: 'n.streams' }),
      ],
    });
    expect(authorizationFailure(aggregate)).toEqual({ kind: 'topic', topics: ['n.events', 'n.streams'] });
    expect(authorizationFailure(protocolError('UNKNOWN_TOPIC_OR_PARTITION'))).toBeUndefined();
    expect(authorizationFailure(new Error('Connection error'))).toBeUndefined();
  });

  test('an admin call names the topics it was about; other errors pass unchanged', async () => {
    const other = new Error('Connection error');
    const admin = {
      createTopics: jest
        .fn()
        .mockRejectedValueOnce(wrapped(protocolError('TOPIC_AUTHORIZATION_FAILED')))
        .mockRejectedValueOnce(other),
      events: { CONNECT: 'admin.connect' },
    } as unknown as Admin;
    const guarded = guardAdmin(admin, context());
    const create = () => guarded.createTopics({ topics: [{ topic: 'n.notifications' }] });
    await expect(create()).rejects.toThrow(
      new KafkaAuthorizationError(
        'not authorized to create topic n.notifications as User:limited (kafka ACL)',
        'topic',
        'User:limited',
      ),
    );
    await expect(create()).rejects.toBe(other);
    expect(guarded.events).toBe(admin.events);
  });

  test('a producer names the topic of the send; several topics are counted', async () => {
    const producer = {
      send: jest.fn().mockRejectedValue(wrapped(protocolError('TOPIC_AUTHORIZATION_FAILED'))),
      sendBatch: jest.fn().mockRejectedValue(protocolError('CLUSTER_AUTHORIZATION_FAILED')),
    } as unknown as Producer;
    const guarded = guardProducer(producer, undefined, context());
    await expect(guarded.send({ topic: 'n.events', messages: [] })).rejects.toThrow(
      'not authorized to write to topic n.events as User:limited (kafka ACL)',
    );
    await expect(
      guarded.sendBatch({
        topicMessages: [
          { topic: 'a', messages: [] },
          { topic: 'b', messages: [] },
        ],
      }),
    ).rejects.toThrow(
      'not authorized on the cluster to write to topic a (and 1 more) as User:limited (kafka ACL)',
    );
  });

  test('a consumer whose start is refused rejects run(), naming its group; the lost GROUP_AUTHORIZATION_FAILED is recognised from the log', async () => {
    const listeners: Array<(event: { payload: { error: Error } }) => void> = [];
    const crash = (error: Error) => listeners.forEach((l) => l({ payload: { error } }));
    const consumer = {
      events: { CRASH: 'consumer.crash' },
      on: (_: string, listener: (event: { payload: { error: Error } }) => void) => {
        listeners.push(listener);
        return () => listeners.splice(listeners.indexOf(listener), 1);
      },
      subscribe: jest.fn().mockResolvedValue(undefined),
      run: jest.fn().mockImplementation(async () =>
        crash(
          Object.assign(new Error('Failed to find group coordinator'), {
            name: 'KafkaJSGroupCoordinatorNotFound',
          }),
        ),
      ),
    } as unknown as Consumer;
    const ctx = context();
    const later: KafkaAuthorizationError[] = [];
    const guarded = guardConsumer(consumer, 'n.distiller', ctx, (e) => later.push(e));
    await guarded.subscribe({ topics: ['n.notifications'] });
    // Without the log's word, "coordinator not found" is not an ACL refusal.
    await expect(guarded.run({ eachMessage: async () => undefined })).resolves.toBeUndefined();
    expect(
      ctx.log.observe(
        'Response GroupCoordinator(key: 10) Not authorized to access group: Group authorization failed',
      ),
    ).toBe(true);
    await expect(guarded.run({ eachMessage: async () => undefined })).rejects.toThrow(
      'not authorized to use consumer group n.distiller as User:limited (kafka ACL)',
    );
    expect(later).toEqual([]);
    // A refusal after a good start (an ACL removed while running) stops the consumer with one logged line.
    (consumer.run as jest.Mock).mockResolvedValueOnce(undefined);
    await guarded.run({ eachMessage: async () => undefined });
    crash(wrapped(protocolError('TOPIC_AUTHORIZATION_FAILED')));
    expect(later.map((e) => e.message)).toEqual([
      'not authorized to read topic n.notifications as User:limited (kafka ACL)',
    ]);
  });

  test('a subscription refused names the subscribed topic', async () => {
    const consumer = {
      events: { CRASH: 'consumer.crash' },
      on: () => () => undefined,
      subscribe: jest.fn().mockRejectedValue(protocolError('TOPIC_AUTHORIZATION_FAILED')),
    } as unknown as Consumer;
    const guarded = guardConsumer(consumer, 'g', context(), () => undefined);
    await expect(guarded.subscribe({ topic: /n\..*/ })).rejects.toThrow(
      'not authorized to read topic /n\\..*/ as User:limited',
    );
  });
});

describe('kafkajs log lines', () => {
  test('a password that reaches a kafkajs log entry is redacted; ACL refusals are left to the one-line error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kafka-security-'));
    const file = join(dir, 'log.jsonl');
    writeFileSync(join(dir, 'kafka.password'), `${PASSWORD}\n`);
    writeFileSync(join(dir, 'ca.pem'), CA);
    const env = {
      ...SCRAM,
      KAFKA_SASL_PASSWORD_FILE: join(dir, 'kafka.password'),
      KAFKA_SSL_CA_FILE: join(dir, 'ca.pem'),
    };
    configureLogging({ format: 'json', file, level: 'info' });
    const kafka = createKafka(connectionSettings({ KAFKA_BROKERS: 'a:1', ...env }), 'test');
    kafka.logger().error(`dump ${PASSWORD}`, { request: { password: PASSWORD } });
    kafka.logger().error('[Connection] Response Metadata', {
      error: 'Not authorized to access topics: [Topic authorization failed]',
    });
    configureLogging({ format: 'json' });
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('dump [redacted]');
    expect(lines[0]).not.toContain(PASSWORD);
  });
});
