import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presignReplayLink } from '../../adapters/replay-link.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { AuditEvent } from '../../functions/shared/audit.ts';
import type { HttpEndpoint } from '../../local/http-endpoint.ts';
import { startReplayServer } from '../../local/replay-server.ts';
import { audio, buildPack, publish, type PackFixture } from '../support/pack-fixture.ts';
import { apiGet, replayGet, TEST_KEY, TEST_REGION } from '../support/signed.ts';
import { sourceFunctions } from '../support/source-functions.ts';

// The local replay endpoint as the deployed Function URL (AWS_IAM auth) behaves: its own
// server, SigV4 for service lambda in the header or presigned in the query, Range support.

let replay: HttpEndpoint;
let f: PackFixture;
const audits: AuditEvent[] = [];
const members = [
  { path: 'batch/one.wav', body: audio(1, 5000), meta: { agent: 'ann', start: '2026-03-01T08:00:00Z' } },
  { path: 'batch/two.wav', body: audio(2, 3000), meta: { agent: 'bob', start: '2026-03-01T09:00:00Z' } },
];

beforeAll(async () => {
  const blobs = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  f = buildPack('site-a', members);
  await publish(blobs, f);
  await ingestManifest({ blobs, catalogue }, f.manifestKey);
  const { replay: replayFunction } = sourceFunctions({ catalogue, blobs, audit: (e) => void audits.push(e) });
  replay = await startReplayServer({ replay: replayFunction!, credentials: [TEST_KEY], region: TEST_REGION, log: () => undefined });
});

afterAll(async () => {
  await replay?.stop();
});

const rid = (i: number) => f.manifest.members[i]!.rid;
const audioUrl = (i: number) => `${replay.url}/sites/site-a/recordings/${rid(i)}/audio`;

describe('local replay endpoint (real HTTP, SigV4 for lambda)', () => {
  it('streams the whole recording (200), a range (206), refuses an unsatisfiable range (416), and audits a listen for each call whose bytes went out, with the access key id', async () => {
    const whole = await replayGet(audioUrl(0));
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer())).toEqual(members[0]!.body);
    const part = await replayGet(audioUrl(1), { headers: { range: 'bytes=-100' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 2900-2999/3000');
    expect(Buffer.from(await part.arrayBuffer())).toEqual(members[1]!.body.subarray(2900));
    const beyond = await replayGet(audioUrl(1), { headers: { range: 'bytes=3000-' } });
    expect(beyond.status).toBe(416);
    await beyond.arrayBuffer();
    // The tail of the second call is a listen of its own (no play of it from byte 0 covers it); the 416 sent no audio.
    expect(audits.filter((a) => a.action === 'listen').map((a) => [a.rid, a.principal])).toEqual([
      [rid(0), TEST_KEY.accessKeyId],
      [rid(1), TEST_KEY.accessKeyId],
    ]);
  });

  it('refuses unsigned requests and signatures for execute-api with 403', async () => {
    const unsigned = await fetch(audioUrl(0));
    expect(unsigned.status).toBe(403);
    expect(await unsigned.json()).toEqual({ message: 'Missing Authentication Token' });
    expect((await apiGet(audioUrl(0))).status).toBe(403);
  });

  it('plays a presigned link (a browser needs nothing else) and refuses it once expired or altered', async () => {
    const link = await presignReplayLink({ replayUrl: replay.url, region: TEST_REGION, site: 'site-a', rid: rid(0), credentials: TEST_KEY, expiresInSeconds: 60 });
    const ok = await fetch(link, { headers: { Range: 'bytes=0-9' } });
    expect(ok.status).toBe(206);
    expect(Buffer.from(await ok.arrayBuffer())).toEqual(members[0]!.body.subarray(0, 10));
    const old = await presignReplayLink({ replayUrl: replay.url, region: TEST_REGION, site: 'site-a', rid: rid(0), credentials: TEST_KEY, expiresInSeconds: 60, now: new Date(Date.now() - 120_000) });
    const expired = await fetch(old);
    expect(expired.status).toBe(403);
    expect(((await expired.json()) as { message: string }).message).toMatch(/expired/);
    const other = link.replace(rid(0), rid(1));
    expect((await fetch(other)).status).toBe(403);
    const download = new URL(link);
    download.searchParams.set('download', '1');
    expect((await fetch(download)).status).toBe(403);
  });

  it('plays a link that carries the recording\'s place (pack, offset, length), and refuses it with the place altered', async () => {
    const m = f.manifest.members[1]!;
    const link = await presignReplayLink({ replayUrl: replay.url, region: TEST_REGION, site: 'site-a', rid: rid(1), credentials: TEST_KEY, expiresInSeconds: 60, place: { packKey: f.packKey, offset: m.offset, length: m.length } });
    const ok = await fetch(link, { headers: { Range: 'bytes=10-29' } });
    expect(ok.status).toBe(206);
    expect(Buffer.from(await ok.arrayBuffer())).toEqual(members[1]!.body.subarray(10, 30));
    const moved = new URL(link);
    moved.searchParams.set('offset', String(f.manifest.members[0]!.offset));
    const refused = await fetch(moved, { headers: { Range: 'bytes=10-29' } });
    expect(refused.status).toBe(403);
    await refused.arrayBuffer();
  });
});
