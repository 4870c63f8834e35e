import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { registrySettings, RegistrySettings } from '../config/registry-settings';

/*
 * The one way to talk to the schema registry: the client library for schemas (register,
 * encode, decode) and plain requests for what it lacks (global and subject configuration),
 * both with the credentials and certificates of registrySettings. What goes wrong is told in
 * one line that names the variable to fix and never carries a credential.
 */

/** The registry could not be reached, or answered something this client cannot use. */
export class SchemaRegistryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SchemaRegistryError';
  }
}

const REQUEST_TIMEOUT_MS = 15_000;

/** What the registry answered one request. */
export interface RegistryAnswer {
  status: number;
  ok: boolean;
  text: string;
}

export interface RegistryRequest {
  method?: 'GET' | 'PUT' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

/** The https agent carrying the CA and client certificate; undefined when the defaults do. */
function agentFor(settings: RegistrySettings): HttpsAgent | undefined {
  if (!settings.tls) return undefined;
  return new HttpsAgent({ ...settings.tls, keepAlive: true });
}

/** Where each client made here talks to, for messages. */
const urls = new WeakMap<SchemaRegistry, string>();

export function registryUrlOf(registry: SchemaRegistry): string {
  return urls.get(registry) ?? '(SCHEMA_REGISTRY_URL)';
}

/**
 * A client for the registry at `url`, with the credentials and certificates the environment
 * names. A setting that cannot be used is a ConfigurationError here, before any request.
 */
export function createSchemaRegistry(url: string, env: NodeJS.ProcessEnv = process.env): SchemaRegistry {
  const settings = registrySettings(url, env);
  const registry = new SchemaRegistry({
    host: settings.url,
    ...(settings.credentials && { auth: { ...settings.credentials } }),
    ...(settings.tls && { agent: agentFor(settings) }),
  });
  urls.set(registry, settings.url);
  return registry;
}

/** One request under the registry's base URL; a transport failure is a SchemaRegistryError. */
export async function registryRequest(
  url: string,
  path: string,
  init: RegistryRequest = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<RegistryAnswer> {
  const settings = registrySettings(url, env);
  try {
    return await send(settings, path, init);
  } catch (error) {
    throw new SchemaRegistryError(unreachable(settings.url, error), { cause: error });
  }
}

function send(settings: RegistrySettings, path: string, init: RegistryRequest): Promise<RegistryAnswer> {
  const target = new URL(`${settings.url}${path}`);
  const secure = target.protocol === 'https:';
  const { credentials } = settings;
  const options = {
    method: init.method ?? 'GET',
    headers: {
      ...init.headers,
      ...(init.body !== undefined && { 'Content-Length': Buffer.byteLength(init.body) }),
    },
    auth: credentials ? `${credentials.username}:${credentials.password}` : undefined,
    timeout: REQUEST_TIMEOUT_MS,
    ...(secure && settings.tls && { ...settings.tls, agent: false as const }),
  };
  return new Promise((resolve, reject) => {
    const request = (secure ? httpsRequest : httpRequest)(target, options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const status = response.statusCode ?? 0;
        resolve({ status, ok: status >= 200 && status < 300, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    request.on('timeout', () =>
      request.destroy(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })),
    );
    request.on('error', reject);
    request.end(init.body);
  });
}

/** TLS verification codes of Node (OpenSSL's): the registry's certificate is not trusted. */
const UNTRUSTED_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
/** The same, as their texts: the client library keeps only an error's message. */
const UNTRUSTED_TEXT =
  /self[- ]signed certificate|unable to verify|unable to get (local )?issuer|certificate has expired|certificate is not yet valid|does not match certificate's altnames/i;
const NO_TLS_TEXT = /wrong version number/i;
const HANDSHAKE_TEXT = /SSL routines|SSL alert number/i;
const UNREACHABLE_TEXT = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|socket hang up/;

type Failure = 'untrusted' | 'no-tls' | 'handshake' | 'unreachable';

function failureOf(code: string | undefined, text: string): Failure | undefined {
  if ((code && UNTRUSTED_CODES.has(code)) || UNTRUSTED_TEXT.test(text)) return 'untrusted';
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || NO_TLS_TEXT.test(text)) return 'no-tls';
  if (code?.startsWith('ERR_SSL_') || HANDSHAKE_TEXT.test(text)) return 'handshake';
  if ((code && UNREACHABLE_TEXT.test(code)) || UNREACHABLE_TEXT.test(text)) return 'unreachable';
  return undefined;
}

/** OpenSSL's `<hex>:error:<hex>:<library>:<function>:<reason>:<file>:<line>:…` shortened to its reason. */
function shortText(text: string): string {
  const firstLine = text.replace(/^(Confluent_Schema_Registry - )?Error, status \d+: /, '').split('\n')[0];
  const openssl = /^[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+):/.exec(firstLine);
  return (openssl?.[1] ?? firstLine).trim().slice(0, 200);
}

function explain(url: string, failure: Failure | undefined, why: string): string {
  const at = `cannot reach the schema registry at ${url}`;
  switch (failure) {
    case 'untrusted':
      return `${at}: its TLS certificate is not trusted (${why}); set SCHEMA_REGISTRY_CA_FILE to the CA that signed it`;
    case 'no-tls':
      return `${at}: it does not speak TLS there (${why}); is it http:// rather than https://?`;
    case 'handshake':
      return (
        `${at}: the registry refused the TLS handshake (${why}); does it want a client certificate ` +
        '(SCHEMA_REGISTRY_CERT_FILE, SCHEMA_REGISTRY_KEY_FILE) signed by a CA it trusts?'
      );
    default:
      return `${at} (${why})`;
  }
}

/** Why a request of ours got no answer, in one line naming what to check. */
export function unreachable(url: string, error: unknown): string {
  const failure = error as { code?: string; message?: string };
  const text = failure.message || String(error);
  const why = failure.code ? `${failure.code}: ${shortText(text)}` : shortText(text);
  return explain(url, failureOf(failure.code, text), why);
}

/**
 * The line for a failure the client library reports, which turns socket and TLS errors into
 * status 400 with the error's text; undefined when it is none of those (the registry answered).
 */
export function transportFailure(url: string, text: string): string | undefined {
  const failure = failureOf(undefined, text);
  return failure && explain(url, failure, shortText(text));
}

/**
 * The line for a refusal the credentials cause (401, 403), or undefined for another status.
 * It names the variables, never their values.
 */
export function refusal(
  url: string,
  status: number | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const withCredentials = Boolean(env.SCHEMA_REGISTRY_USERNAME);
  if (status === 401) {
    return withCredentials
      ? `schema registry ${url} refused the credentials (HTTP 401): check SCHEMA_REGISTRY_USERNAME and its password`
      : `schema registry ${url} wants credentials (HTTP 401): set SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD_FILE`;
  }
  if (status === 403) {
    return `schema registry ${url} denied SCHEMA_REGISTRY_USERNAME's request (HTTP 403): the user lacks the registry role it needs`;
  }
  return undefined;
}
