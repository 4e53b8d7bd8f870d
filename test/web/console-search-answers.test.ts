import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCloud } from '../../local/cloud.ts';
import { startTestCloud } from '../support/local-cloud.ts';
import { signedInConsolePage } from '../support/console-browser.ts';
import { buildPack, type FixtureMember } from '../support/pack-fixture.ts';
import { wavFile } from '../support/wav.ts';

// What the console's search says of its answer (Chromium against the embedded local cloud): a site
// the officer may not search is said to be one (not a search that found nothing), how many calls
// match beside the page shown (the count asked after the page, once a search), and the results
// usable at a phone's width and by keyboard, as a screen reader reads them.

/** The generated deployment's site (local/iam-deployment.generated.json): no synth of another. */
const SITE = 'demo';
const CALLS = 30;
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let dir: string;
let cloud: LocalCloud;
let browser: Browser;
const pageErrors: string[] = [];

/** A tab signed in as the demo officer at `hash`, and the console API requests it sends from then on (path and query). */
async function signedInPage(hash: string): Promise<{ p: Page; sent: string[]; close: () => Promise<void> }> {
  const sent: string[] = [];
  const onRequest = (_: string, url: URL) => void (url.pathname.includes('/console/sites/') && sent.push(`${url.pathname.replace(/^.*\/console\//, '')}${url.search}`));
  return { ...(await signedInConsolePage(browser, cloud, hash, { pageErrors, consoleErrors: true, onRequest })), sent };
}

const status = (p: Page) => p.textContent('#status');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-console-answers-'));
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE] });
  const members: FixtureMember[] = Array.from({ length: CALLS }, (_, i) => ({
    path: `calls/2024/call-${i}.wav`,
    body: wavFile(1),
    meta: { callId: `ANS-${String(i).padStart(4, '0')}`, agent: i < 4 ? 'Nadia Few' : 'Tom Many', caller: '+442079460010', called: `+4420794600${String(i).padStart(2, '0')}`, direction: 'inbound', durationSec: 1, start: new Date(Date.UTC(2024, 4, 6, 8, i)).toISOString() },
  }));
  const pack = buildPack(SITE, members, { day: '2024-05-06T00:00:00Z', seed: 'answers' });
  await cloud.blobs.put(pack.packKey, pack.pack);
  await cloud.blobs.put(pack.manifestKey, pack.manifestBytes, { contentType: 'application/json' });
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the console's search says what its answer is", () => {
  it('says a site the deployment lacks (a typo in the address) is no site, not a search that found no calls, and drops it from the Site list once another site is shown', async () => {
    const { p, close } = await signedInPage('#site=demp&view=search');
    try {
      await expect.poll(() => status(p)).toBe('No search ran: this deployment has no site demp.');
      expect(await p.getByRole('alert').filter({ hasText: 'demp' }).textContent()).toBe('Site demp cannot be searched (HTTP 404): no site demp in this deployment (its sites: demo).');
      expect(await p.locator('#results tbody tr').count()).toBe(0);
      await p.selectOption('#site', SITE);
      await expect.poll(() => status(p)).toMatch(/^25 calls on this page/);
      expect(await p.$$eval('#site option', (os) => os.map((o) => o.textContent))).toEqual([SITE]);
      expect(await p.isVisible('#error')).toBe(false);
    } finally {
      await close();
    }
  });

  it('says how many calls match beside the page (asked once, after the page), pages on with the total, and asks nothing more when the calls fit on one page', async () => {
    const { p, sent, close } = await signedInPage(`#site=${SITE}&view=search&limit=10`);
    try {
      await expect.poll(() => status(p)).toBe(`10 calls on this page (calls 1–10 of ${CALLS}).`);
      expect(await p.textContent('#page-label')).toBe('Page 1 of 3');
      // The page first, then its count (the page does not wait for it), with the search's filters and no paging.
      expect(sent).toEqual([`sites/${SITE}/recordings?limit=10`, `sites/${SITE}/recordings/count`, `sites/${SITE}/cases`]);
      await p.getByRole('button', { name: 'Next page' }).click();
      await expect.poll(() => status(p)).toBe(`10 calls on this page (calls 11–20 of ${CALLS}).`);
      expect(await p.textContent('#page-label')).toBe('Page 2 of 3');
      expect(sent.filter((s) => s.includes('/count'))).toHaveLength(1);
      sent.length = 0;
      await p.getByLabel('Agent').fill('Tom Many');
      await p.getByLabel('Agent').press('Enter');
      await expect.poll(() => status(p)).toBe(`10 calls on this page (calls 1–10 of ${CALLS - 4}).`);
      expect(sent.filter((s) => s.includes('/count'))).toEqual([`sites/${SITE}/recordings/count?agent=Tom+Many`]);
      sent.length = 0;
      await p.getByLabel('Agent').fill('Nadia Few');
      await p.getByLabel('Agent').press('Enter');
      await expect.poll(() => status(p)).toBe('4 calls match this search.');
      expect(await p.textContent('#page-label')).toBe('Page 1');
      expect(sent.filter((s) => s.includes('/count'))).toEqual([]);
    } finally {
      await close();
    }
  });
});

