import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCloud } from '../../local/cloud.ts';
import { startTestCloud } from '../support/local-cloud.ts';
import { signedInConsolePage } from '../support/console-browser.ts';

// A time range whose From is later than its To, in the console's call search and audit trail
// (Chromium against the embedded local cloud): refused in the page, at the From field (marked
// invalid, the message tied to it, the focus on it), with no request sent; the API's own check
// (a 400 for a client that skips the page) is tested with the API (test/functions).

/** The generated deployment's site (local/iam-deployment.generated.json): no synth of another. */
const SITE = 'demo';
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let dir: string;
let cloud: LocalCloud;
let browser: Browser;
const pageErrors: string[] = [];

/**
 * A tab of its own, signed in as the demo officer at `hash`, and the API requests it sends to the
 * site's `route` (recordings, audit) from now on.
 */
async function signedInPage(hash: string, route: string): Promise<{ p: Page; sent: string[]; close: () => Promise<void> }> {
  const sent: string[] = [];
  const onRequest = (method: string, url: URL) => void (url.pathname.endsWith(`/sites/${SITE}/${route}`) && sent.push(`${method} ${url.href}`));
  return { ...(await signedInConsolePage(browser, cloud, hash, { pageErrors, onRequest })), sent };
}

/** What a screen reader says of a field beside its name: its validity and its description; and whether it has the focus. */
const fieldState = (p: Page, id: string) => p.evaluate((id) => {
  const input = document.getElementById(id)!;
  const description = (input.getAttribute('aria-describedby') ?? '').split(' ').map((d) => document.getElementById(d)?.textContent ?? '').join(' ').trim();
  return { focused: document.activeElement === input, invalid: input.getAttribute('aria-invalid'), description };
}, id);

const MESSAGE = 'From must not be later than To: choose an earlier From, or a later To.';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-console-range-'));
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE] });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a time range with From later than To, in the console', () => {
  it('refuses it in the call search at the From field (aria-invalid, the message tied by aria-describedby, the focus there), sends no search, and searches once To is set right', async () => {
    const { p, sent, close } = await signedInPage(`#site=${SITE}&view=search`, 'recordings');
    try {
      await expect.poll(() => p.textContent('#status')).toBe('No calls at demo match this search.');
      sent.length = 0;
      await p.fill('#from', '2024-06-01T00:00');
      await p.fill('#to', '2024-01-01T00:00');
      await p.keyboard.press('Enter');
      await expect.poll(() => fieldState(p, 'from')).toEqual({ focused: true, invalid: 'true', description: `From and To are in your time zone, and both are included (a call at exactly To is found); the catalogue is asked in UTC. ${MESSAGE}` });
      expect(await p.isVisible('#from-error')).toBe(true);
      expect(await p.isVisible('#error')).toBe(false);
      expect(await p.textContent('#status')).toBe('');
      // From equal to To is a range (both ends are included): only a From later than To is refused.
      await p.fill('#to', '2024-06-01T00:00');
      expect(await fieldState(p, 'from')).toMatchObject({ invalid: null, description: 'From and To are in your time zone, and both are included (a call at exactly To is found); the catalogue is asked in UTC.' });
      expect(await p.isVisible('#from-error')).toBe(false);
      expect(sent).toEqual([]);
      await p.getByRole('button', { name: 'Search', exact: true }).click();
      await expect.poll(() => p.textContent('#status')).toMatch(/^No calls at demo between 2024-06-01 00:00:00 and 2024-06-01 00:0\d:\d\d \(Europe\/London\) match this search\.$/);
      expect(sent).toHaveLength(1);
      expect(new URL(sent[0]!.split(' ')[1]!).searchParams.get('from')).toBe('2024-05-31T23:00:00.000Z');
    } finally {
      await close();
    }
  });

  it('refuses it in the audit trail\'s filter at the From field, for Search the trail and Export CSV alike, asking the trail nothing', async () => {
    const { p, sent, close } = await signedInPage(`#site=${SITE}&view=audit`, 'audit');
    try {
      await expect.poll(() => p.textContent('#audit-status')).toMatch(/^\d+ records? on page 1\.$/);
      sent.length = 0;
      await p.fill('#audit-from', '2026-06-01T00:00');
      await p.fill('#audit-to', '2026-01-01T00:00');
      await p.getByRole('button', { name: 'Search the trail' }).click();
      const refused = { focused: true, invalid: 'true', description: `From and To are in your time zone; From is included, To is not. ${MESSAGE}` };
      await expect.poll(() => fieldState(p, 'audit-from')).toEqual(refused);
      expect(await p.isVisible('#error')).toBe(false);
      // The rows of the search before do not stand under the filter refused.
      expect(await p.$$eval('#audit tbody tr', (trs) => trs.length)).toBe(0);
      await p.getByRole('button', { name: 'Export CSV' }).click();
      await expect.poll(() => fieldState(p, 'audit-from')).toEqual(refused);
      expect(sent).toEqual([]);
      // Typing a From before To mends it; the search then asks the trail.
      await p.fill('#audit-from', '2025-12-01T00:00');
      expect(await fieldState(p, 'audit-from')).toMatchObject({ invalid: null, description: 'From and To are in your time zone; From is included, To is not.' });
      await p.getByRole('button', { name: 'Search the trail' }).click();
      await expect.poll(() => p.textContent('#audit-status')).toBe('No records match these filters.');
      expect(sent).toHaveLength(1);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });
});

describe('a duration range with Shortest above Longest, in the console', () => {
  it('refuses it in the call search at the Shortest field (aria-invalid, the message tied to it, the focus there), sends no search, and searches once Longest is set right', async () => {
    const { p, sent, close } = await signedInPage(`#site=${SITE}&view=search`, 'recordings');
    try {
      await expect.poll(() => p.textContent('#status')).toBe('No calls at demo match this search.');
      sent.length = 0;
      await p.fill('#minDuration', '600');
      await p.fill('#maxDuration', '60');
      await p.keyboard.press('Enter');
      const message = 'Shortest must not be more than Longest: choose a smaller Shortest, or a larger Longest.';
      await expect.poll(() => fieldState(p, 'minDuration')).toEqual({ focused: true, invalid: 'true', description: message });
      expect(await p.isVisible('#error')).toBe(false);
      // Shortest equal to Longest is a range: a Longest of 600 mends it, as soon as it is typed.
      await p.fill('#maxDuration', '600');
      expect(await fieldState(p, 'minDuration')).toMatchObject({ invalid: null, description: '' });
      expect(await p.isVisible('#minDuration-error')).toBe(false);
      expect(sent).toEqual([]);
      await p.getByRole('button', { name: 'Search', exact: true }).click();
      await expect.poll(() => p.textContent('#status')).toBe('No calls at demo match this search.');
      expect(sent).toHaveLength(1);
      const asked = new URL(sent[0]!.split(' ')[1]!).searchParams;
      expect([asked.get('minDuration'), asked.get('maxDuration')]).toEqual(['600', '600']);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });
});
