import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCloud } from '../../local/cloud.ts';
import { startTestCloud } from '../support/local-cloud.ts';
import { makeEntry } from '../support/catalogue-fixtures.ts';

// `ferry calls search` says which calls of how many it shows, as the console does ("calls 1–50
// of 2,381"), through the catalogue API's count on the local cloud (the deployed bundles); with
// --json the page is all it asks for (one request, one audit record), the count left to whoever
// wants it.

const SITE = 'demo';
const CALLS = 2381;
const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
let dir: string;
let cloud: LocalCloud;

async function ferry(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env, AWS_ACCESS_KEY_ID: cloud.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: cloud.credentials.secretAccessKey, AWS_REGION: cloud.region, FERRY_HOME: join(dir, 'home') };
  const child = spawn(process.execPath, [BIN, ...args, '--api', cloud.apiUrl], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

const searches = () => readFileSync(cloud.auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; site?: string; query?: Record<string, unknown> }).filter((r) => r.action === 'search' && r.site === SITE);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-calls-total-'));
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE] });
  await cloud.catalogue.putRecordings(Array.from({ length: CALLS }, (_, i) => makeEntry(SITE, i, { meta: { ...makeEntry(SITE, i).meta, direction: i % 7 === 0 ? 'inbound' : 'outbound' } })));
}, 240_000);

afterAll(async () => {
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ferry calls search says how many calls match', () => {
  it('says "calls 1–50 of 2,381" under a page of 50, and "of 341" for a direction, through the count', async () => {
    const all = await ferry(['calls', 'search', '--site', SITE, '--limit', '50']);
    expect(all.stderr).toBe('');
    expect(all.code).toBe(0);
    const lines = all.stdout.trim().split('\n');
    expect(lines).toHaveLength(52);
    expect(lines.at(-1)).toBe('calls 1–50 of 2,381: --all lists every one (or --limit N, up to 1000 a page)');
    const inbound = await ferry(['calls', 'search', '--site', SITE, '--limit', '10', '--direction', 'inbound']);
    expect(inbound.stdout.trim().split('\n').at(-1)).toBe(`calls 1–10 of ${Math.ceil(CALLS / 7).toLocaleString('en')}: --all lists every one (or --limit N, up to 1000 a page)`);
    // The count is audited as the search it is, marked so.
    expect(searches().filter((r) => r.query?.count === 'yes').map((r) => r.query?.direction ?? null)).toEqual([null, 'inbound']);
  });

  it('with --json asks for the page only: the JSON array on stdout, "more match" on stderr, no count', async () => {
    const before = searches().length;
    const json = await ferry(['calls', 'search', '--site', SITE, '--limit', '5', '--json']);
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as unknown[]).length).toBe(5);
    expect(json.stderr).toBe('ferry: 5 recording(s) shown; more match: --all lists every one\n');
    expect(searches().slice(before).map((r) => r.query?.count ?? 'page')).toEqual(['page']);
  });
});
