import { readFileSync } from 'node:fs';
import { ConfigurationError } from './errors';
import { FileReader, passwordText, readEnvFile } from './setting-files';

/**
 * How to reach the schema registry: SCHEMA_REGISTRY_URL (http:// or https://), basic auth from
 * SCHEMA_REGISTRY_USERNAME with SCHEMA_REGISTRY_PASSWORD_FILE (or SCHEMA_REGISTRY_PASSWORD),
 * and TLS from SCHEMA_REGISTRY_CA_FILE, SCHEMA_REGISTRY_CERT_FILE and SCHEMA_REGISTRY_KEY_FILE.
 * Pure: files are read through an injected reader, so the rules are tested without a registry.
 *
 * Credentials in the URL (`https://user:pass@host`) are refused rather than hidden: the URL is
 * shown in log lines, error messages and `winchester dev`'s summary, and a password must
 * never reach any of them.
 */

export type { FileReader };

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryTlsMaterial {
  /** Replaces the system's certificate authorities: the CA that signed the registry's certificate. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface RegistrySettings {
  /** The base URL requests are made under, without a trailing slash. */
  url: string;
  credentials?: RegistryCredentials;
  /** Undefined unless a certificate file is set (https:// alone trusts the system's CAs). */
  tls?: RegistryTlsMaterial;
}

const TLS_VARIABLES = [
  'SCHEMA_REGISTRY_CA_FILE',
  'SCHEMA_REGISTRY_CERT_FILE',
  'SCHEMA_REGISTRY_KEY_FILE',
] as const;

/** The URL with any user information replaced by `***`, for messages. */
export function redactRegistryUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/?#]*@/i, '$1***@');
}

/** SCHEMA_REGISTRY_URL checked: http(s), a host, no credentials; a ConfigurationError otherwise. */
export function checkRegistryUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigurationError(
      `SCHEMA_REGISTRY_URL "${redactRegistryUrl(url)}" is not a URL (e.g. https://registry:8081)`,
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigurationError(
      `SCHEMA_REGISTRY_URL "${redactRegistryUrl(url)}" is not an http:// or https:// URL`,
    );
  }
  if (parsed.username || parsed.password) {
    throw new ConfigurationError(
      `SCHEMA_REGISTRY_URL "${redactRegistryUrl(url)}" carries credentials, which would show wherever ` +
        'the URL is printed: set SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD_FILE instead',
    );
  }
  return parsed;
}

function passwordFrom(env: NodeJS.ProcessEnv, readFile: FileReader): string | undefined {
  if (env.SCHEMA_REGISTRY_PASSWORD && env.SCHEMA_REGISTRY_PASSWORD_FILE) {
    throw new ConfigurationError(
      'schema registry password given twice (SCHEMA_REGISTRY_PASSWORD and SCHEMA_REGISTRY_PASSWORD_FILE): ' +
        'keep one, best SCHEMA_REGISTRY_PASSWORD_FILE',
    );
  }
  if (env.SCHEMA_REGISTRY_PASSWORD) return env.SCHEMA_REGISTRY_PASSWORD;
  const file = readEnvFile(env, 'SCHEMA_REGISTRY_PASSWORD_FILE', readFile);
  if (file === undefined) return undefined;
  return passwordText('SCHEMA_REGISTRY_PASSWORD_FILE', env.SCHEMA_REGISTRY_PASSWORD_FILE!, file);
}

function credentialsFrom(env: NodeJS.ProcessEnv, readFile: FileReader): RegistryCredentials | undefined {
  const username = env.SCHEMA_REGISTRY_USERNAME || undefined;
  const password = passwordFrom(env, readFile);
  if (username && password) return { username, password };
  if (username) {
    throw new ConfigurationError(
      'SCHEMA_REGISTRY_USERNAME is set without a password: set SCHEMA_REGISTRY_PASSWORD_FILE (or SCHEMA_REGISTRY_PASSWORD)',
    );
  }
  if (password) {
    throw new ConfigurationError('a schema registry password is set without SCHEMA_REGISTRY_USERNAME');
  }
  return undefined;
}

function tlsFrom(url: URL, env: NodeJS.ProcessEnv, readFile: FileReader): RegistryTlsMaterial | undefined {
  const set = TLS_VARIABLES.filter((name) => env[name]);
  if (set.length === 0) return undefined;
  if (url.protocol !== 'https:') {
    throw new ConfigurationError(
      `${set.join(', ')} ${set.length > 1 ? 'are' : 'is'} set, but SCHEMA_REGISTRY_URL is http://: write https://`,
    );
  }
  if (Boolean(env.SCHEMA_REGISTRY_CERT_FILE) !== Boolean(env.SCHEMA_REGISTRY_KEY_FILE)) {
    const missing = env.SCHEMA_REGISTRY_CERT_FILE ? 'SCHEMA_REGISTRY_KEY_FILE' : 'SCHEMA_REGISTRY_CERT_FILE';
    throw new ConfigurationError(
      `a client certificate needs SCHEMA_REGISTRY_CERT_FILE and SCHEMA_REGISTRY_KEY_FILE: ${missing} is not set`,
    );
  }
  const material: RegistryTlsMaterial = {
    ca: readEnvFile(env, 'SCHEMA_REGISTRY_CA_FILE', readFile),
    cert: readEnvFile(env, 'SCHEMA_REGISTRY_CERT_FILE', readFile),
    key: readEnvFile(env, 'SCHEMA_REGISTRY_KEY_FILE', readFile),
  };
  return Object.fromEntries(Object.entries(material).filter(([, value]) => value !== undefined));
}

/** SCHEMA_REGISTRY_URL (given) with the environment's credentials and certificates, read here. */
export function registrySettings(
  url: string,
  env: NodeJS.ProcessEnv = process.env,
  readFile: FileReader = readFileSync,
): RegistrySettings {
  const parsed = checkRegistryUrl(url);
  return {
    url: url.replace(/\/+$/, ''),
    credentials: credentialsFrom(env, readFile),
    tls: tlsFrom(parsed, env, readFile),
  };
}
