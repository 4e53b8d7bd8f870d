import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCloudWithCalls, type CloudWithCalls } from '../support/cloud-with-calls.ts';
import { holdRoute, settle } from '../support/held-route.ts';

// The local web page (web/app.js: search a site, play a call) on a slow network, in Chromium
// against the local cloud: the links of a call chosen before the last one, answering late, do not
// replace the audio of the call now chosen.

const SITE = 'demo';
let started: CloudWithCalls | undefined;

beforeAll(async () => {
  started = await startCloudWithCalls('app-late', [SITE], ['SLOW-0', 'SLOW-1'], 'Sam Slow');
}, 180_000);

afterAll(() => started?.stop());

describe('the web page when a play link answers after another call was chosen', () => {
  it("keeps the audio, title and download of call B when call A's links answer after B was chosen", async () => {
    const { cloud, browser, calls } = started!;
    const context = await browser.newContext({ timezoneId: 'UTC', locale: 'en-GB' });
    const p = await context.newPage();
    p.setDefaultTimeout(15_000);
    try {
      const [a, b] = calls.map((c) => c.rid) as [string, string];
      await p.goto(`${cloud.apiUrl}/?site=${SITE}#${new URL(cloud.webUrl).hash.slice(1)}`);
      await p.getByRole('button', { name: 'Search', exact: true }).click();
      await expect.poll(() => p.$$eval('#results tbody tr', (rows) => rows.length)).toBe(2);
      const linksOfA = await holdRoute(p, (url) => url.pathname.endsWith('/local/replay-link') && url.searchParams.get('rid') === a);
      await p.click(`#results tbody tr[data-rid="${a}"] button.play`);
      await linksOfA.asked;
      await p.click(`#results tbody tr[data-rid="${b}"] button.play`);
      await expect.poll(() => p.getAttribute('#audio', 'src')).toBeTruthy();
      const playingB = await p.getAttribute('#audio', 'src');
      const downloadB = await p.getAttribute('#download', 'href');
      const answered = p.waitForResponse((r) => new URL(r.url()).searchParams.get('rid') === a && r.url().includes('replay-link'));
      linksOfA.release();
      expect((await answered).status()).toBe(200);
      await settle(p);
      expect(await p.textContent('#player-title')).toBe('Call SLOW-1');
      expect(await p.getAttribute('#audio', 'src')).toBe(playingB);
      expect(await p.getAttribute('#download', 'href')).toBe(downloadB);
      expect(await p.getAttribute('#download', 'aria-label')).toBe('Download call SLOW-1');
    } finally {
      await context.close();
    }
  });
});
