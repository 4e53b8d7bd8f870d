import { ferryAsync } from '../support/bin-async.ts';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchivedError, NotFoundError } from '../../core/errors.ts';
import { errorResponse } from '../../functions/shared/errors.ts';

// `ferry calls play` (the built bin) against a loopback server standing in for the catalogue API
// and the replay URL, which answers as the replay function does (its own error middleware).

const SITE = 'site-a';
const COLD = 'r0123456789abcdef0123456';
const GONE = 'r0123456789abcdef0123457';
const PACK = `recordings/${SITE}/2023/12/11/p-cold.tar`;

let server: Server;
let base: string;
let dir: string;
const quiet = () => undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-play-'));
  server = createServer((req, res) => {
    const rid = /\/recordings\/(r[0-9a-f]+)/.exec(req.url ?? '')?.[1] ?? '';
    const answer = (r: { statusCode: number; headers?: Record<string, string>; body: unknown }) => res.writeHead(r.statusCode, r.headers ?? { 'Content-Type': 'application/json' }).end(String(r.body));
    if (!req.url?.includes('/audio')) {
      answer({ statusCode: 200, body: JSON.stringify({ site: SITE, rid, sha256: '0'.repeat(64), length: 10, contentType: 'audio/wav', meta: { callId: '000900000' } }) });
    } else if (rid === COLD) {
      // What the S3 adapter says of a pack in Deep Archive, as the replay's middleware sends it.
      answer(errorResponse(new ArchivedError(`${PACK} is in the archive tier (DEEP_ARCHIVE); request a recall and play it once it is restored (S3 GetObject: The operation is not valid for the object's storage class)`, 'DEEP_ARCHIVE'), quiet));
    } else {
      answer(errorResponse(new NotFoundError(`S3 GetObject ${PACK}: no such key`), quiet));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

/** The bin, run without blocking: the stand-in server answers from this process. */
async function play(id: string, out: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return ferryAsync(['calls', 'play', id, '--out', out, '--api', base, '--replay-url', base], join(dir, 'home'));
}

describe('ferry calls play of a call it cannot play', () => {
  it('says a call in a cold tier is archived, names the tier and the recall to run with its ids, exits 1 and writes nothing', async () => {
    const out = join(dir, 'cold.wav');
    const r = await play(`${SITE}/${COLD}`, out);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `ferry: call 000900000 (${SITE}/${COLD}) is archived (DEEP_ARCHIVE) and cannot be played until it is recalled: recall it with \`ferry calls recall ${SITE}/${COLD}\`, follow it with \`ferry calls recall-status ${SITE}/${COLD}\`, and play it again once that says it is playable; nothing was written\n`,
    );
    expect(r.stderr).not.toContain('{');
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('cold'))).toEqual([]);
  }, 60_000);

  it('gives any other refusal of the replay as its status and message, not its JSON', async () => {
    const r = await play(`${SITE}/${GONE}`, join(dir, 'gone.wav'));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ferry: replay answered 404: S3 GetObject ${PACK}: no such key\n`);
  }, 60_000);
});
