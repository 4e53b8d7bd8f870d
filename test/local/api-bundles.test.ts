import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiFunctions } from '../../local/api-functions.ts';
import { LocalLambdaPool } from '../../local/lambda-pool.ts';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import { buildFunctionBundles, DEFAULT_BUNDLE_DIR } from '../../local/function-bundles.ts';
import { deployedVariable, functionEnvironment, generatedSnapshot } from '../../local/function-environment.ts';
import { audio, buildPack, publish, type PackFixture } from '../support/pack-fixture.ts';
import { apiGet, replayGet } from '../support/signed.ts';

// The local cloud's API, replay URL and bucket notification run the functions CDK deploys: the
// bundles built with the shared options, in their own Lambda runtime, with the environment the
// synthesized app sets. Proven by marking the built bundles (a string only they hold) before
// the cloud starts: the answers carry the mark, which the TypeScript sources do not have.

const RID_RULE = 'must be a recording id (r + 23 hex digits)';
const CATALOGUE_MARK = 'must be a recording id (r + 23 hex digits; catalogue bundle)';
const REPLAY_MARK = 'must be a recording id (r + 23 hex digits; replay bundle)';

let dir: string;
let cloud: LocalCloud;
let f: PackFixture;
const body = audio(7, 6000);
// Many chunks: the runtime sends one at a time as the reader takes them.
const long = audio(8, 2_000_000);

function mark(bundle: string, original: string, marked: string): void {
  const text = readFileSync(bundle, 'utf8');
  expect(text.includes(original), `${bundle} holds ${original}`).toBe(true);
  writeFileSync(bundle, text.replaceAll(original, marked));
}

beforeAll(async () => {
  await buildFunctionBundles(['ingest', 'catalogue', 'artefacts', 'replay']);
  dir = mkdtempSync(join(tmpdir(), 'ferry-api-bundles-'));
  // A copy of the shared cache (built if need be), so marking it touches no other test's bundles.
  const bundleDir = join(dir, 'bundles');
  cpSync(DEFAULT_BUNDLE_DIR, bundleDir, { recursive: true, filter: (path) => !path.endsWith('.tmp') });
  const bundles = await buildFunctionBundles(['ingest', 'catalogue', 'artefacts', 'replay'], { dir: bundleDir });
  mark(bundles.catalogue, RID_RULE, CATALOGUE_MARK);
  mark(bundles.replay, RID_RULE, REPLAY_MARK);
  mark(bundles.ingest, '"manifest ingested"', '"manifest ingested by the ingest bundle"');
  cloud = await startLocalCloud({ directory: join(dir, 'cloud'), fresh: true, bundleDir });
  f = buildPack('site-a', [
    { path: 'b/one.wav', body },
    { path: 'b/two.wav', body: long },
  ]);
  await publish(cloud.blobs, f);
  await cloud.drain();
}, 120_000);

