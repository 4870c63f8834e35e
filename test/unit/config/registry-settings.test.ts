import { ConfigurationError } from '../../../src/config/errors';
import { FileReader, redactRegistryUrl, registrySettings } from '../../../src/config/registry-settings';
import { refusal, transportFailure, unreachable } from '../../../src/kafka/registry-client';

/** Files by path, as a FileReader; a missing one fails as the file system would. */
function files(contents: Record<string, string>): FileReader {
  return (path) => {
    if (!(path in contents)) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return Buffer.from(contents[path]);
  };
}

const HTTPS = 'https://registry.example:8081/apis/ccompat/v7';
const SECRETS = files({
  '/s/pw': 'hunter2\n',
  '/s/ca.pem': 'CA',
  '/s/c.pem': 'CERT',
  '/s/c.key': 'KEY',
  '/s/empty': '\n',
});
const settingsOf = (env: NodeJS.ProcessEnv, url = HTTPS) => registrySettings(url, env, SECRETS);

/** The ConfigurationError a setting gives, as its message. */
function refusedWith(env: NodeJS.ProcessEnv, url = HTTPS): string {
  try {
    settingsOf(env, url);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as Error).message;
  }
  throw new Error('the settings were accepted');
}

describe('schema registry settings', () => {
  test('a plain URL: no credentials, no TLS material; a trailing slash dropped', () => {
    expect(settingsOf({}, 'http://sr:8081/apis/ccompat/v7/')).toEqual({
      url: 'http://sr:8081/apis/ccompat/v7',
      credentials: undefined,
      tls: undefined,
    });
  });

  test('basic auth from the user name and the password file (its final newline dropped) or variable', () => {
    const env = { SCHEMA_REGISTRY_USERNAME: 'winchester', SCHEMA_REGISTRY_PASSWORD_FILE: '/s/pw' };
    expect(settingsOf(env).credentials).toEqual({ username: 'winchester', password: 'hunter2' });
    const direct = { SCHEMA_REGISTRY_USERNAME: 'winchester', SCHEMA_REGISTRY_PASSWORD: 'p w:x' };
    expect(settingsOf(direct).credentials).toEqual({ username: 'winchester', password: 'p w:x' });
  });

  test('TLS material read from the CA, certificate and key files', () => {
    const env = {
      SCHEMA_REGISTRY_CA_FILE: '/s/ca.pem',
      SCHEMA_REGISTRY_CERT_FILE: '/s/c.pem',
      SCHEMA_REGISTRY_KEY_FILE: '/s/c.key',
    };
    expect(settingsOf(env).tls).toEqual({
      ca: Buffer.from('CA'),
      cert: Buffer.from('CERT'),
      key: Buffer.from('KEY'),
    });
    expect(settingsOf({ SCHEMA_REGISTRY_CA_FILE: '/s/ca.pem' }).tls).toEqual({ ca: Buffer.from('CA') });
  });

  test('empty variables count as unset', () => {
    const env = { SCHEMA_REGISTRY_USERNAME: '', SCHEMA_REGISTRY_PASSWORD: '', SCHEMA_REGISTRY_CA_FILE: '' };
    expect(settingsOf(env, 'http://sr:8081')).toEqual({
      url: 'http://sr:8081',
      credentials: undefined,
      tls: undefined,
    });
  });

  test.each([
    [
      'not a URL',
      {},
      'registry:8081',
      /SCHEMA_REGISTRY_URL "registry:8081" is not an http:\/\/ or https:\/\/ URL/,
    ],
    ['another scheme', {}, 'ftp://sr/', /is not an http:\/\/ or https:\/\/ URL/],
    ['garbage', {}, 'http://', /is not a URL/],
    [
      'a password twice',
      {
        SCHEMA_REGISTRY_USERNAME: 'u',
        SCHEMA_REGISTRY_PASSWORD: 'a',
        SCHEMA_REGISTRY_PASSWORD_FILE: '/s/pw',
      },
      HTTPS,
      /password given twice \(SCHEMA_REGISTRY_PASSWORD and SCHEMA_REGISTRY_PASSWORD_FILE\)/,
    ],
    [
      'a user without a password',
      { SCHEMA_REGISTRY_USERNAME: 'u' },
      HTTPS,
      /USERNAME is set without a password/,
    ],
    [
      'a password without a user',
      { SCHEMA_REGISTRY_PASSWORD_FILE: '/s/pw' },
      HTTPS,
      /without SCHEMA_REGISTRY_USERNAME/,
    ],
    [
      'an unreadable password file',
      { SCHEMA_REGISTRY_USERNAME: 'u', SCHEMA_REGISTRY_PASSWORD_FILE: '/s/none' },
      HTTPS,
      /^SCHEMA_REGISTRY_PASSWORD_FILE: \/s\/none cannot be read \(ENOENT\)$/,
    ],
    [
      'an empty password file',
      { SCHEMA_REGISTRY_USERNAME: 'u', SCHEMA_REGISTRY_PASSWORD_FILE: '/s/empty' },
      HTTPS,
      /SCHEMA_REGISTRY_PASSWORD_FILE: \/s\/empty is empty/,
    ],
    [
      'certificates for http://',
      { SCHEMA_REGISTRY_CA_FILE: '/s/ca.pem', SCHEMA_REGISTRY_KEY_FILE: '/s/c.key' },
      'http://sr:8081',
      /SCHEMA_REGISTRY_CA_FILE, SCHEMA_REGISTRY_KEY_FILE are set, but SCHEMA_REGISTRY_URL is http:\/\/: write https:\/\//,
    ],
    [
      'a certificate without its key',
      { SCHEMA_REGISTRY_CERT_FILE: '/s/c.pem' },
      HTTPS,
      /SCHEMA_REGISTRY_KEY_FILE is not set/,
    ],
    [
      'a missing CA file',
      { SCHEMA_REGISTRY_CA_FILE: '/s/none' },
      HTTPS,
      /SCHEMA_REGISTRY_CA_FILE: \/s\/none cannot be read/,
    ],
  ])('%s is refused in one line', (_name, env, url, says) => {
    const message = refusedWith(env as NodeJS.ProcessEnv, url);
    expect(message).toMatch(says);
    expect(message).not.toContain('\n');
  });

  test('credentials in the URL are refused, and the message does not show them', () => {
    for (const url of [
      'https://winchester:s3cret@sr:8081/apis',
      'https://s3cret@sr:8081',
      'https://u:s3cret@sr:bad/',
    ]) {
      const message = refusedWith({}, url);
      expect(message).not.toContain('s3cret');
      expect(message).toMatch(/^SCHEMA_REGISTRY_URL "https:\/\/\*\*\*@sr:/);
    }
    expect(refusedWith({}, 'https://u:p@sr/')).toMatch(
      /carries credentials.*SCHEMA_REGISTRY_PASSWORD_FILE instead$/,
    );
    expect(redactRegistryUrl('http://sr:8081/a@b')).toBe('http://sr:8081/a@b');
  });
});

describe('what the registry client says when it cannot go on', () => {
  const url = 'https://127.0.0.1:8443/apis/ccompat/v7';

  test('an untrusted certificate names SCHEMA_REGISTRY_CA_FILE, from Node or from the client library', () => {
    const fromNode = Object.assign(new Error('self-signed certificate in certificate chain'), {
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
    });
    expect(unreachable(url, fromNode)).toBe(
      `cannot reach the schema registry at ${url}: its TLS certificate is not trusted ` +
        '(SELF_SIGNED_CERT_IN_CHAIN: self-signed certificate in certificate chain); ' +
        'set SCHEMA_REGISTRY_CA_FILE to the CA that signed it',
    );
    expect(transportFailure(url, 'Error, status 400: unable to verify the first certificate')).toMatch(
      /not trusted \(unable to verify the first certificate\); set SCHEMA_REGISTRY_CA_FILE/,
    );
  });

  test("a refused handshake asks about the client certificate, OpenSSL's text cut to its reason", () => {
    const openssl =
      'Error, status 400: 806C06246F7F0000:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert ' +
      'certificate required:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 116\n';
    expect(transportFailure(url, openssl)).toBe(
      `cannot reach the schema registry at ${url}: the registry refused the TLS handshake ` +
        '(tlsv13 alert certificate required); does it want a client certificate ' +
        '(SCHEMA_REGISTRY_CERT_FILE, SCHEMA_REGISTRY_KEY_FILE) signed by a CA it trusts?',
    );
  });

  test('https:// to a plain HTTP port, a refused connection, and an answer that is none of these', () => {
    const plain = Object.assign(new Error('wrong version number'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' });
    expect(unreachable(url, plain)).toMatch(/does not speak TLS there .*http:\/\/ rather than https:\/\//);
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8443'), { code: 'ECONNREFUSED' });
    expect(unreachable(url, refused)).toBe(
      `cannot reach the schema registry at ${url} (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:8443)`,
    );
    expect(transportFailure(url, 'Error, status 400: connect ECONNREFUSED 127.0.0.1:8443')).toMatch(
      /^cannot reach/,
    );
    expect(transportFailure(url, 'Schema too large')).toBeUndefined();
  });

  test('401 and 403 name the variables, never their values; other statuses are not refusals', () => {
    const withUser = { SCHEMA_REGISTRY_USERNAME: 'winchester', SCHEMA_REGISTRY_PASSWORD: 'hunter2' };
    expect(refusal(url, 401, withUser)).toBe(
      `schema registry ${url} refused the credentials (HTTP 401): check SCHEMA_REGISTRY_USERNAME and its password`,
    );
    expect(refusal(url, 401, {})).toMatch(
      /wants credentials \(HTTP 401\): set SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD_FILE$/,
    );
    expect(refusal(url, 403, withUser)).toMatch(/\(HTTP 403\)/);
    for (const status of [401, 403])
      expect(refusal(url, status, withUser)).not.toMatch(/winchester'|hunter2/);
    expect(refusal(url, 404, withUser)).toBeUndefined();
    expect(refusal(url, undefined, withUser)).toBeUndefined();
  });
});
