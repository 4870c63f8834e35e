import { createPrivateKey, KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { isAbsolute, resolve } from 'node:path';
import type { KafkaConfig, SASLOptions } from 'kafkajs';
import type { ConnectionOptions } from 'node:tls';
import { ConfigurationError } from '../config/errors';
import { FileReader, passwordText, readSettingFile } from '../config/setting-files';

/**
 * How the product connects to Kafka: PLAINTEXT, SSL (TLS, optionally with a client certificate:
 * mutual TLS), SASL_PLAINTEXT or SASL_SSL with PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512. Given by
 * the environment (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*) and by winchester.yaml's
 * `kafka.security`, the environment winning setting by setting. Passwords come from the
 * environment or from files, never from winchester.yaml. Files are read once, at start, through
 * an injected reader, so the rules are tested without a broker or a file system.
 */

export const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
export type KafkaSecurityProtocol = (typeof SECURITY_PROTOCOLS)[number];
export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type KafkaSaslMechanism = (typeof SASL_MECHANISMS)[number];

export type { FileReader };

/** A password: it prints as [redacted] in logs, messages and inspection; reveal() hands it to the client. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [inspect.custom](): string {
    return 'Secret([redacted])';
  }
}

/** One setting as given, and where: an environment variable, or `file:line: kafka.security.…`. */
export interface GivenSetting {
  value: string;
  source: string;
}

/** The Kafka security settings as given, before any file is read. */
export interface KafkaSecurityInput {
  protocol?: GivenSetting;
  mechanism?: GivenSetting;
  username?: GivenSetting;
  /** Only from the environment (KAFKA_SASL_PASSWORD); its value is never shown. */
  password?: GivenSetting;
  passwordFile?: GivenSetting;
  caFile?: GivenSetting;
  certFile?: GivenSetting;
  keyFile?: GivenSetting;
  keyPasswordFile?: GivenSetting;
}
type SettingName = keyof KafkaSecurityInput;

export const SECURITY_VARIABLES: Record<SettingName, string> = {
  protocol: 'KAFKA_SECURITY_PROTOCOL',
  mechanism: 'KAFKA_SASL_MECHANISM',
  username: 'KAFKA_SASL_USERNAME',
  password: 'KAFKA_SASL_PASSWORD',
  passwordFile: 'KAFKA_SASL_PASSWORD_FILE',
  caFile: 'KAFKA_SSL_CA_FILE',
  certFile: 'KAFKA_SSL_CERT_FILE',
  keyFile: 'KAFKA_SSL_KEY_FILE',
  keyPasswordFile: 'KAFKA_SSL_KEY_PASSWORD_FILE',
};

/** What a client needs, files read and checked. */
export interface KafkaSecurity {
  protocol: KafkaSecurityProtocol;
  /** TLS (SSL, SASL_SSL): PEM texts; no `ca` trusts the system's certificate authorities. */
  tls?: { ca?: string; cert?: string; key?: string; passphrase?: Secret };
  sasl?: { mechanism: KafkaSaslMechanism; username: string; password: Secret };
  /** The principal the broker sees (as its default principal builder names it), for messages. */
  principal: string;
}

export const PLAINTEXT: KafkaSecurity = { protocol: 'PLAINTEXT', principal: 'User:ANONYMOUS' };

const SASL_SETTINGS: SettingName[] = ['mechanism', 'username', 'password', 'passwordFile'];
const TLS_SETTINGS: SettingName[] = ['caFile', 'certFile', 'keyFile', 'keyPasswordFile'];

/** The settings the environment gives (empty variables count as unset). */
export function securityInputFromEnv(env: NodeJS.ProcessEnv): KafkaSecurityInput {
  const input: KafkaSecurityInput = {};
  for (const [name, variable] of Object.entries(SECURITY_VARIABLES) as [SettingName, string][]) {
    const value = env[variable];
    if (value) input[name] = { value, source: variable };
  }
  return input;
}

/**
 * The environment's settings over the file's, one by one. The password is one setting given
 * two ways, so either environment variable replaces the file's password_file.
 */
export function mergeSecurityInputs(
  fromEnv: KafkaSecurityInput,
  fromFile: KafkaSecurityInput = {},
): KafkaSecurityInput {
  if (fromEnv.password && fromEnv.passwordFile) {
    throw new ConfigurationError(
      'KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE are both set: keep one, best KAFKA_SASL_PASSWORD_FILE',
    );
  }
  const fileSettings = { ...fromFile };
  if (fromEnv.password || fromEnv.passwordFile) delete fileSettings.passwordFile;
  return { ...fileSettings, ...fromEnv };
}

/** A protocol name as Kafka spells it (any case accepted), or a ConfigurationError at its source. */
export function securityProtocol(given: GivenSetting | undefined): KafkaSecurityProtocol {
  if (!given) return 'PLAINTEXT';
  const protocol = given.value.trim().toUpperCase();
  if (!(SECURITY_PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new ConfigurationError(
      `${given.source}: unknown security protocol ${JSON.stringify(given.value)} (expected ${SECURITY_PROTOCOLS.join(', ')})`,
    );
  }
  return protocol as KafkaSecurityProtocol;
}

/** A SASL mechanism (any case accepted), or a ConfigurationError at its source. */
export function saslMechanism(given: GivenSetting): KafkaSaslMechanism {
  const mechanism = given.value.trim().toLowerCase();
  if (!(SASL_MECHANISMS as readonly string[]).includes(mechanism)) {
    throw new ConfigurationError(
      `${given.source}: unknown SASL mechanism ${JSON.stringify(given.value)} (expected ${SASL_MECHANISMS.join(', ')})`,
    );
  }
  return mechanism as KafkaSaslMechanism;
}

const sourcesOf = (input: KafkaSecurityInput, names: SettingName[]) =>
  names.flatMap((name) => (input[name] ? [input[name].source] : []));

/** Settings that the protocol would silently ignore are mistakes: refuse them. */
function checkSettingsFitProtocol(input: KafkaSecurityInput, protocol: KafkaSecurityProtocol): void {
  const protocolSource = input.protocol ? ` (${input.protocol.source})` : ' (the default)';
  const saslGiven = sourcesOf(input, SASL_SETTINGS);
  if (!protocol.startsWith('SASL_') && saslGiven.length) {
    throw new ConfigurationError(
      `${saslGiven.join(', ')}: SASL settings need the security protocol SASL_SSL or SASL_PLAINTEXT, ` +
        `but it is ${protocol}${protocolSource}`,
    );
  }
  const tlsGiven = sourcesOf(input, TLS_SETTINGS);
  if (!protocol.endsWith('SSL') && tlsGiven.length) {
    throw new ConfigurationError(
      `${tlsGiven.join(', ')}: TLS settings need the security protocol SSL or SASL_SSL, ` +
        `but it is ${protocol}${protocolSource}`,
    );
  }
}

/** The settings with their files read and checked: what createKafka needs. */
export function resolveKafkaSecurity(
  input: KafkaSecurityInput,
  readFile: FileReader = readFileSync,
): KafkaSecurity {
  const protocol = securityProtocol(input.protocol);
  checkSettingsFitProtocol(input, protocol);
  const tls = protocol.endsWith('SSL') ? tlsMaterial(input, readFile) : undefined;
  const sasl = protocol.startsWith('SASL_') ? saslCredentials(input, readFile) : undefined;
  const principal = sasl
    ? `User:${sasl.username}`
    : tls?.cert
      ? `User:${certificateSubject(tls.cert)}`
      : 'User:ANONYMOUS';
  return { protocol, ...(tls && { tls }), ...(sasl && { sasl }), principal };
}

/** A setting's names, for a message about it being missing: `KAFKA_SSL_KEY_FILE (or kafka.security.ssl.key_file)`. */
const settingNames = (name: SettingName) =>
  `${SECURITY_VARIABLES[name]} (or kafka.security.${YAML_PATHS[name].join('.')})`;

function requireSetting(input: KafkaSecurityInput, name: SettingName, why: string): GivenSetting {
  const given = input[name];
  if (!given) throw new ConfigurationError(`${settingNames(name)} is not set: ${why}`);
  return given;
}

function saslCredentials(input: KafkaSecurityInput, readFile: FileReader): KafkaSecurity['sasl'] {
  const why = `the security protocol ${input.protocol?.value} authenticates with SASL`;
  const mechanism = saslMechanism(
    requireSetting(input, 'mechanism', `${why} (plain, scram-sha-256 or scram-sha-512)`),
  );
  const username = requireSetting(input, 'username', why).value;
  let password: string;
  if (input.password) password = input.password.value;
  else {
    const file = requireSetting(input, 'passwordFile', `${why} (or set KAFKA_SASL_PASSWORD)`);
    password = secretFromFile(file, readFile);
  }
  return { mechanism, username, password: new Secret(password) };
}

/** A file's text, or a ConfigurationError naming the setting and the path (never the content). */
function settingFileText(given: GivenSetting, readFile: FileReader): string {
  return readSettingFile(given.source, given.value, readFile).toString('utf8');
}

/** A password file's content: the password, without the newline `echo` ends it with. */
function secretFromFile(given: GivenSetting, readFile: FileReader): string {
  return passwordText(given.source, given.value, readSettingFile(given.source, given.value, readFile));
}

/** A PEM file of certificates (the first one must parse), or a ConfigurationError. */
function pemCertificates(given: GivenSetting, readFile: FileReader): string {
  const text = settingFileText(given, readFile);
  try {
    new X509Certificate(text);
  } catch {
    throw new ConfigurationError(`${given.source}: ${given.value} holds no PEM certificate`);
  }
  return text;
}

function tlsMaterial(input: KafkaSecurityInput, readFile: FileReader): NonNullable<KafkaSecurity['tls']> {
  const { caFile, certFile, keyFile, keyPasswordFile } = input;
  if (Boolean(certFile) !== Boolean(keyFile)) {
    const [given, missing] = certFile
      ? [certFile, settingNames('keyFile')]
      : [keyFile!, settingNames('certFile')];
    throw new ConfigurationError(
      `${given.source} is set without ${missing}: a client certificate needs its key`,
    );
  }
  if (keyPasswordFile && !keyFile) {
    throw new ConfigurationError(
      `${keyPasswordFile.source} is set without a key (${settingNames('keyFile')})`,
    );
  }
  const tls: NonNullable<KafkaSecurity['tls']> = {};
  if (caFile) tls.ca = pemCertificates(caFile, readFile);
  if (certFile && keyFile) {
    tls.cert = pemCertificates(certFile, readFile);
    tls.key = settingFileText(keyFile, readFile);
    if (keyPasswordFile) tls.passphrase = new Secret(secretFromFile(keyPasswordFile, readFile));
    checkKeyPair(tls.cert, tls.key, tls.passphrase, { certFile, keyFile });
  }
  return tls;
}

/** The key must open (with its password, if any) and belong to the certificate: said at start, not at the handshake. */
function checkKeyPair(
  cert: string,
  key: string,
  passphrase: Secret | undefined,
  files: { certFile: GivenSetting; keyFile: GivenSetting },
): void {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key, format: 'pem', passphrase: passphrase?.reveal() });
  } catch {
    throw new ConfigurationError(
      `${files.keyFile.source}: ${files.keyFile.value} is not a PEM private key` +
        (passphrase
          ? ' that KAFKA_SSL_KEY_PASSWORD_FILE opens'
          : ' (an encrypted key needs KAFKA_SSL_KEY_PASSWORD_FILE)'),
    );
  }
  if (!new X509Certificate(cert).checkPrivateKey(privateKey)) {
    throw new ConfigurationError(
      `${files.keyFile.source}: ${files.keyFile.value} is not the key of ${files.certFile.value}`,
    );
  }
}

