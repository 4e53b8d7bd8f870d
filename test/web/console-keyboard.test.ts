import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClients } from '../../adapters/aws-clients.ts';
import { DynamoAuditLedger } from '../../adapters/dynamo-audit-ledger.ts';
import { appendAuditEvents } from '../../core/audit-trail.ts';
import { renderWorkflowDefinitions } from '../../infra/workflows/render.ts';
import { localRecallStarter } from '../../local/api-server.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { startLocalOrchestration, type LocalOrchestration } from '../../local/orchestration.ts';
import { startTestCloud } from '../support/local-cloud.ts';
import { wavFile } from '../support/wav.ts';
import { buildPack } from '../support/pack-fixture.ts';

// The compliance console driven as a keyboard and screen-reader user drives it (Chromium against
// the embedded local cloud): keys pressed, then where the focus is (`document.activeElement`),
// what the fields say to assistive technology (aria-invalid, aria-describedby), the contrast of
// what shows the focus and the fields, and the width of the page at 320 px. The accessibility
// review of session 42 found each of these by hand; axe saw none of them.

const SITE = 'keys';
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'];

let dir: string;
let cloud: LocalCloud;
let orchestration: LocalOrchestration;
/** Online calls (STANDARD), one per test that changes one. */
let calls: { rid: string; callId: string }[];
let archived: { rid: string; callId: string };
let browser: Browser;
const pageErrors: string[] = [];

const consoleUrl = (hash = '') => `${cloud.console.pageUrl.replace('127.0.0.1', 'localhost')}?poll=1${hash}`;

/** A tab of its own, signed in as the demo officer at `hash`. */
async function signedInPage(hash: string, viewport = { width: 1280, height: 800 }, colorScheme: 'light' | 'dark' = 'light'): Promise<{ p: Page; close: () => Promise<void> }> {
  const c = await browser.newContext({ timezoneId: 'Europe/London', locale: 'en-GB', viewport, colorScheme, acceptDownloads: true });
  const p = await c.newPage();
  p.setDefaultTimeout(10_000);
  p.on('pageerror', (e) => pageErrors.push(e.message));
  await p.goto(consoleUrl(hash));
  await p.waitForSelector('#signin-view:not([hidden])');
  await signIn(p);
  await p.waitForFunction(() => (document.getElementById('signin-view') as HTMLElement).hidden);
  return { p, close: () => c.close() };
}

/** Types the demo officer's name and password and presses Enter, as the keyboard does. */
async function signIn(p: Page): Promise<void> {
  await p.focus('#username');
  await p.keyboard.type(cloud.console.demo.username);
  await p.keyboard.press('Tab');
  await p.keyboard.type(cloud.console.demo.password);
  await p.keyboard.press('Enter');
}

/** The focused element: its id, else its tag and text. */
const focused = (p: Page) => p.evaluate(() => {
  const a = document.activeElement;
  return a?.id || `${a?.tagName}${a?.textContent ? ` "${a.textContent.trim().slice(0, 40)}"` : ''}`;
});

/** Focuses `selector` (a Tab run the test does not need to repeat) and presses `key` on it. */
async function press(p: Page, selector: string, key = 'Enter'): Promise<void> {
  await p.focus(selector);
  await p.keyboard.press(key);
}

/**
 * Creates case `caseId` as the demo officer through the console API (the case the tests that add
 * to or export a case use, whichever of them runs first or alone).
 */
async function createCase(caseId: string, reason: string): Promise<void> {
  const config = (await (await fetch(`${cloud.apiUrl}/web/config.json`)).json()) as { apiUrl: string; clientId: string; cognitoEndpoint: string };
  const auth = await fetch(config.cognitoEndpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'AWSCognitoIdentityProviderService.InitiateAuth' },
    body: JSON.stringify({ AuthFlow: 'USER_PASSWORD_AUTH', ClientId: config.clientId, AuthParameters: { USERNAME: cloud.console.demo.username, PASSWORD: cloud.console.demo.password } }),
  });
  const token = ((await auth.json()) as { AuthenticationResult: { AccessToken: string } }).AuthenticationResult.AccessToken;
  const res = await fetch(`${config.apiUrl}console/sites/${SITE}/cases`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ caseId, name: caseId, reason }) });
  expect(res.status, await res.text()).toBeLessThan(300);
}

