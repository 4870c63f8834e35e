import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import { compressFrame, decompressFrame } from 'lz4-napi';
import * as zstd from '@bokuweb/zstd-wasm';

// kafkajs only ships GZIP. A batch in any other codec blocks its partition before a DLQ
// could see it, so every codec OpenStack producers may use is registered at start.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const snappyCodec = require('kafkajs-snappy') as () => unknown;

interface Encoder {
  buffer: Buffer;
}

let registered: Promise<void> | undefined;

export function registerCompressionCodecs(): Promise<void> {
  registered ??= (async () => {
    await zstd.init();
    const codecs = CompressionCodecs as unknown as Record<number, () => unknown>;
    codecs[CompressionTypes.Snappy] = snappyCodec;
    codecs[CompressionTypes.LZ4] = () => ({
      compress: async (encoder: Encoder) => compressFrame(encoder.buffer),
      decompress: async (buffer: Buffer) => decompressFrame(buffer),
    });
    codecs[CompressionTypes.ZSTD] = () => ({
      compress: async (encoder: Encoder) => Buffer.from(zstd.compress(encoder.buffer, 3)),
      decompress: async (buffer: Buffer) => Buffer.from(zstd.decompress(buffer)),
    });
  })();
  return registered;
}