/** The certificate's subject as Kafka's default principal builder writes it (RFC 2253: last RDN first). */
export function certificateSubject(pem: string): string {
  let subject: string;
  try {
    subject = new X509Certificate(pem).subject;
  } catch {
    return 'ANONYMOUS';
  }
  return subject.split('\n').reverse().join(',');
}

/** Where each setting sits under winchester.yaml's `kafka.security` (the password has no place there). */
const YAML_PATHS: Record<SettingName, string[]> = {
  protocol: ['protocol'],
  mechanism: ['sasl', 'mechanism'],
  username: ['sasl', 'username'],
  password: ['sasl', 'password_file'],
  passwordFile: ['sasl', 'password_file'],
  caFile: ['ssl', 'ca_file'],
  certFile: ['ssl', 'cert_file'],
  keyFile: ['ssl', 'key_file'],
  keyPasswordFile: ['ssl', 'key_password_file'],
};
const FILE_SETTINGS = new Set<SettingName>([
  'passwordFile',
  'caFile',
  'certFile',
  'keyFile',
  'keyPasswordFile',
]);
const SECTION_KEYS: Record<string, string[]> = {
  '': ['protocol', 'sasl', 'ssl'],
  sasl: ['mechanism', 'username', 'password_file'],
  ssl: ['ca_file', 'cert_file', 'key_file', 'key_password_file'],
};

