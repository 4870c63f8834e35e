import { once } from 'node:events';
import { Command } from 'commander';
import { CanonicalEventError, parseCanonicalEvent, storedEventOf } from '../store/canonical-events';
import { EventFilter, EventStore, InvalidMarkerError, Pagination, StoredEvent } from '../store/model';
import { pankoEvent, pankoTrait, pankoTraitDescription } from '../store/panko-format';
import {
  PANKO_DEFAULT_LIMIT,
  pankoLimit,
  pankoSort,
  pankoTraitFilter,
  PankoQueryError,
} from '../store/panko-query';
import { parseIso8601Python } from '../time/micros';
import { CommandFailure, positiveNumber, UsageError } from './errors';
import { eventStoreUrl, openEventStore } from './event-store';
import { LineInput, openLines, requireSomeValid } from './input';

/** Writes lines to stdout, waiting while its buffer is full. */
async function writeLines(lines: Iterable<string>): Promise<void> {
  for (const line of lines) {
    if (!process.stdout.write(`${line}\n`)) await once(process.stdout, 'drain');
  }
}

/** Opens the store (EVENT_STORE_URL), runs `work` and closes it. */
async function withEventStore<T>(
  work: (store: EventStore) => Promise<T>,
  options: { createSchema?: boolean } = {},
): Promise<T> {
  const store = await openEventStore(eventStoreUrl(), options);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** Panko's words for a wrong query, as a usage error naming the option. */
function usage<T>(option: string, text: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof PankoQueryError)
      throw new UsageError(`${option} ${JSON.stringify(text)}: ${error.message}`);
    throw error;
  }
}

interface ListOptions {
  eventType?: string;
  start?: string;
  end?: string;
  messageId?: string;
  trait: string[];
  project?: string;
  limit: string;
  sort: string[];
  marker?: string;
}

function timeOption(option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = parseIso8601Python(text);
  if (typeof t === 'string') throw new UsageError(`${option} ${JSON.stringify(text)}: ${t}`);
  return t;
}

/** `NAME:OP:TYPE:VALUE`: the value is everything after the third colon (datetimes have colons). */
function traitOption(text: string) {
  const parts = /^([^:]+):([^:]*):([^:]*):(.*)$/s.exec(text);
  if (!parts) {
    throw new UsageError(
      `--trait ${JSON.stringify(text)}: expected NAME:OP:TYPE:VALUE, such as project_id:eq:string:p1 or memory_mb:ge:integer:512`,
    );
  }
  const [, name, op, type, value] = parts;
  return usage('--trait', text, () => pankoTraitFilter(name, op, type, value));
}

/** The filter and page `events list` asks for, every option checked before anything connects. */
export function listQuery(opts: ListOptions): { filter: EventFilter; page: Pagination } {
  const filter: EventFilter = {
    eventType: opts.eventType,
    messageId: opts.messageId,
    startTimestamp: timeOption('--start', opts.start),
    endTimestamp: timeOption('--end', opts.end),
    traits: opts.trait.map(traitOption),
    adminProject: opts.project,
  };
  const page: Pagination = {
    limit: usage('--limit', opts.limit, () => pankoLimit(opts.limit)),
    sort: opts.sort.map((text) => usage('--sort', text, () => pankoSort(text))),
    marker: opts.marker || undefined,
  };
  return { filter, page };
}

async function listEvents(opts: ListOptions): Promise<void> {
  const { filter, page } = listQuery(opts);
  const events = await withEventStore(async (store) => {
    try {
      return await store.getEvents(filter, page);
    } catch (error) {
      if (error instanceof InvalidMarkerError) throw new UsageError(`--marker: ${error.message}`);
      throw error;
    }
  });
  await writeLines(events.map((event) => JSON.stringify(pankoEvent(event))));
  if (events.length === page.limit) {
    process.stderr.write(
      `${events.length} events (--limit ${page.limit}); the next page: --marker ${events[events.length - 1].message_id}\n`,
    );
  }
}

async function showEvent(id: string): Promise<void> {
  const [event] = await withEventStore((store) => store.getEvents({ messageId: id }));
  if (!event) throw new CommandFailure(`Event ${id} Not Found`);
  await writeLines([JSON.stringify(pankoEvent(event))]);
}

async function listTypes(): Promise<void> {
  await writeLines(await withEventStore((store) => store.getEventTypes()));
}

async function listTraits(eventType: string, name: string | undefined): Promise<void> {
  const lines = await withEventStore(async (store) =>
    name === undefined
      ? (await store.getTraitTypes(eventType)).map((d) => JSON.stringify(pankoTraitDescription(d)))
      : (await store.getTraits(eventType, name)).map((t) => JSON.stringify(pankoTrait(t))),
  );
  await writeLines(lines);
}

