import { mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../agent/log.ts';
import { buildAgent } from '../../cli/build-agent.ts';
import { main } from '../../cli/main.ts';
import { parseAgentConfig } from '../../core/config.ts';
import type { DailyReport } from '../../core/report.ts';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import { generateBatches } from '../../scripts/demo/site.ts';
import { restoreEnv } from '../support/env.ts';
import { roomBeforeUtcBoundary } from '../support/utc-boundary.ts';

// A first install ships the recorder's last month: every pack is dated (and filed) by its oldest
// recording, 30 days back, so the day's manifests hold none of them and the report read the
// next morning showed an idle site. The agent's heartbeats carry what it shipped since it began,
// and `ferry report daily` tells the day's share from them, here for real: the agent ships to the
// local S3, its heartbeat lands there, and the command reads both back.

const dirs: string[] = [];
const clouds: LocalCloud[] = [];
afterAll(async () => {
  await Promise.all(clouds.map((c) => c.stop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function report(cloud: LocalCloud, args: string[]): Promise<string> {
  const out: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
  const env = { ...process.env };
  Object.assign(process.env, { FERRY_BUCKET: cloud.bucket, FERRY_TABLE: cloud.table, AWS_ENDPOINT_URL_S3: cloud.s3Endpoint, AWS_ENDPOINT_URL_DYNAMODB: cloud.dynamoEndpoint, AWS_ACCESS_KEY_ID: cloud.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: cloud.credentials.secretAccessKey, AWS_REGION: cloud.region });
  delete process.env.FERRY_DEPLOYMENT;
  try {
    await main(['report', 'daily', ...args]);
  } finally {
    write.mockRestore();
    restoreEnv(env);
    process.exitCode = undefined;
  }
  return out.join('');
}

describe('the daily report of a day that shipped only recordings from 30 days ago', () => {
  it('says they shipped that day (packs, recordings, bytes, from the heartbeat), as older recordings, in the JSON and the text of `ferry report daily`', async () => {
    // Shipped and reported on one day, not across midnight UTC (it runs about a minute on a loaded machine).
    await roomBeforeUtcBoundary(120_000);
    const dir = mkdtempSync(join(tmpdir(), 'ferry-report-shipped-'));
    dirs.push(dir);
    const cloud = await startLocalCloud({ directory: join(dir, 'cloud'), fresh: true });
    clouds.push(cloud);
    const root = join(dir, 'recorder');
    const monthAgo = new Date(Date.now() - 30 * 86_400_000);
    await generateBatches({ root, firstBatch: 1, batches: 3, perBatch: 4, seconds: 1, start: monthAgo, seed: 5, sidecar: 'xml' });
    // Written by the recorder a month ago, as a first install finds them.
    for (const f of readdirSync(root, { recursive: true, withFileTypes: true })) utimesSync(join(f.parentPath, f.name), monthAgo, monthAgo);
    const { accessKeyId, secretAccessKey } = cloud.credentials;
    const agent = buildAgent(parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
cloud: { bucket: ${cloud.bucket}, endpoint: ${cloud.s3Endpoint}, credentials: { accessKeyId: ${accessKeyId}, secretAccessKey: "${secretAccessKey}" } }
shipping: { attempts: 1 }
sources:
  - { name: contactstore, type: recordings, path: ${root}, quietSeconds: 0, settleSeconds: 0 }
`), { log: createLogger({ json: true, level: 'error', write: () => undefined }) });
    let shipped;
    try {
      shipped = await agent.cycle();
    } finally {
      agent.close();
    }
    expect(shipped).toMatchObject({ packs: 3, recordings: 12 });
    await cloud.drain();
    const today = new Date().toISOString().slice(0, 10);

    const json = JSON.parse(await report(cloud, ['--site', 'site-a', '--date', today, '--json'])) as DailyReport;
    expect(json.shipped).toEqual({ packs: 3, recordings: 12, bytes: shipped.bytes, artefacts: 0, artefactBytes: 0, agents: 1, olderPacks: 3, olderThan: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/) });
    expect(json.status).not.toBe('FAILED');
    const text = await report(cloud, ['--site', 'site-a', '--date', today]);
    expect(text).toContain(`  shipped in the day: 3 pack(s), 12 recording(s), `);
    expect(text).toContain(`    of which 3 pack(s) of recordings dated before ${json.shipped!.olderThan} (a backlog or a catch-up`);
  }, 210_000); // 90 s of work and up to 2 minutes waiting for midnight UTC to pass
});