/** How the `kafka.security` reader reports: a failure at a path (file and line), and a path's place. */
export interface SectionPlace {
  fail(path: string[], message: string): never;
  /** `file:line: kafka.security.…` of a path, the source of the setting found there. */
  where(path: string[]): string;
  /** The directory relative file names are taken from (the configuration file's). */
  dir: string;
}

/**
 * winchester.yaml's `kafka.security` as settings with their file and line. Wrong shapes, unknown
 * keys (a misspelt `ca_file` would silently mean no CA) and passwords fail at their line.
 */
export function parseKafkaSecuritySection(section: unknown, place: SectionPlace): KafkaSecurityInput {
  if (section === undefined || section === null) return {};
  checkMapping(section, [], place);
  for (const part of ['sasl', 'ssl']) {
    const value = (section as Record<string, unknown>)[part];
    if (value !== undefined && value !== null) checkMapping(value, [part], place);
  }
  const input: KafkaSecurityInput = {};
  for (const [name, path] of Object.entries(YAML_PATHS) as [SettingName, string[]][]) {
    if (name === 'password') continue;
    const value = valueAt(section, path);
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string' || !value.trim()) place.fail(path, 'expected a non-empty string');
    const given = {
      value: FILE_SETTINGS.has(name) ? pathFromConfig(value, place.dir) : value,
      source: place.where(path),
    };
    if (name === 'protocol') securityProtocol(given);
    if (name === 'mechanism') saslMechanism(given);
    input[name] = given;
  }
  return input;
}

