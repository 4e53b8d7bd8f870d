import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedFetch } from '../../adapters/sigv4.ts';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import { synthesizeDeployment } from '../../local/iam-gateway/synthesize.ts';
import { audio, buildPack, publish, type PackFixture } from '../support/pack-fixture.ts';

// A site's listener role (ListenerRoleArn{site}) at the local catalogue API and replay URL,
// decided by the policies the CDK app synthesizes, requests signed as that role: it searches,
// opens and plays the site's calls, and is refused the holds, cases, erasure requests, audit view,
// snapshots, another site, and a download.

const A = 'site-a';
const B = 'site-b';
type Caller = { accessKeyId: string; secretAccessKey: string };

let dir: string;
let cloud: LocalCloud;
let packs: Record<string, PackFixture>;
let listener: Caller;

const api = (path: string, method: 'GET' | 'POST' = 'GET', body?: unknown) =>
  signedFetch(`${cloud.apiUrl}${path}`, { service: 'execute-api', region: cloud.region, credentials: listener, method, ...(body === undefined ? {} : { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }) });
const replay = (f: PackFixture, query = '', headers: Record<string, string> = {}) =>
  signedFetch(`${cloud.replayUrl}/sites/${f.manifest.site}/recordings/${f.manifest.members[0]!.rid}/audio${query}`, { service: 'lambda', region: cloud.region, credentials: listener, headers });
const audited = () => readFileSync(cloud.auditFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { action: string; principal: string });

beforeAll(async () => {
  const snapshot = await synthesizeDeployment([A, B]);
  dir = mkdtempSync(join(tmpdir(), 'ferry-listener-iam-'));
  cloud = await startLocalCloud({ directory: dir, fresh: true, iam: { sites: [A, B], snapshot } });
  packs = { [A]: buildPack(A, [{ path: 'b/1.wav', body: audio(1, 4000) }]), [B]: buildPack(B, [{ path: 'b/2.wav', body: audio(2, 4000) }]) };
  for (const f of Object.values(packs)) await publish(cloud.blobs, f);
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
  listener = cloud.iam!.credentialsOf(`listener:${A}`);
}, 180_000);

afterAll(async () => {
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("a site's listener role on the command line", () => {
  it('searches, opens and plays a call of its site, audited as a search and a listen by the listener role', async () => {
    const rid = packs[A]!.manifest.members[0]!.rid;
    const search = await api(`/sites/${A}/recordings?from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z`);
    expect(search.status).toBe(200);
    expect(((await search.json()) as { items: { rid: string }[] }).items.map((e) => e.rid)).toEqual([rid]);
    expect((await api(`/sites/${A}/recordings/${rid}`)).status).toBe(200);
    const played = await replay(packs[A]!, '', { Range: 'bytes=0-99' });
    expect(played.status).toBe(206);
    expect(Buffer.from(await played.arrayBuffer())).toEqual(audio(1, 4000).subarray(0, 100));
    const events = audited();
    expect(events.map((e) => e.action)).toEqual(['search', 'search', 'listen']);
    for (const e of events) expect(e.principal).toMatch(/^arn:aws:iam::\d{12}:role\/.*listener/i);
  });

  it('is refused legal holds, cases, erasure requests, the audit view and snapshots with 403 AccessDeniedException', async () => {
    const rid = packs[A]!.manifest.members[0]!.rid;
    const routes: ['GET' | 'POST', string, unknown?][] = [
      ['GET', `/sites/${A}/audit`], ['GET', `/sites/${A}/snapshots`],
      ['GET', `/sites/${A}/holds`], ['POST', `/sites/${A}/holds`, { rids: [rid], reason: 'x' }], ['POST', `/sites/${A}/holds/release`, { rids: [rid] }],
      ['GET', `/sites/${A}/cases`], ['POST', `/sites/${A}/cases`, { caseId: 'C-1' }], ['POST', `/sites/${A}/cases/C-1/calls`, { rids: [rid] }],
      ['GET', `/sites/${A}/erasures`], ['POST', `/sites/${A}/erasures`, { rid, reason: 'x' }],
      ['GET', `/sites/${B}/recordings`],
    ];
    const before = audited().length;
    for (const [method, path, body] of routes) {
      const res = await api(path, method, body);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.headers.get('x-amzn-errortype'), `${method} ${path}`).toBe('AccessDeniedException');
    }
    expect(audited()).toHaveLength(before);
  });

  it('reads no audit trail through a recording route it may call: …/recordings/audit is no recording id (400)', async () => {
    const res = await api(`/sites/${A}/recordings/audit`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(/rid: must be a recording id/);
  });

  it('plays but may not download (403 from replay, nothing sent or audited), and plays nothing of another site', async () => {
    const before = audited().length;
    for (const query of ['?download=1', '?download=true']) {
      const res = await replay(packs[A]!, query);
      expect(res.status, query).toBe(403);
      expect(((await res.json()) as { message: string }).message).toMatch(/^the listener role of a site may play its calls, not download them/);
    }
    expect((await replay(packs[A]!, '?download=0')).status).toBe(200);
    expect(audited().slice(before).map((e) => e.action)).toEqual(['listen']);
    expect((await replay(packs[B]!)).status).toBe(403);
  });

  it('`ferry calls link --download` as the listener role is refused before a link is minted, naming the role and the listen link to use; the listen link is minted and plays', async () => {
    const id = `${A}/${packs[A]!.manifest.members[0]!.rid}`;
    const before = audited().length;
    const refused = await ferry(listener, ['calls', 'link', id, '--download', '--replay-url', cloud.replayUrl]).then(
      () => undefined,
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect(refused?.code).toBe(1);
    expect(refused?.stdout).toBe('');
    expect(refused?.stderr).toMatch(/^ferry: --download: these credentials are the listener role \S*listener\S* of a site, which may play its calls but not download them/i);
    expect(refused?.stderr).toContain(`\`ferry calls link ${id}\` without --download`);
    const listen = await ferry(listener, ['calls', 'link', id, '--replay-url', cloud.replayUrl]);
    expect((await fetch(listen.stdout.trim())).status).toBe(200);
    expect(audited().slice(before).map((e) => e.action)).toEqual(['listen']);
  }, 60_000);

  it("`ferry calls link --download` as the site's officer role mints a link that downloads", async () => {
    const id = `${A}/${packs[A]!.manifest.members[0]!.rid}`;
    const before = audited().length;
    const link = await ferry(cloud.iam!.credentialsOf(`officer:${A}`), ['calls', 'link', id, '--download', '--replay-url', cloud.replayUrl]);
    const res = await fetch(link.stdout.trim());
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(audio(1, 4000));
    expect(audited().slice(before).map((e) => e.action)).toEqual(['download']);
  }, 60_000);
});

/** The ferry command line, signing with `keys` (the SDK's chain takes them from the environment). */
function ferry(keys: Caller, args: string[]) {
  const env = { ...process.env, FERRY_HOME: join(dir, 'home'), AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey, AWS_SESSION_TOKEN: '', AWS_REGION: cloud.region, AWS_PROFILE: '' };
  return promisify(execFile)(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'ferry.mjs'), ...args], { env });
}