async function openCall(p: Page, rid: string): Promise<void> {
  await p.goto(consoleUrl(`#site=${SITE}&view=call&rid=${rid}`));
  await p.waitForSelector('#call-body:not([hidden])');
  await expect.poll(() => p.textContent('#holds-state')).toMatch(/hold/);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-console-keys-'));
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE] });
  const online = buildPack(SITE, [1, 2, 3, 4].map((n) => ({ path: `calls/2024/call-${n}.wav`, body: wavFile(20), meta: { callId: `KEY-000${n}`, agent: 'Kim Keys', caller: '+442079460010', called: `+44207946002${n}`, direction: 'inbound', durationSec: 20, start: `2024-05-06T0${n}:00:00Z` } })), { day: '2024-05-06T00:00:00Z', seed: 'keys-online', createdAt: new Date().toISOString() });
  await cloud.blobs.put(online.packKey, online.pack);
  await cloud.blobs.put(online.manifestKey, online.manifestBytes, { contentType: 'application/json' });
  const fixture = buildPack(SITE, [{ path: 'archive/2023/old.wav', body: wavFile(10), meta: { callId: 'ARCH-0042', agent: 'Archie Vault', caller: '+442079460001', called: '+442079460999', direction: 'outbound', durationSec: 10, start: '2023-01-05T10:00:00Z' } }], { day: '2023-01-05T00:00:00Z', seed: 'keys-archived', createdAt: '2023-01-05T11:00:00.000Z' });
  await cloud.blobs.put(fixture.packKey, fixture.pack, { storageClass: 'DEEP_ARCHIVE' });
  await cloud.blobs.put(fixture.manifestKey, fixture.manifestBytes, { contentType: 'application/json' });
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
  archived = { rid: fixture.manifest.members[0]!.rid, callId: 'ARCH-0042' };
  calls = online.manifest.members.map((m, i) => ({ rid: m.rid, callId: `KEY-000${i + 1}` }));
  const purge = { retentionDays: 3650, keepFullCycles: 2 };
  orchestration = await startLocalOrchestration({ cloud, site: SITE, purge, definitions: renderWorkflowDefinitions({ site: SITE, purge }), pauseMs: 300, notifier: { notify: async () => undefined } });
  cloud.wireRecall(SITE, localRecallStarter(orchestration.workflows));
  // More than a page (50) of the audit trail, so that it has a Next page.
  const { doc } = createDynamoClients({ region: cloud.region, endpoint: cloud.dynamoEndpoint, credentials: cloud.credentials });
  const at = (i: number) => new Date(Date.UTC(2026, 0, 2, 0, 0, 0, i)).toISOString();
  await appendAuditEvents({ ledger: new DynamoAuditLedger(doc, cloud.table) }, Array.from({ length: 120 }, (_, i) => ({ at: at(i), action: 'search' as const, site: SITE, principal: 'officer-earlier', query: { callId: `q-${i}` } })));
  await createCase('C-KEYS-0', 'Order 0/2026');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await orchestration?.stop();
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the console by keyboard: the focus stays on the control pressed or moves to its result', () => {
  it('keeps the focus on Play and Download while their links are asked for and after', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=search`);
    try {
      await openCall(p, calls[0]!.rid);
      await press(p, '#play');
      expect(await focused(p)).toBe('play');
      await expect.poll(() => p.$eval('#audio', (a) => (a as HTMLAudioElement).src)).toMatch(/\/audio\?/);
      expect(await focused(p)).toBe('play');
      const [download] = await Promise.all([p.waitForEvent('download'), press(p, '#download')]);
      expect(download.suggestedFilename()).toMatch(/\.wav$/);
      await expect.poll(() => p.$eval('#download', (b) => b.getAttribute('aria-busy'))).toBeNull();
      expect(await focused(p)).toBe('download');
    } finally {
      await close();
    }
  });

  it('keeps the focus on Place hold, and moves it to the holds said when Release hold hides with the last hold', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=search`);
    try {
      await openCall(p, calls[1]!.rid);
      await p.focus('#hold-reason');
      await p.keyboard.type('Complaint 77');
      await press(p, '#hold-form button[type=submit]');
      await expect.poll(() => p.textContent('#holds-state')).toBe('ON HOLD: 1 active hold; the call cannot be deleted.');
      expect(await focused(p)).toBe('BUTTON "Place hold"');
      await p.focus('#release-reason');
      await p.keyboard.type('Complaint closed');
      await p.keyboard.press('Tab');
      expect(await focused(p)).toBe('BUTTON "Release hold"');
      await p.keyboard.press('Enter');
      await expect.poll(() => p.textContent('#holds-state')).toBe('Not on hold.');
      expect(await p.isVisible('#release-form')).toBe(false);
      expect(await focused(p)).toBe('holds-state');
    } finally {
      await close();
    }
  });

  it('moves the focus to the recall state when Request recall is pressed (the button hides)', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=search`);
    try {
      await openCall(p, archived.rid);
      await press(p, '#recall');
      await expect.poll(() => p.textContent('#archive-state')).toMatch(/^Recall in progress/);
      expect(await focused(p)).toBe('archive-state');
    } finally {
      await close();
    }
  });

  it('moves the focus to the case created or opened: its heading, not the page', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=cases`);
    try {
      // Each read of the case list redraws it when it answers, an earlier one after a later one
      // too: one read at a time (the view's, then the creation's, then the address's), each awaited.
      await expect.poll(() => p.textContent('#cases-status')).toMatch(/^(\d+ cases? in site|No cases in site) /);
      await p.focus('#case-name');
      await p.keyboard.type('Keyboard v Mouse');
      await p.keyboard.press('Tab');
      await p.keyboard.type('C-KEYS-1');
      await p.keyboard.press('Tab');
      await p.keyboard.type('Order 1/2026');
      await p.keyboard.press('Enter');
      await expect.poll(() => p.textContent('#case-title')).toBe('Case C-KEYS-1');
      await expect.poll(() => focused(p)).toBe('case-title');
      await expect.poll(() => p.$$eval('#cases a', (links) => links.map((a) => a.textContent))).toContain('C-KEYS-1');
      // From the list: the case's link, Enter.
      await p.goto(consoleUrl(`#site=${SITE}&view=cases`));
      await p.waitForSelector('#case-detail', { state: 'hidden' });
      // The list is read again and its links replaced when it answers: a link of the list shown
      // before, focused while the read runs, is gone by the Enter (the case title would be the old one's).
      await expect.poll(() => p.textContent('#cases-status')).toMatch(/^\d+ cases? in site /);
      await press(p, '#cases a[href*="C-KEYS-1"]');
      await p.waitForSelector('#case-detail:not([hidden])');
      await expect.poll(() => p.textContent('#case-title')).toBe('Case C-KEYS-1');
      await expect.poll(() => p.textContent('#case-summary')).toMatch(/Order 1\/2026/);
      expect(await focused(p)).toBe('case-title');
    } finally {
      await close();
    }
  });

  it('moves the focus to what Add to case did when the selection it was pressed in empties', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=cases`);
    try {
      await p.goto(consoleUrl(`#site=${SITE}&view=search`));
      await p.waitForSelector('#results tbody tr');
      await press(p, '#results tbody tr:nth-child(1) input[type=checkbox]', 'Space');
      await expect.poll(() => p.textContent('#selected-count')).toBe('1 call selected');
      await expect.poll(() => p.$$eval('#selection-case option', (os) => os.length)).toBeGreaterThan(1);
      await p.selectOption('#selection-case', { index: 1 });
      await press(p, '#add-selected');
      await expect.poll(() => p.textContent('#notice')).toMatch(/^1 call added to case /);
      expect(await focused(p)).toBe('notice');
    } finally {
      await close();
    }
  });

  it('gives the focus back to the audit pager after Next page, and keeps it on Export CSV', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=audit`);
    try {
      await expect.poll(() => p.textContent('#audit-status')).toMatch(/^50 records on page 1, more available/);
      await press(p, '#audit-next');
      await expect.poll(() => p.textContent('#audit-status')).toMatch(/on page 2, more available/);
      expect(await focused(p)).toBe('audit-next');
      await p.keyboard.press('Enter');
      await expect.poll(() => p.textContent('#audit-status')).toMatch(/on page 3\./);
      // The last page: Next is disabled, so the focus goes to the records' heading, and the next
      // Tab goes on into the records and the pager, not from the top of the page.
      expect(await focused(p)).toBe('audit-results-title');
      await p.keyboard.press('Tab');
      expect(await p.evaluate(() => Boolean(document.activeElement?.closest('section[aria-labelledby="audit-results-title"]')))).toBe(true);
      await press(p, '#audit-prev');
      await expect.poll(() => p.textContent('#audit-status')).toMatch(/on page 2/);
      expect(await focused(p)).toBe('audit-prev');
      const [csv] = await Promise.all([p.waitForEvent('download'), press(p, '#audit-csv')]);
      expect(csv.suggestedFilename()).toMatch(/\.csv$/);
      await expect.poll(() => p.$eval('#audit-csv', (b) => b.getAttribute('aria-busy'))).toBeNull();
      expect(await focused(p)).toBe('audit-csv');
    } finally {
      await close();
    }
  });

  it("moves the focus to the view's heading after signing in again on the call the session expired on", async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=search`);
    try {
      await openCall(p, calls[2]!.rid);
      // Eight seconds left of the token: the page opens the call, then its timer signs the officer out.
      await p.evaluate(() => {
        const session = JSON.parse(sessionStorage.getItem('ferry-console-token')!);
        sessionStorage.setItem('ferry-console-token', JSON.stringify({ ...session, expiresAt: Date.now() + 8000 }));
      });
      await p.reload();
      await p.waitForSelector('#call-body:not([hidden])');
      await p.waitForSelector('#signin-view:not([hidden])', { timeout: 20_000 });
      await signIn(p);
      await p.waitForSelector('#call-body:not([hidden])');
      await expect.poll(() => focused(p)).toBe('call-title');
    } finally {
      await close();
    }
  });
});

