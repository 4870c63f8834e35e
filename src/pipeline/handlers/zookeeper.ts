import { WinchesterEvent } from '../../events/event';
import { parseConnectString, ZkConnectStringError } from '../../zookeeper/connect-string';
import { parentZnode, znodePathProblem } from '../../zookeeper/paths';
import { maxDataBytes, ZkError, ZkPokeResult, ZkSession } from '../../zookeeper/session';
import {
  HandlerContext,
  HandlerDefinition,
  HandlerParamsError,
  PipelineEnv,
  PipelineHandler,
} from '../handler';
import { EventTypeFilter } from './event-types';
import { streamDocument } from './exec';
import { ParamReader } from './params';
import { streamTraitText, TemplateSyntaxError, TraitTemplate } from './trait-template';
import { ZookeeperSessions } from './zookeeper-sessions';

/**
 * Sets a znode when the pipeline commits (creating it, and by default its parents), so a fired
 * stream wakes every `winchester watch` (or Twitcher) watching that znode across a fleet. The
 * znode path and a fixed text may hold `{trait}` placeholders filled from the stream's events.
 * What is written: the stream as the exec handler's stdin document, the number of selected
 * events, or the text. Writes go through one ZooKeeper session per connect string per process.
 */

export type ZnodeData = 'stream' | 'count' | 'text';

export interface ZookeeperWriteOptions {
  znode: TraitTemplate;
  data: ZnodeData;
  /** Given exactly when data is 'text'. */
  text?: TraitTemplate;
  /** Undefined: ZOOKEEPER_CONNECT when the handler is created. */
  zookeeper?: string;
  createParents: boolean;
  /** Undefined: every event. With a filter and no match nothing is written. */
  eventTypes?: EventTypeFilter;
  timeoutMs: number;
}

const PARAMS = ['znode', 'data', 'text', 'zookeeper', 'create_parents', 'event_types', 'timeout'];
export const DEFAULT_ZOOKEEPER_TIMEOUT_SECONDS = 10;

export function readZookeeperParams(params: Record<string, unknown>): ZookeeperWriteOptions {
  const r = new ParamReader('zookeeper', params, PARAMS);
  const znode = readTemplate(r, 'znode', r.requiredString('znode'));
  const shown = znode.fill((trait) => `{${trait}}`);
  const problem = znodePathProblem(shown);
  if (problem) r.fail('znode', `an absolute znode path, with {trait} placeholders if wanted (${problem})`);
  const text = r.has('text') ? readTemplate(r, 'text', r.string('text')!) : undefined;
  const data = r.oneOf<ZnodeData>('data', ['stream', 'count', 'text'], text ? 'text' : 'stream');
  if (data === 'text' && !text) r.fail('text', 'the text to write (data: text needs it)');
  if (data !== 'text' && text) r.fail('data', 'text, or no data param, when text is given');
  const eventTypes = r.stringList('event_types', { single: true });
  return {
    znode,
    data,
    ...(text && { text }),
    ...(r.has('zookeeper') && { zookeeper: readConnectString(r) }),
    createParents: readBoolean(r, 'create_parents', true),
    ...(eventTypes && { eventTypes: new EventTypeFilter(eventTypes) }),
    timeoutMs: r.number('timeout', DEFAULT_ZOOKEEPER_TIMEOUT_SECONDS, { min: 0.001 }) * 1000,
  };
}

function readTemplate(r: ParamReader, name: string, text: string): TraitTemplate {
  try {
    return TraitTemplate.parse(text);
  } catch (error) {
    if (!(error instanceof TemplateSyntaxError)) throw error;
    return r.fail(name, `text with {trait} placeholders (${error.message})`);
  }
}

function readConnectString(r: ParamReader): string {
  const text = r.requiredString('zookeeper');
  try {
    parseConnectString(text);
  } catch (error) {
    if (!(error instanceof ZkConnectStringError)) throw error;
    r.fail('zookeeper', `a ZooKeeper connect string (${error.message})`);
  }
  return text;
}

function readBoolean(r: ParamReader, name: string, fallback: boolean): boolean {
  if (!r.has(name)) return fallback;
  const value = r.params[name];
  if (typeof value !== 'boolean') r.fail(name, 'true or false');
  return value;
}

