import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { CommandFailure, UsageError } from './errors';

/** A file of JSON lines (or stdin), gzip or plain, read as lines. */
export interface LineInput {
  /** How messages name it: the path, or "stdin". */
  name: string;
  lines: AsyncIterable<string>;
}

const isGzip = (head: Buffer) => head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;

function checkReadableFile(file: string): void {
  const stat = statSync(file); // ENOENT/EACCES become one-line errors with the path
  if (stat.isDirectory()) throw new CommandFailure(`${file} is a directory; give a file of JSON lines`);
}

/** The stream's chunks, gunzipped when its first bytes are gzip's magic (whatever the name says). */
async function* decompressed(input: Readable, name: string): AsyncGenerator<Buffer> {
  const iterator = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await iterator.next();
  if (first.done) return;
  async function* all(): AsyncGenerator<Buffer> {
    yield first.value;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
  }
  if (!isGzip(first.value)) {
    yield* all();
    return;
  }
  try {
    yield* Readable.from(all()).pipe(createGunzip());
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CommandFailure(`${name} is not a valid gzip file (${reason}): is it truncated or corrupt?`);
  }
}

/** Splits UTF-8 text into lines (\n or \r\n), the last one without a newline included. */
async function* splitLines(chunks: AsyncIterable<Buffer>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of chunks) {
    const parts = (pending + decoder.write(chunk)).split('\n');
    pending = parts.pop() ?? '';
    for (const part of parts) yield part.endsWith('\r') ? part.slice(0, -1) : part;
  }
  pending += decoder.end();
  if (pending) yield pending;
}

/**
 * Opens a command's input: a file, or stdin when the argument is omitted or "-". Missing
 * files, directories and unreadable files fail before anything runs; a terminal on stdin
 * is a usage error rather than a silent wait.
 */
export function openLines(file: string | undefined): LineInput {
  const fromStdin = !file || file === '-';
  if (fromStdin && process.stdin.isTTY) {
    throw new UsageError('no input: give a file of JSON lines, or pipe them on stdin');
  }
  if (!fromStdin) checkReadableFile(file);
  const name = fromStdin ? 'stdin' : file;
  const stream = fromStdin ? process.stdin : createReadStream(file);
  return { name, lines: splitLines(decompressed(stream, name)) };
}

/** Fails when a whole input held nothing usable: a wrong file is an error, not an empty run. */
export function requireSomeValid(input: LineInput, valid: number, total: number, what: string): void {
  if (valid > 0) return;
  throw new CommandFailure(
    total === 0
      ? `${input.name} is empty: no ${what}`
      : `no valid ${what} in ${input.name} (${total} lines, all rejected)`,
  );
}
