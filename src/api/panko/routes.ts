import { randomUUID } from 'node:crypto';
import { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EventStore } from '../../store/model';
import { routeAccess } from '../access';
import { pankoEvent, pankoTrait, pankoTraitDescription } from '../../store/panko-format';
import { PANKO_DEFAULT_LIMIT } from '../../store/panko-query';
import {
  argumentsFromBody,
  combineArguments,
  EVENT_ARGUMENTS,
  eventArgumentsFromQuery,
  parseQueryString,
  QueryPairs,
  rejectUnknown,
} from './arguments';
import { clientFault, methodNotAllowedPage, notFoundPage } from './errors';
import { toEventFilter, toPagination } from './event-query';
import { capabilitiesView, versionsView } from './format';
import { answerError, checkAccept, nextPageLink, queryOf, readBody, sendError, sendJson } from './http';
import { Caller, callerOf, requireAdmin, requireContext, scopeOf } from './identity';

/**
 * Panko's /v2 query API (OpenStack Panko 10.0.0, the events part) over any EventStore: the
 * same routes, arguments, validation, project scoping, response shapes and error bodies, so
 * Panko's clients and its own gabbi tests run against it.
 *
 * Differences from Panko, each deliberate and marked where it is made:
 * - 400 with a clear faultstring where Panko answers 500: an unparsable start/end timestamp,
 *   an unknown marker, q lists of mismatched lengths, a q item without a field, a non-string
 *   literal under an empty q.type, JSON-body items of the wrong shape (a q item whose field is
 *   null, which Panko answers with no events, among them);
 * - a clearer faultstring for a bare `q=` (Panko answers 400 with a Python TypeError's text);
 * - start/end timestamps whose microseconds lie beyond ±2^53 of the epoch (before 1685 or
 *   after 2255, with a fraction of a second) are refused (400);
 * - a caller's sort is completed with message_id (the store's rule), so pages never overlap;
 * - a full page carries `Link: <…&marker=LAST>; rel="next"`;
 * - routing and guard errors always carry webob's HTML page (Panko picks HTML, plain text or
 *   JSON from Accept); XML is neither answered (406) nor read (415);
 * - without trusted identity headers every caller is an admin over all projects (identity.ts).
 */
export interface PankoApiOptions {
  store: EventStore;
  /** Honour X-Roles / X-User-Id / X-Project-Id (see identity.ts); otherwise every caller is an admin over all projects. */
  trustIdentityHeaders: boolean;
  /** Page size when a request gives no limit (Panko's `[api] default_api_return_limit`). */
  defaultLimit?: number;
}

/** What a route handler gets: the request as read so far. */
interface RouteCall {
  request: FastifyRequest;
  reply: FastifyReply;
  caller: Caller;
  pairs: QueryPairs;
  body: Buffer;
  params: Record<string, string>;
}

interface PankoRoute {
  url: string;
  guard?: (caller: Caller) => void;
  handle: (call: RouteCall) => Promise<unknown>;
}

/** Everything but GET is refused on the API's paths (405, `Allow: GET`). */
const OTHER_METHODS = ['DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'];

/** Registers `/` (Panko's versions document), `/healthcheck` and `/v2/…`. */
export function registerPankoApi(app: FastifyInstance, options: PankoApiOptions): void {
  app.register(async (root) => {
    root.setErrorHandler(answerError);
    // Panko's root answers any method.
    root.route({
      method: ['GET', ...OTHER_METHODS],
      url: '/',
      exposeHeadRoute: false,
      handler: async (request, reply) => {
        checkAccept(request);
        return sendJson(reply, 200, versionsView(`${request.protocol}://${request.host}`));
      },
    });
    root.get('/healthcheck', routeAccess('open'), async (_request, reply) =>
      reply.type('text/plain; charset=UTF-8').send('OK'),
    );
  });
  app.register(async (v2) => registerV2(v2, options), { prefix: '/v2' });
}

