import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClients } from '../../adapters/aws-clients.ts';
import { DynamoPurgeWatchStore } from '../../adapters/dynamo-deadman.ts';
import { DynamoPurgeRunStore } from '../../adapters/dynamo-purge-runs.ts';
import { DynamoRunStore } from '../../adapters/dynamo-runs.ts';
import { readFleet } from '../../core/fleet-read.ts';
import { heartbeatKey, type FleetRow } from '../../core/fleet.ts';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import type { DeploymentSnapshot } from '../../local/iam-gateway/deployment.ts';
import { fleetSitesOf, simulatedHeartbeat, simulatedRefusal, writeSimulatedFleet, type SimulatedSite } from '../../scripts/demo/fleet.ts';
import { deploymentFor } from '../support/local-cloud.ts';
import { apiGet } from '../support/signed.ts';

// The fleet status console page in a real browser (Debian's Chromium) against the embedded
// local cloud: GET /fleet served by the fleet function's deployed bundle behind the local IAM,
// seven simulated sites with problems injected (a silent agent, a lost batch, a stale binlog, a
// failed window, a scheduled purge the dead-man's switch holds missed, an old primary refused after a failover) read back through it, and
// the page showing each problem on its own site.
// Set FERRY_FLEET_SCREENSHOT=docs/fleet.png to keep the screenshot the test takes.

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const SITES: SimulatedSite[] = [
  { name: 'north', backupCron: '30 2 * * ? *', purgeCron: '0 5 ? * SUN *' },
  { name: 'east', problem: 'silent' },
  { name: 'south', problem: 'lost-batch' },
  { name: 'west', problem: 'stale-binlog' },
  { name: 'harbour', problem: 'failed-window', backupCron: '0 2 * * ? *' },
  { name: 'quay', problem: 'purge-missed', purgeCron: '0 6 ? * SUN *' },
  { name: 'pier', problem: 'refused-agent' },
];

/**
 * The deployment of SITES with their schedules: the synthesized app gives its sites none, so
 * the FLEET_SITES the app writes on its fleet readers (infra/function-env.ts fleetSitesEnv) is
 * replaced by the one a deployment config with these schedules would give.
 */
