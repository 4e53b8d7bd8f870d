import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedFetch } from '../../adapters/sigv4.ts';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

// A case read as `ferry case show` sends it: signed as the site's officer role, the holds function
// from its bundle with the environment and grants the stack gives it, every AWS call through the
// local IAM gateway as its own role. A member whose pack is in Deep Archive is named archived,
// with the recall to run, before an export is refused on it.

const SITE = 'demo';
let dir: string;
let cloud: LocalCloud;
let warm: string;
let cold: string;

const officer = () => cloud.iam!.credentialsOf(`officer:${SITE}`);
const api = (path: string, method: 'GET' | 'POST' = 'GET', body?: unknown) =>
  signedFetch(`${cloud.apiUrl}/sites/${SITE}${path}`, { service: 'execute-api', region: cloud.region, credentials: officer(), method, ...(body === undefined ? {} : { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }) });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-case-show-'));
  cloud = await startLocalCloud({ directory: join(dir, 'cloud'), fresh: true });
  const recent = buildPack(SITE, [{ path: 'b/recent.wav', body: audio(1, 4000), meta: { callId: 'WARM-1', agent: 'Alice Martin', start: '2026-11-30T09:00:00Z' } }]);
  // Uploaded in 2023 and over 128 KiB (S3 moves nothing smaller): the lifecycle has put it in Deep Archive.
  const old = buildPack(SITE, [{ path: 'b/old.wav', body: audio(2, 200_000), meta: { callId: 'COLD-1', agent: 'Bob Stone', start: '2023-12-11T10:00:00Z' } }], { day: '2023-12-11T00:00:00Z', seed: 'cold', createdAt: '2023-12-11T11:00:00.000Z' });
  await publish(cloud.blobs, recent);
  await cloud.blobs.put(old.packKey, old.pack, { storageClass: 'DEEP_ARCHIVE' });
  await cloud.blobs.put(old.manifestKey, old.manifestBytes, { contentType: 'application/json' });
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
  warm = recent.manifest.members[0]!.rid;
  cold = old.manifest.members[0]!.rid;
}, 120_000);

afterAll(async () => {
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('GET /sites/{site}/cases/{case} through the local cloud', () => {
  it("names each member's start, site, agent and tier, and ferry case show prints the archived one with the recall to run", async () => {
    expect((await api('/cases', 'POST', { caseId: 'FCA-441', name: 'FCA request', reason: 'regulator request 2026-441', rids: [warm, cold] })).status).toBe(201);
    const read = (await (await api('/cases/FCA-441')).json()) as { members: string[]; memberCalls: Record<string, unknown> };
    expect(read.members).toEqual([warm, cold]);
    expect(read.memberCalls[cold]).toEqual({ start: '2023-12-11T10:00:00.000Z', site: SITE, callId: 'COLD-1', agent: 'Bob Stone', archive: expect.objectContaining({ state: 'archived', storageClass: 'DEEP_ARCHIVE' }) });
    expect(read.memberCalls[warm]).toMatchObject({ start: '2026-11-30T09:00:00.000Z', site: SITE, callId: 'WARM-1', agent: 'Alice Martin', archive: { state: 'online' } });
    const keys = officer();
    const env = { ...process.env, AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey, AWS_SESSION_TOKEN: '', AWS_REGION: cloud.region, AWS_PROFILE: '' };
    const { stdout } = await promisify(execFile)(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'ferry.mjs'), 'case', 'show', 'FCA-441', '--site', SITE, '--api', cloud.apiUrl], { env });
    expect(stdout.split('\n')).toEqual([
      'case FCA-441: FCA request (regulator request 2026-441); not on hold',
      `${warm}  2026-11-30T09:00:00.000Z  ${SITE}  WARM-1  Alice Martin`,
      `${cold}  2023-12-11T10:00:00.000Z  ${SITE}  COLD-1  Bob Stone  ARCHIVED (DEEP_ARCHIVE, archived): \`ferry calls recall ${SITE}/${cold}\` before export`,
      '2 call(s)',
      '',
    ]);
  }, 60_000);
});
