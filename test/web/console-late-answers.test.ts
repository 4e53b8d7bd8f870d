import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCloud } from '../../local/cloud.ts';
import { siteGroup } from '../../core/console-access.ts';
import { demoPassword } from '../../local/cognito-server.ts';
import { consoleUrl, signedInConsolePage } from '../support/console-browser.ts';
import { holdRoute, settle } from '../support/held-route.ts';
import { startCloudWithCalls, type CloudWithCalls, type ShippedCall as Call } from '../support/cloud-with-calls.ts';

// The console on a slow network (an officer on a phone over 3G), in Chromium against the local
// cloud: an answer held back with `page.route` until the officer has moved on (another call,
// another case) is dropped, not drawn over what is shown now nor acted on; a button that starts
// work sends its request once however often it is pressed while that request runs.

const SITE = 'demo';

let started: CloudWithCalls | undefined;
let cloud: LocalCloud;
let browser: Browser;
/** The site's calls (shipped in one pack: a hold locks the pack's objects), as the page names them. */
let entries: Call[] = [];
/** The calls the tests use, A to H (the site's first eight), set once they are shipped. */
let A!: Call, B!: Call, C!: Call, D!: Call, E!: Call, F!: Call, G!: Call, H!: Call;
const pageErrors: string[] = [];
const callId = (e: Call) => e.callId;

const open = (hash = '') => signedInConsolePage(browser, cloud, hash, { pageErrors, consoleErrors: true });

/** Goes to `hash` as a link or an address typed would (a new entry of the tab's history). */
const go = (p: Page, hash: string) => p.evaluate((h) => void (location.hash = h), hash);

/** Goes to call `e` and waits until its page is drawn (its holds read). */
async function openCall(p: Page, e: Call): Promise<void> {
  const holds = p.waitForResponse((r) => r.request().method() === 'GET' && new URL(r.url()).pathname.endsWith('/holds') && new URL(r.url()).searchParams.get('rid') === e.rid);
  await go(p, `site=${SITE}&view=call&rid=${e.rid}`);
  await expect.poll(() => p.textContent('#call-title')).toBe(`Call ${callId(e)}`);
  await holds;
  await expect.poll(() => p.textContent('#holds-state')).toMatch(/^(Not on hold\.|ON HOLD)/);
}

/** Creates case `id` in the Cases view (its page shows it). */
async function createCase(p: Page, id: string, reason: string): Promise<void> {
  await go(p, `site=${SITE}&view=cases`);
  await p.fill('#case-name', `Matter ${id}`);
  await p.fill('#case-id', id);
  await p.fill('#case-reason', reason);
  await p.getByRole('button', { name: 'Create case' }).click();
  await expect.poll(() => p.textContent('#case-title')).toBe(`Case ${id}`);
  await expect.poll(() => p.textContent('#case-summary')).toContain(reason);
}

/** Ticks call `e` in the results of a search of every call of the site. */
async function tick(p: Page, e: Call): Promise<void> {
  await go(p, `site=${SITE}&view=search&limit=25`);
  await p.getByRole('button', { name: 'Search', exact: true }).click();
  await expect.poll(() => p.$$eval('#results tbody tr', (rows) => rows.length)).toBe(entries.length);
  await p.check(`[aria-label="Select call ${callId(e)}"]`);
}

/** Exports call `e` from the search's selection. */
async function exportCall(p: Page, e: Call, reason: string): Promise<void> {
  await tick(p, e);
  await p.fill('#selection-reason', reason);
  await p.click('#export-selected');
}

/** Signs out with the button, then in again as the same officer (the desk's next officer). */
async function signOutAndIn(p: Page, between: () => Promise<void> = async () => undefined): Promise<void> {
  await p.click('#sign-out');
  await p.waitForSelector('#signin-view:not([hidden])');
  await between();
  await p.fill('#username', cloud.console.demo.username);
  await p.fill('#password', cloud.console.demo.password);
  await p.keyboard.press('Enter');
  await p.waitForFunction(() => (document.getElementById('signin-view') as HTMLElement).hidden);
  await go(p, `site=${SITE}&view=cases`);
  await expect.poll(() => p.textContent('#cases-status')).toMatch(/case/);
}