/** Whether `selector` is inside the viewport (seen without scrolling). */
const inView = (p: Page, selector: string) => p.$eval(selector, (e) => {
  const r = e.getBoundingClientRect();
  return r.height > 0 && r.top > -1 && r.bottom < innerHeight + 1; // scrollIntoView leaves a fraction of a pixel
});

/** What a screen reader says of a field beside its name: its validity and its description. */
const fieldState = (p: Page, id: string) => p.evaluate((id) => {
  const input = document.getElementById(id)!;
  const description = (input.getAttribute('aria-describedby') ?? '').split(' ').map((d) => document.getElementById(d)?.textContent ?? '').join(' ').trim();
  return { focused: document.activeElement === input, invalid: input.getAttribute('aria-invalid'), description };
}, id);

describe('the console by keyboard at 200 % zoom (683×384): errors at their field, results in view', () => {
  const zoomed = { width: 683, height: 384 };

  it('ties a missing hold reason to its field (aria-invalid, aria-describedby), shows it below the field in view, and clears it on typing', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=search`, zoomed);
    try {
      await openCall(p, calls[3]!.rid);
      await press(p, '#hold-reason');
      expect(await fieldState(p, 'hold-reason')).toEqual({ focused: true, invalid: 'true', description: 'The reason for the hold is required.' });
      expect(await inView(p, '#hold-reason-error')).toBe(true);
      expect(await p.isVisible('#error')).toBe(false);
      await p.keyboard.type('Complaint 12');
      expect(await fieldState(p, 'hold-reason')).toMatchObject({ invalid: null });
      expect(await p.isVisible('#hold-reason-error')).toBe(false);
    } finally {
      await close();
    }
  });

  it('checks the export reason\'s minimum length in the page, at the field, asking the API nothing', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=cases&case=C-KEYS-0`, zoomed);
    try {
      await expect.poll(() => p.textContent('#case-title')).toBe('Case C-KEYS-0');
      const exports: string[] = [];
      p.on('request', (r) => void (r.method() === 'POST' && /\/exports$/.test(r.url()) && exports.push(r.url())));
      await p.focus('#export-case-reason');
      await p.keyboard.type('ab');
      await p.keyboard.press('Enter');
      expect(await fieldState(p, 'export-case-reason')).toEqual({ focused: true, invalid: 'true', description: 'The reason for the export must be at least 3 characters.' });
      expect(await inView(p, '#export-case-reason-error')).toBe(true);
      expect(await p.textContent('label[for="export-case-reason"]')).toContain('at least 3 characters');
      expect(exports).toEqual([]);
    } finally {
      await close();
    }
  });

  it('marks a duration the search cannot take at its field', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=search`, zoomed);
    try {
      await p.waitForSelector('#results tbody tr');
      await p.focus('#minDuration');
      await p.keyboard.type('-5');
      await p.keyboard.press('Enter');
      expect(await fieldState(p, 'minDuration')).toEqual({ focused: true, invalid: 'true', description: 'Shortest must be a whole number of seconds.' });
      expect(await inView(p, '#minDuration-error')).toBe(true);
    } finally {
      await close();
    }
  });

  it('ties the sign-in errors to the field they are about', async () => {
    const c = await browser.newContext({ timezoneId: 'Europe/London', locale: 'en-GB', viewport: zoomed });
    try {
      const p = await c.newPage();
      await p.goto(consoleUrl());
      await p.waitForSelector('#signin-view:not([hidden])');
      await press(p, '#username');
      expect(await fieldState(p, 'username')).toEqual({ focused: true, invalid: 'true', description: 'Enter your user name.' });
      await p.keyboard.type(cloud.console.demo.username);
      await p.keyboard.press('Tab');
      await p.keyboard.type('not-the-password');
      await p.keyboard.press('Enter');
      await expect.poll(() => fieldState(p, 'password')).toEqual({ focused: true, invalid: 'true', description: 'Wrong user name or password.' });
      expect(await fieldState(p, 'username')).toMatchObject({ invalid: null });
    } finally {
      await c.close();
    }
  });

  it('brings the notice of an action into view and keeps it in the page when empty', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=search`, zoomed);
    try {
      expect(await p.$eval('#notice', (n) => (n as HTMLElement).hidden)).toBe(false);
      await openCall(p, calls[3]!.rid);
      await expect.poll(() => p.$$eval('#call-case option', (os) => os.length)).toBeGreaterThan(1);
      await p.selectOption('#call-case', 'C-KEYS-0');
      await press(p, '#call-case-form button[type=submit]');
      await expect.poll(() => p.textContent('#notice')).toBe('Call KEY-0004 added to case C-KEYS-0.');
      await expect.poll(() => inView(p, '#notice')).toBe(true);
    } finally {
      await close();
    }
  });
});