/** The connect string to write to: the param, else ZOOKEEPER_CONNECT; undefined only in a dry run. */
export function zookeeperConnectString(
  options: ZookeeperWriteOptions,
  env: NodeJS.ProcessEnv,
  dryRun: boolean,
): string | undefined {
  if (options.zookeeper !== undefined) return options.zookeeper;
  const fromEnv = env.ZOOKEEPER_CONNECT?.trim();
  if (!fromEnv) {
    if (dryRun) return undefined;
    throw new HandlerParamsError(
      'zookeeper',
      'no ZooKeeper to write to: give the zookeeper param (host:port[,host:port...][/chroot]) or set ZOOKEEPER_CONNECT',
    );
  }
  try {
    parseConnectString(fromEnv);
  } catch (error) {
    if (!(error instanceof ZkConnectStringError)) throw error;
    throw new HandlerParamsError('zookeeper', `ZOOKEEPER_CONNECT: ${error.message}`);
  }
  return fromEnv;
}

/**
 * A stream that cannot give the znode path or its data (a trait missing or unusable in a path,
 * data too large): thrown by handleEvents, so the run fails.
 */
export class StreamZnodeError extends Error {
  override readonly name = 'StreamZnodeError';
}

/** The znode path for this stream; every placeholder's value must be one znode name. */
export function streamZnode(template: TraitTemplate, events: readonly WinchesterEvent[]): string {
  const path = template.fill((trait) => {
    const value = traitValue(`znode ${template.text}`, trait, events);
    const unusable =
      value === '' || value === '.' || value === '..'
        ? `is ${JSON.stringify(value)}`
        : value.includes('/')
          ? `is ${JSON.stringify(value)}, which contains '/'`
          : undefined;
    if (unusable) {
      throw new StreamZnodeError(
        `znode ${template.text}: the trait ${trait} ${unusable}: it cannot be the name of a znode`,
      );
    }
    return value;
  });
  const problem = znodePathProblem(path);
  if (problem) throw new StreamZnodeError(`znode ${template.text}: ${problem}`);
  return path;
}

function traitValue(where: string, trait: string, events: readonly WinchesterEvent[]): string {
  const value = streamTraitText(events, trait);
  if (value === undefined)
    throw new StreamZnodeError(`${where}: no event of the stream has the trait ${trait}`);
  return value;
}

/** What the handler writes for a stream: its events as the exec handler's stdin, their count, or the text. */
export function znodeData(
  options: ZookeeperWriteOptions,
  stream: { events: readonly WinchesterEvent[]; selected: readonly WinchesterEvent[]; env: PipelineEnv },
): string {
  switch (options.data) {
    case 'stream':
      return streamDocument(stream.env, stream.selected);
    case 'count':
      return String(stream.selected.length);
    case 'text':
      return options.text!.fill((trait) => traitValue(`text ${options.text!.text}`, trait, stream.events));
  }
}