function registerV2(v2: FastifyInstance, options: PankoApiOptions): void {
  v2.addHook('onRequest', async (_request, reply) => {
    reply.header('x-openstack-request-id', `req-${randomUUID()}`);
  });
  v2.setErrorHandler(answerError);
  v2.setNotFoundHandler((request, reply) =>
    // Panko's CORS middleware answers OPTIONS on any path.
    request.method === 'OPTIONS' ? reply.code(200).send() : sendError(reply, notFoundPage()),
  );
  const refuse = async (request: FastifyRequest, reply: FastifyReply) =>
    request.method === 'OPTIONS'
      ? reply.code(200).send()
      : sendError(reply, methodNotAllowedPage(request.method));
  for (const route of pankoRoutes(options)) {
    // Panko serves every path with and without a final slash.
    for (const url of [route.url, `${route.url}/`]) {
      const handler = routeHandler(route, options.trustIdentityHeaders);
      v2.route({ method: 'GET', url, exposeHeadRoute: false, handler });
      v2.route({ method: OTHER_METHODS, url, onRequest: refuse, handler: refuse });
    }
  }
}

/** Panko's order: Accept, the identity guard, then arguments, then the route's own work. */
function routeHandler(route: PankoRoute, trustIdentityHeaders: boolean) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const params = request.params as Record<string, string>;
    // Panko routes on the decoded path: `a%2Fb` is two segments there, so no route matches.
    if (Object.values(params).some((value) => value.includes('/'))) return sendError(reply, notFoundPage());
    checkAccept(request);
    const caller = callerOf(request.headers, trustIdentityHeaders);
    route.guard?.(caller);
    const pairs = parseQueryString(queryOf(request.url));
    const body = await readBody(request);
    const result = await route.handle({ request, reply, caller, pairs, body, params });
    return sendJson(reply, 200, result);
  };
}

/** For routes that take no arguments: no query parameter, no body argument. */
function noArguments({ request, pairs, body }: RouteCall): void {
  rejectUnknown(pairs);
  argumentsFromBody(body, request.headers['content-type'], []);
}

function pankoRoutes({ store, defaultLimit }: PankoApiOptions): PankoRoute[] {
  const limit = defaultLimit ?? PANKO_DEFAULT_LIMIT;
  return [
    { url: '/events', guard: requireContext, handle: (call) => listEvents(store, limit, call) },
    { url: '/events/:message_id', guard: requireContext, handle: (call) => showEvent(store, call) },
    { url: '/event_types', guard: requireAdmin, handle: withoutArguments(() => store.getEventTypes()) },
    {
      url: '/event_types/:event_type',
      guard: requireAdmin,
      // Panko's unused route: always 404.
      handle: withoutArguments(async () => {
        throw clientFault('The resource could not be found.', 404);
      }),
    },
    {
      url: '/event_types/:event_type/traits',
      guard: requireAdmin,
      handle: withoutArguments(async ({ params }) =>
        (await store.getTraitTypes(params.event_type)).map(pankoTraitDescription),
      ),
    },
    {
      url: '/event_types/:event_type/traits/:trait_name',
      guard: requireAdmin,
      handle: withoutArguments(async ({ params }) =>
        (await store.getTraits(params.event_type, params.trait_name)).map(pankoTrait),
      ),
    },
    {
      url: '/capabilities',
      handle: withoutArguments(async () => capabilitiesView(store.storageCapabilities)),
    },
  ];
}

const withoutArguments =
  (handle: (call: RouteCall) => Promise<unknown>) =>
  (call: RouteCall): Promise<unknown> => {
    noArguments(call);
    return handle(call);
  };

async function listEvents(store: EventStore, defaultLimit: number, call: RouteCall): Promise<unknown> {
  const { request, reply, caller, pairs, body } = call;
  const fromQuery = eventArgumentsFromQuery(pairs);
  const fromBody = argumentsFromBody(body, request.headers['content-type'], EVENT_ARGUMENTS);
  const args = combineArguments(fromQuery, fromBody);
  const filter = toEventFilter(args.q ?? [], scopeOf(caller));
  const page = toPagination(args, defaultLimit);
  const events = await store.getEvents(filter, page);
  if (events.length > 0 && events.length === page.limit) {
    const last = events[events.length - 1].message_id;
    reply.header('link', nextPageLink(request.url, args, Object.keys(fromBody).length > 0, last));
  }
  return events.map(pankoEvent);
}

/** One event, with the caller's scope (an admin cannot fetch another project's event by id). */
async function showEvent(store: EventStore, call: RouteCall): Promise<unknown> {
  noArguments(call);
  const id = call.params.message_id;
  const filter = { ...toEventFilter([], scopeOf(call.caller)), messageId: id };
  const [event] = await store.getEvents(filter, { limit: 1 });
  if (!event) throw clientFault(`Event ${id} Not Found`, 404);
  return pankoEvent(event);
}