const isRecord = (e: Call) => (url: URL, method: string) => method === 'GET' && url.pathname.endsWith(`/recordings/${e.rid}`);

beforeAll(async () => {
  started = await startCloudWithCalls('console-late', [SITE], Array.from({ length: 12 }, (_, i) => `LATE-${i}`), 'Lee Late');
  ({ cloud, browser, calls: entries } = started);
  [A, B, C, D, E, F, G, H] = entries as [Call, Call, Call, Call, Call, Call, Call, Call];
}, 180_000);

afterAll(() => started?.stop());

describe('the console when an answer comes after the officer moved on', () => {
  it("keeps call B's page when call A's record answers after B was opened (no title or record of A over B)", async () => {
    const held = { route: undefined as Awaited<ReturnType<typeof holdRoute>> | undefined };
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=call&rid=${A.rid}`, {
      pageErrors,
      consoleErrors: true,
      beforeLoad: async (page) => void (held.route = await holdRoute(page, isRecord(A))),
    });
    try {
      await held.route!.asked;
      await openCall(p, B);
      const answered = p.waitForResponse((r) => isRecord(A)(new URL(r.url()), r.request().method()));
      held.route!.release();
      expect((await answered).status()).toBe(200);
      await settle(p);
      expect(await p.textContent('#call-title')).toBe(`Call ${callId(B)}`);
      const record = await p.textContent('#record');
      expect(record).toContain(B.rid);
      expect(record).not.toContain(A.rid);
      expect(pageErrors).toEqual([]);
    } finally {
      await close();
    }
  });

  it("plays nothing of call A under call B's title when A's play link answers after B was opened", async () => {
    const { p, close } = await open(`#site=${SITE}&view=search`);
    try {
      await openCall(p, A);
      const link = await holdRoute(p, (url, method) => method === 'POST' && url.pathname.endsWith(`/recordings/${A.rid}/play-link`));
      await p.click('#play');
      await link.asked;
      await openCall(p, B);
      const answered = p.waitForResponse((r) => r.url().includes(`/recordings/${A.rid}/play-link`));
      link.release();
      expect((await answered).status()).toBe(200);
      await settle(p);
      expect(await p.textContent('#call-title')).toBe(`Call ${callId(B)}`);
      expect(await p.getAttribute('#audio', 'src')).toBeNull();
      expect(await p.textContent('#play')).toBe('Play');
    } finally {
      await close();
    }
  });

  it('names call C in the notice of a hold placed on C that answers after B was opened, and leaves B shown as not held', async () => {
    const { p, close } = await open(`#site=${SITE}&view=search`);
    try {
      await openCall(p, C);
      const placing = await holdRoute(p, (url, method) => method === 'POST' && url.pathname.endsWith('/holds'));
      await p.fill('#hold-reason', 'Court order 41/2026');
      await p.getByRole('button', { name: 'Place hold' }).click();
      await placing.asked;
      await openCall(p, B);
      const answered = p.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.endsWith('/holds'));
      placing.release();
      expect((await answered).status()).toBe(201);
      await expect.poll(() => p.textContent('#notice')).toBe(`Hold placed on call ${callId(C)}.`);
      await settle(p);
      expect(await p.textContent('#call-title')).toBe(`Call ${callId(B)}`);
      expect(await p.textContent('#holds-state')).toBe('Not on hold.');
      // C is held, as its own page says.
      await openCall(p, C);
      expect(await p.textContent('#holds-state')).toBe('ON HOLD: 1 active hold; the call cannot be deleted.');
    } finally {
      await close();
    }
  });

  it("keeps held call D shown ON HOLD when call F's holds (none) answer after D was opened", async () => {
    const { p, close } = await open(`#site=${SITE}&view=search`);
    try {
      await openCall(p, D);
      await p.fill('#hold-reason', 'Court order 42/2026');
      await p.getByRole('button', { name: 'Place hold' }).click();
      await expect.poll(() => p.textContent('#holds-state')).toBe('ON HOLD: 1 active hold; the call cannot be deleted.');
      const holdsOfF = await holdRoute(p, (url, method) => method === 'GET' && url.pathname.endsWith('/holds') && url.searchParams.get('rid') === F.rid);
      await go(p, `site=${SITE}&view=call&rid=${F.rid}`);
      await holdsOfF.asked;
      await openCall(p, D);
      expect(await p.textContent('#holds-state')).toBe('ON HOLD: 1 active hold; the call cannot be deleted.');
      const answered = p.waitForResponse((r) => r.request().method() === 'GET' && new URL(r.url()).searchParams.get('rid') === F.rid);
      holdsOfF.release();
      expect((await answered).status()).toBe(200);
      await settle(p);
      expect(await p.textContent('#holds-state')).toBe('ON HOLD: 1 active hold; the call cannot be deleted.');
      expect(await p.$$eval('#holds-list li', (lis) => lis.map((li) => li.textContent))).toEqual([expect.stringMatching(/^Held on this call since .*: Court order 42\/2026$/)]);
      expect(await p.isVisible('#release-form')).toBe(true);
    } finally {
      await close();
    }
  });

  it("keeps case Y's page when case X answers after Y was opened, and a hold placed there holds Y", async () => {
    const { p, close } = await open(`#site=${SITE}&view=search`);
    try {
      await createCase(p, 'LATE-X', 'Reason of X');
      await createCase(p, 'LATE-Y', 'Reason of Y');
      const caseX = await holdRoute(p, (url, method) => method === 'GET' && url.pathname.endsWith('/cases/LATE-X'));
      await go(p, `site=${SITE}&view=cases&case=LATE-X`);
      await caseX.asked;
      await go(p, `site=${SITE}&view=cases&case=LATE-Y`);
      await expect.poll(() => p.textContent('#case-summary')).toContain('Reason of Y');
      const answered = p.waitForResponse((r) => new URL(r.url()).pathname.endsWith('/cases/LATE-X'));
      caseX.release();
      expect((await answered).status()).toBe(200);
      await settle(p);
      expect(await p.textContent('#case-title')).toBe('Case LATE-Y');
      expect(await p.textContent('#case-summary')).toContain('Reason of Y');
      const sent = p.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname.endsWith('/holds'));
      await p.fill('#case-hold-reason', 'Tribunal 7/2026');
      await p.locator('#case-hold-form button[type=submit]').click();
      expect((await sent).postDataJSON()).toMatchObject({ caseId: 'LATE-Y' });
      await expect.poll(() => p.textContent('#notice')).toMatch(/^Hold placed on case LATE-Y/);
    } finally {
      await close();
    }
  });
});