/** A write that did not happen (or may not have): commit() throws it. */
export class ZookeeperWriteError extends Error {
  override readonly name = 'ZookeeperWriteError';
  constructor(
    message: string,
    readonly znode: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

interface PendingWrite {
  znode: string;
  data: Buffer;
  events: number;
}

/** The sessions every zookeeper handler of this process shares; closed by the definition's close(). */
export const zookeeperSessions = new ZookeeperSessions();

export class ZookeeperHandler implements PipelineHandler {
  private pending?: PendingWrite;

  constructor(
    private readonly options: ZookeeperWriteOptions,
    private readonly connectString: string | undefined,
    private readonly context: HandlerContext,
    private readonly sessions: ZookeeperSessions = zookeeperSessions,
  ) {}

  /** The path and data are made here, so a stream that cannot give them fails the run, not the commit. */
  handleEvents(events: WinchesterEvent[], env: PipelineEnv): WinchesterEvent[] {
    const filter = this.options.eventTypes;
    const selected = filter ? events.filter((e) => filter.matches(e.event_type)) : events;
    this.pending = undefined;
    if (selected.length === 0) return events;
    const znode = streamZnode(this.options.znode, events);
    const data = Buffer.from(znodeData(this.options, { events, selected, env }));
    if (data.length > maxDataBytes(znode)) {
      throw new StreamZnodeError(
        `the data for ${znode} is ${data.length} bytes, more than one ZooKeeper write takes ` +
          `(${maxDataBytes(znode)}): select fewer events or write data: count or text`,
      );
    }
    this.pending = { znode, data, events: selected.length };
    return events;
  }

  async commit(): Promise<void> {
    const pending = this.pending;
    if (!pending) return;
    const fields = { handler: 'zookeeper', znode: pending.znode, bytes: pending.data.length };
    if (this.context.dryRun || this.connectString === undefined) {
      const where = this.connectString ?? 'ZOOKEEPER_CONNECT (not set)';
      this.context.logger.info(
        { ...fields, zookeeper: where, events: pending.events },
        `zookeeper (dry run): would set ${pending.znode} to ${pending.data.length} bytes on ${where}`,
      );
      return;
    }
    const result = await this.write(pending, this.connectString);
    this.context.logger.info(
      { ...fields, zookeeper: this.connectString, created: result.created, version: result.version },
      `zookeeper: ${result.created ? 'created' : 'set'} ${pending.znode} (version ${result.version})`,
    );
  }

  rollback(): void {
    this.pending = undefined;
  }

  /** Opens (or reuses) the session and sets the node; a session that expired meanwhile is replaced once. */
  private async write(pending: PendingWrite, connectString: string): Promise<ZkPokeResult> {
    const started = Date.now();
    const { timeoutMs } = this.options;
    const fail = (reason: string, code?: string) =>
      new ZookeeperWriteError(
        `zookeeper: cannot set ${pending.znode} on ${connectString}: ${reason}`,
        pending.znode,
        code,
      );
    for (let attempt = 1; ; attempt++) {
      let session: ZkSession;
      try {
        // Bounded by the session's own connect timeout, whose error says what each server did.
        session = await this.bounded(this.sessions.session(connectString, timeoutMs));
      } catch (error) {
        throw fail(reasonOf(error), codeOf(error));
      }
      // Opening took part of the time; the write gets the rest (at least a second, or all of a shorter timeout).
      const left = Math.max(timeoutMs - (Date.now() - started), Math.min(1000, timeoutMs));
      try {
        return await this.bounded(this.set(session, pending), left, () => silenceReason(session, timeoutMs));
      } catch (error) {
        if (attempt === 1 && codeOf(error) === 'SESSION_EXPIRED') continue;
        throw fail(reasonOf(error), codeOf(error));
      }
    }
  }

  private async set(session: ZkSession, pending: PendingWrite): Promise<ZkPokeResult> {
    const parent = parentZnode(pending.znode);
    if (!this.options.createParents && parent !== '/' && !(await session.read(parent)).exists) {
      throw new ZkError('NO_NODE', `its parent ${parent} does not exist (create_parents is false)`, parent);
    }
    return session.poke(pending.znode, pending.data);
  }

  /**
   * `work`, or a rejection when `ms` (if given) pass first, with `onTimeout`'s reason, or when
   * the pipeline gives up on this handler (context.signal).
   */
  private bounded<T>(work: Promise<T>, ms?: number, onTimeout?: () => string): Promise<T> {
    const signal = this.context.signal;
    let timer: NodeJS.Timeout | undefined;
    let onAbort = () => {};
    const stop = new Promise<never>((_, reject) => {
      if (ms !== undefined) timer = setTimeout(() => reject(new Error(onTimeout!())), ms);
      onAbort = () => reject(new Error('stopped: the pipeline gave up on this handler (handler_timeout)'));
      if (signal?.aborted) onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    // A late rejection of `work` after the race is decided is expected: keep it from going unhandled.
    work.catch(() => undefined);
    return Promise.race([work, stop]).finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    });
  }
}

/** Why a write timed out; it may still be applied later, which the message says. */
function silenceReason(session: ZkSession, timeoutMs: number): string {
  const why =
    session.state === 'disconnected' ? 'the connection to ZooKeeper is down' : 'ZooKeeper did not answer';
  return (
    `no answer within ${timeoutMs / 1000} s: ${why} (the session keeps the write and sends it ` +
    'if the connection comes back before the session expires)'
  );
}

const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
const codeOf = (error: unknown) => (error instanceof ZkError ? error.code : undefined);

export const zookeeperHandler: HandlerDefinition = {
  validateParams: (params) => void readZookeeperParams(params),
  create(params, context) {
    const options = readZookeeperParams(params);
    return new ZookeeperHandler(
      options,
      zookeeperConnectString(options, process.env, context.dryRun),
      context,
    );
  },
  close: () => zookeeperSessions.close(),
};
