import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { LocalCloud } from '../../local/cloud.ts';
import { startTestCloud } from '../support/local-cloud.ts';
import { shipRecorder } from '../support/ship-recorder.ts';
import { generateBatches, type GeneratedRecording } from '../../scripts/demo/site.ts';
import type { CatalogueEntry } from '../../core/ports.ts';
import { collectPages } from '../../core/paging.ts';
import { apiGet } from '../support/signed.ts';

// The compliance officer's page in a real browser (Debian's Chromium, `apt-get install
// chromium`), against the embedded local cloud: recordings shipped and then deleted from the
// recorder are found through the page and played by the browser's own <audio> element, which
// fetches the replay endpoint with Range requests. Set FERRY_WEB_SCREENSHOT=/path.png to keep
// the screenshot the test takes.

const SITE = 'web';
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'];

let cloud: LocalCloud;
let dir: string;
let recordings: GeneratedRecording[];
let browser: Browser;
let page: Page;

async function searchApi(params: Record<string, string>): Promise<CatalogueEntry[]> {
  return collectPages(async (cursor) => {
    const res = await apiGet(`${cloud.apiUrl}/sites/${SITE}/recordings?${new URLSearchParams({ ...params, ...(cursor ? { cursor } : {}) })}`, { credentials: cloud.credentials });
    expect(res.status).toBe(200);
    return (await res.json()) as { items: CatalogueEntry[]; cursor: string | null };
  });
}

/** The rows the page shows, cell by cell (the last cell is the Play button). */
function rows(): Promise<{ rid: string; cells: string[] }[]> {
  return page.$$eval('#results tbody tr', (trs) => trs.map((tr) => ({ rid: (tr as HTMLElement).dataset.rid ?? '', cells: [...(tr as HTMLTableRowElement).cells].map((c) => {
    // A cell's own text: the call id cell's "shipped by HOST" line under it is its own test's (console-shipped-by).
    const own = c.cloneNode(true) as HTMLElement;
    for (const host of own.querySelectorAll('.result-host')) host.remove();
    return own.textContent ?? '';
  }) })));
}

