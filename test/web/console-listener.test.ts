import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenerGroup } from '../../core/console-access.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { demoPassword } from '../../local/cognito-server.ts';
import { startTestCloud } from '../support/local-cloud.ts';
import { signedInConsolePage } from '../support/console-browser.ts';
import { buildPack } from '../support/pack-fixture.ts';
import { wavFile } from '../support/wav.ts';

// A quality-assurance lead scoring agents' calls, in the console (Chromium against the embedded
// local cloud) as a member of listener-<site> only: they find and play calls, and the page offers
// nothing that only the site's compliance officers may do (which the API would refuse them).

const SITE = 'demo';
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'];
const lead = { username: 'qa-lead', password: demoPassword(), groups: [listenerGroup(SITE)] };

let dir: string;
let cloud: LocalCloud;
let browser: Browser;
let rid: string;
const pageErrors: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-console-listener-'));
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE] });
  const fixture = buildPack(SITE, [
    { path: '000007/000007000.wav', body: wavFile(3, 'tone'), meta: { callId: '000007000', agent: 'Alice Martin', caller: '+441632960129', called: '+442079460123', direction: 'inbound', durationSec: 3, start: '2026-11-30T09:15:00.000Z' } },
    { path: '000007/000007002.wav', body: wavFile(2, 'tone'), meta: { callId: '000007002', agent: 'Bilal Khan', caller: '+441632960544', called: '+442079460123', direction: 'inbound', durationSec: 2, start: '2026-11-30T09:17:00.000Z' } },
    { path: '000007/000007003.wav', body: wavFile(2, 'tone'), meta: { callId: '000007003', agent: 'Alice Martin', caller: '+441632960910', called: '+442079460456', direction: 'inbound', durationSec: 2, start: '2026-11-30T09:25:00.000Z' } },
    { path: '000007/000007001.wav', body: wavFile(2, 'tone'), meta: { callId: '000007001', agent: 'Alice Martin', caller: '+442079460000', called: '+441632960333', direction: 'outbound', durationSec: 2, start: '2026-11-30T09:20:00.000Z' } },
  ], { day: '2026-11-30T00:00:00Z', seed: 'qa-listener' });
  await cloud.blobs.put(fixture.packKey, fixture.pack);
  await cloud.blobs.put(fixture.manifestKey, fixture.manifestBytes, { contentType: 'application/json' });
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
  rid = fixture.manifest.members[0]!.rid;
  // Twelve calls of one agent the day before: two pages of ten.
  const day = buildPack(SITE, Array.from({ length: 12 }, (_, i) => {
    const callId = `0000080${String(i).padStart(2, '0')}`;
    return { path: `000008/${callId}.wav`, body: wavFile(1, 'tone'), meta: { callId, agent: 'Dana Cole', caller: '+441632960700', called: '+442079460123', direction: 'inbound' as const, durationSec: 1, start: `2026-11-29T10:${String(i).padStart(2, '0')}:00.000Z` } };
  }), { day: '2026-11-29T00:00:00Z', seed: 'qa-listener-pages' });
  await cloud.blobs.put(day.packKey, day.pack);
  await cloud.blobs.put(day.manifestKey, day.manifestBytes, { contentType: 'application/json' });
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
  cloud.console.addUser(lead);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const visible = (p: import('playwright-core').Page, selector: string) => p.$$eval(selector, (els) => els.filter((e) => (e as HTMLElement).offsetParent !== null).map((e) => e.textContent!.trim()));