describe('the console when the next page of the calls found answers after the officer went back to them', () => {
  it('leaves the officer on the calls found when Next call\'s page answers after Back to the calls found', async () => {
    const { p, close } = await open(`#site=${SITE}&view=search`);
    try {
      await p.selectOption('#limit', '10');
      await p.getByRole('button', { name: 'Search', exact: true }).click();
      await expect.poll(() => p.$$eval('#results tbody tr', (rows) => rows.length)).toBe(10);
      await p.locator('#results tbody tr').last().getByRole('button').click();
      await expect.poll(() => p.textContent('#call-position')).toBe('Call 10 of 10 on page 1 (Next call opens page 2)');
      const nextPage = await holdRoute(p, (url, method) => method === 'GET' && url.pathname.endsWith('/recordings') && url.searchParams.has('cursor'));
      await p.click('#next-call');
      await nextPage.asked;
      await p.click('#back-to-search');
      await expect.poll(() => p.isVisible('#search-view')).toBe(true);
      const answered = p.waitForResponse((r) => new URL(r.url()).pathname.endsWith('/recordings') && new URL(r.url()).searchParams.has('cursor'));
      nextPage.release();
      expect((await answered).status()).toBe(200);
      await settle(p);
      expect(await p.isVisible('#search-view')).toBe(true);
      expect(await p.isHidden('#call-view')).toBe(true);
      expect(await p.evaluate(() => new URLSearchParams(location.hash.slice(1)).get('view'))).toBe('search');
    } finally {
      await close();
    }
  });
});

