import { setTimeout as sleep } from 'node:timers/promises';
import { Trait, toCanonicalJson, WinchesterEvent } from '../../events/event';
import { Micros } from '../../time/micros';
import { ConversionFailure, pyInt } from '../../distiller/python';
import { Logger } from '../../util/logger';
import { HandlerContext, HandlerDefinition, PipelineHandler } from '../handler';
import { EventTypeFilter } from './event-types';
import { ParamReader } from './params';
import { traitInstant, traitText } from './python-values';

/**
 * Upstream's AtomPubHandler: events whose type matches `event_types` are posted, one Atom entry
 * each, in commit(). 409 means the feed already has the entry; 400 means it refuses it (logged,
 * not retried); other failures are retried with a linear backoff capped at `max_wait`.
 */

export type ContentFormat = 'json' | 'cuf_xml';

export interface AtomPubOptions {
  url: string;
  eventTypes: EventTypeFilter;
  extraInfo: Record<string, string | number | boolean>;
  contentFormat: ContentFormat;
  title?: string;
  categories: string[];
  authUser: string;
  authKey: string;
  /** No auth server: entries are posted without a token. */
  authServer?: string;
  waitIntervalMs: number;
  maxWaitMs: number;
  httpTimeoutMs: number;
  /** Attempts per entry before it is given up as failed (upstream retried forever). */
  maxAttempts: number;
}

const PARAMS = [
  'url',
  'event_types',
  'extra_info',
  'content_format',
  'title',
  'categories',
  'auth_user',
  'auth_key',
  'auth_server',
  'auth_url',
  'wait_interval',
  'max_wait',
  'http_timeout',
  'max_attempts',
];

