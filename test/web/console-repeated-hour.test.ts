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

// An officer in New York looking for "the call at 01:30" on the night the clocks went back
// (1 November 2026: 01:00-01:59 happens twice, EDT then EST), in the console (Chromium against
// the embedded local cloud): a range typed within that hour holds the calls of both hours, and
// the page says which instants it searched.

/** The generated deployment's site (local/iam-deployment.generated.json): no synth of another. */
const SITE = 'demo';
const LATE_CALLS = 11;
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let dir: string;
let cloud: LocalCloud;
let browser: Browser;
const pageErrors: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-console-repeated-'));
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE] });
  // 01:30 EDT (05:30Z) and 01:30 EST (06:30Z): the same wall time an hour apart.
  const fixture = buildPack(SITE, [
    { path: '0001/NY-FB-A.wav', body: wavFile(2, 'tone'), meta: { callId: 'NY-FB-A', agent: 'Alice Martin', caller: '+12125550100', called: '+12125550199', direction: 'inbound', durationSec: 2, start: '2026-11-01T05:30:00.000Z' } },
    { path: '0001/NY-FB-B.wav', body: wavFile(2, 'tone'), meta: { callId: 'NY-FB-B', agent: 'Bob Stone', caller: '+12125550100', called: '+12125550199', direction: 'inbound', durationSec: 2, start: '2026-11-01T06:30:00.000Z' } },
    // Later that morning (04:00-04:10 EST): a search from the repeated hour that takes more than a page.
    ...Array.from({ length: LATE_CALLS }, (_, i): FixtureMember => ({ path: `0001/NY-LATE-${i}.wav`, body: wavFile(1), meta: { callId: `NY-LATE-${String(i).padStart(2, '0')}`, agent: 'Carol Late', caller: '+12125550100', called: '+12125550199', direction: 'inbound', durationSec: 1, start: new Date(Date.UTC(2026, 10, 1, 9, i)).toISOString() } })),
  ], { day: '2026-11-01T00:00:00Z', seed: 'fall-back-2026' });
  await cloud.blobs.put(fixture.packKey, fixture.pack);
  await cloud.blobs.put(fixture.manifestKey, fixture.manifestBytes, { contentType: 'application/json' });
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function search(p: Page, from: string, to: string, more: { agent?: string; limit?: string } = {}): Promise<{ query: URLSearchParams; status: string | null; calls: string[] }> {
  await p.fill('#from', from);
  await p.fill('#to', to);
  await p.fill('#agent', more.agent ?? '');
  await p.selectOption('#limit', more.limit ?? '25');
  const answered = p.waitForResponse((r) => r.url().includes(`/sites/${SITE}/recordings?`) && new URL(r.url()).searchParams.has('from'));
  await p.getByRole('button', { name: 'Search', exact: true }).click();
  const query = new URL((await answered).url()).searchParams;
  await p.waitForFunction(() => !document.getElementById('status')!.textContent!.startsWith('Searching'));
  const calls = await p.$$eval('#results tbody tr', (trs) => trs.map((tr) => (tr as HTMLTableRowElement).cells[2]?.textContent ?? ''));
  return { query, status: await p.textContent('#status'), calls };
}