/**
 * Contrast ratios measured from the computed styles of the search form: the focus ring of the
 * field Tab reaches, against the panel and the page; the edges of a text field, a select and a
 * secondary button against the panel; a placeholder against its field.
 */
function contrasts(p: Page) {
  return p.evaluate(() => {
    const rgb = (c: string) => (c.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number);
    const lum = (c: string) => {
      const [r, g, b] = rgb(c).map((v) => {
        const s = v / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
    };
    const ratio = (a: string, b: string) => {
      const [x, y] = [lum(a), lum(b)].sort((m, n) => n - m);
      return Math.round(((x! + 0.05) / (y! + 0.05)) * 100) / 100;
    };
    const style = (sel: string, pseudo?: string) => getComputedStyle(document.querySelector(sel)!, pseudo);
    const panel = style('#search').backgroundColor;
    const pageBg = style('body').backgroundColor;
    const ring = style(':focus-visible').outlineColor;
    return {
      focused: document.activeElement?.id,
      ringOnPanel: ratio(ring, panel),
      ringOnPage: ratio(ring, pageBg),
      inputEdge: ratio(style('#agent').borderTopColor, panel),
      selectEdge: ratio(style('#direction').borderTopColor, panel),
      buttonEdge: ratio(style('#search button[type=reset]').borderTopColor, panel),
      placeholder: ratio(style('#agent', '::placeholder').color, style('#agent').backgroundColor),
    };
  });
}

describe('the console for a colleague at 200 % zoom: what shows the focus and the fields is visible', () => {
  for (const scheme of ['light', 'dark'] as const) {
    it(`draws the focus ring and the edges of fields and buttons at 3:1 or more, and placeholders at 4.5:1 (${scheme})`, async () => {
      const { p, close } = await signedInPage(`#site=${SITE}&view=search`, { width: 1280, height: 800 }, scheme);
      try {
        await p.waitForSelector('#results tbody tr');
        await p.focus('#callId');
        await p.keyboard.press('Shift+Tab');
        const { focused: on, placeholder, ...edges } = await contrasts(p);
        expect(on).toBe('number');
        for (const [what, value] of Object.entries(edges)) expect({ [what]: value >= 3 }, `${what} ${value}:1`).toEqual({ [what]: true });
        expect(placeholder, `placeholder ${placeholder}:1`).toBeGreaterThanOrEqual(4.5);
      } finally {
        await close();
      }
    });
  }
});

describe('the player by keyboard and screen reader', () => {
  /** The audio element's accessible name and whether it is out of reach (inert). */
  const audioState = (p: Page) => p.$eval('#audio', (a) => ({ label: a.getAttribute('aria-label'), inert: (a as HTMLAudioElement).inert, paused: (a as HTMLAudioElement).paused }));

  it('names the audio after the call, keeps it out of the Tab order until there is something to play, and makes Play a Play/Pause toggle that keeps the focus', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=search`);
    try {
      await openCall(p, calls[0]!.rid);
      expect(await audioState(p)).toEqual({ label: 'Recording of call KEY-0001', inert: true, paused: true });
      // Nothing to play yet: Tab goes from Play past the audio, to Speed and then Download.
      await p.focus('#play');
      await p.keyboard.press('Tab');
      expect(await focused(p)).toBe('speed');
      await p.keyboard.press('Tab');
      expect(await focused(p)).toBe('download');
      await press(p, '#play');
      await expect.poll(() => p.$eval('#audio', (a) => !(a as HTMLAudioElement).paused)).toBe(true);
      await expect.poll(() => p.textContent('#play')).toBe('Pause');
      expect(await audioState(p)).toMatchObject({ inert: false });
      expect(await focused(p)).toBe('play');
      await p.keyboard.press('Enter');
      await expect.poll(() => p.$eval('#audio', (a) => (a as HTMLAudioElement).paused)).toBe(true);
      expect(await p.textContent('#play')).toBe('Play');
      expect(await focused(p)).toBe('play');
    } finally {
      await close();
    }
  });

  it('keeps the audio of an archived call out of the Tab order (Play and Download are disabled)', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=search`);
    try {
      // In the archive tier, or its recall (asked above) still in progress: nothing to play either way.
      await openCall(p, archived.rid);
      expect(await p.isDisabled('#play')).toBe(true);
      expect(await audioState(p)).toMatchObject({ label: `Recording of call ${archived.callId}`, inert: true });
    } finally {
      await close();
    }
  });
});

