import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCloud } from '../../local/cloud.ts';
import { startTestCloud } from '../support/local-cloud.ts';
import { signedInConsolePage } from '../support/console-browser.ts';
import { buildPack } from '../support/pack-fixture.ts';
import { wavFile } from '../support/wav.ts';

// A compliance officer answering a regulator's request for calls of three years ago, in the
// console (Chromium against the embedded local cloud): what the page says when a search by agent
// finds nothing, and the time of a call opened, read alone.

/** The generated deployment's site (local/iam-deployment.generated.json): no synth of another. */
const SITE = 'demo';
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let dir: string;
let cloud: LocalCloud;
let browser: Browser;
let rid: string;
const pageErrors: string[] = [];

async function search(p: Page, fields: Record<string, string>): Promise<string | null> {
  await p.click('#search button[type=reset]');
  for (const [id, value] of Object.entries(fields)) await p.fill(`#${id}`, value);
  const answered = p.waitForResponse((r) => r.url().includes(`/sites/${SITE}/recordings?`));
  await p.click('#search button[type=submit]');
  await answered;
  await p.waitForFunction(() => !document.getElementById('status')!.textContent!.startsWith('Searching'));
  return p.textContent('#status');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-console-old-'));
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE] });
  // Two calls of December 2023, the second at 02:48 UTC on the 4th: 21:48 on the 3rd in New York.
  const fixture = buildPack(SITE, [
    { path: '000002/000002000.wav', body: wavFile(2, 'tone'), meta: { callId: '000002000', agent: 'Alice Martin', caller: '+442079460000', called: '+441632960129', direction: 'outbound', durationSec: 2, start: '2023-12-04T02:48:00.000Z' } },
    { path: '000002/000002001.wav', body: wavFile(2, 'tone'), meta: { callId: '000002001', agent: 'Emma Walsh', caller: '+441632960129', called: '+442079460123', direction: 'inbound', durationSec: 2, start: '2023-12-04T02:49:00.000Z' } },
  ], { day: '2023-12-04T00:00:00Z', seed: 'dec-2023' });
  await cloud.blobs.put(fixture.packKey, fixture.pack);
  await cloud.blobs.put(fixture.manifestKey, fixture.manifestBytes, { contentType: 'application/json' });
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
  rid = fixture.manifest.members[0]!.rid;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('an officer searching calls of three years ago in the console', () => {
  it('says under an empty search by agent or call id that they match whole and with their capitals, and says nothing of it when the search finds calls', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=search`, { pageErrors });
    try {
      const range = { from: '2023-12-01T00:00:00', to: '2023-12-31T23:59:59' };
      const hint = 'matched whole and exactly as the recorder wrote them, capitals included (alice martin does not find Alice Martin): type the value as the recorder writes it.';
      expect(await search(p, { ...range, agent: 'alice martin' })).toBe(`No calls at demo between 2023-12-01 00:00:00 and 2023-12-31 23:59:59 (Europe/London) match this search. Agents are ${hint}`);
      expect(await search(p, { ...range, callId: 'X-1' })).toBe(`No calls at demo between 2023-12-01 00:00:00 and 2023-12-31 23:59:59 (Europe/London) match this search. Call ids are ${hint}`);
      expect(await search(p, { ...range, agent: 'Alice Martin' })).toBe('1 call matches this search.');
      expect(await search(p, { from: '2030-01-01T00:00:00' })).toBe('No calls at demo from 2030-01-01 00:00:00 on (Europe/London) match this search.');
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('names the zone beside the start of a call opened, so that its heading read alone or a screenshot of it does not put a call of 4 December (UTC) on the 3rd', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=call&rid=${rid}`, { pageErrors, timezoneId: 'America/New_York' });
    try {
      await p.waitForSelector('#call-body:not([hidden])');
      expect(await p.textContent('#call-summary')).toBe('2023-12-03 21:48:00 (America/New_York) · Alice Martin · +442079460000 → +441632960129 · outbound · 0:02');
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });
});
