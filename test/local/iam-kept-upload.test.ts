import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../agent/log.ts';
import { buildAgent } from '../../cli/build-agent.ts';
import { parseAgentConfig } from '../../core/config.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { startTestCloud } from '../support/local-cloud.ts';
import { startPartProxy, type PartProxy } from '../support/part-proxy.ts';

// An upload the line stopped is kept open for a later run (agent/upload-keep.ts), and every pass
// asks whether the store still has it. Here the agent runs with its deployed role through the IAM
// gateway, as on AWS: the question must be one the role may ask (ListParts on its own key, not
// ListMultipartUploads, which IAM cannot scope to a site and which CloudTrail would record as an
// AccessDenied at every pass), and its answer must still tell a kept upload the store no longer
// has, which is then given up.

const SITE = 'site-a';
const MiB = 1024 * 1024;
let dir: string;
let cloud: LocalCloud;
let proxy: PartProxy;
/** Part uploads the proxy cuts once this many were stored. */
let cutAfter: number | undefined;
let stored = 0;
const denials: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-iam-kept-'));
  const onDecision = (d: { principal: string; checks: { action: string }[]; denial?: unknown }) =>
    void (d.denial ? denials.push(`${d.principal} ${d.checks.map((c) => c.action).join(',')}`) : undefined);
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE], iam: { onDecision } });
  proxy = await startPartProxy(cloud.iam!.s3Endpoint, { decide: () => (cutAfter !== undefined && stored >= cutAfter ? 'cut' : undefined), stored: () => void stored++ });
}, 180_000);
afterAll(async () => {
  await proxy?.close();
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function agentOf(state: string, root: string, logged: string[]) {
  const { accessKeyId, secretAccessKey } = cloud.iam!.credentialsOf(`agent:${SITE}`);
  const config = parseAgentConfig(`
site: ${SITE}
state: ${state}
cloud: { bucket: ${cloud.bucket}, endpoint: "${proxy.endpoint}", credentials: { accessKeyId: ${accessKeyId}, secretAccessKey: "${secretAccessKey}" } }
shipping: { partSizeMiB: 5, partConcurrency: 1, packConcurrency: 1, attempts: 1 }
sources:
  - { name: nightly, type: rotated, profile: generic, patterns: ["*.bak"], path: ${root}, stableSeconds: 0 }
`);
  return buildAgent(config, { log: createLogger({ json: true, level: 'debug', write: (line) => logged.push(line) }) });
}

const records = (state: string) => (existsSync(join(state, 'uploads')) ? readdirSync(join(state, 'uploads')).filter((f) => f.endsWith('.json')) : []);

describe('a kept upload under the deployed agent role', () => {
  it('is asked about at every pass without an AccessDenied, kept while the store has it, and given up once the store no longer has it', async () => {
    const root = join(dir, 'dumps');
    const elsewhere = join(dir, 'elsewhere');
    const state = join(dir, 'state');
    mkdirSync(root, { recursive: true });
    mkdirSync(elsewhere, { recursive: true });
    writeFileSync(join(root, 'full-0001.bak'), randomBytes(24 * MiB));

    // The line drops after two parts: the upload is kept open for a later run.
    cutAfter = 2;
    const logged: string[] = [];
    const first = agentOf(state, root, logged);
    try {
      expect(await first.cycle()).toMatchObject({ failed: 1 });
    } finally {
      first.close();
    }
    cutAfter = undefined;
    expect(records(state)).toHaveLength(1);
    const { key, uploadId } = (JSON.parse(readFileSync(join(state, 'uploads', records(state)[0]!), 'utf8')) as { resume: { key: string; uploadId: string } }).resume;
    expect(await cloud.blobs.uploadOpen(key, uploadId)).toBe(true);

    // Cron-style runs whose source does not ship the file now: each keeps the upload (its file is there).
    for (let run = 0; run < 2; run++) {
      const later = agentOf(state, elsewhere, logged);
      try {
        await later.cycle();
        await later.cycle();
      } finally {
        later.close();
      }
    }
    expect(records(state)).toHaveLength(1);
    expect(await cloud.blobs.uploadOpen(key, uploadId)).toBe(true);

    // The store no longer has it (the lifecycle rule, or someone, aborted it): the next pass gives it up.
    await cloud.blobs.abortMultipart(key, uploadId);
    const last = agentOf(state, elsewhere, logged);
    try {
      await last.cycle();
    } finally {
      last.close();
    }
    expect(records(state)).toEqual([]);
    const given = logged.filter((l) => l.includes('an upload left open for a later run is given up'));
    expect(given).toHaveLength(1);
    expect(given[0]).toMatch(/"reason":"the store no longer has the upload/);
    expect(denials).toEqual([]);
  }, 180_000);
});
