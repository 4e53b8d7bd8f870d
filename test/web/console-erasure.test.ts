import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { createDynamoClients } from '../../adapters/aws-clients.ts';
import { erasureToItem, type ErasureRecord } from '../../core/erasure-items.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { startTestCloud } from '../support/local-cloud.ts';
import { consoleUrl as consoleUrlOf, signedInConsolePage } from '../support/console-browser.ts';
import { wavFile } from '../support/wav.ts';
import { buildPack, type FixtureMember } from '../support/pack-fixture.ts';

// Erasure at a data subject's request from the compliance console, in Chromium against the
// embedded local cloud (its Cognito stand-in, the console function bundled as deployed, the IAM
// gateway): the call page's action and its confirmation, the call answering 410 afterwards and
// gone from search, the site's list of requests, the audit trail's `erase` record, the refusal of
// a held call naming the hold, and the same done with the keyboard alone. The page is opened as
// http://localhost:…, the API answers at http://127.0.0.1:… (cross-origin, as deployed).

/** The generated deployment's site (local/iam-deployment.generated.json): no synth of another. */
const SITE = 'demo';
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let dir: string;
let cloud: LocalCloud;
let browser: Browser;
/** callId → rid of the site's calls. */
const rids: Record<string, string> = {};
const pageErrors: string[] = [];

const consoleUrl = (hash = '') => consoleUrlOf(cloud, hash);

/** A tab of its own, signed in as the demo officer, at `hash`. */
const signedInPage = (hash: string) => signedInConsolePage(browser, cloud, hash, { pageErrors, consoleErrors: true });

async function openCall(p: Page, callId: string): Promise<void> {
  await p.goto(consoleUrl(`#site=${SITE}&view=call&rid=${rids[callId]}`));
  await p.waitForSelector('#call-body:not([hidden])');
  expect(await p.textContent('#call-title')).toBe(`Call ${callId}`);
}

/** The rows of the erasures view: rid, and the text of each cell. */
const erasureRows = (p: Page) => p.$$eval('#erasures tbody tr', (trs) => trs.map((tr) => ({ rid: (tr as HTMLElement).dataset.rid, cells: [...(tr as HTMLTableRowElement).cells].map((c) => c.textContent ?? '') })));

/** The focused element's id, else its tag and text. */
const focused = (p: Page) => p.evaluate(() => document.activeElement?.id || `${document.activeElement?.tagName}:${document.activeElement?.textContent?.trim()}`);

