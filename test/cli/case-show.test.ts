import { ferryAsync } from '../support/bin-async.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { createCase, showCase } from '../../core/holds.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';
import { publishPack } from '../workflows/purge-fixtures.ts';

// `ferry case show` (the built bin) against a loopback server standing in for the holds API,
// answering the case as core/holds.ts's showCase reads it from a catalogue in memory.

const SITE = 'site-a';
const NOW = new Date('2026-06-01T00:00:00.000Z');

let server: Server;
let base: string;
let dir: string;
let rids: string[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-case-show-'));
  const clock = new ManualClock(NOW);
  const deps = { holds: new MemoryHoldStore(), catalogue: new MemoryCatalogue(), blobs: new MemoryBlobStore({ clock }), holder: new MemoryObjectHolder(), clock };
  const pack = await publishPack(deps, SITE, NOW, 'p1', [10, 3]);
  rids = pack.manifest.members.map((m) => m.rid);
  await createCase(deps, { site: SITE, caseId: 'C-1', name: 'Jones', reason: 'regulator', principal: 'alice', rids });
  const body = JSON.stringify(await showCase(deps, SITE, 'C-1'));
  server = createServer((req, res) => void (req.url === `/sites/${SITE}/cases/C-1` ? res.writeHead(200, { 'Content-Type': 'application/json' }).end(body) : res.writeHead(404).end('{}')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

/** The bin, run without blocking: the stand-in server answers from this process. */
async function ferry(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return ferryAsync(args, join(dir, 'home'));
}

describe('ferry case show', () => {
  it("prints each call of the case with its start (UTC), site, call id and agent, not its id alone", async () => {
    const r = await ferry(['case', 'show', 'C-1', '--site', SITE, '--api', base]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'case C-1: Jones (regulator); not on hold',
      `${rids[0]}  2026-05-22T00:00:00.000Z  ${SITE}  p1-0  -`,
      `${rids[1]}  2026-05-29T00:00:00.000Z  ${SITE}  p1-1  -`,
      '2 call(s)',
      '',
    ]);
  }, 60_000);
});
