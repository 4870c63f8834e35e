/**
 * Panko's two error forms. Both are wrapped as `{"error_message": …}` (its
 * ParsableErrorMiddleware):
 * - a fault, for what the API itself refuses (WSME errors): `{"faultcode": "Client" | "Server",
 *   "faultstring": …, "debuginfo": null}`;
 * - an HTML page as a JSON string, for what the web framework refuses before the API sees the
 *   request (unknown path, method, Accept) and for the identity guards.
 */

/** A WSME fault: `Client` for 4xx, `Server` otherwise. */
export class PankoFault extends Error {
  constructor(
    readonly status: number,
    readonly faultstring: string,
  ) {
    super(faultstring);
    this.name = 'PankoFault';
  }
}

export const clientFault = (faultstring: string, status = 400) => new PankoFault(status, faultstring);

/** WSME's InvalidInput: `Invalid input for field/attribute <field>. Value: '<value>'. <reason>`. */
export const invalidInput = (field: string, value: string, reason: string) =>
  clientFault(`Invalid input for field/attribute ${field}. Value: '${value}'. ${reason}`);

/** WSME's UnknownArgument, the names in the order given. */
export const unknownArgument = (names: string[]) => clientFault(`Unknown argument: "${names.join(', ')}"`);

/** A page as webob renders it (status line, explanation, detail). */
export class PankoPage extends Error {
  constructor(
    readonly status: number,
    readonly html: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(`${status}`);
    this.name = 'PankoPage';
  }
}

const REASONS: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
};

/** Python's `html.escape(text, quote=True)`. */
export function htmlEscape(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#x27;');
}

function page(status: number, body: string, headers?: Record<string, string>): PankoPage {
  const title = `${status} ${REASONS[status]}`;
  const html =
    `<html>\n <head>\n  <title>${title}</title>\n </head>\n <body>\n  <h1>${title}</h1>\n` +
    `  ${body}\n </body>\n</html>`;
  return new PankoPage(status, html, headers);
}

/** webob's usual body: explanation, then the (escaped) detail. */
const explained = (status: number, explanation: string, detail = '') =>
  page(status, `${explanation}<br /><br />\n${htmlEscape(detail)}\n\n`);

export const notFoundPage = () => explained(404, 'The resource could not be found.');

export const forbiddenPage = (detail: string) =>
  explained(403, 'Access was denied to this resource.', detail);

export const unauthorizedPage = (detail: string) =>
  explained(
    401,
    'This server could not verify that you are authorized to access the document you requested. ' +
      'Either you supplied the wrong credentials (e.g., bad password), or your browser does not ' +
      'understand how to supply the credentials required.',
    detail,
  );

export const methodNotAllowedPage = (method: string) =>
  page(405, `The method ${htmlEscape(method)} is not allowed for this resource. <br /><br />\n`, {
    allow: 'GET',
  });

export const notAcceptablePage = (accept: string) =>
  page(
    406,
    'The resource could not be generated that was acceptable to your browser\n' +
      `(content of type ${htmlEscape(accept)}. <br /><br />\n`,
  );
