import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import type { LocalCloud } from '../../local/cloud.ts';
import { startTestCloud } from './local-cloud.ts';
import { buildPack, type FixtureMember } from './pack-fixture.ts';
import { wavFile } from './wav.ts';

// What the browser tests of a page on a slow network start: the local cloud with one pack of short
// calls shipped to its first site (a minute apart from 09:10 UTC on 3 Feb 2026), and Chromium.

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A call shipped, as the page names it. */
export interface ShippedCall {
  rid: string;
  callId: string;
}

export interface CloudWithCalls {
  cloud: LocalCloud;
  browser: Browser;
  /** The calls in the order of `callIds`. */
  calls: ShippedCall[];
  stop: () => Promise<void>;
}

/** The local cloud of `sites` (in a directory named after `name`), `callIds` shipped to the first one by `agent`, and Chromium. */
export async function startCloudWithCalls(name: string, sites: string[], callIds: string[], agent: string): Promise<CloudWithCalls> {
  const dir = mkdtempSync(join(tmpdir(), `ferry-${name}-`));
  const cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites });
  const member = (callId: string, i: number): FixtureMember => ({
    path: `calls/${callId}.wav`,
    body: wavFile(1),
    meta: { callId, agent, caller: '+442079460100', called: '+442079460200', direction: 'inbound' as const, durationSec: 1, start: new Date(Date.parse('2026-02-03T09:10:00Z') + i * 60_000).toISOString() },
  });
  const fixture = buildPack(sites[0]!, callIds.map(member), { day: '2026-02-03T00:00:00Z', seed: name });
  await cloud.blobs.put(fixture.packKey, fixture.pack);
  await cloud.blobs.put(fixture.manifestKey, fixture.manifestBytes, { contentType: 'application/json' });
  await cloud.drain();
  if (cloud.ingestErrors.length) throw new Error(`the calls of ${name} were not catalogued: ${JSON.stringify(cloud.ingestErrors)}`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  const calls = fixture.manifest.members.map((m) => ({ rid: m.rid, callId: String(m.meta.callId) }));
  const stop = async () => {
    await browser.close();
    await cloud.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return { cloud, browser, calls, stop };
}
