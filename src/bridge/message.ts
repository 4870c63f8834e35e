import { isUtf8 } from 'node:buffer';
import { brotliDecompressSync, inflateSync } from 'node:zlib';
import { notificationKeyOfBytes } from '../topology/records';
import type { JsonCheck } from '../config/bridge-settings';

/** What the bridge reads of one AMQP delivery (amqplib's ConsumeMessage, without the client). */
export interface Delivery {
  body: Buffer;
  /** kombu puts its compression's mime type in the `compression` header. */
  headers?: Record<string, unknown>;
  exchange: string;
  routingKey: string;
  redelivered: boolean;
}

/** Why a delivery cannot go to the input topic; each is a `reason` label of the DLQ metric. */
export type RejectCategory = 'invalid-json' | 'oversized' | 'compression';

export type Classified =
  | { kind: 'record'; key: string | null; value: Buffer }
  | { kind: 'reject'; category: RejectCategory; reason: string };

/** kombu's compression names whose decoders Node has; bz2 and lzma are not among them. */
const DECOMPRESSORS: Record<string, (body: Buffer, maxOutputLength: number) => Buffer> = {
  'application/x-gzip': (body, maxOutputLength) => inflateSync(body, { maxOutputLength }),
  'application/x-brotli': (body, maxOutputLength) => brotliDecompressSync(body, { maxOutputLength }),
};

const reject = (category: RejectCategory, reason: string): Classified => ({
  kind: 'reject',
  category,
  reason,
});

/**
 * A delivery → the record for the input topic (its bytes unchanged, or decompressed when kombu
 * compressed them), or why not: a DLQ record that the distiller would refuse anyway is better
 * caught here with the AMQP source in its headers.
 */
export function classifyDelivery(
  delivery: Delivery,
  maxRecordBytes: number,
  check: JsonCheck = 'full',
): Classified {
  const body = decompressed(delivery, maxRecordBytes);
  if (!Buffer.isBuffer(body)) return body;
  if (body.length === 0) return reject('invalid-json', 'the message body is empty');
  if (body.length > maxRecordBytes)
    return reject(
      'oversized',
      `the message is ${body.length} bytes, over max_record_bytes ${maxRecordBytes}`,
    );
  if (!isUtf8(body)) return reject('invalid-json', 'the message body is not valid UTF-8');
  const problem = check === 'full' ? notJsonObject(body.toString('utf8')) : notObjectShaped(body);
  if (problem) return reject('invalid-json', problem);
  return { kind: 'record', key: notificationKeyOfBytes(body), value: body };
}

function decompressed(delivery: Delivery, maxRecordBytes: number): Buffer | Classified {
  const compression = delivery.headers?.compression;
  if (compression === undefined || compression === null) return delivery.body;
  const decompress = DECOMPRESSORS[String(compression)];
  if (!decompress) {
    return reject(
      'compression',
      `compression ${String(compression)} is not supported (application/x-gzip and application/x-brotli are)`,
    );
  }
  try {
    return decompress(delivery.body, maxRecordBytes + 1);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') {
      return reject('oversized', `the message decompresses to over max_record_bytes ${maxRecordBytes}`);
    }
    return reject('compression', `cannot decompress ${String(compression)}: ${(error as Error).message}`);
  }
}

/** Why the body cannot be one JSON object (its first and last bytes say), or undefined. */
function notObjectShaped(body: Buffer): string | undefined {
  let first = 0;
  while (first < body.length && isJsonSpace(body[first])) first++;
  let last = body.length - 1;
  while (last > first && isJsonSpace(body[last])) last--;
  if (body[first] === OPEN_BRACE && body[last] === CLOSE_BRACE && last > first) return undefined;
  if (body[first] === OPEN_BRACE) return 'the message is not JSON: it does not end with } (truncated?)';
  if (body[first] === OPEN_BRACKET) return 'the message is JSON but not an object';
  const start = body.toString('utf8', first, Math.min(body.length, first + 16));
  return `the message is not JSON: it starts with ${JSON.stringify(start)}`;
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const isJsonSpace = (byte: number) => byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;

/** Why the text is not one JSON object, or undefined when it is. */
function notJsonObject(text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `the message is not JSON: ${(error as Error).message}`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'the message is JSON but not an object';
  return undefined;
}