describe('times in tables', () => {
  it("names the officer's time zone in the header of each column of times (search, cases, audit)", async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=search`);
    try {
      await p.waitForSelector('#results tbody tr');
      const headers = () => p.$$eval('#results thead th, #cases thead th, #audit thead th', (ths) => ths.map((t) => t.textContent?.trim()).filter((t) => /^(Start|Created|When)\b/.test(t ?? '')));
      expect(await headers()).toEqual(['Start (Europe/London)', 'Created (Europe/London)', 'When (Europe/London)']);
      // The column's cells are wall times of the zone the header names.
      expect(await p.$eval('#results tbody tr td:nth-child(2)', (td) => td.textContent)).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    } finally {
      await close();
    }
  });
});

describe('the end of the session', () => {
  it('warns two minutes before the session ends (an alert, the focus left in the field being typed in) and keeps what was typed through the sign-in again', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=search`);
    try {
      await openCall(p, calls[1]!.rid);
      // Ten seconds left of the token's hour: inside the two minutes, the warning is due at once.
      await p.evaluate(() => {
        const session = JSON.parse(sessionStorage.getItem('ferry-console-token')!);
        sessionStorage.setItem('ferry-console-token', JSON.stringify({ ...session, expiresAt: Date.now() + 10_000 }));
      });
      await p.reload();
      await p.waitForSelector('#call-body:not([hidden])');
      await p.focus('#hold-reason');
      await p.keyboard.type('Listening to the whole call first');
      await p.waitForSelector('#session-warning:not([hidden])');
      expect(await p.getAttribute('#session-warning', 'role')).toBe('alert');
      expect(await p.textContent('#session-warning')).toMatch(/^Your session ends at \d\d:\d\d:\d\d \(Europe\/London\)\. What you have typed is kept/);
      expect(await focused(p)).toBe('hold-reason');
      await p.waitForSelector('#signin-view:not([hidden])', { timeout: 20_000 });
      expect(await p.isVisible('#session-warning')).toBe(false);
      await signIn(p);
      await p.waitForSelector('#call-body:not([hidden])');
      expect(await p.inputValue('#hold-reason')).toBe('Listening to the whole call first');
    } finally {
      await close();
    }
  });
});