async function submitSearch(fields: Partial<Record<'agent' | 'number' | 'callId' | 'from' | 'to', string>>): Promise<void> {
  await page.getByRole('button', { name: 'Clear', exact: true }).click();
  for (const [name, value] of Object.entries(fields)) await page.fill(`#${name}`, value);
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.waitForFunction(() => !document.querySelector('#results')?.hasAttribute('aria-busy') && !/Searching/.test(document.getElementById('status')?.textContent ?? ''));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-web-'));
  const root = join(dir, 'recorder');
  const [started, generated] = await Promise.all([
    startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE] }),
    generateBatches({ root, firstBatch: 1, batches: 2, perBatch: 20, seconds: [2, 4], start: new Date('2024-05-06T08:00:00Z'), seed: 11, sidecar: 'xml' }),
  ]);
  cloud = started;
  recordings = generated;
  const report = await shipRecorder(cloud, SITE, dir, root);
  expect(report).toMatchObject({ packs: 2, recordings: 40, failed: 0 });
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
  // The recorder deletes its files: whatever the page plays comes from the cloud.
  rmSync(root, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  const context = await browser.newContext({ timezoneId: 'UTC', locale: 'en-GB', viewport: { width: 1200, height: 900 } });
  page = await context.newPage();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('compliance web page in Chromium', () => {
  it('is served at the root, takes the site from ?site=, finds calls by agent and replays one in <audio>', async () => {
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => void (m.type() === 'error' && pageErrors.push(m.text())));
    const audioRequests: { range?: string; status?: number }[] = [];
    page.on('response', (res) => {
      if (/\/recordings\/r[0-9a-f]{23}\/audio$/.test(new URL(res.url()).pathname) && res.request().method() === 'GET') {
        audioRequests.push({ range: res.request().headers().range, status: res.status() });
      }
    });

    // The address `ferry start` prints carries the page's session; the page drops it from the bar.
    await page.goto(`${cloud.apiUrl}/?site=${SITE}#${new URL(cloud.webUrl).hash.slice(1)}`);
    await expect.poll(() => page.evaluate(() => location.hash)).toBe('');
    await expect.poll(() => page.inputValue('#site')).toBe(SITE);

    const agent = recordings[0]!.metadata.agent;
    await submitSearch({ agent });
    const expected = await searchApi({ agent });
    const wanted = recordings.filter((r) => r.metadata.agent === agent);
    expect(expected.map((e) => e.meta.callId).sort()).toEqual(wanted.map((r) => r.metadata.callId).sort());
    const shown = await rows();
    expect(shown.map((r) => r.rid)).toEqual(expected.map((e) => e.rid));
    for (const [i, row] of shown.entries()) {
      const e = expected[i]!;
      // Start in the browser's zone (UTC here), call id, agent, caller → called.
      expect(row.cells.slice(0, 4)).toEqual([e.start.slice(0, 19).replace('T', ' '), e.meta.callId, agent, `${e.meta.caller} → ${e.meta.called}`]);
    }
    await expect.poll(() => page.textContent('#status')).toBe(`${expected.length} call${expected.length === 1 ? '' : 's'} shown.`);

    const target = expected[1] ?? expected[0]!;
    const recording = recordings.find((r) => r.metadata.callId === target.meta.callId)!;
    await page.click(`#results tbody tr[data-rid="${target.rid}"] td:nth-child(3)`);
    const media = await page.$eval('#audio', (el) => {
      const audio = el as HTMLAudioElement;
      return new Promise<{ duration: number; error: number | null; src: string }>((resolve, reject) => {
        const done = () => resolve({ duration: audio.duration, error: audio.error?.code ?? null, src: audio.src });
        if (audio.readyState >= HTMLMediaElement.HAVE_METADATA) done();
        audio.addEventListener('loadedmetadata', done, { once: true });
        audio.addEventListener('error', () => reject(new Error(`media error ${audio.error?.code}: ${audio.error?.message}`)), { once: true });
        setTimeout(() => reject(new Error('no loadedmetadata within 10 s')), 10_000);
      });
    });
    // Played from the replay endpoint (not the API's), through a presigned link.
    expect(new URL(media.src).origin).toBe(cloud.replayUrl);
    expect(new URL(media.src).pathname).toBe(`/sites/${SITE}/recordings/${target.rid}/audio`);
    expect(new URL(media.src).searchParams.get('X-Amz-Credential')).toMatch(new RegExp(`^${cloud.credentials.accessKeyId}/\\d{8}/us-east-1/lambda/aws4_request$`));
    expect(media.error).toBeNull();
    expect(Math.abs(media.duration - recording.metadata.durationSec)).toBeLessThan(0.1);
    const href = new URL((await page.getAttribute('#download', 'href')) ?? '');
    expect(`${href.origin}${href.pathname}`).toBe(`${cloud.replayUrl}/sites/${SITE}/recordings/${target.rid}/audio`);
    expect(href.searchParams.get('download')).toBe('1');
    expect(href.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(await page.textContent('#player-title')).toBe(`Call ${target.meta.callId}`);
    expect(await page.getAttribute(`#results tbody tr[data-rid="${target.rid}"]`, 'aria-current')).toBe('true');

    // Playing decodes the audio: the position moves (muted, so no sound device is needed).
    const played = await page.$eval('#audio', async (el) => {
      const audio = el as HTMLAudioElement;
      audio.muted = true;
      audio.currentTime = 0;
      await audio.play();
      const t0 = performance.now();
      while (audio.currentTime < 0.3 && performance.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
      audio.pause();
      return { currentTime: audio.currentTime, error: audio.error?.code ?? null };
    });
    expect(played.error).toBeNull();
    expect(played.currentTime).toBeGreaterThanOrEqual(0.3);

    // The browser fetched the recording itself, with Range requests, and the replay audited it.
    expect(audioRequests.length).toBeGreaterThan(0);
    expect(audioRequests.some((r) => r.range?.startsWith('bytes=') && r.status === 206)).toBe(true);
    const audit = readFileSync(cloud.auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; rid?: string; site: string });
    expect(audit).toContainEqual(expect.objectContaining({ action: 'listen', site: SITE, rid: target.rid }));
    expect(pageErrors).toEqual([]);
  });

  it('pages through results with "More", following the API cursor', async () => {
    await submitSearch({});
    const all = await searchApi({ limit: '1000' });
    expect(all).toHaveLength(40);
    expect((await rows()).map((r) => r.rid)).toEqual(all.slice(0, 25).map((e) => e.rid));
    expect(await page.textContent('#status')).toBe('25 calls shown, more available.');
    const more = page.getByRole('button', { name: 'More', exact: true });
    expect(await more.isVisible()).toBe(true);
    await more.click();
    await expect.poll(async () => (await rows()).length).toBe(40);
    expect((await rows()).map((r) => r.rid)).toEqual(all.map((e) => e.rid));
    expect(await more.isVisible()).toBe(false);

    // Keyboard: a row's Play button, focused and pressed with Enter, replays that call.
    const last = all[39]!;
    await page.focus(`#results tbody tr[data-rid="${last.rid}"] button.play`);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.$eval('#audio', (el) => new URL((el as HTMLAudioElement).src).pathname)).toBe(`/sites/${SITE}/recordings/${last.rid}/audio`);
    expect(await page.getAttribute(`#results tbody tr[data-rid="${last.rid}"]`, 'aria-current')).toBe('true');
    await page.$eval('#audio', (el) => (el as HTMLAudioElement).pause());
    const screenshot = process.env.FERRY_WEB_SCREENSHOT ?? join(dir, 'page.png');
    await page.screenshot({ path: screenshot, fullPage: true });
  });

  it("shows the API's own message when it refuses a search (from after to)", async () => {
    const from = '2024-05-07T00:00:00';
    const to = '2024-05-06T00:00:00';
    await submitSearch({ from, to });
    const refused = await apiGet(`${cloud.apiUrl}/sites/${SITE}/recordings?from=${from}Z&to=${to}Z`, { credentials: cloud.credentials });
    expect(refused.status).toBe(400);
    const { message } = (await refused.json()) as { message: string };
    expect(message).toMatch(/from: must not be after to/);
    const error = page.getByRole('alert');
    expect(await error.isVisible()).toBe(true);
    expect(await error.textContent()).toContain(message);
    expect(await error.textContent()).toContain('HTTP 400');
    expect(await rows()).toEqual([]);

    // A bad site is the API's to judge as well; a good search clears the error.
    await page.fill('#site', 'Not A Site');
    await submitSearch({});
    expect(await error.textContent()).toMatch(/site: must be a site name/);
    await page.fill('#site', SITE);
    await submitSearch({ callId: recordings[5]!.metadata.callId });
    expect(await error.isVisible()).toBe(false);
    expect((await rows()).map((r) => r.cells[1])).toEqual([recordings[5]!.metadata.callId]);
  });

  it("shows an error message quoting bidi and control characters escaped, not as the characters", async () => {
    // Whatever the API quotes back (a call id typed into the form): the answer is stood in for at the page's edge.
    const hostile = 'callId: no call "abc\u202Evaw.exe" \u0007here';
    const search = (url: URL): boolean => url.pathname === `/sites/${SITE}/recordings`;
    await page.route(search, (route) => route.fulfill({ status: 400, contentType: 'application/json', body: JSON.stringify({ message: hostile }) }));
    try {
      await submitSearch({ callId: 'abc' });
      const shown = (await page.getByRole('alert').textContent()) ?? '';
      expect(shown).toContain('no call "abc\\u{202e}vaw.exe" \\x07here');
      expect(shown).not.toMatch(/[\u202e\u0007]/);
    } finally {
      await page.unroute(search);
    }
  });
});