/** Presses `key` until `target` (an id, or a tag:text as `focused` names it) has the focus; at most 60 presses. */
async function pressUntil(p: Page, key: string, target: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if ((await focused(p)) === target) return;
    await p.keyboard.press(key);
  }
  throw new Error(`${key} never reached ${target} (the focus is on ${await focused(p)})`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-console-erasure-'));
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE] });
  const call = (callId: string, minute: number, agent: string): FixtureMember => ({
    path: `calls/${callId}.wav`,
    body: wavFile(1),
    meta: { callId, agent, caller: '+442079460100', called: `+4420794602${minute}`, direction: 'inbound' as const, durationSec: 1, start: `2026-02-03T09:${minute}:00Z` },
  });
  const fixture = buildPack(SITE, [call('ERASE-0001', 10, 'Eve Ray'), call('HOLD-0002', 20, 'Hal Old'), call('KEYS-0003', 30, 'Kay Board'), call('KEEP-0004', 40, 'Kip Stay')], { day: '2026-02-03T00:00:00Z', seed: 'erasure' });
  await cloud.blobs.put(fixture.packKey, fixture.pack);
  await cloud.blobs.put(fixture.manifestKey, fixture.manifestBytes, { contentType: 'application/json' });
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
  for (const m of fixture.manifest.members) rids[String(m.meta.callId)] = m.rid;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('erasure at a data subject’s request, in the console', () => {
  it('erases a call after a confirmation that says what erasure does; the call then answers 410, is gone from search, is listed pending and audited as erase', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=search`);
    try {
      await openCall(p, 'ERASE-0001');
      await p.getByRole('button', { name: "Erase at the data subject's request…" }).click();
      const dialog = p.getByRole('dialog');
      expect(await dialog.isVisible()).toBe(true);
      expect(await p.textContent('#erase-dialog-title')).toBe("Erase call ERASE-0001 at the data subject's request");
      const what = (await p.textContent('#erase-what')) ?? '';
      expect(what).toContain('no longer listed in search, and opening, playing, downloading or exporting it is refused');
      expect(what).toContain('This cannot be undone.');
      // The reason is required: said at the field, nothing sent.
      await p.getByRole('button', { name: 'Erase this call permanently' }).click();
      expect(await p.textContent('#erase-reason-error')).toBe('The reason for the erasure is required.');
      expect(await dialog.isVisible()).toBe(true);

      await p.getByLabel('Reason for the erasure (required)').fill('Art. 17 request of the caller');
      await p.getByLabel("Reference of the data subject's request (optional)").fill('DSR-2026-041');
      await p.getByRole('button', { name: 'Erase this call permanently' }).click();
      await expect.poll(() => p.textContent('#notice')).toBe("Call ERASE-0001 erased at the data subject's request (reference DSR-2026-041): it is no longer served, and the next purge deletes its recording.");
      expect(await dialog.isVisible()).toBe(false);
      // The call's page asked again: 410, with the API's words (who asked, which reference).
      await expect.poll(() => p.textContent('#call-loading')).toBe('This call was erased at a data subject’s request: it is no longer served.');
      expect(await p.isVisible('#call-body')).toBe(false);
      expect(await p.textContent('#error')).toMatch(new RegExp(`^Opening the call is no longer possible \\(HTTP 410\\): recording ${rids['ERASE-0001']} of site ${SITE} was erased at a data subject's request \\(reference DSR-2026-041, requested by ${cloud.console.demo.username} at .*; pending: the purge deletes its bytes\\): it is no longer served$`));

      // Search lists the other calls, not the erased one.
      await p.goto(consoleUrl(`#site=${SITE}&view=search&sort=start`));
      await expect.poll(() => p.$$eval('#results tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.rid))).toEqual([rids['HOLD-0002'], rids['KEYS-0003'], rids['KEEP-0004']]);

      // The Erasures view, from the console's navigation.
      await p.getByRole('navigation', { name: 'Console sections' }).getByRole('link', { name: 'Erasures' }).click();
      await expect.poll(() => p.textContent('#erasures-status')).toBe('1 request: 1 pending, 0 done.');
      const [row] = await erasureRows(p);
      expect(row!.rid).toBe(rids['ERASE-0001']);
      expect(row!.cells[0]).toContain('callId=ERASE-0001');
      expect(row!.cells.slice(1, 3)).toEqual(['pending', cloud.console.demo.username]);
      expect(row!.cells[3]).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}/);
      expect(row!.cells.slice(4)).toEqual(['DSR-2026-041', 'Art. 17 request of the caller']);
      expect(await p.evaluate(() => location.hash)).toBe(`#site=${SITE}&view=erasures`);

      // The request is in the site's audit trail, as the API's are.
      await p.goto(consoleUrl(`#site=${SITE}&view=audit`));
      await p.waitForSelector('#audit-view:not([hidden])');
      await p.selectOption('#audit-action', 'erase');
      await p.getByRole('button', { name: 'Search the trail' }).click();
      await expect.poll(() => p.textContent('#audit-status')).toBe('1 record on page 1.');
      const audited = await p.$eval('#audit tbody tr', (tr) => [...(tr as HTMLTableRowElement).cells].map((c) => c.textContent ?? ''));
      expect(audited.slice(1, 3)).toEqual(['erase', cloud.console.demo.username]);
      expect(audited[4]).toBe(rids['ERASE-0001']);
      expect(audited[6]).toContain('reason: Art. 17 request of the caller; reference: DSR-2026-041');
    } finally {
      await close();
    }
  });

  it('refuses to erase a call under legal hold, naming the hold in the notice, and leaves the call served and unlisted', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=search`);
    try {
      await openCall(p, 'HOLD-0002');
      await p.fill('#hold-reason', 'litigation');
      await p.fill('#hold-reference', 'LIT-9');
      await p.getByRole('button', { name: 'Place hold', exact: true }).click();
      await expect.poll(() => p.textContent('#notice')).toBe('Hold placed on call HOLD-0002.');

      await p.getByRole('button', { name: "Erase at the data subject's request…" }).click();
      await p.getByLabel('Reason for the erasure (required)').fill('Art. 17 request');
      await p.getByRole('button', { name: 'Erase this call permanently' }).click();
      await expect.poll(() => p.textContent('#notice')).toMatch(
        new RegExp(`^Erasing call HOLD-0002 was refused \\(HTTP 409\\): recording ${rids['HOLD-0002']} of site ${SITE} is under legal hold and must not be erased while it stands: call hold LIT-9 placed by ${cloud.console.demo.username} at \\S+ \\("litigation"\\)$`),
      );
      expect(await p.getByRole('dialog').isVisible()).toBe(false);
      expect(await p.isVisible('#call-body')).toBe(true);
      // The action is still there: the focus is back on it, the notice says why.
      expect(await focused(p)).toBe('erase-open');
      // Nothing was recorded: the call still opens, and the list does not name it.
      await openCall(p, 'HOLD-0002');
      await p.goto(consoleUrl(`#site=${SITE}&view=erasures`));
      await expect.poll(() => p.textContent('#erasures-status')).toMatch(/^\d+ requests?: /);
      expect((await erasureRows(p)).map((r) => r.rid)).not.toContain(rids['HOLD-0002']);
    } finally {
      await close();
    }
  });

  it('erases a call with the keyboard alone: Tab to the action, Escape cancels, Enter confirms, then Tab to Erasures in the navigation', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=call&rid=${rids['KEYS-0003']}`);
    try {
      await p.waitForSelector('#call-body:not([hidden])');
      await expect.poll(() => focused(p)).toBe('call-title');
      await pressUntil(p, 'Tab', 'erase-open');
      await p.keyboard.press('Enter');
      await expect.poll(() => focused(p)).toBe('erase-reason');
      // Escape closes the confirmation without a request; the focus is back on the action.
      await p.keyboard.press('Escape');
      expect(await p.getByRole('dialog').isVisible()).toBe(false);
      expect(await focused(p)).toBe('erase-open');

      await p.keyboard.press('Enter');
      await expect.poll(() => focused(p)).toBe('erase-reason');
      await p.keyboard.type('Caller asked by letter');
      await p.keyboard.press('Tab');
      expect(await focused(p)).toBe('erase-reference');
      await p.keyboard.press('Tab');
      expect(await focused(p)).toBe('erase-confirm');
      await p.keyboard.press('Enter');
      await expect.poll(() => p.textContent('#notice')).toBe("Call KEYS-0003 erased at the data subject's request: it is no longer served, and the next purge deletes its recording.");
      // The call's body (and the action with it) is gone: the focus is on what happened.
      await expect.poll(() => focused(p)).toBe('notice');

      await pressUntil(p, 'Shift+Tab', 'A:Erasures');
      await p.keyboard.press('Enter');
      await expect.poll(() => focused(p)).toBe('erasures-title');
      await expect.poll(async () => (await erasureRows(p)).find((r) => r.rid === rids['KEYS-0003'])?.cells.slice(1, 3)).toEqual(['pending', cloud.console.demo.username]);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });
});

describe('the Erasures view of a site with more requests than a page', () => {
  /** The view's page (web/console-erasures.js ERASURES_VIEW_PAGE). */
  const PAGE = 50;
  const OLD = 120;

  it('shows the newest page first; Show more (by keyboard) appends the older ones until none remain, each request once, newest first', async () => {
    // Requests from 2020, older than any the tests above made, written straight to the table (as the administrator).
    const old = Array.from({ length: OLD }, (_, i): ErasureRecord => ({
      ...{ site: SITE, rid: `r${(0xe0000 + i).toString(16).padStart(23, '0')}`, reason: `seeded ${i}`, requestedBy: 'seed', requestedAt: new Date(Date.UTC(2020, 0, 1, 0, i)).toISOString() },
      ...{ packKey: 'recordings/demo/p.tar', manifestKey: 'manifests/demo/p.json', call: `callId=OLD-${i}`, status: i % 2 ? 'pending' : 'done' },
    }));
    const { client, doc } = createDynamoClients({ region: cloud.region, endpoint: cloud.dynamoEndpoint, credentials: cloud.credentials });
    try {
      for (let i = 0; i < OLD; i += 25) await doc.send(new BatchWriteCommand({ RequestItems: { [cloud.table]: old.slice(i, i + 25).map((e) => ({ PutRequest: { Item: erasureToItem(e) } })) } }));
    } finally {
      client.destroy();
    }
    const { p, close } = await signedInPage(`#site=${SITE}&view=erasures`);
    try {
      await expect.poll(async () => (await erasureRows(p)).length).toBe(PAGE);
      const first = (await erasureRows(p)).map((r) => r.rid!);
      const seeded = new Set(old.map((e) => e.rid));
      const made = first.filter((rid) => !seeded.has(rid));
      const total = OLD + made.length;
      expect(await p.textContent('#erasures-status')).toMatch(new RegExp(`^${PAGE} requests shown, newest first \\(\\d+ pending, \\d+ done\\); older requests follow: Show more lists them\\.$`));
      // By keyboard: from the view's heading to Show more, Enter, and again while it is there.
      await p.focus('#erasures-title');
      await pressUntil(p, 'Tab', 'erasures-more');
      await p.keyboard.press('Enter');
      await expect.poll(async () => (await erasureRows(p)).length).toBe(Math.min(2 * PAGE, total));
      expect(await focused(p)).toBe('erasures-more');
      await p.keyboard.press('Enter');
      await expect.poll(async () => (await erasureRows(p)).length).toBe(total);
      expect(await p.isVisible('#erasures-more')).toBe(false);
      await expect.poll(() => focused(p)).toBe('erasures-status');
      const shown = (await erasureRows(p)).map((r) => r.rid!);
      expect(new Set(shown).size).toBe(total);
      expect(shown.slice(0, PAGE)).toEqual(first);
      expect(shown.slice(made.length)).toEqual(old.map((e) => e.rid).reverse());
      const pending = OLD / 2 + made.length;
      expect(await p.textContent('#erasures-status')).toBe(`${total} requests: ${pending} pending, ${OLD / 2} done.`);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  }, 120_000);
});