/**
 * Canonical event lines into the store, `batchSize` events per call. A bad line is reported on
 * stderr (a JSON line with its number, as `distill` reports) and skipped; so is an event the
 * store refuses.
 */
class EventImport {
  readonly tally = { lines: 0, stored: 0, duplicates: 0, rejected: 0 };
  private pending: Array<{ event: StoredEvent; line: number }> = [];

  constructor(
    private readonly store: EventStore,
    private readonly batchSize: number,
  ) {}

  async add(text: string, line: number): Promise<void> {
    this.tally.lines++;
    try {
      this.pending.push({ event: storedEventOf(parseCanonicalEvent(text)), line });
    } catch (error) {
      if (!(error instanceof CanonicalEventError)) throw error;
      this.reject(line, error.messageId, error.message);
    }
    if (this.pending.length >= this.batchSize) await this.flush();
  }

  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const results = await this.store.recordEvents(batch.map((p) => p.event)).catch((error: unknown) => {
      throw new CommandFailure(
        `the event store failed at line ${batch[0].line} (${(error as Error).message}); ` +
          `${this.tally.stored} events were stored before: importing the same input again skips them`,
      );
    });
    results.forEach(({ outcome, reason, message_id }, i) => {
      if (outcome === 'stored') this.tally.stored++;
      else if (outcome === 'duplicate') this.tally.duplicates++;
      else this.reject(batch[i].line, message_id, reason ? `${outcome}: ${reason}` : outcome);
    });
  }

  private reject(line: number, messageId: string | undefined, reason: string): void {
    this.tally.rejected++;
    process.stderr.write(`${JSON.stringify({ line, message_id: messageId ?? null, reason })}\n`);
  }
}

async function importEvents(file: string | undefined, opts: { batch: string }): Promise<void> {
  const batchSize = positiveNumber('--batch', opts.batch, true);
  const input = openLines(file);
  const tally = await withEventStore((store) => importLines(input, store, batchSize), { createSchema: true });
  const { lines, stored, duplicates, rejected } = tally;
  await writeLines([
    `${lines} events from ${input.name}: ${stored} stored, ${duplicates} duplicates, ${rejected} rejected`,
  ]);
  requireSomeValid(input, lines - rejected, lines, 'event');
  if (rejected > 0) throw new CommandFailure(`${rejected} of ${lines} lines rejected (each reported above)`);
}

async function importLines(input: LineInput, store: EventStore, batchSize: number) {
  const run = new EventImport(store, batchSize);
  let line = 0;
  for await (const text of input.lines) {
    line++;
    if (text.trim()) await run.add(text, line);
  }
  await run.flush();
  return run.tally;
}

const collect = (value: string, previous: string[]) => [...previous, value];

function registerList(events: Command): void {
  events
    .command('list')
    .description("archived events as JSON lines, in Panko's /v2/events shape and order")
    .option('--event-type <type>', 'only this event type')
    .option('--start <iso>', 'generated at or after (ISO 8601; no zone means UTC)')
    .option('--end <iso>', 'generated at or before (ISO 8601)')
    .option('--message-id <id>', 'only this event')
    .option(
      '--trait <name:op:type:value>',
      'a trait filter as Panko reads one: op lt, le, eq, ne, ge, gt; type string, integer, float, datetime (repeatable, all must hold)',
      collect,
      [],
    )
    .option(
      '--project <id>',
      "as an admin scoped to the project sees them: its project_id, or text traits and no project_id (Panko's rule)",
    )
    .option('--limit <n>', `at most n events (0: ${PANKO_DEFAULT_LIMIT})`, String(PANKO_DEFAULT_LIMIT))
    .option('--sort <key[:dir]>', 'generated or message_id, asc or desc (repeatable)', collect, [])
    .option('--marker <id>', 'the message_id of the last event of the previous page')
    .action(listEvents);
}

export function registerEvents(program: Command): void {
  const events = program
    .command('events')
    .description('archived events in the event store (EVENT_STORE_URL): import, list, show, types, traits');
  events
    .command('import')
    .description('store canonical event JSON lines, as winchester distill prints them')
    .argument('[file]', 'canonical events, one per line (.gz is decompressed); stdin when omitted or "-"')
    .option('--batch <n>', 'events per store call', '500')
    .action(importEvents);
  registerList(events);
  events.command('show').description('one event by message_id').argument('<id>').action(showEvent);
  events.command('types').description('the stored event types, one per line').action(listTypes);
  events
    .command('traits')
    .description('trait names and types of an event type (JSON lines); with a name, every stored value of it')
    .argument('<event-type>')
    .argument('[trait-name]')
    .action(listTraits);
}
