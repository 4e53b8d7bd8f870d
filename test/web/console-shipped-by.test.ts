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

// After a failover, an officer at the secondary site finds two calls numbered 000001000 (each
// recorder numbers its own calls): the call page (Chromium against the embedded local cloud)
// says which recorder host shipped each, and of a call shipped before agents said so, that it is
// not recorded; the search results say it too, on a narrow line under the call id, at a desktop's
// width and at a phone's.

const SITE = 'demo';
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PRIMARY = { host: 'rec-primary.example', agentId: '6f1c2a3b-1111-4aaa-8bbb-000000000001' };
const SECONDARY = { host: 'rec-secondary.example', agentId: '6f1c2a3b-2222-4aaa-8bbb-000000000002' };

let dir: string;
let cloud: LocalCloud;
let browser: Browser;
/** A manifest's words are the site's: markup and a right-to-left override in them are shown as text, escaped, in the tooltip too. */
const HOSTILE = { host: 'rec-<img src=x onerror=alert(1)>\u202Eexe.wav', agentId: 'id-\u202Eevil<b>' };
const rids: Record<'primary' | 'secondary' | 'old' | 'hostile', string> = { primary: '', secondary: '', old: '', hostile: '' };
const pageErrors: string[] = [];

const call = (callId: string, start: string) => ({ callId, agent: 'Alice Martin', caller: '+442079460000', called: '+441632960129', direction: 'inbound' as const, durationSec: 2, start });

/** The call page's record as term → definition (its text, and its tooltip). */
async function facts(p: Page, rid: string): Promise<Map<string, { text: string; title: string | null }>> {
  await p.goto(`${p.url().split('#')[0]}#site=${SITE}&view=call&rid=${rid}`);
  // The record of this call, whole, read in the same evaluation that finds it whole: every term
  // followed by its definition (a page still loading the call it showed before, or reloading for
  // the same address, is waited out, not read half-way between the check and the read).
  const found = await p.waitForFunction((r) => {
    const dl = document.getElementById('record');
    const dts = [...(dl?.querySelectorAll('dt') ?? [])];
    const whole = Boolean(dl?.textContent?.includes(r)) && dts.length > 0 && dts.every((dt) => dt.nextElementSibling?.tagName === 'DD') && dts.some((dt) => dt.textContent === 'Shipped by');
    if (!whole) return false;
    return dts.map((dt) => {
      const dd = dt.nextElementSibling as HTMLElement;
      return [dt.textContent ?? '', { text: dd.textContent ?? '', title: dd.querySelector('[title]')?.getAttribute('title') ?? null }] as const;
    });
  }, rid);
  return new Map((await found.jsonValue()) as [string, { text: string; title: string | null }][]);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-console-shipped-by-'));
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE] });
  const packs = [
    { key: 'primary' as const, fixture: buildPack(SITE, [{ path: '000001/000001000.wav', body: wavFile(2, 'tone'), meta: call('000001000', '2026-12-01T09:00:00.000Z') }], { day: '2026-12-01T00:00:00Z', seed: 'primary', shippedBy: PRIMARY }) },
    { key: 'secondary' as const, fixture: buildPack(SITE, [{ path: '000001/000001000.wav', body: wavFile(3, 'tone'), meta: call('000001000', '2026-12-04T09:00:00.000Z') }], { day: '2026-12-04T00:00:00Z', seed: 'secondary', shippedBy: SECONDARY }) },
    { key: 'old' as const, fixture: buildPack(SITE, [{ path: '000009/000009000.wav', body: wavFile(2, 'tone'), meta: call('000009000', '2025-06-01T09:00:00.000Z') }], { day: '2025-06-01T00:00:00Z', seed: 'old' }) },
    { key: 'hostile' as const, fixture: buildPack(SITE, [{ path: '000007/000007000.wav', body: wavFile(2, 'tone'), meta: call('000007000', '2026-12-05T09:00:00.000Z') }], { day: '2026-12-05T00:00:00Z', seed: 'hostile', shippedBy: HOSTILE }) },
  ];
  for (const { key, fixture } of packs) {
    await cloud.blobs.put(fixture.packKey, fixture.pack);
    await cloud.blobs.put(fixture.manifestKey, fixture.manifestBytes, { contentType: 'application/json' });
    rids[key] = fixture.manifest.members[0]!.rid;
  }
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the call page names the recorder host that shipped the call', () => {
  it('shows "shipped by HOST" with the agent id in its tooltip and on a line of its own, a different host for each of two calls with one call id, and "not recorded" for a call shipped before', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=call&rid=${rids.primary}`, { pageErrors });
    try {
      const primary = await facts(p, rids.primary);
      expect(primary.get('meta.callId')?.text).toBe('000001000');
      expect(primary.get('Shipped by')).toEqual({ text: 'shipped by rec-primary.example', title: `agent id ${PRIMARY.agentId}` });
      expect(primary.get('Shipping agent id')?.text).toBe(PRIMARY.agentId);
      const secondary = await facts(p, rids.secondary);
      expect(secondary.get('meta.callId')?.text).toBe('000001000');
      expect(secondary.get('Shipped by')).toEqual({ text: 'shipped by rec-secondary.example', title: `agent id ${SECONDARY.agentId}` });
      const old = await facts(p, rids.old);
      expect(old.get('Shipped by')?.text).toBe('not recorded (shipped before agents named their host in the manifest)');
      expect(old.has('Shipping agent id')).toBe(false);
      expect(old.has('shippedBy')).toBe(false);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('shows a host name and agent id with markup and a right-to-left override as text, the override escaped in the text and in the tooltip', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=call&rid=${rids.hostile}`, { pageErrors });
    try {
      const hostile = await facts(p, rids.hostile);
      expect(hostile.get('Shipped by')).toEqual({ text: 'shipped by rec-<img src=x onerror=alert(1)>\\u{202e}exe.wav', title: 'agent id id-\\u{202e}evil<b>' });
      expect(hostile.get('Shipping agent id')?.text).toBe('id-\\u{202e}evil<b>');
      expect(await p.$$eval('#record img, #record b', (nodes) => nodes.length)).toBe(0);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });
});

