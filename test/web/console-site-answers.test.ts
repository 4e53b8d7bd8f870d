import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { siteGroup } from '../../core/console-access.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { demoPassword } from '../../local/cognito-server.ts';
import { signedInConsolePage } from '../support/console-browser.ts';
import { holdRoute, settle } from '../support/held-route.ts';
import { startCloudWithCalls, type CloudWithCalls } from '../support/cloud-with-calls.ts';

// The console of an officer of two sites on a slow network, in Chromium against the local cloud:
// what site X answers after the officer chose site Y (its cases for the selection's list) is not
// drawn at Y, and an export started at X is followed at X whichever site is shown.

const SITE = 'demo';
const OTHER = 'late-b';
const officer = { username: 'officer-two-sites', password: demoPassword(), groups: [siteGroup(SITE), siteGroup(OTHER)] };

let started: CloudWithCalls | undefined;
let cloud: LocalCloud;
let browser: Browser;
const pageErrors: string[] = [];

const go = (p: Page, hash: string) => p.evaluate((h) => void (location.hash = h), hash);
const options = (p: Page) => p.$$eval('#selection-case option', (os) => os.map((o) => (o as HTMLOptionElement).value));

/** Creates case `id` at `site` in the Cases view. */
async function createCase(p: Page, site: string, id: string): Promise<void> {
  await go(p, `site=${site}&view=cases`);
  await p.fill('#case-name', `Matter ${id}`);
  await p.fill('#case-id', id);
  await p.fill('#case-reason', `Reason of ${id}`);
  await p.getByRole('button', { name: 'Create case' }).click();
  await expect.poll(() => p.textContent('#case-title')).toBe(`Case ${id}`);
}

beforeAll(async () => {
  started = await startCloudWithCalls('console-sites', [SITE, OTHER], ['SITE-0001', 'SITE-0002'], 'Sid Two');
  ({ cloud, browser } = started);
  cloud.console.addUser(officer);
}, 180_000);

afterAll(() => started?.stop());

