import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { placeHold, showCase, type HoldDeps } from '../../core/holds.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';
import { createHoldsHandler } from '../../functions/holds/handler.ts';
import { startApiServer } from '../../local/api-server.ts';
import type { HttpEndpoint } from '../../local/http-endpoint.ts';
import { TEST_KEY, TEST_REGION } from '../support/signed.ts';
import { sourceFunctions } from '../support/source-functions.ts';
import { publishPack } from '../workflows/purge-fixtures.ts';

// `ferry hold release --case` as an officer runs it: a real process against the holds routes
// over real HTTP (memory stores, a request releasing 2 members), asking again while the answer
// is 202 and saying how far the release has gone.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
const SITE = 'site-a';
const NOW = new Date('2026-06-01T00:00:00.000Z');
const KEY_ENV = { AWS_ACCESS_KEY_ID: TEST_KEY.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_KEY.secretAccessKey, AWS_REGION: TEST_REGION };

let server: HttpEndpoint;
let home: string;
let deps: HoldDeps & { holder: MemoryObjectHolder };
const keys: string[] = [];

function ferry(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, FERRY_HOME: home, ...KEY_ENV }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'ferry-home-'));
  const clock = new ManualClock(NOW);
  const blobs = new MemoryBlobStore({ clock });
  const catalogue = new MemoryCatalogue();
  deps = { holds: new MemoryHoldStore(), catalogue, blobs, holder: new MemoryObjectHolder(), clock, caseBatch: 2 };
  const rids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const pack = await publishPack({ blobs, catalogue }, SITE, NOW, `c${i}`, [10]);
    rids.push(pack.manifest.members[0]!.rid);
    keys.push(pack.packKey, pack.manifestKey);
  }
  await deps.holds.createCase({ site: SITE, caseId: 'C-9', name: 'Smith v Acme', reason: 'r', createdBy: 'alice', createdAt: NOW.toISOString(), members: rids });
  while (!(await placeHold(deps, { site: SITE, caseId: 'C-9', reason: 'court order', principal: 'alice' })).held);
  const holds = createHoldsHandler({ ...deps, audit: () => undefined, log: () => undefined });
  server = await startApiServer({ functions: { ...sourceFunctions({ catalogue }).functions, holds }, credentials: [TEST_KEY], region: TEST_REGION, log: () => undefined });
});

afterAll(async () => {
  await server?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('ferry hold release --case (real process, real HTTP)', () => {
  it('asks again while the case is released a part at a time, showing how many calls are released, until the case is no longer held', async () => {
    expect(keys.every((k) => deps.holder.isHeld(k))).toBe(true);
    const r = await ferry(['hold', 'release', '--site', SITE, '--case', 'C-9', '--reason', 'order lifted', '--api', server.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual(['case C-9: released 2 of 5 calls…', 'case C-9: released 4 of 5 calls…']);
    expect(r.stdout.trim()).toBe('released: 5 hold(s); legal hold OFF on 10 object(s) (objects still holding another held call stay ON)');
    expect(keys.some((k) => deps.holder.isHeld(k))).toBe(false);
    expect((await showCase(deps, SITE, 'C-9')).held).toBeUndefined();
  }, 90_000);
});