/** The found rows: rid → the Call id cell's text, its host line's text, tooltip and box, and whether the page scrolls sideways. */
async function searched(p: Page) {
  await p.goto(`${p.url().split('#')[0]}#site=${SITE}&view=search&from=2025-01-01T00%3A00%3A00.000Z&to=2026-12-05T00%3A00%3A00.000Z`);
  // The primary's, the secondary's and the old call (the hostile one, of 2026-12-05, is after `to`).
  await expect.poll(() => p.$$eval('#results tbody tr', (trs) => trs.length)).toBe(3);
  const rows = await p.$$eval('#results tbody tr', (trs) =>
    trs.map((tr) => {
      const td = (tr as HTMLTableRowElement).cells[2]!;
      const host = td.querySelector('.result-host') as HTMLElement | null;
      const box = host?.getBoundingClientRect();
      const id = (td.firstElementChild ?? td).getBoundingClientRect();
      return [(tr as HTMLElement).dataset.rid ?? '', { label: td.dataset.label, text: td.textContent ?? '', host: host?.textContent ?? null, title: host?.title ?? null, below: box ? box.top >= id.bottom - 1 : null, inView: box ? box.right <= window.innerWidth : null }] as const;
    }),
  );
  const sideways = await p.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  return { rows: new Map(rows), sideways };
}

describe('the search results name the recorder host that shipped each call', () => {
  it('shows a hostile host name in the results as text, its right-to-left override escaped in the line and its tooltip', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=search`, { pageErrors });
    try {
      await p.goto(`${p.url().split('#')[0]}#site=${SITE}&view=search&from=2026-12-05T00%3A00%3A00.000Z&to=2026-12-06T00%3A00%3A00.000Z`);
      await expect.poll(() => p.$$eval('#results tbody tr', (trs) => trs.length)).toBe(1);
      const host = await p.$eval('#results tbody tr .result-host', (e) => ({ text: e.textContent, title: (e as HTMLElement).title }));
      expect(host).toEqual({ text: 'shipped by rec-<img src=x onerror=alert(1)>\\u{202e}exe.wav', title: 'shipped by rec-<img src=x onerror=alert(1)>\\u{202e}exe.wav (agent id id-\\u{202e}evil<b>)' });
      expect(await p.$$eval('#results img, #results b', (nodes) => nodes.length)).toBe(0);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });

  for (const viewport of [{ width: 1280, height: 900 }, { width: 390, height: 844 }]) {
    it(`at ${viewport.width} px: "shipped by HOST" on a line under the call id, with the agent id in its tooltip, a different host for the two calls with one call id, none for a call shipped before, and no sideways scrolling`, async () => {
      const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=search`, { pageErrors });
      try {
        await p.setViewportSize(viewport);
        const { rows, sideways } = await searched(p);
        expect(rows.get(rids.primary)).toEqual({ label: 'Call id', text: '000001000shipped by rec-primary.example', host: 'shipped by rec-primary.example', title: `shipped by rec-primary.example (agent id ${PRIMARY.agentId})`, below: true, inView: true });
        expect(rows.get(rids.secondary)).toEqual({ label: 'Call id', text: '000001000shipped by rec-secondary.example', host: 'shipped by rec-secondary.example', title: `shipped by rec-secondary.example (agent id ${SECONDARY.agentId})`, below: true, inView: true });
        expect(rows.get(rids.old)).toEqual({ label: 'Call id', text: '000009000', host: null, title: null, below: null, inView: null });
        expect(sideways).toBe(false);
      } finally {
        await close();
      }
      expect(pageErrors).toEqual([]);
    });
  }
});