describe('the calls found, by keyboard and screen reader and at a phone\'s width', () => {
  it('announces the count in the results\' status region and leaves the focus on the Search button pressed', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=search&limit=10`);
    try {
      await expect.poll(() => status(p)).toMatch(/of 30\)\.$/);
      await p.getByLabel('Agent').fill('Tom Many');
      await p.getByRole('button', { name: 'Search', exact: true }).focus();
      await p.keyboard.press('Enter');
      await expect.poll(() => p.getByRole('region', { name: 'Calls', exact: true }).getByRole('status').textContent()).toBe('10 calls on this page (calls 1–10 of 26).');
      expect(await p.evaluate(() => document.activeElement?.textContent)).toBe('Search');
      expect(await p.getByRole('region', { name: 'Calls', exact: true }).ariaSnapshot()).toContain('status: 10 calls on this page (calls 1–10 of 26).');
    } finally {
      await close();
    }
  });

  it("stacks the calls found at a phone's width (375 px): no sideways scrolling, Open in view, each value after its column's name, and still a table of rows and cells to a screen reader", async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=search&limit=10`);
    try {
      await p.setViewportSize({ width: 375, height: 700 });
      await expect.poll(() => status(p)).toMatch(/of 30\)\.$/);
      const layout = await p.evaluate(() => {
        const wrap = document.querySelector('#results')!.closest('.table-wrap')!;
        const opens = [...document.querySelectorAll('#results tbody button.play')].map((b) => b.getBoundingClientRect());
        return { page: document.documentElement.scrollWidth, wrap: wrap.scrollWidth - wrap.clientWidth, openOutside: opens.filter((r) => r.left < 0 || r.right > innerWidth).length, opens: opens.length };
      });
      expect(layout).toEqual({ page: 375, wrap: 0, openOutside: 0, opens: 10 });
      const agent = p.getByRole('row', { name: /ANS-0004/ }).getByRole('cell', { name: 'Tom Many', exact: true });
      expect(await agent.evaluate((td) => getComputedStyle(td, '::before').content)).toBe('"Agent: " / ""');
      expect(await p.getByRole('table', { name: /Calls found/ }).getByRole('row').count()).toBe(11);
      expect(await p.getByRole('columnheader', { name: 'Agent' }).count()).toBe(1);
      // By keyboard: Tab from the heading reaches the first call's box, then its Open, which opens it.
      await p.locator('#results-title').focus();
      await p.keyboard.press('Tab');
      await p.keyboard.press('Tab');
      expect(await p.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Open call ANS-0000');
      await p.keyboard.press('Enter');
      await p.waitForSelector('#call-body:not([hidden])');
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBe(375);
    } finally {
      await close();
    }
  });

  it("makes a table frame that scrolls sideways at a phone's width a named region the keyboard reaches and scrolls with the arrows, and one that fits no Tab stop", async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=search&limit=10`);
    try {
      await expect.poll(() => status(p)).toMatch(/of 30\)\.$/);
      // At 1280 px the calls found fit: their frame is no region and no Tab stop.
      expect(await p.locator('#results').evaluate((t) => { const f = t.closest('.table-wrap')!; return [f.getAttribute('role'), f.getAttribute('tabindex')]; })).toEqual([null, null]);
      await p.setViewportSize({ width: 375, height: 700 });
      await p.getByRole('link', { name: 'Audit trail' }).click();
      await p.getByRole('button', { name: 'Search the trail' }).click();
      await expect.poll(() => p.textContent('#audit-status')).toMatch(/records? on page 1/);
      const frame = p.getByRole('region', { name: 'Records, scrolls sideways' });
      await expect.poll(() => frame.count()).toBe(1);
      await p.getByRole('button', { name: 'Export CSV' }).focus();
      await p.keyboard.press('Tab');
      expect(await frame.evaluate((f) => document.activeElement === f)).toBe(true);
      for (let i = 0; i < 5; i++) await p.keyboard.press('ArrowRight');
      await expect.poll(() => frame.evaluate((f) => f.scrollLeft)).toBeGreaterThan(0);
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBe(375);
    } finally {
      await close();
    }
  });
});