afterAll(async () => {
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const as = () => ({ credentials: cloud.credentials });

describe('the local API and replay URL answer from the deployed bundles', () => {
  it('the catalogue API answers from the catalogue bundle (its marked validation message)', async () => {
    const res = await apiGet(`${cloud.apiUrl}/sites/site-a/recordings/not-a-rid`, as());
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toContain(CATALOGUE_MARK);
  });

  it('the replay URL answers from the replay bundle, streamed by the runtime: whole (200), ranged (206), HEAD', async () => {
    const bad = await replayGet(`${cloud.replayUrl}/sites/site-a/recordings/not-a-rid/audio`, as());
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain(REPLAY_MARK);
    const url = `${cloud.replayUrl}/sites/site-a/recordings/${f.manifest.members[0]!.rid}/audio`;
    const whole = await replayGet(url, as());
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer())).toEqual(body);
    const ranged = await replayGet(url, { ...as(), headers: { Range: 'bytes=1000-2999' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes 1000-2999/${body.length}`);
    expect(Buffer.from(await ranged.arrayBuffer())).toEqual(body.subarray(1000, 3000));
    const head = await replayGet(url, { ...as(), method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(body.length));
  });

  it('the replay function outlives a HEAD and a client that goes away mid-stream: the next listen plays whole', async () => {
    const url = `${cloud.replayUrl}/sites/site-a/recordings/${f.manifest.members[1]!.rid}/audio`;
    expect((await replayGet(url, { ...as(), method: 'HEAD' })).status).toBe(200);
    const first = await replayGet(url, as());
    const reader = first.body!.getReader();
    expect((await reader.read()).value!.length).toBeGreaterThan(0);
    await reader.cancel();
    const again = await replayGet(url, as());
    expect(again.status).toBe(200);
    expect(Buffer.from(await again.arrayBuffer())).toEqual(long);
  });

  it('the replay bundle answers 409 ArchivedError naming the class for a pack in DEEP_ARCHIVE, 404 for a purged pack, through the IAM gateway', async () => {
    const archived = buildPack('site-a', [{ path: 'b/archived.wav', body: audio(9, 4000) }]);
    await cloud.blobs.put(archived.packKey, archived.pack, { storageClass: 'DEEP_ARCHIVE' });
    await cloud.blobs.put(archived.manifestKey, archived.manifestBytes, { contentType: 'application/json' });
    await cloud.drain();
    const res = await replayGet(`${cloud.replayUrl}/sites/site-a/recordings/${archived.manifest.members[0]!.rid}/audio`, { ...as(), headers: { Range: 'bytes=0-99' } });
    expect(res.status).toBe(409);
    const answer = (await res.json()) as { error: string; message: string };
    expect(answer.error).toBe('ArchivedError');
    expect(answer.message).toMatch(/archive tier \(DEEP_ARCHIVE\); request a recall/);
    const purged = buildPack('site-a', [{ path: 'b/purged.wav', body: audio(10, 4000) }]);
    await publish(cloud.blobs, purged);
    await cloud.drain();
    await cloud.blobs.delete(purged.packKey);
    const gone = await replayGet(`${cloud.replayUrl}/sites/site-a/recordings/${purged.manifest.members[0]!.rid}/audio`, as());
    expect(gone.status).toBe(404);
  });

  it("the S3 notification ran the ingest bundle (its marked log line is in the functions' log)", () => {
    const lines = readFileSync(join(dir, 'cloud', 'functions.log'), 'utf8').trim().split('\n');
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const ingested = { message: 'manifest ingested by the ingest bundle', manifestKey: f.manifestKey };
    expect(logged).toContainEqual(expect.objectContaining(ingested));
  });
});

describe('API function runtimes', () => {
  it('replaces a runtime that no longer runs, as Lambda replaces an execution environment, once for concurrent calls', async () => {
    const fns = await startApiFunctions({
      ...{ bucket: 'local-bucket', table: 'local-table', region: 'us-east-1', s3Endpoint: 'http://127.0.0.1:9', dynamoEndpoint: 'http://127.0.0.1:9' },
      ...{ credentialsOf: () => ({ accessKeyId: 'k', secretAccessKey: 's' }), cursorKey: 'c'.repeat(32), recallFor: () => undefined },
      console: { issuer: 'http://127.0.0.1:9/pool', clientId: 'client', replayUrls: { 'site-a': 'http://127.0.0.1:9' } },
    });
    try {
      const event = { rawPath: '/sites/site-a/recordings/bad', pathParameters: { site: 'site-a', rid: 'bad' } };
      const ask = () => fns.route('catalogue')({ ...event, requestContext: { http: { method: 'GET' } } });
      expect((await ask()).statusCode).toBe(400);
      const first = fns.functions.catalogue;
      await first.stop();
      const answers = await Promise.all([ask(), ask()]);
      expect(answers.map((a) => a.statusCode)).toEqual([400, 400]);
      expect(fns.functions.catalogue).not.toBe(first);
      expect(fns.functions.catalogue.running).toBe(true);
    } finally {
      await fns.stop();
    }
    // Eight runtimes start (the export function's among them): a shared two-core machine needs more than 30 s.
  }, 90_000);

  it('runs the replay function in a pool of 2 runtimes when asked (environments), and answers through it', async () => {
    const fns = await startApiFunctions({
      ...{ bucket: 'local-bucket', table: 'local-table', region: 'us-east-1', s3Endpoint: 'http://127.0.0.1:9', dynamoEndpoint: 'http://127.0.0.1:9' },
      ...{ credentialsOf: () => ({ accessKeyId: 'k', secretAccessKey: 's' }), cursorKey: 'c'.repeat(32), recallFor: () => undefined },
      console: { issuer: 'http://127.0.0.1:9/pool', clientId: 'client', replayUrls: { 'site-a': 'http://127.0.0.1:9' } },
      environments: { replay: 2 },
    });
    try {
      expect(fns.functions.replay).toBeInstanceOf(LocalLambdaPool);
      expect((fns.functions.replay as LocalLambdaPool).size).toBe(2);
      expect(fns.functions.catalogue).not.toBeInstanceOf(LocalLambdaPool);
      const event = { rawPath: '/sites/site-a/recordings/bad/audio', pathParameters: { site: 'site-a', rid: 'bad' }, requestContext: { http: { method: 'GET' } } };
      const answers = await Promise.all([fns.replay(event as never), fns.replay(event as never)]);
      expect(answers.map((a) => a.statusCode)).toEqual([400, 400]);
    } finally {
      await fns.stop();
    }
  }, 90_000);
});

describe('function environments come from the synthesized app', () => {
  const local = { BUCKET: 'local-bucket', TABLE: 'local-table', CURSOR_KEY: 'c'.repeat(32), RECALL_STATE_MACHINE_ARN: 'arn:recall' };
  const consoleRole = { CONSOLE_ROLE_NAME: 'local-console-role', LISTENER_ROLE_NAMES: '["local-listener-role"]' };

  it('gives each function exactly the variables the app sets on it, computed ones replaced by their local stand-ins', () => {
    // PACK_TIERS: the packs' lifecycle tiers of the default deployment, a literal the app sets.
    const PACK_TIERS = JSON.stringify([
      { storageClass: 'GLACIER_IR', afterDays: 30 },
      { storageClass: 'DEEP_ARCHIVE', afterDays: 365 },
    ]);
    expect(functionEnvironment('catalogue', local)).toEqual({ ...local, AUDIT_TRAIL: 'chain', PACK_TIERS, SEARCH_READ_LIMIT: '50000', NODE_OPTIONS: '--enable-source-maps' });
    // The console's role: the one caller replay takes an officer's name from.
    const replay = { BUCKET: 'local-bucket', TABLE: 'local-table', AUDIT_TRAIL: 'chain', NODE_OPTIONS: '--enable-source-maps', ...consoleRole };
    expect(functionEnvironment('replay', { ...local, ...consoleRole })).toEqual(replay);
    // The name the local IAM gives the console function's role, which its requests carry.
    expect(deployedVariable(generatedSnapshot(), 'replay', 'CONSOLE_ROLE_NAME')).toMatch(/console/i);
    // The names the local IAM gives the sites' listener roles, which replay refuses a download.
    expect(JSON.parse(deployedVariable(generatedSnapshot(), 'replay', 'LISTENER_ROLE_NAMES')!)).toEqual([expect.stringMatching(/listener/i)]);
  });

  it('refuses to start a function the app gives a computed variable the local cloud cannot stand in for, naming it', () => {
    const snapshot = structuredClone(generatedSnapshot());
    const [stack, role] = snapshot.roles['function:artefacts']!;
    const fn = Object.values(snapshot.templates[stack]!.Resources!).find(
      (r) => r.Type === 'AWS::Lambda::Function' && JSON.stringify(r.Properties?.Role).includes(role),
    )!;
    (fn.Properties!.Environment as { Variables: Record<string, unknown> }).Variables.ALERT_TOPIC = { Ref: 'AlertsTopic' };
    const refusal = /function artefacts: the CDK app sets ALERT_TOPIC from .*no stand-in/;
    expect(() => functionEnvironment('artefacts', local, snapshot)).toThrow(refusal);
  });
});