describe('a time range in the hour the clocks went back, in the console', () => {
  it('reads To as the second occurrence, so 01:00 to 01:59:59 finds the 01:30 calls of both hours, and says which instants it searched; a From in the hour the clocks skipped holds the calls from the change on', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=search`, { pageErrors, timezoneId: 'America/New_York' });
    try {
      const hour = await search(p, '2026-11-01T01:00:00', '2026-11-01T01:59:59');
      expect([hour.query.get('from'), hour.query.get('to')]).toEqual(['2026-11-01T05:00:00.000Z', '2026-11-01T06:59:59.000Z']);
      expect(hour.calls).toEqual(['NY-FB-A', 'NY-FB-B']);
      expect(hour.status).toBe('2 calls match this search. The clocks went back in America/New_York that night and showed these times twice: searched From 2026-11-01 01:00:00 UTC-04:00, To 2026-11-01 01:59:59 UTC-05:00.');
      // "The call at 01:30": From and To both 01:30, the two calls that started then.
      const exact = await search(p, '2026-11-01T01:30:00', '2026-11-01T01:30:00');
      expect(exact.calls).toEqual(['NY-FB-A', 'NY-FB-B']);
      // A range that only crosses the change names no occurrence.
      const night = await search(p, '2026-11-01T00:00:00', '2026-11-01T03:00:00');
      expect(night.status).toBe('2 calls match this search.');
      // 8 March 2026, 02:00 became 03:00: a From of 02:30 is read with the offset after the change (06:30Z), so a call at 03:10 EDT (07:10Z) is after it; a To of 02:30 is moved forward (07:30Z).
      const spring = await search(p, '2026-03-08T02:30:00', '2026-03-08T02:30:00');
      expect([spring.query.get('from'), spring.query.get('to')]).toEqual(['2026-03-08T06:30:00.000Z', '2026-03-08T07:30:00.000Z']);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('says which occurrence it searched on every page of an answer that says what it found: more than a page (with the count, and on the last page), and none', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=search`, { pageErrors, timezoneId: 'America/New_York' });
    const note = 'The clocks went back in America/New_York that night and showed this time twice: searched From 2026-11-01 01:30:00 UTC-04:00.';
    try {
      const paged = await search(p, '2026-11-01T01:30:00', '2026-11-01T05:00:00', { limit: '10' });
      expect(paged.calls).toHaveLength(10);
      await expect.poll(() => p.textContent('#status')).toBe(`10 calls on this page (calls 1–10 of ${LATE_CALLS + 2}). ${note}`);
      await p.getByRole('button', { name: 'Next page' }).click();
      await expect.poll(() => p.textContent('#status')).toBe(`${LATE_CALLS + 2 - 10} calls on this page (calls 11–${LATE_CALLS + 2} of ${LATE_CALLS + 2}). ${note}`);
      const none = await search(p, '2026-11-01T01:00:00', '2026-11-01T01:59:59', { agent: 'Nobody Here' });
      expect(none.calls).toEqual([]);
      expect(none.status).toBe(
        'No calls at demo between 2026-11-01 01:00:00 UTC-04:00 and 2026-11-01 01:59:59 UTC-05:00 (America/New_York) match this search. Agents are matched whole and exactly as the recorder wrote them, capitals included (alice martin does not find Alice Martin): type the value as the recorder writes it. ' +
          'The clocks went back in America/New_York that night and showed these times twice: searched From 2026-11-01 01:00:00 UTC-04:00, To 2026-11-01 01:59:59 UTC-05:00.',
      );
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('keeps a To typed in the hour the clocks went back as its second occurrence when another zone is chosen, in the search and in the audit trail filter', async () => {
    const sent: URL[] = [];
    const onRequest = (_method: string, url: URL) => void (url.pathname.endsWith(`/sites/${SITE}/audit`) && sent.push(url));
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=search`, { pageErrors, timezoneId: 'America/New_York', onRequest });
    try {
      await p.waitForFunction(() => !document.getElementById('status')!.textContent!.startsWith('Searching'));
      await p.fill('#from', '2026-11-01T01:00:00');
      await p.fill('#to', '2026-11-01T01:59:59');
      await p.getByLabel('time zone').selectOption('UTC');
      // 01:59:59 EST is 06:59:59Z: To stays the instant it was read as, not the first 01:59:59 (05:59:59Z).
      expect([await p.inputValue('#from'), await p.inputValue('#to')]).toEqual(['2026-11-01T05:00', '2026-11-01T06:59:59']);
      const answered = p.waitForResponse((r) => r.url().includes(`/sites/${SITE}/recordings?`) && new URL(r.url()).searchParams.has('from'));
      await p.getByRole('button', { name: 'Search', exact: true }).click();
      const query = new URL((await answered).url()).searchParams;
      expect([query.get('from'), query.get('to')]).toEqual(['2026-11-01T05:00:00.000Z', '2026-11-01T06:59:59.000Z']);
      await p.getByLabel('time zone').selectOption('America/New_York');
      await p.getByRole('link', { name: 'Audit trail' }).click();
      await expect.poll(() => p.textContent('#audit-status')).toMatch(/records? on page 1\.$|^No records/);
      sent.length = 0;
      await p.fill('#audit-from', '2026-11-01T01:00:00');
      await p.fill('#audit-to', '2026-11-01T01:59:59');
      await p.getByLabel('time zone').selectOption('UTC');
      expect(await p.inputValue('#audit-to')).toBe('2026-11-01T06:59:59');
      await p.getByRole('button', { name: 'Search the trail' }).click();
      const ranged = () => sent.filter((u) => u.searchParams.has('to'));
      await expect.poll(() => ranged().length).toBeGreaterThan(0);
      expect([ranged().at(-1)!.searchParams.get('from'), ranged().at(-1)!.searchParams.get('to')]).toEqual(['2026-11-01T05:00:00.000Z', '2026-11-01T06:59:59.000Z']);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('lets an officer in London show and search times in New York time: "the call at 01:30" finds both, the columns and the call name the zone, and London time comes back on choosing it; Asia/Kolkata is listed by that name', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=search`, { pageErrors });
    try {
      await p.waitForFunction(() => !document.getElementById('status')!.textContent!.startsWith('Searching'));
      // Typed in London time, then the zone changed: the same instants, shown in New York time.
      await p.fill('#from', '2026-11-01T05:00:00');
      await p.fill('#to', '2026-11-01T07:00:00');
      await p.getByLabel('time zone').selectOption('America/New_York');
      expect([await p.inputValue('#from'), await p.inputValue('#to')]).toEqual(['2026-11-01T01:00', '2026-11-01T02:00']);
      expect(await p.textContent('#zone-note')).toBe('From and To are in America/New_York time, and both are included (a call at exactly To is found); the catalogue is asked in UTC.');
      const exact = await search(p, '2026-11-01T01:30:00', '2026-11-01T01:30:00');
      expect([exact.query.get('from'), exact.query.get('to')]).toEqual(['2026-11-01T05:30:00.000Z', '2026-11-01T06:30:00.000Z']);
      expect(exact.calls).toEqual(['NY-FB-A', 'NY-FB-B']);
      const rows = () => p.$$eval('#results tbody tr', (trs) => trs.map((tr) => (tr as HTMLTableRowElement).cells[1]?.textContent ?? ''));
      expect(await rows()).toEqual(['2026-11-01 01:30:00 UTC-04:00', '2026-11-01 01:30:00 UTC-05:00']);
      expect(await p.textContent('#results thead')).toContain('Start (America/New_York)');
      await p.getByRole('button', { name: 'Open call NY-FB-B' }).click();
      await p.waitForSelector('#call-body:not([hidden])');
      expect(await p.textContent('#call-summary')).toBe('2026-11-01 01:30:00 UTC-05:00 (America/New_York) · Bob Stone · +12125550100 → +12125550199 · inbound · 0:02');
      await p.getByLabel('time zone').selectOption('Europe/London');
      await expect.poll(() => p.textContent('#call-summary')).toBe('2026-11-01 06:30:00 (Europe/London) · Bob Stone · +12125550100 → +12125550199 · inbound · 0:02');
      // A Kolkata site's zone is listed by the name its agent config gives (the browser's data says Asia/Calcutta).
      await p.getByLabel('time zone').selectOption('Asia/Kolkata');
      await expect.poll(() => p.textContent('#call-summary')).toBe('2026-11-01 12:00:00 (Asia/Kolkata) · Bob Stone · +12125550100 → +12125550199 · inbound · 0:02');
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('reads the audit trail filter\'s To in that hour as its second occurrence too', async () => {
    const sent: URL[] = [];
    const onRequest = (_method: string, url: URL) => void (url.pathname.endsWith(`/sites/${SITE}/audit`) && sent.push(url));
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=audit`, { pageErrors, timezoneId: 'America/New_York', onRequest });
    try {
      await expect.poll(() => p.textContent('#audit-status')).toMatch(/records? on page 1\.$|^No records/);
      sent.length = 0;
      await p.fill('#audit-from', '2026-11-01T01:00:00');
      await p.fill('#audit-to', '2026-11-01T01:59:59');
      await p.getByRole('button', { name: 'Search the trail' }).click();
      await expect.poll(() => sent.length).toBe(1);
      expect([sent[0]!.searchParams.get('from'), sent[0]!.searchParams.get('to')]).toEqual(['2026-11-01T05:00:00.000Z', '2026-11-01T06:59:59.000Z']);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });
});