describe('the console on a slow network: a button pressed twice while its request runs', () => {
  it("sends a call's Add to case once when the button is double-clicked", async () => {
    const { p, close } = await open(`#site=${SITE}&view=search`);
    try {
      await createCase(p, 'TWICE-1', 'Double click');
      await openCall(p, E);
      await expect.poll(() => p.$$eval('#call-case option', (os) => os.map((o) => (o as HTMLOptionElement).value))).toContain('TWICE-1');
      await p.selectOption('#call-case', 'TWICE-1');
      const adding = await holdRoute(p, (url, method) => method === 'POST' && url.pathname.endsWith('/cases/TWICE-1/calls'));
      await p.locator('#call-case-form button').dblclick();
      await adding.asked;
      await settle(p);
      expect(adding.count()).toBe(1);
      adding.release();
      await expect.poll(() => p.textContent('#notice')).toBe(`Call ${callId(E)} added to case TWICE-1.`);
      expect(adding.count()).toBe(1);
    } finally {
      await close();
    }
  });

  it('sends the selected calls to a case once when Add to case is double-clicked', async () => {
    const { p, close } = await open(`#site=${SITE}&view=search`);
    try {
      await createCase(p, 'TWICE-2', 'Double click of the selection');
      await go(p, `site=${SITE}&view=search&limit=25`);
      await p.getByRole('button', { name: 'Search', exact: true }).click();
      await expect.poll(() => p.$$eval('#results tbody tr', (rows) => rows.length)).toBe(entries.length);
      await p.check(`[aria-label="Select call ${callId(A)}"]`);
      await p.check(`[aria-label="Select call ${callId(B)}"]`);
      await expect.poll(() => p.$$eval('#selection-case option', (os) => os.map((o) => (o as HTMLOptionElement).value))).toContain('TWICE-2');
      await p.selectOption('#selection-case', 'TWICE-2');
      const adding = await holdRoute(p, (url, method) => method === 'POST' && url.pathname.endsWith('/cases/TWICE-2/calls'));
      await p.locator('#add-selected').dblclick();
      await adding.asked;
      await settle(p);
      expect(adding.count()).toBe(1);
      adding.release();
      await expect.poll(() => p.textContent('#notice')).toBe('2 calls added to case TWICE-2.');
      expect(adding.count()).toBe(1);
    } finally {
      await close();
    }
  });
});

describe('the console on a slow network: Search pressed twice', () => {
  it('sends one search request (so one audit record) and adds one history entry when Search is double-clicked while its first page is read, and asks again when pressed after it is shown', async () => {
    const { p, close } = await open(`#site=${SITE}&view=search`);
    try {
      await expect.poll(() => p.textContent('#status')).toMatch(/calls? match/);
      const isSearch = (url: URL, method: string) => method === 'GET' && url.pathname.endsWith(`/sites/${SITE}/recordings`) && url.searchParams.get('limit') === '10';
      const searching = await holdRoute(p, isSearch);
      const entriesBefore = await p.evaluate(() => history.length);
      await p.selectOption('#limit', '10');
      await p.getByRole('button', { name: 'Search', exact: true }).dblclick();
      await searching.asked;
      await settle(p);
      expect(searching.count()).toBe(1);
      searching.release();
      await expect.poll(() => p.$$eval('#results tbody tr', (rows) => rows.length)).toBe(10);
      expect(searching.count()).toBe(1);
      expect(await p.evaluate(() => history.length)).toBe(entriesBefore + 1);
      // Pressed again once the page is shown: a search asked again (the officer's refresh), not ignored.
      await p.getByRole('button', { name: 'Search', exact: true }).click();
      await expect.poll(() => searching.count()).toBe(2);
    } finally {
      await close();
    }
  });
});

describe('the console on a slow network: a new password set with a double click', () => {
  it('answers the new-password challenge once when Set password and sign in is double-clicked, and signs in without an error', async () => {
    const temporary = { username: 'new-late-officer', password: demoPassword(), groups: [siteGroup(SITE)], temporary: true };
    cloud.console.addUser(temporary);
    const c = await browser.newContext({ timezoneId: 'Europe/London', locale: 'en-GB' });
    const p = await c.newPage();
    p.setDefaultTimeout(15_000);
    try {
      await p.goto(consoleUrl(cloud));
      await p.waitForSelector('#signin-view:not([hidden])');
      await p.fill('#username', temporary.username);
      await p.fill('#password', temporary.password);
      await p.keyboard.press('Enter');
      await p.waitForSelector('#newpw-view:not([hidden])');
      const chosen = demoPassword();
      await p.fill('#new-password', chosen);
      await p.fill('#new-password-again', chosen);
      const answering = await holdRoute(p, (_url, method, request) => method === 'POST' && request.headers()['x-amz-target'] === 'AWSCognitoIdentityProviderService.RespondToAuthChallenge');
      await p.getByRole('button', { name: 'Set password and sign in' }).dblclick();
      await answering.asked;
      await settle(p);
      expect(answering.count()).toBe(1);
      answering.release();
      await p.waitForSelector('#search-view:not([hidden])');
      await settle(p);
      expect(answering.count()).toBe(1);
      expect(await p.textContent('#who')).toBe(temporary.username);
      expect(await p.isHidden('#newpw-error')).toBe(true);
    } finally {
      await c.close();
    }
  });
});