describe('a listener (listener-<site>) in the console', () => {
  it('finds an agent\'s calls without the selection for cases and exports, and the sections of the site\'s officers are not offered', async () => {
    const asked: string[] = [];
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=search&from=2026-11-30T00%3A00%3A00.000Z&to=2026-12-01T00%3A00%3A00.000Z`, { pageErrors, consoleErrors: true, user: lead, onRequest: (_m, url) => asked.push(url.pathname) });
    try {
      await p.fill('#agent', 'Alice Martin');
      await p.click('#search button[type=submit]');
      await expect.poll(() => p.textContent('#status')).toBe('3 calls match this search.');
      expect(await visible(p, '#tabs a')).toEqual(['Search calls']);
      expect(await p.isVisible('#listener-note')).toBe(true);
      expect(await p.textContent('#listener-note')).toContain('group officer-demo');
      expect(await p.$$eval('#results input[type=checkbox]', (boxes) => boxes.filter((b) => (b as HTMLElement).offsetParent !== null).length)).toBe(0);
      expect(await p.isVisible('#selection')).toBe(false);
      expect(await p.isHidden('#error')).toBe(true);
      expect(asked.filter((path) => /\/(cases|holds|erasures|audit)\b/.test(path))).toEqual([]);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('opens and plays a call with no Download, hold, case or erasure controls, and no refusal said', async () => {
    const asked: string[] = [];
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=call&rid=${rid}`, { pageErrors, consoleErrors: true, user: lead, onRequest: (_m, url) => asked.push(url.pathname) });
    try {
      await p.waitForSelector('#call-body:not([hidden])');
      await p.getByRole('button', { name: 'Play', exact: true }).click();
      await expect.poll(() => p.$eval('#audio', (el) => (el as HTMLAudioElement).currentTime), { timeout: 10_000 }).toBeGreaterThan(0.2);
      expect(await p.isVisible('#play')).toBe(true);
      for (const hidden of ['#download', '#hold-form', '#call-case-form', '#erase-open', '#holds-title']) expect(await p.isVisible(hidden), hidden).toBe(false);
      // The audio control's own menu offers no download either: a copy saved from it would be audited as a listen.
      expect(await p.$eval('#audio', (el) => [...(el as HTMLAudioElement & { controlsList: DOMTokenList }).controlsList])).toEqual(['nodownload']);
      expect(await p.isHidden('#error')).toBe(true);
      expect(asked.filter((path) => /\/(cases|holds|erasures|download-link)\b/.test(path))).toEqual([]);
      expect(asked.some((path) => path.endsWith('/play-link'))).toBe(true);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });
});

