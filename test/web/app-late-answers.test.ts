import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCloud } from '../../local/cloud.ts';
import { holdRoute, settle } from '../support/held-route.ts';
import { startTestCloud } from '../support/local-cloud.ts';
import { buildPack, type FixtureMember } from '../support/pack-fixture.ts';
import { wavFile } from '../support/wav.ts';

// The local web page (web/app.js: search a site, play a call) on a slow network, in Chromium
// against the local cloud: the links of a call chosen before the last one, answering late, do not
// replace the audio of the call now chosen.

const SITE = 'demo';
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let dir: string;
let cloud: LocalCloud;
let browser: Browser;
const rids: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-app-late-'));
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE] });
  const member = (i: number): FixtureMember => ({
    path: `calls/SLOW-${i}.wav`,
    body: wavFile(1),
    meta: { callId: `SLOW-${i}`, agent: 'Sam Slow', caller: '+442079460100', called: '+442079460200', direction: 'inbound' as const, durationSec: 1, start: `2026-02-03T09:1${i}:00Z` },
  });
  const fixture = buildPack(SITE, [member(0), member(1)], { day: '2026-02-03T00:00:00Z', seed: 'app-late' });
  await cloud.blobs.put(fixture.packKey, fixture.pack);
  await cloud.blobs.put(fixture.manifestKey, fixture.manifestBytes, { contentType: 'application/json' });
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
  rids.push(...fixture.manifest.members.map((m) => m.rid));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the web page when a play link answers after another call was chosen', () => {
  it("keeps the audio, title and download of call B when call A's links answer after B was chosen", async () => {
    const context = await browser.newContext({ timezoneId: 'UTC', locale: 'en-GB' });
    const p = await context.newPage();
    p.setDefaultTimeout(15_000);
    try {
      const [a, b] = rids as [string, string];
      await p.goto(`${cloud.apiUrl}/?site=${SITE}#${new URL(cloud.webUrl).hash.slice(1)}`);
      await p.getByRole('button', { name: 'Search', exact: true }).click();
      await expect.poll(() => p.$$eval('#results tbody tr', (rows) => rows.length)).toBe(2);
      const linksOfA = await holdRoute(p, (url) => url.pathname.endsWith('/local/replay-link') && url.searchParams.get('rid') === a);
      await p.click(`#results tbody tr[data-rid="${a}"] button.play`);
      await linksOfA.asked;
      await p.click(`#results tbody tr[data-rid="${b}"] button.play`);
      await expect.poll(() => p.getAttribute('#audio', 'src')).toBeTruthy();
      const playingB = await p.getAttribute('#audio', 'src');
      const downloadB = await p.getAttribute('#download', 'href');
      const answered = p.waitForResponse((r) => new URL(r.url()).searchParams.get('rid') === a && r.url().includes('replay-link'));
      linksOfA.release();
      expect((await answered).status()).toBe(200);
      await settle(p);
      expect(await p.textContent('#player-title')).toBe('Call SLOW-1');
      expect(await p.getAttribute('#audio', 'src')).toBe(playingB);
      expect(await p.getAttribute('#download', 'href')).toBe(downloadB);
      expect(await p.getAttribute('#download', 'aria-label')).toBe('Download call SLOW-1');
    } finally {
      await context.close();
    }
  });
});