function valueAt(section: unknown, path: string[]): unknown {
  let value = section;
  for (const key of path) value = (value as Record<string, unknown> | undefined)?.[key];
  return value;
}

function checkMapping(value: unknown, path: string[], place: SectionPlace): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    place.fail(path, 'expected a mapping');
  }
  const known = SECTION_KEYS[path.join('.')];
  for (const key of Object.keys(value as Record<string, unknown>)) {
    if (/password$/.test(key)) {
      place.fail(
        [...path, key],
        'passwords are not kept in winchester.yaml: name a file (sasl.password_file, ssl.key_password_file) ' +
          'or use KAFKA_SASL_PASSWORD_FILE',
      );
    }
    if (!known.includes(key)) {
      place.fail([...path, key], `unknown setting (expected ${known.join(', ')})`);
    }
  }
}

/** The kafkajs `ssl` and `sasl` options of the settings (the only place a password is revealed). */
export function kafkajsSecurityOptions(security: KafkaSecurity): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const options: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  if (security.tls) {
    const { ca, cert, key, passphrase } = security.tls;
    const tls: ConnectionOptions = {
      ...(ca && { ca: [ca] }),
      ...(cert && { cert, key }),
      ...(passphrase && { passphrase: passphrase.reveal() }),
    };
    options.ssl = Object.keys(tls).length ? tls : true;
  }
  if (security.sasl) {
    const { mechanism, username, password } = security.sasl;
    options.sasl = { mechanism, username, password: password.reveal() } as SASLOptions;
  }
  return options;
}

/** How the connection authenticates, for messages: `SASL_SSL, SCRAM-SHA-512 as User:winchester`. */
export function describeSecurity(security: KafkaSecurity): string {
  const how = security.sasl ? `${security.sasl.mechanism.toUpperCase()} as ` : '';
  return `${security.protocol}, ${how}${security.principal}`;
}

/** A path of winchester.yaml, relative to the file's directory. */
export function pathFromConfig(path: string, configDir: string): string {
  return isAbsolute(path) ? path : resolve(configDir, path);
}