describe('the console at 320 px', () => {
  /** How far the page is wider than the screen (0: no sideways scrolling). */
  const overflow = (p: Page) => p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

  it('needs no sideways scrolling with a case of a long reason in the selection bar and on a call page', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=cases`, { width: 320, height: 640 });
    try {
      await expect.poll(() => p.textContent('#cases-status')).toMatch(/case/);
      await p.fill('#case-name', 'Reflow');
      await p.fill('#case-id', 'C-KEYS-320');
      await p.fill('#case-reason', 'Litigation hold request from legal, matter 2026/118, all calls of the customer');
      await press(p, '#case-form button[type=submit]');
      await expect.poll(() => p.textContent('#case-title')).toBe('Case C-KEYS-320');
      await p.goto(consoleUrl(`#site=${SITE}&view=search`));
      await p.waitForSelector('#results tbody tr');
      await press(p, '#results tbody tr:nth-child(1) input[type=checkbox]', 'Space');
      await expect.poll(() => p.$$eval('#selection-case option', (os) => os.length)).toBeGreaterThan(2);
      expect(await overflow(p)).toBe(0);
      await openCall(p, calls[2]!.rid);
      await expect.poll(() => p.$$eval('#call-case option', (os) => os.length)).toBeGreaterThan(2);
      expect(await overflow(p)).toBe(0);
    } finally {
      await close();
    }
  });
});

