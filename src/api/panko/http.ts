import { FastifyReply, FastifyRequest } from 'fastify';
import { InvalidMarkerError } from '../../store/model';
import { PankoQueryError } from '../../store/panko-query';
import { answerInternalError } from '../error-answers';
import { EventArguments, parseQueryString, RawQuery } from './arguments';
import { clientFault, notAcceptablePage, PankoFault, PankoPage } from './errors';
import { pythonJson } from './python-json';

/** How the /v2 routes read requests and write answers. */

/** JSON as Panko writes it, `Content-Type: application/json` exactly (no charset: clients compare it). */
export function sendJson(reply: FastifyReply, status: number, value: unknown): FastifyReply {
  return reply
    .code(status)
    .type('application/json')
    .send(Buffer.from(pythonJson(value)));
}

export function sendError(reply: FastifyReply, error: PankoFault | PankoPage): FastifyReply {
  if (error instanceof PankoPage) {
    for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
    return sendJson(reply, error.status, { error_message: error.html });
  }
  const faultcode = error.status < 500 ? 'Client' : 'Server';
  return sendJson(reply, error.status, {
    error_message: { faultcode, faultstring: error.faultstring, debuginfo: null },
  });
}

/**
 * Errors of the /v2 routes in Panko's forms. Anything unexpected is a 500 with an id only, as
 * on every route (where Panko sends a Server fault with the exception's text).
 */
export function answerError(error: Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof PankoFault || error instanceof PankoPage) return sendError(reply, error);
  if (error instanceof PankoQueryError) return sendError(reply, clientFault(error.message));
  // Panko answers an unknown marker with a 500.
  if (error instanceof InvalidMarkerError) return sendError(reply, clientFault(error.message));
  const status = (error as { statusCode?: number }).statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return sendError(reply, new PankoFault(status, error.message));
  }
  return answerInternalError(error, request, reply);
}

/**
 * Panko answers JSON (or XML, which is not served here): 406 when the Accept header rules JSON
 * out. The most specific matching range decides (`application/json;q=0, *\/*` refuses JSON).
 */
export function checkAccept(request: FastifyRequest): void {
  const accept = request.headers.accept;
  if (!accept || acceptsJson(accept)) return;
  throw notAcceptablePage(accept);
}

function acceptsJson(accept: string): boolean {
  if (!accept.trim()) return true;
  let specificity = -1;
  let quality = 0;
  for (const part of accept.split(',')) {
    const [range, ...parameters] = part.split(';').map((s) => s.trim());
    if (!range) continue;
    const [type, subtype] = range.toLowerCase().split('/');
    // An unreadable header accepts anything, as webob has it.
    if (subtype === undefined) return true;
    const rank = ['*/*', 'application/*', 'application/json'].indexOf(`${type}/${subtype}`);
    if (rank <= specificity) continue;
    const q = parameters.find((p) => /^q\s*=/i.test(p));
    specificity = rank;
    quality = q === undefined ? 1 : Number(q.split('=')[1]);
  }
  return specificity >= 0 && quality > 0;
}

/**
 * The request body, which fastify leaves unread on GET (Panko reads one there). Larger than the
 * server's body limit, it is refused (Panko has no limit).
 */
export async function readBody(request: FastifyRequest): Promise<Buffer> {
  const limit = request.routeOptions.bodyLimit;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request.raw) {
    size += (chunk as Buffer).length;
    if (size > limit) throw clientFault(`Request body is larger than ${limit} bytes`, 413);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function queryOf(url: string): string {
  const at = url.indexOf('?');
  return at < 0 ? '' : url.slice(at + 1);
}

/**
 * Beyond Panko: a full page links to the next one, `Link: <…&marker=LAST>; rel="next"`, with the
 * same query. A query string is kept as it came (but its marker); arguments from a JSON body are
 * written as query parameters.
 */
export function nextPageLink(url: string, args: EventArguments, fromBody: boolean, last: string): string {
  const path = url.split('?')[0];
  const pieces = fromBody
    ? queryFromArguments(args)
    : queryOf(url)
        .split('&')
        .filter((piece) => piece && parseQueryString(piece)[0][0] !== 'marker');
  pieces.push(`marker=${encodeURIComponent(last)}`);
  return `<${path}?${pieces.join('&')}>; rel="next"`;
}

const param = (name: string, value: string) => `${name}=${encodeURIComponent(value)}`;

/** Every q item with all four attributes, so positions cannot shift. */
function queryFromArguments(args: EventArguments): string[] {
  const pieces: string[] = [];
  for (const item of args.q ?? []) pieces.push(...queryItemParams(item));
  if (args.limit) pieces.push(param('limit', String(args.limit)));
  for (const sort of args.sort ?? []) pieces.push(param('sort', String(sort)));
  return pieces;
}

function queryItemParams(item: RawQuery): string[] {
  // Only items that passed validation get here: a field, an operator or none, a text value.
  const op = typeof item.op === 'string' ? item.op : '';
  const type = item.type === undefined ? 'string' : (item.type ?? '');
  return [
    param('q.field', item.field ?? ''),
    param('q.op', op),
    param('q.type', type),
    param('q.value', item.value ?? 'None'),
  ];
}
