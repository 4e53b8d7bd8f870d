import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { startApiServer } from '../../local/api-server.ts';
import type { HttpEndpoint } from '../../local/http-endpoint.ts';
import { TEST_KEY, TEST_REGION } from '../support/signed.ts';
import { sourceFunctions } from '../support/source-functions.ts';
import type { RestorePlan } from '../../core/restore-plan.ts';
import { listBackups } from '../../cli/backups-commands.ts';
import { renderFetch, renderPlan, requestPlan, restoreFetch } from '../../cli/restore-commands.ts';
import { makeFull, makeSegment, min } from '../support/artefact-fixtures.ts';
import { GB, scenario } from '../support/restore-scenario.ts';

// `ferry backups list` and `ferry restore plan|fetch` as an operator runs them: a real process
// against a real HTTP API (over an in-memory catalogue).

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
let server: HttpEndpoint;
// The CLI signs with the standard credential chain; here, the environment's keys.
const KEY_ENV = { AWS_ACCESS_KEY_ID: TEST_KEY.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_KEY.secretAccessKey, AWS_REGION: TEST_REGION };

function ferry(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const home = mkdtempSync(join(tmpdir(), 'ferry-home-'));
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, FERRY_HOME: home, ...KEY_ENV, ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  const catalogue = new MemoryCatalogue();
  const artefacts = [
    makeFull(min(0), { position: { logFile: 'mysql-bin.000001', logPos: 328 }, size: 5_000_000 }),
    ...[1, 2, 3].map((i) => makeSegment(i, min(10 * (i - 1)), min(10 * i - 1))),
    makeSegment(3, min(20), min(24), { partial: true }),
    makeSegment(4, min(30), min(33), { partial: true }),
  ];
  for (const a of artefacts) await catalogue.putArtefact(a);
  for (const [k, v] of Object.entries(KEY_ENV)) vi.stubEnv(k, v);
  server = await startApiServer({ ...sourceFunctions({ catalogue }), credentials: [TEST_KEY], region: TEST_REGION, log: () => undefined });
});

afterAll(async () => {
  await server?.stop();
});