describe('the Erasures view filtered by status', () => {
  it('lists only pending requests when Pending is chosen (by keyboard), keeps to them through Show more and a reload, lists only done ones under Done, and all again under All', async () => {
    // Requests from 2019, older than any other test's, two pending to one done: more pending than a page.
    const seeded = Array.from({ length: 120 }, (_, i): ErasureRecord => ({
      ...{ site: SITE, rid: `r${(0xf0000 + i).toString(16).padStart(23, '0')}`, reason: `filtered ${i}`, requestedBy: 'seed', requestedAt: new Date(Date.UTC(2019, 0, 1, 0, i)).toISOString() },
      ...{ packKey: 'recordings/demo/p.tar', manifestKey: 'manifests/demo/p.json', call: `callId=FILTER-${i}`, status: i % 3 ? 'pending' : 'done' },
    }));
    const { client, doc } = createDynamoClients({ region: cloud.region, endpoint: cloud.dynamoEndpoint, credentials: cloud.credentials });
    try {
      for (let i = 0; i < seeded.length; i += 25) await doc.send(new BatchWriteCommand({ RequestItems: { [cloud.table]: seeded.slice(i, i + 25).map((e) => ({ PutRequest: { Item: erasureToItem(e) } })) } }));
    } finally {
      client.destroy();
    }
    const { p, close } = await signedInPage(`#site=${SITE}&view=erasures`);
    const statuses = async () => [...new Set((await erasureRows(p)).map((r) => r.cells[1]!.replace(/^done .*/, 'done')))];
    try {
      await expect.poll(async () => (await erasureRows(p)).length).toBe(50);
      expect(await statuses()).toEqual(['pending', 'done']);
      const asked: URLSearchParams[] = [];
      p.on('request', (r) => void (new URL(r.url()).pathname.endsWith(`/sites/${SITE}/erasures`) && asked.push(new URL(r.url()).searchParams)));

      // By keyboard: from the view's heading, Tab to the labelled Status list, the arrow down to Pending.
      await p.focus('#erasures-title');
      await pressUntil(p, 'Tab', 'erasures-filter');
      expect(await p.getByLabel('Status').evaluate((s) => [...(s as HTMLSelectElement).options].map((o) => o.text))).toEqual(['All', 'Pending', 'Done']);
      await p.keyboard.press('ArrowDown');
      await expect.poll(() => p.textContent('#erasures-status')).toBe('50 pending requests shown, newest first; older pending requests follow: Show more lists them. Done requests are not shown.');
      expect(await statuses()).toEqual(['pending']);
      expect(await focused(p)).toBe('erasures-filter');
      expect(await p.evaluate(() => location.hash)).toBe(`#site=${SITE}&view=erasures&status=pending`);

      // Show more keeps to pending requests, to the last of them.
      while (await p.isVisible('#erasures-more')) {
        const before = (await erasureRows(p)).length;
        await p.click('#erasures-more');
        await expect.poll(async () => (await erasureRows(p)).length).toBeGreaterThan(before);
      }
      const pending = (await erasureRows(p)).map((r) => r.rid!);
      expect(await statuses()).toEqual(['pending']);
      expect(pending).toEqual(expect.arrayContaining(seeded.filter((e) => e.status === 'pending').map((e) => e.rid)));
      expect(pending.filter((rid) => seeded.some((e) => e.rid === rid && e.status === 'done'))).toEqual([]);
      await expect.poll(() => p.textContent('#erasures-status')).toBe(`${pending.length} pending requests, newest first. Done requests are not shown.`);
      expect(asked.length).toBeGreaterThanOrEqual(2);
      expect(asked.map((q) => q.get('status'))).toEqual(asked.map(() => 'pending'));
      expect(asked.slice(1).every((q) => q.has('cursor'))).toBe(true);

      // The address keeps the filter: a reload lists pending requests again.
      await p.reload();
      await expect.poll(() => p.textContent('#erasures-status')).toMatch(/^50 pending requests shown/);
      expect(await p.inputValue('#erasures-filter')).toBe('pending');
      expect(await statuses()).toEqual(['pending']);

      await p.selectOption('#erasures-filter', 'done');
      await expect.poll(() => p.textContent('#erasures-status')).toMatch(/^\d+ done requests?\b.* Pending requests are not shown\.$/);
      expect(await statuses()).toEqual(['done']);

      // Back to All: both states, newest first, from the first page.
      await p.selectOption('#erasures-filter', '');
      await expect.poll(() => p.textContent('#erasures-status')).toMatch(/^50 requests shown, newest first \(\d+ pending, \d+ done\); older requests follow: Show more lists them\.$/);
      expect(await statuses()).toEqual(['pending', 'done']);
      expect(await p.evaluate(() => location.hash)).toBe(`#site=${SITE}&view=erasures`);
      expect(asked.at(-1)!.has('status')).toBe(false);

      // An address with a status the view does not take is refused naming it, not listed unfiltered.
      await p.goto(consoleUrl(`#site=${SITE}&view=erasures&status=open`));
      await expect.poll(() => p.textContent('#error')).toBe('The address asks for status=open, which the Erasures view does not take (pending or done): choose one in Status, or Erasures in the navigation for all.');
      expect(await erasureRows(p)).toEqual([]);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