describe('the console when site X answers after site Y was chosen', () => {
  it("offers site Y's cases for the selection when site X's cases answer after Y was chosen", async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=cases`, { pageErrors, consoleErrors: true, user: officer });
    try {
      await createCase(p, SITE, 'AT-X');
      await createCase(p, OTHER, 'AT-Y');
      const casesOfX = await holdRoute(p, (url, method) => method === 'GET' && url.pathname.endsWith(`/sites/${SITE}/cases`));
      await go(p, `site=${SITE}&view=search`);
      await casesOfX.asked;
      await p.selectOption('#site', OTHER);
      await expect.poll(() => options(p)).toEqual(['', 'AT-Y']);
      const answered = p.waitForResponse((r) => new URL(r.url()).pathname.endsWith(`/sites/${SITE}/cases`));
      casesOfX.release();
      expect((await answered).status()).toBe(200);
      await settle(p);
      expect(await options(p)).toEqual(['', 'AT-Y']);
    } finally {
      await close();
    }
  });

  it('asks the state of an export started at site X at X after site Y was chosen (no 404 from Y, no error)', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=search&limit=25`, { pageErrors, consoleErrors: true, user: officer });
    try {
      await p.getByRole('button', { name: 'Search', exact: true }).click();
      await p.check('[aria-label="Select call SITE-0001"]');
      await p.fill('#selection-reason', 'Subject access request 11');
      const starting = await holdRoute(p, (url, method) => method === 'POST' && url.pathname.endsWith(`/sites/${SITE}/exports`));
      await p.click('#export-selected');
      await starting.asked;
      await p.selectOption('#site', OTHER);
      await expect.poll(() => p.textContent('#cases-status')).toMatch(new RegExp(`site ${OTHER}`));
      const polled = p.waitForRequest((r) => r.method() === 'GET' && /\/exports\/[^/]+$/.test(new URL(r.url()).pathname));
      starting.release();
      expect(new URL((await polled).url()).pathname).toMatch(new RegExp(`/sites/${SITE}/exports/exp-`));
      await settle(p);
      expect(await p.isHidden('#error')).toBe(true);
      expect(await p.textContent('#export-state')).toMatch(/^Export (running|done)/);
    } finally {
      await close();
    }
  });

  it("names the audit CSV after site X, whose trail it holds, and leaves site Y's status line alone when X's trail answers after Y was chosen", async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=audit`, { pageErrors, consoleErrors: true, user: officer });
    try {
      await expect.poll(() => p.textContent('#audit-status')).toMatch(/record|No records/);
      const csv = await holdRoute(p, (url) => url.pathname.endsWith(`/sites/${SITE}/audit`) && url.searchParams.get('format') === 'csv');
      await p.click('#audit-csv');
      await csv.asked;
      await p.selectOption('#site', OTHER);
      await expect.poll(() => p.textContent('#audit-status')).toMatch(/record|No records/);
      const statusOfY = await p.textContent('#audit-status');
      const downloaded = p.waitForEvent('download');
      csv.release();
      expect((await downloaded).suggestedFilename()).toMatch(new RegExp(`^audit-${SITE}-\\d{8}T\\d{6}Z\\.csv$`));
      await settle(p);
      expect(await p.textContent('#audit-status')).toBe(statusOfY);
    } finally {
      await close();
    }
  });
});

describe('the console after a sign-out at a shared desk', () => {
  it('downloads nothing for the next officer when an audit CSV export answers after the officer who asked for it signed out', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=audit`, { pageErrors, consoleErrors: true, user: officer });
    try {
      await expect.poll(() => p.textContent('#audit-status')).toMatch(/record|No records/);
      const downloads: string[] = [];
      p.on('download', (d) => downloads.push(d.suggestedFilename()));
      const csv = await holdRoute(p, (url) => url.pathname.endsWith(`/sites/${SITE}/audit`) && url.searchParams.get('format') === 'csv');
      await p.click('#audit-csv');
      await csv.asked;
      await p.click('#sign-out');
      await p.waitForSelector('#signin-view:not([hidden])');
      const answered = p.waitForResponse((r) => new URL(r.url()).searchParams.get('format') === 'csv');
      csv.release();
      expect((await answered).status()).toBe(200);
      await settle(p, 1000);
      expect(downloads).toEqual([]);
    } finally {
      await close();
    }
  });

  it('says nothing to the next officer of a hold on a call that answers after the officer who placed it signed out', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=search`, { pageErrors, consoleErrors: true, user: officer });
    try {
      await p.getByRole('button', { name: 'Search', exact: true }).click();
      await p.getByRole('button', { name: 'Open call SITE-0001' }).click();
      await expect.poll(() => p.textContent('#holds-state')).toBe('Not on hold.');
      await p.fill('#hold-reason', 'Court order 88/2026');
      const placing = await holdRoute(p, (url, method) => method === 'POST' && url.pathname.endsWith('/holds'));
      await p.getByRole('button', { name: 'Place hold' }).click();
      await placing.asked;
      await p.click('#sign-out');
      await p.waitForSelector('#signin-view:not([hidden])');
      const answered = p.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.endsWith('/holds'));
      placing.release();
      expect((await answered).status()).toBe(201);
      await settle(p);
      expect(await p.textContent('#notice')).toBe('');
    } finally {
      await close();
    }
  });

  it('says nothing to the next officer of an erasure that answers after the officer who asked for it signed out', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=search`, { pageErrors, consoleErrors: true, user: officer });
    try {
      await p.getByRole('button', { name: 'Search', exact: true }).click();
      await p.getByRole('button', { name: 'Open call SITE-0002' }).click();
      await p.waitForSelector('#call-body:not([hidden])');
      await p.click('#erase-open');
      await p.fill('#erase-reason', 'Data subject request 77');
      const erasing = await holdRoute(p, (url, method) => method === 'POST' && url.pathname.endsWith('/erasures'));
      await p.click('#erase-confirm');
      await erasing.asked;
      // The dialog closed (Escape) while the request runs: the officer signs out.
      await p.keyboard.press('Escape');
      await p.click('#sign-out');
      await p.waitForSelector('#signin-view:not([hidden])');
      const answered = p.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.endsWith('/erasures'));
      erasing.release();
      expect((await answered).ok()).toBe(true);
      await settle(p);
      expect(await p.textContent('#notice')).toBe('');
      expect(await p.isVisible('#signin-view')).toBe(true);
    } finally {
      await close();
    }
  });
});

describe('the console when a case is created on a slow network', () => {
  it('leaves the officer on the view they went to when the new case answers after they left the cases, and says it was created', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=cases`, { pageErrors, consoleErrors: true, user: officer });
    try {
      await p.fill('#case-name', 'Matter SLOW-CASE');
      await p.fill('#case-id', 'SLOW-CASE');
      await p.fill('#case-reason', 'Reason of SLOW-CASE');
      const creating = await holdRoute(p, (url, method) => method === 'POST' && url.pathname.endsWith(`/sites/${SITE}/cases`));
      await p.getByRole('button', { name: 'Create case' }).click();
      await creating.asked;
      await go(p, `site=${SITE}&view=search`);
      await expect.poll(() => p.isVisible('#search-view')).toBe(true);
      creating.release();
      await expect.poll(() => p.textContent('#notice')).toBe('Case SLOW-CASE created.');
      await settle(p);
      expect(await p.isVisible('#search-view')).toBe(true);
      expect(await p.evaluate(() => new URLSearchParams(location.hash.slice(1)).get('view'))).toBe('search');
    } finally {
      await close();
    }
  });
});