describe('the console after a sign-out at a shared desk', () => {
  it('shows the next officer no export of the officer who signed out', async () => {
    const { p, close } = await open(`#site=${SITE}&view=search`);
    try {
      await exportCall(p, G, 'Subject access request 9');
      await expect.poll(() => p.isVisible('#export-panel')).toBe(true);
      await signOutAndIn(p);
      expect(await p.isHidden('#export-panel')).toBe(true);
      expect(await p.textContent('#export-facts')).toBe('');
    } finally {
      await close();
    }
  });

  it("shows the next officer no error of a hold the officer who signed out placed, refused after the sign-out (nothing on the sign-in form, nothing after signing in)", async () => {
    const { p, close } = await open(`#site=${SITE}&view=search`);
    try {
      await openCall(p, C);
      let refuse!: () => void;
      const refused = new Promise<void>((resolve) => (refuse = resolve));
      let asked!: () => void;
      const placing = new Promise<void>((resolve) => (asked = resolve));
      await p.route(
        (url) => url.pathname.endsWith('/holds'),
        async (route) => {
          if (route.request().method() !== 'POST') return route.fallback();
          asked();
          await refused;
          await route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: 'ServiceUnavailable', message: `the hold store is busy for call ${callId(C)}` }) }).catch(() => undefined);
        },
      );
      await p.fill('#hold-reason', 'Court order 43/2026');
      await p.getByRole('button', { name: 'Place hold' }).click();
      await placing;
      await signOutAndIn(p, async () => {
        const answered = p.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.endsWith('/holds'));
        refuse();
        expect((await answered).status()).toBe(503);
        await settle(p);
        expect(await p.isHidden('#error')).toBe(true);
        expect(await p.textContent('body')).not.toContain('the hold store is busy');
      });
      expect(await p.isHidden('#error')).toBe(true);
      expect(await p.textContent('body')).not.toContain('the hold store is busy');
    } finally {
      await close();
    }
  });

  it("shows the next officer no export whose start answered after the officer who started it signed out", async () => {
    const { p, close } = await open(`#site=${SITE}&view=search`);
    try {
      const starting = await holdRoute(p, (url, method) => method === 'POST' && url.pathname.endsWith('/exports'));
      await exportCall(p, H, 'Subject access request 10');
      await starting.asked;
      await signOutAndIn(p, async () => {
        const answered = p.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.endsWith('/exports'));
        starting.release();
        expect((await answered).ok()).toBe(true);
        await settle(p);
      });
      expect(await p.isHidden('#export-panel')).toBe(true);
      expect(await p.textContent('#export-facts')).toBe('');
      expect(await p.textContent('#notice')).not.toMatch(/Export/);
    } finally {
      await close();
    }
  });
});

describe('the console that cannot read its configuration', () => {
  it('says so above the sign-in form (errors are kept off the sign-in form only for requests of an officer who signed out)', async () => {
    const c = await browser.newContext({ timezoneId: 'Europe/London', locale: 'en-GB' });
    try {
      const p = await c.newPage();
      await p.route(/\/config\.json/, (route) => route.fulfill({ status: 500, contentType: 'text/plain', body: 'broken' }));
      await p.goto(consoleUrl(cloud));
      await p.waitForSelector('#signin-view:not([hidden])');
      await expect.poll(() => p.textContent('#error')).toBe("The console's configuration (config.json) could not be read (HTTP 500).");
      expect(await p.isVisible('#error')).toBe(true);
    } finally {
      await c.close();
    }
  });
});