describe('scoring an agent\'s calls one after the other', () => {
  it('goes from a call opened from the list to the next and the previous of the list, and back to the same list, without searching again', async () => {
    const searches: string[] = [];
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=search&from=2026-11-30T00%3A00%3A00.000Z&to=2026-12-01T00%3A00%3A00.000Z`, { pageErrors, consoleErrors: true, user: lead, onRequest: (m, url) => void (m === 'GET' && url.pathname.endsWith('/recordings') && searches.push(url.search)) });
    try {
      await p.fill('#agent', 'Alice Martin');
      await p.click('#search button[type=submit]');
      await expect.poll(() => p.textContent('#status')).toBe('3 calls match this search.');
      const searched = searches.length;
      await p.getByRole('button', { name: 'Open call 000007000' }).click();
      await expect.poll(() => p.textContent('#call-title')).toBe('Call 000007000');
      expect(await p.textContent('#call-position')).toBe('Call 1 of 3 on page 1');
      expect(await p.isDisabled('#previous-call')).toBe(true);
      await p.click('#next-call');
      await expect.poll(() => p.textContent('#call-title')).toBe('Call 000007001');
      expect(await p.textContent('#call-position')).toBe('Call 2 of 3 on page 1');
      await p.click('#next-call');
      // Bilal Khan's call between them is not in the list: the next is Alice Martin's third.
      await expect.poll(() => p.textContent('#call-title')).toBe('Call 000007003');
      expect(await p.textContent('#call-position')).toBe('Call 3 of 3 on page 1 (the last call found)');
      expect(await p.isDisabled('#next-call')).toBe(true);
      await p.click('#previous-call');
      await expect.poll(() => p.textContent('#call-title')).toBe('Call 000007001');
      await p.click('#back-to-search');
      await expect.poll(() => p.isVisible('#search-view')).toBe(true);
      expect(await p.inputValue('#agent')).toBe('Alice Martin');
      expect(await p.$$eval('#results tbody tr', (rows) => rows.length)).toBe(3);
      expect(searches).toHaveLength(searched);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('goes on from the last call of a page to the first of the next page, and back, with the same search, and Back shows that page', async () => {
    const searches: URLSearchParams[] = [];
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=search&from=2026-11-29T00%3A00%3A00.000Z&to=2026-11-30T00%3A00%3A00.000Z&limit=10`, { pageErrors, consoleErrors: true, user: lead, onRequest: (m, url) => void (m === 'GET' && url.pathname.endsWith('/recordings') && searches.push(url.searchParams)) });
    try {
      await p.fill('#agent', 'Dana Cole');
      await p.click('#search button[type=submit]');
      await expect.poll(() => p.$$eval('#results tbody tr', (rows) => rows.length)).toBe(10);
      await p.getByRole('button', { name: 'Open call 000008009' }).click();
      await expect.poll(() => p.textContent('#call-title')).toBe('Call 000008009');
      expect(await p.textContent('#call-position')).toBe('Call 10 of 10 on page 1 (Next call opens page 2)');
      expect(await p.isDisabled('#next-call')).toBe(false);
      const searched = searches.length;
      await p.click('#next-call');
      await expect.poll(() => p.textContent('#call-title')).toBe('Call 000008010');
      await p.waitForSelector('#call-body:not([hidden])');
      expect(await p.textContent('#call-position')).toBe('Call 1 of 2 on page 2');
      // One more page asked for, of the same search, with the list's cursor.
      expect(searches).toHaveLength(searched + 1);
      expect(Object.fromEntries([...searches.at(-1)!].filter(([name]) => name !== 'cursor'))).toEqual(Object.fromEntries([...searches[searched - 1]!]));
      expect(searches.at(-1)!.get('cursor')).toBeTruthy();
      await p.click('#next-call');
      await expect.poll(() => p.textContent('#call-title')).toBe('Call 000008011');
      expect(await p.textContent('#call-position')).toBe('Call 2 of 2 on page 2 (the last call found)');
      expect(await p.isDisabled('#next-call')).toBe(true);
      await p.click('#previous-call');
      await expect.poll(() => p.textContent('#call-title')).toBe('Call 000008010');
      await p.click('#previous-call');
      await expect.poll(() => p.textContent('#call-title')).toBe('Call 000008009');
      expect(await p.textContent('#call-position')).toBe('Call 10 of 10 on page 1 (Next call opens page 2)');
      await p.click('#next-call');
      await expect.poll(() => p.textContent('#call-title')).toBe('Call 000008010');
      await p.click('#back-to-search');
      await expect.poll(() => p.isVisible('#search-view')).toBe(true);
      expect(await p.inputValue('#agent')).toBe('Dana Cole');
      expect(await p.$$eval('#results tbody tr', (rows) => rows.map((r) => (r as HTMLTableRowElement).dataset.rid).length)).toBe(2);
      expect(await p.isHidden('#error')).toBe(true);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('plays at the speed chosen, and the next call of the list at the same speed', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=search&from=2026-11-30T00%3A00%3A00.000Z&to=2026-12-01T00%3A00%3A00.000Z`, { pageErrors, consoleErrors: true, user: lead });
    const rate = () => p.$eval('#audio', (el) => (el as HTMLAudioElement).playbackRate);
    const playing = () => p.$eval('#audio', (el) => !(el as HTMLAudioElement).paused && (el as HTMLAudioElement).currentTime > 0.1);
    try {
      await p.fill('#agent', 'Alice Martin');
      await p.click('#search button[type=submit]');
      await expect.poll(() => p.textContent('#status')).toBe('3 calls match this search.');
      await p.getByRole('button', { name: 'Open call 000007000' }).click();
      await p.waitForSelector('#call-body:not([hidden])');
      await p.getByLabel('Speed').selectOption('1.5');
      await p.getByRole('button', { name: 'Play', exact: true }).click();
      await expect.poll(playing, { timeout: 10_000 }).toBe(true);
      expect(await rate()).toBe(1.5);
      await p.click('#next-call');
      await expect.poll(() => p.textContent('#call-title')).toBe('Call 000007001');
      await p.waitForSelector('#call-body:not([hidden])');
      expect(await p.inputValue('#speed')).toBe('1.5');
      await p.getByRole('button', { name: 'Play', exact: true }).click();
      await expect.poll(playing, { timeout: 10_000 }).toBe(true);
      expect(await rate()).toBe(1.5);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('offers no previous or next call for a call opened from a link (nothing found to step through)', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=call&rid=${rid}`, { pageErrors, user: lead });
    try {
      await p.waitForSelector('#call-body:not([hidden])');
      expect(await p.isVisible('#call-steps')).toBe(false);
    } finally {
      await close();
    }
  });
});
