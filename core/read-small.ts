import { InvalidInputError } from './errors.ts';
import type { BlobStore } from './ports.ts';

/** Reads a small object whole, refusing (without reading on) one larger than `maxBytes`. */
export async function readSmallObject(blobs: Pick<BlobStore, 'get'>, key: string, maxBytes: number, what: string): Promise<Buffer> {
  const { body } = await blobs.get(key);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
    total += buf.length;
    if (total > maxBytes) {
      body.destroy();
      throw new InvalidInputError(`${what} ${key} is larger than ${maxBytes} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}
