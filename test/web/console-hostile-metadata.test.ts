import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCloud } from '../../local/cloud.ts';
import { startTestCloud } from '../support/local-cloud.ts';
import { signedInConsolePage } from '../support/console-browser.ts';
import { buildPack } from '../support/pack-fixture.ts';
import { wavFile } from '../support/wav.ts';

// What callers control reaches the console: the caller's name and number the PBX stores, so the
// recorder's sidecar. A call id or agent written with a right-to-left override (U+202E) or a
// control character must show as it is stored, escaped, not reversed or hidden: an officer
// reading "Bob<RLO> evil" must not read "Bob live", and HTML in a value stays text.

const SITE = 'demo';
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const RLO = '\u202e';

let dir: string;
let cloud: LocalCloud;
let browser: Browser;
let rid: string;
let archivedRid: string;
const pageErrors: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-console-hostile-'));
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE] });
  const fixture = buildPack(SITE, [
    { path: '000003/spoof.wav', body: wavFile(2, 'tone'), meta: { callId: `Bob${RLO} evil`, agent: `Eve\u0007<img src=x onerror=alert(1)>`, caller: `+44${RLO}123`, called: '+44\u061c1632960129', direction: 'inbound', durationSec: 2, start: '2024-02-01T10:00:00.000Z' } },
  ], { day: '2024-02-01T00:00:00Z', seed: 'hostile' });
  await cloud.blobs.put(fixture.packKey, fixture.pack);
  await cloud.blobs.put(fixture.manifestKey, fixture.manifestBytes, { contentType: 'application/json' });
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
  rid = fixture.manifest.members[0]!.rid;
  // A call in the archive tier whose call id carries an override: an export of it fails, quoting the id.
  const archived = buildPack(SITE, [
    { path: '2023/vault.wav', body: wavFile(10, 'tone'), meta: { callId: `Vault${RLO} kcab`, agent: 'Archie', direction: 'outbound', durationSec: 10, start: '2023-01-05T10:00:00.000Z' } },
  ], { day: '2023-01-05T00:00:00Z', seed: 'hostile-archived', createdAt: '2023-01-05T11:00:00.000Z' });
  await cloud.blobs.put(archived.packKey, archived.pack, { storageClass: 'DEEP_ARCHIVE' });
  await cloud.blobs.put(archived.manifestKey, archived.manifestBytes, { contentType: 'application/json' });
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
  archivedRid = archived.manifest.members[0]!.rid;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('call metadata written to reorder or hide text, in the console', () => {
  it('shows a bidi override and a control character in the search results escaped, and markup as text', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=search`, { pageErrors });
    const dialogs: string[] = [];
    p.on('dialog', (d) => void (dialogs.push(d.message()), d.dismiss()));
    try {
      await p.fill('#from', '2024-01-01T00:00:00');
      await p.click('#search button[type=submit]');
      await p.waitForSelector('#results tbody tr');
      const row = await p.$$eval('#results tbody tr td', (tds) => tds.map((td) => td.textContent));
      expect(row).toContain('Bob\\u{202e} evil');
      expect(row).toContain('Eve\\x07<img src=x onerror=alert(1)>');
      expect(row.join('|')).not.toMatch(/[\u202e\u0007]/);
      expect(await p.$$('#results img')).toEqual([]);
      expect(dialogs).toEqual([]);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('shows them escaped in the call page heading, summary and record', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=call&rid=${rid}`, { pageErrors });
    try {
      await p.waitForSelector('#call-body:not([hidden])');
      expect(await p.textContent('#call-title')).toBe('Call Bob\\u{202e} evil');
      expect(await p.textContent('#call-summary')).toBe('2024-02-01 10:00:00 (Europe/London) · Eve\\x07<img src=x onerror=alert(1)> · +44\\u{202e}123 → +44\\u{61c}1632960129 · inbound · 0:02');
      expect(await p.textContent('#record')).not.toMatch(/[\u202e\u0007\u061c]/);
      expect(await p.textContent('#record')).toContain('Bob\\u{202e} evil');
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('shows the notice and a failed export\'s error, which quote the call id, escaped', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=cases`, { pageErrors });
    try {
      await p.waitForSelector('#case-name');
      await p.fill('#case-name', 'Vault');
      await p.fill('#case-id', 'C-RLO-1');
      await p.fill('#case-reason', 'Court order 7/2026');
      await p.getByRole('button', { name: 'Create case' }).click();
      await p.waitForSelector('#case-detail:not([hidden])');
      await p.goto(`${p.url().split('#')[0]}#site=${SITE}&view=call&rid=${archivedRid}`);
      await p.waitForSelector('#call-body:not([hidden])');
      await expect.poll(() => p.$$eval('#call-case option', (os) => os.map((o) => (o as HTMLOptionElement).value))).toContain('C-RLO-1');
      await p.selectOption('#call-case', 'C-RLO-1');
      await p.getByRole('button', { name: 'Add to case' }).click();
      await expect.poll(() => p.textContent('#notice')).toBe('Call Vault\\u{202e} kcab added to case C-RLO-1.');
      await p.goto(`${p.url().split('#')[0]}#site=${SITE}&view=cases&case=C-RLO-1`);
      await p.waitForSelector('#case-detail:not([hidden])');
      await p.fill('#export-case-reason', 'Disclosure, order 7/2026');
      await p.getByRole('button', { name: 'Export this case' }).click();
      await expect.poll(() => p.textContent('#export-state'), { timeout: 30_000 }).toMatch(/^Export FAILED\. /);
      const failed = await p.textContent('#export-state');
      expect(failed).toContain('call Vault\\u{202e} kcab (');
      expect(failed).not.toMatch(/[\u202e]/);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('shows an error quoting a case id from the address escaped (a link written with an override)', async () => {
    const { p, close } = await signedInConsolePage(browser, cloud, `#site=${SITE}&view=cases&case=${encodeURIComponent(`C-${RLO}1-evil`)}`, { pageErrors });
    try {
      await p.waitForSelector('#error:not([hidden])');
      const error = await p.textContent('#error');
      expect(error).toContain('Opening case C-\\u{202e}1-evil');
      expect(error).not.toMatch(/[\u202e]/);
    } finally {
      await close();
    }
    expect(pageErrors).toEqual([]);
  });
});

