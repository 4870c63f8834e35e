import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Who may call what. Each route belongs to one access class (its `config.access`):
 * - `open`: health checks, which probes call without a token;
 * - `metrics`: /metrics, behind its own token when there is one (Prometheus usually has none);
 * - `admin`: what changes state (stream retries and resets), behind the admin token;
 * - `query`: everything else, unknown paths included, behind the main token.
 */
export type Access = 'open' | 'metrics' | 'admin' | 'query';

/** Route options that put a route in an access class; routes without one are `query`. */
export const routeAccess = (access: Access) => ({ config: { access } });

export interface ApiTokens {
  /** The main token: the query API (and, unless `admin` is given, the admin routes). */
  query?: string;
  /** The token of the state-changing routes; defaults to `query`. */
  admin?: string;
  /** The token of /metrics; none by default, whatever the others are. */
  metrics?: string;
}

/**
 * A token as a fixed-length digest, compared in constant time: neither the content nor the
 * length of a wrong token shows in how long the refusal takes.
 */
export class BearerToken {
  private readonly digest: Buffer;

  constructor(token: string) {
    this.digest = sha256(token);
  }

  matches(presented: string | undefined): boolean {
    // A missing token is compared like a wrong one, so that it takes the same time.
    return timingSafeEqual(this.digest, sha256(presented ?? '')) && presented !== undefined;
  }
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** The token of `Authorization: Bearer <token>` (the scheme in any case), or undefined. */
export function bearerTokenOf(authorization: string | undefined): string | undefined {
  const match = /^Bearer (.+)$/i.exec(authorization ?? '');
  return match?.[1];
}

/** An empty token (an unset variable passed on as '') is no token. */
const tokenOrNone = (token: string | undefined) => (token ? new BearerToken(token) : undefined);

/** Which token each access class needs; undefined: none. */
export function tokensByAccess(tokens: ApiTokens): Record<Access, BearerToken | undefined> {
  const query = tokenOrNone(tokens.query);
  return {
    open: undefined,
    metrics: tokenOrNone(tokens.metrics),
    admin: tokenOrNone(tokens.admin) ?? query,
    query,
  };
}

export function accessOf(request: FastifyRequest): Access {
  const access = (request.routeOptions.config as { access?: Access } | undefined)?.access;
  return access ?? 'query';
}

/** The onRequest check: a wrong or missing token is a 401 naming the scheme. */
export function tokenCheck(tokens: ApiTokens) {
  const needed = tokensByAccess(tokens);
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const token = needed[accessOf(request)];
    if (!token || token.matches(bearerTokenOf(request.headers.authorization))) return;
    await reply
      .code(401)
      .header('www-authenticate', 'Bearer')
      .send({ error: 'unauthorized', message: 'a valid bearer token is required' });
  };
}

/**
 * Whether a listening address only this host can reach: 127.0.0.0/8, ::1 (also IPv4-mapped)
 * and `localhost`. Any other name may resolve elsewhere, so it counts as elsewhere.
 */
export function isLoopback(host: string): boolean {
  const address = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (address === 'localhost') return true;
  if (isIP(address) === 4) return address.startsWith('127.');
  if (isIP(address) !== 6) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (mapped) return mapped[1].startsWith('127.');
  return address === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(address);
}