describe('ferry backups list / restore (real process, real HTTP)', () => {
  it('lists the artefacts of a site, marking superseded partials', async () => {
    const r = await ferry(['backups', 'list', '--site', 'site-a', '--api', server.url]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^source\s+role\s+name\s+taken \(UTC\) \/ span\s+size\s+partial\s+seq\s+shipped by\s+key$/);
    expect(lines.find((l) => /mysql-bin.000003/.test(l) && /superseded/.test(l))).toBeDefined();
    expect(lines.find((l) => /mysql-bin.000004/.test(l))).toMatch(/\s+partial\s+4\s+not recorded\s+logs\/site-a\/binlog\/partial\//);
    expect(lines.find((l) => /^db\s+full/.test(l))).toMatch(/2026-03-01 00:00:00Z\s+5\.0 MB/);
    expect(lines.at(-1)).toBe('6 artefact(s), 5.0 MB');
    expect(await listBackups({ site: 'site-a', source: 'db', api: server.url })).toEqual([expect.objectContaining({ role: 'full', source: 'db' })]);
  });

  it('prints a plan with its files, sizes and commands', async () => {
    const result = await requestPlan({ site: 'site-a', source: 'db', at: '2026-03-01T00:25:00Z', api: server.url });
    expect(result.ok).toBe(true);
    const text = renderPlan(result as RestorePlan);
    expect(text).toContain('restore plan: site site-a, source db (logs: binlog)');
    expect(text).toMatch(/files \(4, 5\.0 MB\):/);
    expect(text).toMatch(/full\s+full-20260301T000000\.sql\s+5\.0 MB\s+taken 2026-03-01 00:00:00Z/);
    expect(text).toContain('replay starts at mysql-bin.000001:328');
    expect(text).toContain("TZ=UTC mariadb-binlog --start-position=328 --stop-datetime='2026-03-01 00:25:00' mysql-bin.000001 mysql-bin.000002 mysql-bin.000003 | mariadb");
  });

  it('refuses with exit 3, the reason and the nearest reachable time', async () => {
    const r = await ferry(['restore', 'plan', '--site', 'site-a', '--source', 'db', '--at', '2026-03-01T00:40:00Z', '--api', server.url]);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(
      'ferry: cannot restore db of site site-a to 2026-03-01T00:40:00.000Z: T (2026-03-01T00:40:00.000Z) is after the last shipped log event (2026-03-01T00:33:00.000Z, in the partial snapshot of mysql-bin.000004); the newest full at or before T (taken at 2026-03-01T00:00:00.000Z) restores alone to its own time with --log-source none\n  nearest reachable time: 2026-03-01T00:33:01.000Z\n',
    );
    const early = await requestPlan({ site: 'site-a', source: 'db', at: '2026-02-28T00:00:00Z', api: server.url });
    expect(early).toMatchObject({ ok: false, code: 'no-full', nearestReachable: min(0) });
  });

  it('asks for a time zone rather than guessing one', async () => {
    await expect(requestPlan({ site: 'site-a', source: 'db', at: '2026-03-01T00:25:00', api: server.url })).rejects.toThrow(/--at needs a time zone, e\.g\. 2026-03-01T00:25:00(([+-]\d\d:\d\d) \(this machine's offset then\) or 2026-03-01T00:25:00Z \(UTC\)|Z \(UTC, this machine's zone\))/);
  });

  it('takes --at now, as restore tree does and the failover runbook types it: the plan at this moment, refused here as after the last shipped event with the nearest reachable time', async () => {
    const r = await ferry(['restore', 'plan', '--site', 'site-a', '--source', 'db', '--at', 'now', '--api', server.url]);
    expect(r.stderr).toMatch(/^ferry: cannot restore db of site site-a to \d{4}-\d\d-\d\dT[\d:.]+Z: T \([^)]+\) is after the last shipped log event \(2026-03-01T00:33:00\.000Z, in the partial snapshot of mysql-bin\.000004\)/);
    expect(r.stderr).toContain('nearest reachable time: 2026-03-01T00:33:01.000Z');
    expect(r.code).toBe(3);
  });

  it('fetch refuses before writing anything when the disk is too small (injected free space)', async () => {
    const to = join(mkdtempSync(join(tmpdir(), 'ferry-fetch-')), 'restore');
    const env = { FERRY_TEST_FREE_BYTES: '1000000', FERRY_BUCKET: 'ferry-unused', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' };
    const r = await ferry(['restore', 'fetch', '--site', 'site-a', '--source', 'db', '--at', '2026-03-01T00:25:00Z', '--to', to, '--api', server.url], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not enough disk space in .*restore: the plan needs 6\.\d MB more \(4 file\(s\), 5\.0 MB in all, and 1\.0 MB kept for restore-plan\.json and apply\.sh\), only 1\.0 MB is free\. Nothing was written\./);
    expect(existsSync(to)).toBe(false);
  });

  it("fetch --log-source none notes, as the plan does, that the logs were left out on request, in what it prints and in restore-plan.json", async () => {
    const { blobs, catalogue, dir } = await scenario();
    const api = await startApiServer({ ...sourceFunctions({ catalogue }), credentials: [TEST_KEY], region: TEST_REGION, log: () => undefined });
    try {
      const opts = { site: 'site-a', source: 'db', at: min(25), logSource: 'none', api: api.url };
      const plan = await requestPlan(opts);
      if (!plan.ok) throw new Error(plan.reason);
      expect(plan.notes).toEqual([`the log segments are left out on request (--log-source none): the plan restores the full as taken at ${min(0)}, not T`]);
      const report = await restoreFetch({ ...opts, to: dir, blobs, freeBytes: GB });
      expect(report.notes).toEqual(plan.notes);
      expect(renderFetch(report)).toContain(`notes:\n  - ${plan.notes[0]}\n`);
      expect((JSON.parse(readFileSync(join(dir, 'restore-plan.json'), 'utf8')) as RestorePlan).notes).toEqual(plan.notes);
    } finally {
      await api.stop();
    }
  });
});