describe('headings and field names', () => {
  it('gives every field of the Cases view a name of its own, and the case panel headings one level below its title', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=cases&case=C-KEYS-0`);
    try {
      await expect.poll(() => p.textContent('#case-title')).toBe('Case C-KEYS-0');
      const names = await p.$$eval('#cases-view input, #cases-view select', (fields) => fields.filter((f) => !f.closest('[hidden]')).map((f) => (f as HTMLInputElement).labels?.[0]?.textContent?.trim() ?? f.getAttribute('aria-label')));
      expect(names.length).toBeGreaterThan(6);
      expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
      // No level skipped from the case's h2 to the headings of its forms (axe heading-order).
      expect(await p.$$eval('#case-detail h2, #case-detail h3, #case-detail h4', (hs) => hs.map((h) => h.tagName))).toEqual(['H2', 'H3', 'H3', 'H3']);
    } finally {
      await close();
    }
  });
});

describe('back to the calls found', () => {
  it('puts the focus on the Open button of the call just handled, not the top of the list', async () => {
    const { p, close } = await signedInPage(`#site=${SITE}&view=search`);
    try {
      await p.waitForSelector('#results tbody tr');
      const rid = await p.$eval('#results tbody tr:nth-child(3)', (tr) => (tr as HTMLElement).dataset.rid!);
      await press(p, `#results tbody tr[data-rid="${rid}"] button.play`);
      await p.waitForSelector('#call-body:not([hidden])');
      await press(p, '#back-to-search');
      await p.waitForSelector('#search-view:not([hidden])');
      await expect.poll(() => p.evaluate(() => (document.activeElement?.closest('tr') as HTMLElement | null)?.dataset.rid)).toBe(rid);
      expect(await p.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toMatch(/^Open call /);
    } finally {
      await close();
    }
  });
});
