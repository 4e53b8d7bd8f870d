import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalLambda, type StreamedResponse } from '../../local/local-lambda.ts';

// The local Lambda runtime's hand-over of a streamed response (local/lambda-runtime.mjs and
// local/local-lambda.ts): the function writes ahead of its reader up to a bounded window, told
// how much was taken in batches rather than after each chunk, and a reader that does not read
// still stops it at the window.

const CHUNK = 64 * 1024;
const CHUNKS = 40;
let dir: string;
let fn: LocalLambda;
const lines: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cloudproc-stream-'));
  const bundle = join(dir, 'index.mjs');
  // Each write awaited, its count logged once it returned: how far ahead of the reader the function got.
  writeFileSync(
    bundle,
    `export const handler = awslambda.streamifyResponse(async (event, stream) => {
      const out = awslambda.HttpResponseStream.from(stream, { statusCode: 200, headers: { 'content-type': 'application/octet-stream' } });
      for (let i = 0; i < event.chunks; i++) {
        await new Promise((resolve, reject) => out.write(Buffer.alloc(event.size, i % 251), (e) => (e ? reject(e) : resolve())));
        console.log('wrote ' + (i + 1));
      }
      out.end();
    });\n`,
  );
  fn = await LocalLambda.start({ functionName: 'stream-test', bundle, environment: {}, onLog: (line) => lines.push(line) });
});

afterAll(async () => {
  await fn?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const written = () => Math.max(0, ...lines.map((l) => Number(/^wrote (\d+)$/.exec(l)?.[1] ?? 0)));

describe('a streamed response from the local Lambda runtime', () => {
  it('lets the function write several chunks ahead of a reader that reads nothing, and stops it at a bounded window (≤ 1 MiB)', async () => {
    lines.length = 0;
    const res = (await fn.invoke({ size: CHUNK, chunks: CHUNKS })) as StreamedResponse;
    await expect.poll(written).toBeGreaterThanOrEqual(4);
    // No reader yet: the writer must stop at its window, well before the 40 chunks (2.5 MiB).
    await new Promise((r) => setTimeout(r, 1_000));
    expect(written()).toBeLessThanOrEqual((1024 * 1024) / CHUNK);
    const chunks: Buffer[] = [];
    for await (const c of res.body) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    expect(body.length).toBe(CHUNK * CHUNKS);
    for (let i = 0; i < CHUNKS; i++) expect(body[i * CHUNK]).toBe(i % 251);
    await expect.poll(written).toBe(CHUNKS);
  });

  it('delivers a body smaller than the window whole and in order while the reader is slow', async () => {
    const res = (await fn.invoke({ size: 1000, chunks: 50 })) as StreamedResponse;
    const chunks: Buffer[] = [];
    for await (const c of res.body) {
      chunks.push(c as Buffer);
      await new Promise((r) => setTimeout(r, 2));
    }
    const body = Buffer.concat(chunks);
    expect(body.length).toBe(50_000);
    for (let i = 0; i < 50; i++) expect(body[i * 1000]).toBe(i % 251);
  });
});