export function readAtomPubParams(params: Record<string, unknown>): AtomPubOptions {
  const r = new ParamReader('atompub', params, PARAMS);
  const url = r.requiredString('url');
  if (!/^https?:\/\//.test(url)) r.fail('url', 'an http:// or https:// URL');
  if (r.has('auth_server') && r.has('auth_url')) r.fail('auth_url', 'only one of auth_server and auth_url');
  const authServer = r.string('auth_server') || r.string('auth_url') || undefined;
  if (authServer !== undefined && !/^https?:\/\//.test(authServer)) {
    r.fail(r.has('auth_server') ? 'auth_server' : 'auth_url', 'an http:// or https:// URL');
  }
  return {
    url,
    eventTypes: new EventTypeFilter(r.stringList('event_types', { single: true }) ?? []),
    extraInfo: r.scalarMap('extra_info'),
    contentFormat: r.oneOf('content_format', ['json', 'cuf_xml'] as const, 'json'),
    title: r.string('title'),
    categories: r.stringList('categories') ?? [],
    authUser: r.string('auth_user') ?? '',
    authKey: r.string('auth_key') ?? '',
    authServer,
    waitIntervalMs: r.number('wait_interval', 30) * 1000,
    maxWaitMs: r.number('max_wait', 600) * 1000,
    httpTimeoutMs: r.number('http_timeout', 120, { min: 0.001 }) * 1000,
    maxAttempts: r.number('max_attempts', 5, { min: 1, integer: true }),
  };
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };
/** Upstream inserted values raw; escaping changes nothing for plain values and keeps the XML well formed. */
export const escapeXml = (s: string) => s.replace(/[&<>"]/g, (c) => XML_ESCAPES[c]);
const escapeXmlText = (s: string) => s.replace(/[&<>]/g, (c) => XML_ESCAPES[c]);

/** Upstream's Atom entry. XML content goes in as markup, anything else as escaped text. */
export function atomEntry(
  event: WinchesterEvent,
  eventType: string,
  content: string,
  contentType: string,
  opts: { title?: string; categories?: readonly string[] } = {},
): string {
  const categories = [...(opts.categories ?? []), eventType];
  const original = event.traits.original_message_id;
  if (original) categories.push(`original_message_id:${traitText(original)}`);
  const body = contentType.endsWith('xml') ? content : escapeXmlText(content);
  return (
    '<atom:entry xmlns:atom="http://www.w3.org/2005/Atom">' +
    `<atom:id>urn:uuid:${escapeXmlText(event.message_id)}</atom:id>` +
    categories.map((c) => `<atom:category term="${escapeXml(c)}" />`).join('') +
    `<atom:title type="text">${escapeXmlText(opts.title ?? eventType)}</atom:title>` +
    `<atom:content type="${escapeXml(contentType)}">${body}</atom:content></atom:entry>`
  );
}

const STATUS_BY_STATE: Record<string, string> = {
  building: 'BUILD',
  stopped: 'SHUTOFF',
  paused: 'PAUSED',
  suspended: 'SUSPENDED',
  rescued: 'RESCUE',
  error: 'ERROR',
  deleted: 'DELETED',
  'soft-delete': 'SOFT_DELETED',
  shelved: 'SHELVED',
  shelved_offloaded: 'SHELVED_OFFLOADED',
};
const ACTIVE_STATUS_BY_TASK: Record<string, string> = {
  rebooting: 'REBOOT',
  rebooting_hard: 'HARD_REBOOT',
  updating_password: 'PASSWORD',
  rebuilding: 'REBUILD',
  rebuild_block_device_mapping: 'REBUILD',
  rebuild_spawning: 'REBUILD',
  migrating: 'MIGRATING',
  resize_prep: 'RESIZE',
  resize_migrating: 'RESIZE',
  resize_migrated: 'RESIZE',
  resize_finish: 'RESIZE',
};

/** The CUF server status from nova's vm state and task state (state_description). */
export function cufStatus(event: WinchesterEvent, log?: Logger): string {
  const state = event.traits.state ? traitText(event.traits.state) : undefined;
  const description = event.traits.state_description ? traitText(event.traits.state_description) : '';
  let status =
    (state !== undefined && Object.hasOwn(STATUS_BY_STATE, state) && STATUS_BY_STATE[state]) || 'UNKNOWN';
  if (state === 'resized') status = description === 'resize_reverting' ? 'REVERT_RESIZE' : 'VERIFY_RESIZE';
  if (state === 'active') {
    status =
      (Object.hasOwn(ACTIVE_STATUS_BY_TASK, description) && ACTIVE_STATUS_BY_TASK[description]) || 'ACTIVE';
  }
  if (status === 'UNKNOWN') {
    log?.error(
      { message_id: event.message_id, state, state_description: description },
      `Unknown status for event ${event.message_id}: state ${state ?? 'None'} (${description})`,
    );
  }
  return status;
}

/** The license attributes from the `rax_options` bit field (Python `int()` of the trait). */
export function cufOptions(event: WinchesterEvent): string {
  const trait = event.traits.rax_options;
  let bits = 0;
  try {
    bits = trait ? pyInt(trait.value) : 0;
  } catch (error) {
    if (error instanceof ConversionFailure) throw new Error(`rax_options: ${error.reason}`, { cause: error });
    throw error;
  }
  const flag = (i: number) => Math.floor(bits / 2 ** i) % 2 === 1;
  let os = 'LINUX';
  let app: string | undefined;
  if (flag(0)) os = 'RHEL';
  if (flag(2)) os = 'WINDOWS';
  if (flag(6)) os = 'VYATTA';
  if (flag(3)) app = 'MSSQL';
  if (flag(5)) app = 'MSSQL_WEB';
  return app === undefined ? `osLicenseType="${os}"` : `osLicenseType="${os}" applicationLicense="${app}"`;
}

/**
 * The usage window: from the later of launch and audit start to the earlier of termination
 * (or deletion) and audit end; if that is inverted, from the audit start. A missing time is
 * left out (upstream's Python 2 failed to compare it).
 */
export function cufTimes(event: WinchesterEvent): { start?: Micros; end?: Micros } {
  const beginning = traitInstant(event.traits.audit_period_beginning);
  const ending = traitInstant(event.traits.audit_period_ending);
  const launched = traitInstant(event.traits.launched_at);
  const terminated = traitInstant(event.traits.terminated_at) ?? traitInstant(event.traits.deleted_at);
  const defined = (xs: Array<Micros | undefined>) => xs.filter((x): x is Micros => x !== undefined);
  const starts = defined([launched, beginning]);
  let start = starts.length ? Math.max(...starts) : undefined;
  let end = ending;
  if (terminated !== undefined) end = ending === undefined ? terminated : Math.min(terminated, ending);
  if (start !== undefined && end !== undefined && start > end) start = beginning;
  return { start, end };
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');
/** `%Y-%m-%dT%H:%M:%SZ`, or '' for no time. */
export function cufTime(t: Micros | undefined): string {
  if (t === undefined) return '';
  const d = new Date(Math.floor(t / 1000));
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}T` +
    `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}Z`
  );
}

const pyScalar = (v: string | number | boolean) =>
  typeof v === 'boolean' ? (v ? 'True' : 'False') : typeof v === 'number' ? traitText(numberTrait(v)) : v;
const numberTrait = (v: number): Trait =>
  Number.isInteger(v) ? { type: 'int', value: v } : { type: 'float', value: v };

/** Upstream's cuf_template: event traits, overridden by `extra_info`, missing ones empty. */
export function cufXml(
  event: WinchesterEvent,
  extraInfo: Record<string, string | number | boolean>,
  log?: Logger,
): string {
  const value = (name: string): string => {
    if (Object.hasOwn(extraInfo, name)) return escapeXml(pyScalar(extraInfo[name]));
    if (name === 'message_id') return escapeXml(event.message_id);
    const trait = event.traits[name];
    return trait ? escapeXml(traitText(trait)) : '';
  };
  const { start, end } = cufTimes(event);
  return (
    '<event xmlns="http://docs.rackspace.com/core/event" ' +
    'xmlns:nova="http://docs.rackspace.com/event/nova" ' +
    'version="1" ' +
    `id="${value('message_id')}" resourceId="${value('instance_id')}" ` +
    `resourceName="${value('display_name')}" ` +
    `dataCenter="${value('data_center')}" ` +
    `region="${value('region')}" tenantId="${value('tenant_id')}" ` +
    `startTime="${cufTime(start)}" endTime="${cufTime(end)}" ` +
    'type="USAGE"><nova:product version="1" ' +
    'serviceCode="CloudServersOpenStack" ' +
    'resourceType="SERVER" ' +
    `flavorId="${value('instance_flavor_id')}" ` +
    `flavorName="${value('instance_flavor')}" ` +
    `status="${cufStatus(event, log)}" ${cufOptions(event)} ` +
    `bandwidthIn="${value('bandwidth_in')}" ` +
    `bandwidthOut="${value('bandwidth_out')}"/></event>`
  );
}

/** The entry for one event in the configured format; cuf_xml entries are typed `<type>.cuf`. */
export function formatEntry(event: WinchesterEvent, options: AtomPubOptions, log?: Logger): string {
  if (options.contentFormat === 'cuf_xml') {
    return atomEntry(
      event,
      `${event.event_type}.cuf`,
      cufXml(event, options.extraInfo, log),
      'application/xml',
      {
        title: options.title,
        categories: options.categories,
      },
    );
  }
  return atomEntry(event, event.event_type, toCanonicalJson(event), 'application/json', {
    title: options.title,
    categories: options.categories,
  });
}

/** Tokens are shared by every handler instance (handlers are created per stream), per server and user. */
const tokenCache = new Map<string, string>();

export type DeliveryOutcome = 'delivered' | 'duplicate' | 'rejected';

export class AtomPubDeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AtomPubDeliveryError';
  }
}

class AuthError extends Error {}

export class AtomPubHandler implements PipelineHandler {
  private readonly pending: WinchesterEvent[] = [];

  constructor(
    private readonly options: AtomPubOptions,
    private readonly context: HandlerContext,
  ) {}

  handleEvents(events: WinchesterEvent[]): WinchesterEvent[] {
    for (const event of events)
      if (this.options.eventTypes.matches(event.event_type)) this.pending.push(event);
    this.context.logger.debug(
      { handler: 'atompub', matched: this.pending.length },
      'atompub: matched events',
    );
    return events;
  }

  async commit(): Promise<void> {
    const log = this.context.logger;
    if (this.context.dryRun) {
      for (const event of this.pending) {
        log.info(
          {
            handler: 'atompub',
            url: this.options.url,
            message_id: event.message_id,
            event_type: event.event_type,
          },
          `atompub (dry run): would post ${event.event_type} ${event.message_id} to ${this.options.url}`,
        );
      }
      return;
    }
    const failed: string[] = [];
    for (const event of this.pending) {
      try {
        const outcome = await this.send(formatEntry(event, this.options, log));
        log.debug(
          { handler: 'atompub', message_id: event.message_id, event_type: event.event_type, outcome },
          `Sent ${event.event_type} event ${event.message_id}: ${outcome}`,
        );
      } catch (error) {
        const original = event.traits.original_message_id;
        log.error(
          { handler: 'atompub', err: error, message_id: event.message_id, event_type: event.event_type },
          `Error publishing ${event.event_type} event ${event.message_id} ` +
            `(original id: ${original ? traitText(original) : ''})!`,
        );
        failed.push(`${event.message_id}: ${(error as Error).message}`);
      }
    }
    if (failed.length) {
      throw new AtomPubDeliveryError(
        `${failed.length} of ${this.pending.length} entries not delivered to ${this.options.url}: ${failed.join('; ')}`,
      );
    }
  }

  rollback(): void {
    this.pending.length = 0;
  }

  /** Posts one entry until the feed takes it, has it, or refuses it; throws when attempts run out. */
  async send(entry: string): Promise<DeliveryOutcome> {
    const { url, authServer, httpTimeoutMs, maxAttempts, waitIntervalMs, maxWaitMs } = this.options;
    const log = this.context.logger;
    let attempts = 0;
    // One re-authentication per attempt: a 401 that survives it is a failed attempt.
    let reauthenticated = false;
    for (;;) {
      let failure: string;
      try {
        const headers: Record<string, string> = { 'Content-Type': 'application/atom+xml' };
        if (authServer) {
          headers['X-Auth-Token'] = tokenCache.get(this.tokenKey()) ?? (await this.authenticate());
        }
        const response = await fetch(url, {
          method: 'POST',
          body: entry,
          headers,
          signal: this.requestSignal(httpTimeoutMs),
        });
        const body = await response.text().catch(() => '');
        const status = response.status;
        if (status >= 200 && status < 300) return 'delivered';
        if (status === 409) {
          log.debug({ handler: 'atompub', url }, 'Duplicate message: the feed already has this entry');
          return 'duplicate';
        }
        if (status === 400) {
          log.error(
            { handler: 'atompub', url, entry, response: body.slice(0, 2000) },
            'Invalid Content: Server rejected content',
          );
          return 'rejected';
        }
        if (status === 401 && authServer && !reauthenticated) {
          log.info({ handler: 'atompub', url }, 'Auth expired, reauthorizing...');
          tokenCache.delete(this.tokenKey());
          reauthenticated = true;
          continue;
        }
        failure = `HTTP ${status} from ${url}`;
      } catch (error) {
        if (this.context.signal?.aborted) throw this.context.signal.reason;
        failure = error instanceof AuthError ? error.message : describeFetchError(error, url);
      }
      reauthenticated = false;
      attempts++;
      if (attempts >= maxAttempts)
        throw new AtomPubDeliveryError(`gave up after ${attempts} attempts: ${failure}`);
      const waitMs = Math.min(attempts * waitIntervalMs, maxWaitMs);
      log.error(
        { handler: 'atompub', url, attempts, failure, wait_seconds: waitMs / 1000 },
        `Message delivery failed (${failure}), going to sleep, will try again in ${waitMs / 1000} seconds`,
      );
      // The runner aborts the signal when the commit overruns its timeout: stop retrying then.
      await sleep(waitMs, undefined, { signal: this.context.signal });
    }
  }

  private requestSignal(timeoutMs: number): AbortSignal {
    const timeout = AbortSignal.timeout(timeoutMs);
    return this.context.signal ? AbortSignal.any([timeout, this.context.signal]) : timeout;
  }

  private tokenKey(): string {
    return `${this.options.authServer}\n${this.options.authUser}`;
  }

  /** Rackspace identity (RAX-KSKEY API key credentials), as upstream; the token is `access.token.id`. */
  private async authenticate(): Promise<string> {
    const { authServer, authUser, authKey, httpTimeoutMs } = this.options;
    this.context.logger.debug({ handler: 'atompub', auth_server: authServer }, 'Contacting auth server');
    let response: Response;
    try {
      response = await fetch(authServer!, {
        method: 'POST',
        body: JSON.stringify({
          auth: { 'RAX-KSKEY:apiKeyCredentials': { username: authUser, apiKey: authKey } },
        }),
        headers: {
          'User-Agent': 'Winchester',
          Accept: 'application/json',
          'Content-Type': 'application/json',
        },
        signal: this.requestSignal(httpTimeoutMs),
      });
    } catch (error) {
      if (this.context.signal?.aborted) throw this.context.signal.reason;
      throw new AuthError(`auth: ${describeFetchError(error, authServer!)}`);
    }
    const body = await response.text().catch(() => '');
    if (!response.ok) throw new AuthError(`auth server ${authServer} answered HTTP ${response.status}`);
    let token: unknown;
    try {
      token = (JSON.parse(body) as { access?: { token?: { id?: unknown } } }).access?.token?.id;
    } catch {
      token = undefined;
    }
    if (typeof token !== 'string' || token === '') {
      throw new AuthError(`auth server ${authServer} gave no access.token.id`);
    }
    tokenCache.set(this.tokenKey(), token);
    return token;
  }
}

function describeFetchError(error: unknown, url: string): string {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `HTTP timeout talking to ${url}`;
  const cause = e?.cause?.code ?? e?.cause?.message;
  return `Connection error talking to ${url}${cause ? ` (${cause})` : ''}: ${e?.message ?? String(error)}`;
}

export const atompubHandler: HandlerDefinition = {
  validateParams: (params) => void readAtomPubParams(params),
  create: (params, context) => new AtomPubHandler(readAtomPubParams(params), context),
};