function withSchedules(snapshot: DeploymentSnapshot): DeploymentSnapshot {
  const copy = structuredClone(snapshot);
  let found = 0;
  for (const template of Object.values(copy.templates)) {
    for (const resource of Object.values(template.Resources ?? {})) {
      const variables = (resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables;
      if (resource.Type !== 'AWS::Lambda::Function' || typeof variables?.FLEET_SITES !== 'string') continue;
      variables.FLEET_SITES = JSON.stringify(fleetSitesOf(SITES).map((s) => ({ silentAfterMinutes: 90, ...s })));
      found += 1;
    }
  }
  expect(found).toBeGreaterThan(0);
  return copy;
}

let dir: string;
let cloud: LocalCloud;
let browser: Browser;
let page: Page;
let runs: DynamoRunStore;
/** When the simulated fleet was written: its agents' times count back from it. */
let written: Date;
let purge: { purgeRuns: DynamoPurgeRunStore; purgeWatch: DynamoPurgeWatchStore };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-fleet-page-'));
  const names = SITES.map((s) => s.name);
  const snapshot = withSchedules(await deploymentFor(names));
  cloud = await startLocalCloud({ directory: join(dir, 'cloud'), fresh: true, iam: { sites: names, snapshot } });
  const { doc } = createDynamoClients({ region: cloud.region, endpoint: cloud.dynamoEndpoint, credentials: cloud.credentials });
  runs = new DynamoRunStore(doc, cloud.table);
  purge = { purgeRuns: new DynamoPurgeRunStore(doc, cloud.table), purgeWatch: new DynamoPurgeWatchStore(doc, cloud.table) };
  written = new Date();
  await writeSimulatedFleet({ blobs: cloud.blobs, runs, purge }, SITES, written);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  const context = await browser.newContext({ timezoneId: 'UTC', locale: 'en-GB', viewport: { width: 1600, height: 900 } });
  page = await context.newPage();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const fleetUrl = () => `${cloud.apiUrl}/fleet`;
const keysOf = (principal: string) => cloud.iam!.credentialsOf(principal);

describe('GET /fleet (fleet function bundle behind the local IAM)', () => {
  it('answers the fleet reader with the rows `ferry fleet status --json` reads, as of X-Ferry-As-Of', async () => {
    const res = await apiGet(fleetUrl(), { credentials: keysOf('fleet-reader') });
    expect(res.status).toBe(200);
    const asOf = res.headers.get('x-ferry-as-of');
    expect(asOf).toMatch(/^\d{4}-\d\d-\d\dT/);
    const body = (await res.json()) as FleetRow[];
    // The CLI's reader, with the administrator's keys straight at the stand-ins, at the same instant.
    const expected = await readFleet({ blobs: cloud.blobs, runs, purge }, fleetSitesOf(SITES), new Date(asOf!));
    expect(body).toEqual(JSON.parse(JSON.stringify(expected)));
    expect(body.map((r) => `${r.site}:${r.state}`)).toEqual(['east:SILENT', 'harbour:LATE', 'quay:LATE', 'pier:WARN', 'south:WARN', 'west:WARN', 'north:OK']);
    // Each site's purge, as the fleet function's role reads it through the IAM gateway: the switch's memory (GetItem DEADMAN#) and the runs.
    const purges = Object.fromEntries(body.map((r) => [r.site, r.purge]));
    expect(purges.quay).toEqual({ cron: '0 6 ? * SUN *', lastRun: expect.objectContaining({ execution: expect.stringContaining('purge-quay') }), missedSince: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(purges.north).toEqual({ cron: '0 5 ? * SUN *', lastRun: expect.objectContaining({ startedAt: expect.stringMatching(/^\d{4}-/) }) });
    expect(purges.east).toEqual({});
  });

  it("refuses a site's officer and agent roles (AccessDenied), and the fleet reader any other route", async () => {
    for (const principal of ['officer:north', 'agent:north', 'dr:north']) {
      const res = await apiGet(fleetUrl(), { credentials: keysOf(principal) });
      expect({ principal, status: res.status }).toEqual({ principal, status: 403 });
      expect(res.headers.get('x-amzn-errortype')).toBe('AccessDeniedException');
    }
    const other = await apiGet(`${cloud.apiUrl}/sites/north/recordings`, { credentials: keysOf('fleet-reader') });
    expect(other.status).toBe(403);
  });

  it('answers a query parameter with 400 naming it', async () => {
    const res = await apiGet(`${fleetUrl()}?site=north`, { credentials: keysOf('fleet-reader') });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toBe('invalid request: site: unknown parameter (GET /fleet takes none)');
  });
});

/** The rows the page shows: site, state text, and the text of every cell. */
function shownRows(): Promise<{ site: string; state: string; cells: string[] }[]> {
  return page.$$eval('#fleet tbody tr', (trs) =>
    trs.map((tr) => ({
      site: (tr as HTMLElement).dataset.site ?? '',
      state: tr.querySelector('.state')?.textContent?.replace(/^\W+/, '') ?? '',
      cells: [...tr.children].map((c) => (c as HTMLElement).innerText.replace(/\s+/g, ' ').trim()),
    })),
  );
}

const COLUMN = { why: 2, heartbeat: 3, sources: 4, lost: 5, lastWindow: 6, nextWindow: 7, purge: 8 };

describe('fleet page in Chromium', () => {
  it('shows every site worst first, each injected problem on its own site, in words as well as colour', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
    await page.goto(`${cloud.apiUrl}/fleet.html?refresh=2#${new URL(cloud.webUrl).hash.slice(1)}`);
    await expect.poll(() => page.evaluate(() => location.hash)).toBe('');
    await page.waitForSelector('#fleet tbody tr');
    const rows = await shownRows();
    expect(rows.map((r) => `${r.site}:${r.state}`)).toEqual(['east:SILENT', 'harbour:LATE', 'quay:LATE', 'pier:WARN', 'south:WARN', 'west:WARN', 'north:OK']);
    // The table's scroller takes the keyboard in every browser (at 200 % its right-hand columns are reached by scrolling it).
    expect(await page.$eval('.table-wrap', (w) => [w.getAttribute('tabindex'), w.getAttribute('role'), w.getAttribute('aria-label')])).toEqual(['0', 'region', 'Sites (scrolls sideways)']);
    const bySite = Object.fromEntries(rows.map((r) => [r.site, r.cells]));

    // The silent agent: its heartbeat is three hours old, and it is why.
    // The exact time is text under the age, not a hover title a keyboard cannot reach.
    expect(bySite.east![COLUMN.heartbeat]).toMatch(/^3 h ago at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(bySite.east![COLUMN.why]).toBe('no heartbeat for 180 min (silent after 90 min)');
    // The lost batch: counted, and named as the reason.
    expect(bySite.south![COLUMN.lost]).toBe('3');
    expect(bySite.south![COLUMN.why]).toBe('1 lost in the last pass');
    // The stale binlog: its RPO in the sources, the warning in why.
    expect(bySite.west![COLUMN.sources]).toContain('db (binlog): last good 4 h 2 min ago; binlog RPO 4 h');
    expect(bySite.west![COLUMN.why]).toBe('db: newest shipped binlog position is 240 min old (RPO above 60 min)');
    // The failed window: last window FAILED, the next one scheduled.
    // Every reason of the last window as text; the Why column names the first.
    expect(bySite.harbour![COLUMN.lastWindow]).toMatch(/^FAILED \d{4}-\d\d-\d\d \d\d:\d\d the agent did not pick the job up within its timeout no manifest reported for contactstore$/);
    expect(bySite.harbour![COLUMN.nextWindow]).toMatch(/^\d{4}-\d\d-\d\d 02:00$/);
    expect(bySite.harbour![COLUMN.why]).toBe('last window FAILED: the agent did not pick the job up within its timeout');
    // The healthy site: per source the last good copy and its age, backlog, time to loss, RPO;
    // its heartbeat is 2 min old, so the oldest batch (4 min then) is 6 min old now and the time to loss 2 min shorter.
    expect(bySite.north![COLUMN.sources]).toBe(
      'contactstore (recordings): last good 10 min ago; backlog 1 batch, oldest 6 min; time to loss 4 d 23 h last good copy of contactstore db (binlog): last good 5 min ago; binlog RPO 3 min last good copy of db',
    );
    expect(bySite.north![COLUMN.why]).toBe('—');
    // The purge, as text: when it last ran and its schedule; a site without one says so.
    expect(bySite.north![COLUMN.purge]).toMatch(/^last ran \d{4}-\d\d-\d\d \d\d:\d\d: DONE, 12 object\(s\) deleted schedule cron\(0 5 \? \* SUN \*\) UTC$/);
    expect(bySite.east![COLUMN.purge]).toBe('not scheduled');
    // The purge the dead-man's switch holds missed: marked as a problem in words (and a shape a screen reader skips), named in Why, the site LATE.
    expect(bySite.quay![COLUMN.purge]).toMatch(/^▲ MISSED since \d{4}-\d\d-\d\d \d\d:\d\d last ran \d{4}-\d\d-\d\d \d\d:\d\d: DONE, 12 object\(s\) deleted schedule cron\(0 6 \? \* SUN \*\) UTC$/);
    expect(bySite.quay![COLUMN.why]).toMatch(/^the scheduled purge due \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z did not run \(purge-missed alert open\): retention is not being enforced$/);
    expect(await page.$$eval('#fleet td.purge[data-problem="purge-missed"]', (tds) => tds.map((td) => [td.closest('tr')!.dataset.site, td.querySelector('.problem [aria-hidden="true"]')?.textContent]))).toEqual([['quay', '▲ ']]);
    // The old primary back with its state directory of before the failover, refused: a critical line in Why, marked in words and a shape, naming the host, the agent that ships the site and the way back.
    const refusal = simulatedRefusal({ name: 'pier' }, written);
    expect(bySite.pier![COLUMN.why]).toBe(
      `▲ critical: the agent on pbx-1 (id ${refusal.agent.id}) came back with the state directory it had before ${refusal.lastHeartbeat} and was refused (last at ${refusal.at}, refused since ${refusal.refusedSince}): ` +
        `it ships nothing while the agent on pbx-2 (id ${refusal.shippedBy.id}) ships the site since ${refusal.shippedBy.since}. Stop the old one (its cron line or service), or fail back (docs/restore.md, "Failing over, and back")`,
    );
    expect(await page.$$eval('#fleet td.why li[data-severity="critical"]', (lis) => lis.map((li) => [li.closest('tr')!.dataset.site, li.querySelector('.problem [aria-hidden="true"]')?.textContent]))).toEqual([['pier', '▲ ']]);
    for (const cells of Object.values(bySite)) expect(cells.filter((c) => c === '')).toEqual([]);
    // Not colour alone: each state is a word in its badge; the marks are hidden from screen readers.
    expect(await page.$$eval('#fleet .state [aria-hidden="true"]', (m) => m.length)).toBe(7);

    // Data as of the function's reading, and the count announced in the live region.
    expect(await page.getAttribute('#as-of-time', 'datetime')).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await page.isVisible('#as-of')).toBe(true);
    expect(await page.getAttribute('#status', 'aria-live')).toBe('polite');
    expect(await page.textContent('#status')).toBe('7 sites: 1 SILENT, 2 LATE, 3 WARN, 1 OK.');
    expect(await page.$$eval('#fleet thead th[scope="col"]', (ths) => ths.length)).toBe(9);
    expect(await page.$$eval('#fleet tbody th[scope="row"]', (ths) => ths.map((t) => t.textContent))).toEqual(['east', 'harbour', 'quay', 'pier', 'south', 'west', 'north']);

    await page.screenshot({ path: process.env.FERRY_FLEET_SCREENSHOT ?? join(dir, 'fleet.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  it("opens a source's last good copy (its key and exact time) from the keyboard: the copy is text a screen reader reaches, not a title", async () => {
    // A page of its own: the tests after this one watch the first page's timed refreshes.
    const context = await browser.newContext({ timezoneId: 'UTC', locale: 'en-GB', viewport: { width: 1600, height: 900 } });
    const page = await context.newPage();
    try {
    await page.goto(`${cloud.apiUrl}/fleet.html?refresh=3600#${new URL(cloud.webUrl).hash.slice(1)}`);
    await page.waitForSelector('#fleet tbody tr');
    const summary = page.locator('tr[data-site="north"] li[data-source="contactstore"] summary');
    expect(await page.locator('tr[data-site="north"] li[data-source="contactstore"] code').isVisible()).toBe(false);
    // Tab from the row's previous focus stop until the summary has the focus, then open it with Enter.
    await page.locator('tr[data-site="north"] th').click();
    for (let i = 0; i < 40 && !(await summary.evaluate((s) => s === document.activeElement)); i++) await page.keyboard.press('Tab');
    expect(await summary.evaluate((s) => s === document.activeElement)).toBe(true);
    await page.keyboard.press('Enter');
    const copy = page.locator('tr[data-site="north"] li[data-source="contactstore"] details');
    expect(await copy.evaluate((d) => (d as HTMLDetailsElement).open)).toBe(true);
    expect((await copy.innerText()).replace(/\s+/g, ' ')).toMatch(/^last good copy of contactstore manifests\/north\/recordings\/p-last\.json at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    // No information is left only in a title on the page.
    expect(await page.$$eval('#fleet [title]:not(time)', (els) => els.map((e) => e.outerHTML))).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('refreshes by itself: the silent site that reports again moves down to OK without a reload', async () => {
    // Worst first, then the longest since its heartbeat: east's is now the newest.
    const before = await page.getAttribute('#as-of-time', 'datetime');
    const heartbeat = simulatedHeartbeat({ name: 'east' }, new Date());
    await cloud.blobs.put(heartbeatKey('east', new Date(heartbeat.at)), Buffer.from(JSON.stringify(heartbeat)));
    await expect.poll(async () => (await shownRows()).map((r) => `${r.site}:${r.state}`), { timeout: 15_000 }).toEqual(['harbour:LATE', 'quay:LATE', 'pier:WARN', 'south:WARN', 'west:WARN', 'north:OK', 'east:OK']);
    expect(await page.getAttribute('#as-of-time', 'datetime')).not.toBe(before);
  });

  it("shows a pass under way on the site's heartbeat cell (its start as a time, the packs shipped so far) when its newest heartbeat was written during a pass", async () => {
    const since = new Date(Date.now() - 40 * 60_000);
    const heartbeat = { ...simulatedHeartbeat({ name: 'east' }, new Date()), passRunning: { since: since.toISOString(), packs: 7, artefacts: 2, bytes: 1_000_000 } };
    await cloud.blobs.put(heartbeatKey('east', new Date(new Date(heartbeat.at).getTime() + 1000)), Buffer.from(JSON.stringify({ ...heartbeat, at: new Date(new Date(heartbeat.at).getTime() + 1000).toISOString() })));
    await page.click('#refresh');
    await expect.poll(async () => (await shownRows()).find((r) => r.site === 'east')?.cells[COLUMN.heartbeat] ?? '', { timeout: 15_000 }).toMatch(/during a pass running since \d{4}-\d\d-\d\d \d\d:\d\d \(7 pack\(s\) and 2 artefact\(s\) shipped so far\)/);
    expect(await page.$eval('#fleet tr[data-site="east"] [data-pass-running] time', (t) => t.getAttribute('datetime'))).toBe(since.toISOString());
    expect((await shownRows()).find((r) => r.site === 'east')?.state).toBe('OK');
  });

  it("shows a source name and problem a site's agent wrote with a bidi override or a control character escaped, not reordered", async () => {
    const beat = simulatedHeartbeat({ name: 'east' }, new Date());
    const at = new Date(new Date(beat.at).getTime() + 2000).toISOString();
    const sources = [{ ...beat.sources[0]!, name: 'contact\u202estore', problem: 'batch 0001\u0007 unreadable' }, ...beat.sources.slice(1)];
    await cloud.blobs.put(heartbeatKey('east', new Date(at)), Buffer.from(JSON.stringify({ ...beat, at, sources })));
    await page.click('#refresh');
    const cellOf = async () => (await shownRows()).find((r) => r.site === 'east')?.cells[COLUMN.sources] ?? '';
    await expect.poll(cellOf, { timeout: 15_000 }).toContain('contact\\u{202e}store (recordings)');
    expect(await cellOf()).toContain('problem: batch 0001\\x07 unreadable');
    expect(await cellOf()).not.toMatch(/[\u202e\u0007]/);
    expect((await shownRows()).find((r) => r.site === 'east')?.cells[COLUMN.why]).toContain('contact\\u{202e}store: batch 0001\\x07 unreadable');
    // east reports cleanly again, as the tests after this one expect.
    const clean = new Date(new Date(beat.at).getTime() + 3000).toISOString();
    await cloud.blobs.put(heartbeatKey('east', new Date(clean)), Buffer.from(JSON.stringify({ ...beat, at: clean })));
    await page.click('#refresh');
    await expect.poll(async () => (await shownRows()).find((r) => r.site === 'east')?.state, { timeout: 15_000 }).toBe('OK');
  });

  it("shows on the heartbeat cell which host ships the site since when, and after a failover the host that shipped it before, its last heartbeat and last copies offsite", async () => {
    const oldId = 'aaaaaaaa-1111-4111-8111-00000000000a';
    const newId = 'bbbbbbbb-2222-4222-8222-00000000000b';
    const lastOld = new Date(Date.now() - 3 * 86_400_000);
    const firstNew = new Date(lastOld.getTime() + 2 * 3600_000);
    const beat = (agent: { id: string; host: string }, at: Date) => ({ ...simulatedHeartbeat({ name: 'north' }, at), at: at.toISOString(), agent });
    const write = async (agent: { id: string; host: string }, at: Date) => {
      const body = Buffer.from(JSON.stringify(beat(agent, at)));
      await cloud.blobs.put(heartbeatKey('north', at, { agent: agent.id }), body);
      await cloud.blobs.put(heartbeatKey('north', at, { agent: agent.id, dataClass: 'heartbeats-daily' }), body);
    };
    const london = { id: oldId, host: 'london-cc1' };
    const bristol = { id: newId, host: 'dr-bristol' };
    await write(london, new Date(lastOld.getTime() - 86_400_000));
    await write(london, lastOld);
    await write(bristol, firstNew);
    await write(bristol, new Date());
    await page.click('#refresh');
    const cellOf = async () => (await shownRows()).find((r) => r.site === 'north')?.cells[COLUMN.heartbeat] ?? '';
    await expect.poll(cellOf, { timeout: 15_000 }).toMatch(/shipped by the agent on dr-bristol since \d{4}-\d\d-\d\d \d\d:\d\d before it the agent on london-cc1 \(id aaaaaaaa-1111-4111-8111-00000000000a\): its last heartbeat \d{4}-\d\d-\d\d \d\d:\d\d; its last copies offsite: contactstore \d{4}-/);
    const times = (selector: string) => page.$$eval(`#fleet tr[data-site="north"] ${selector} time`, (ts) => ts.map((t) => t.getAttribute('datetime')));
    expect(await times('[data-shipped-by="dr-bristol"]')).toEqual([firstNew.toISOString()]);
    expect((await times('[data-shipped-before="london-cc1"]'))[0]).toBe(lastOld.toISOString());
    // The long line wraps inside its cell: the sources beside it stay on the screen.
    expect(await page.$eval('#fleet tr[data-site="north"] td.heartbeat', (td) => td.getBoundingClientRect().width)).toBeLessThan(450);
    expect((await shownRows()).find((r) => r.site === 'north')?.state).toBe('OK');
  });

  it('keeps the keyboard focus on Refresh now through timed and pressed refreshes, announces the states only when they change, pauses auto-refresh, and asks nothing while in a background tab', async () => {
    const context = await browser.newContext({ timezoneId: 'Europe/London', locale: 'en-GB', viewport: { width: 1600, height: 900 } });
    const p = await context.newPage();
    try {
      // The page's timers on a clock the test moves: a refresh happens when the test says, and a paused page provably asks nothing.
      await p.clock.install();
      let reads = 0;
      p.on('requestfinished', (r) => void (new URL(r.url()).pathname.endsWith('/fleet') && (reads += 1)));
      const idle = () => expect.poll(() => p.$eval('#fleet', (t) => t.hasAttribute('aria-busy'))).toBe(false);
      const focused = () => p.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
      await p.goto(`${cloud.apiUrl}/fleet.html?refresh=2#${new URL(cloud.webUrl).hash.slice(1)}`);
      await p.waitForSelector('#fleet tbody tr');
      await idle();
      const said = await p.textContent('#status');
      expect(said).toMatch(/^7 sites: .+\.$/);
      // What a screen reader would be told from now on: every change of the live status line.
      await p.evaluate(() => {
        const w = window as unknown as { said: string[] };
        w.said = [];
        const status = document.getElementById('status')!;
        new MutationObserver(() => w.said.push(status.textContent ?? '')).observe(status, { childList: true, characterData: true, subtree: true });
      });
      // Tab past the two page links to Refresh now.
      for (let i = 0; i < 3; i += 1) await p.keyboard.press('Tab');
      expect(await focused()).toBe('refresh');
      await p.clock.runFor(2000);
      await expect.poll(() => reads).toBe(2);
      await idle();
      expect(await focused()).toBe('refresh');
      await p.keyboard.press('Enter');
      await expect.poll(() => reads).toBe(3);
      await idle();
      expect(await focused()).toBe('refresh');
      // The sites did not change: nothing was announced, and the line is what it was.
      expect(await p.evaluate(() => (window as unknown as { said: string[] }).said)).toEqual([]);
      expect(await p.textContent('#status')).toBe(said);
      // The time of the data is beside the table, named in its zone, not in the live region.
      expect(await p.textContent('#as-of')).toMatch(/^Data as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(Europe\/London\) \(refreshed every 2 s\)$/);

      await p.keyboard.press('Tab');
      expect(await focused()).toBe('pause');
      expect(await p.getAttribute('#pause', 'aria-pressed')).toBe('false');
      await p.keyboard.press('Space');
      expect(await p.getAttribute('#pause', 'aria-pressed')).toBe('true');
      expect(await focused()).toBe('pause');
      expect(await p.textContent('#as-of-note')).toBe('(auto-refresh paused)');
      await p.clock.runFor(20_000);
      expect(reads).toBe(3);
      // Pressed again, the refresh resumes.
      await p.keyboard.press('Space');
      expect(await p.getAttribute('#pause', 'aria-pressed')).toBe('false');
      await p.clock.runFor(2000);
      await expect.poll(() => reads).toBe(4);
      await idle();

      // In a background tab the page asks nothing; shown again, it reads at once and goes on.
      const visibility = (hidden: boolean) => p.evaluate((h) => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => h });
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (h ? 'hidden' : 'visible') });
        document.dispatchEvent(new Event('visibilitychange'));
      }, hidden);
      // Every read the page starts, counted in the page as it starts (a read marks the table busy at
      // once, before it asks anything): whether one started is known when the clock's run returns,
      // not after a wait that a loaded machine outlasts.
      await p.evaluate(() => {
        const w = window as unknown as { started: number };
        w.started = 0;
        const table = document.getElementById('fleet')!;
        new MutationObserver(() => void (table.hasAttribute('aria-busy') && (w.started += 1))).observe(table, { attributes: true, attributeFilter: ['aria-busy'] });
      });
      await visibility(true);
      await p.clock.runFor(60_000);
      expect(await p.evaluate(() => (window as unknown as { started: number }).started)).toBe(0);
      expect(reads).toBe(4);
      await visibility(false);
      await expect.poll(() => reads).toBe(5);
      await idle();
      await p.clock.runFor(2000);
      await expect.poll(() => reads).toBe(6);
    } finally {
      await context.close();
    }
  });

  it('keeps the last table marked stale and says why when a refresh is refused', async () => {
    // A session that is not the page's: the API refuses it as AWS refuses an unsigned request.
    await page.evaluate(() => sessionStorage.setItem('ferry-session', 'not-the-session'));
    await page.getByRole('button', { name: 'Refresh now' }).click();
    await expect.poll(() => page.textContent('#error')).toMatch(/^The fleet status was refused \(HTTP 403\): /);
    expect(await page.isVisible('#error')).toBe(true);
    expect(await page.textContent('#as-of-note')).toBe('(stale: the last refresh failed)');
    expect(await page.textContent('#status')).toBe('The last refresh failed; the table shows older data.');
    expect((await shownRows()).length).toBe(7);
  });

  it("shows an error message quoting bidi and control characters escaped, not as the characters", async () => {
    const fresh = await browser.newPage();
    try {
      // What an API message may quote back is stood in for at the page's edge.
      await fresh.route(/\/fleet$/, (route) => route.fulfill({ status: 400, contentType: 'application/json', body: JSON.stringify({ message: 'site "x\u202Egnp.exe" \u0007refused' }) }));
      await fresh.goto(`${cloud.apiUrl}/fleet.html`);
      await expect.poll(() => fresh.textContent('#error')).toContain('site "x\\u{202e}gnp.exe" \\x07refused');
      expect(await fresh.textContent('#error')).not.toMatch(/[\u202e\u0007]/);
    } finally {
      await fresh.close();
    }
  });

  it('says so when the deployment has no sites, and when nothing could be loaded', async () => {
    const fresh = await browser.newPage();
    try {
      // A deployment always has a site (the config refuses none): the empty answer is given here.
      await fresh.route(/\/fleet$/, (route) => route.fulfill({ status: 200, contentType: 'application/json', headers: { 'X-Ferry-As-Of': new Date().toISOString() }, body: '[]' }));
      await fresh.goto(`${cloud.apiUrl}/fleet.html`);
      await expect.poll(() => fresh.textContent('#status')).toBe('No sites.');
      expect(await fresh.isVisible('#empty')).toBe(true);
      expect(await fresh.isVisible('#fleet')).toBe(false);
      await fresh.unroute(/\/fleet$/);
      await fresh.goto(`${cloud.apiUrl}/fleet.html`);
      await expect.poll(() => fresh.textContent('#status')).toBe('The fleet status could not be loaded.');
      expect(await fresh.textContent('#error')).toMatch(/^The fleet status was refused \(HTTP 403\): /);
    } finally {
      await fresh.close();
    }
  });
});
