// `ferry verify` (the scrub) against the local S3 stand-in: a byte changed directly in the
// stand-in's file on disk is found, named by object and member, and reaches the daily report.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { main } from '../../cli/main.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { dailyReport } from '../../core/report.ts';
import { parseSample, recordScrub, renderScrub, verifySite, type ScrubResult } from '../../core/verify.ts';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { publishArtefact } from '../support/artefact-fixtures.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { treeSnapshotManifestKey } from '../../core/layout.ts';
import { noSuchSource } from '../../cli/verify-commands.ts';

const BUCKET = 'ferry-data';
let directory: string;
let s3: LocalS3;
let blobs: S3BlobStore;
let client: ReturnType<typeof createS3Client>;

const pack = buildPack('site-a', [0, 1, 2].map((i) => ({ path: `000123/call-${i}.wav`, body: audio(i, 4000) })), { day: '2026-03-02T00:00:00Z' });
const packKey = pack.packKey;
const onDisk = (key: string) => join(directory, BUCKET, `${key}._S3rver_object`);

async function runCli(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += chunk.toString()), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await main(args);
    return { code, out };
  } finally {
    write.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
}

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'ferry-scrub-'));
  s3 = await startLocalS3({ directory, buckets: [BUCKET] });
  client = createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials, maxAttempts: 1 });
  blobs = new S3BlobStore(client, BUCKET, { features: { verifiesChecksums: false, conditionalPut: true, md5ETags: true } });
  await publish(blobs, pack);
  await publishArtefact(blobs, { source: 'db', sourceType: 'rotated', role: 'full', name: 'full.sql', body: Buffer.from('-- dump\n'.repeat(500)), takenAt: '2026-03-02T02:00:00.000Z' });
  // Stubbed, so undone when this file ends: the next file in this worker must not find a FERRY_BUCKET.
  for (const [name, value] of Object.entries({ FERRY_BUCKET: BUCKET, FERRY_TABLE: 'unused', AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey, AWS_REGION: 'us-east-1' })) vi.stubEnv(name, value);
});

afterAll(async () => {
  client?.destroy();
  await s3?.stop();
  await rm(directory, { recursive: true, force: true });
});

describe('the scrub headline', () => {
  const result = (over: Partial<ScrubResult>): ScrubResult => ({ format: 'ferry.scrub/1', site: 'site-a', startedAt: '2027-08-10T00:00:00.000Z', finishedAt: '2027-08-10T00:01:00.000Z', sample: 1, candidates: 2, objects: 2, members: 4, bytes: 1000, problems: [], verified: [], archived: [], ...over }) as ScrubResult;
  it('counts as read only the objects it read: those in an archive tier are picked, not read; none read is NOT CHECKED, not OK', () => {
    expect(renderScrub(result({ archived: ['recordings/site-a/2023/03/15/p1.tar'] }))).toMatch(/^OK: site-a: read 1 of 2 object\(s\) \(sample 100%, 2 picked\).*\n  1 object\(s\) in an archive tier were not read/);
    expect(renderScrub(result({ archived: ['a', 'b'] }))).toMatch(/^NOT CHECKED: site-a: read 0 of 2 object\(s\)/);
    expect(renderScrub(result({ sample: 0.05, candidates: 1, objects: 0 }))).toMatch(/^NOT CHECKED: site-a: read 0 of 1 object\(s\) \(sample 5%\).*\n  the sample \(5% of 1\) picked no object/);
  });
});

describe('ferry verify', () => {
  it('reads every pack and backup whole and finds them matching their manifests, exiting 0', async () => {
    const { code, out } = await runCli(['verify', '--site', 'site-a']);
    expect(out).toMatch(/^OK: site-a: read 2 of 2 object\(s\) \(sample 100%\), 4 member\(s\), \d+ bytes; 0 problem\(s\)\nrecorded: reports\/site-a\/scrub\//);
    expect(code).toBe(0);
  });

  it('finds a byte changed in a pack on the stand-in\'s disk, naming the pack and the member, exits 1, and the daily report shows it', async () => {
    const file = onDisk(packKey);
    const bytes = await readFile(file);
    const member = pack.manifest.members[1]!;
    const at = member.offset + 100;
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
    await writeFile(file, bytes);

    const { code, out } = await runCli(['verify', '--site', 'site-a', '--json']);
    expect(code).toBe(1);
    const result = JSON.parse(out) as { problems: { key: string; member?: string; reason: string }[]; recordedAt: string; startedAt: string };
    expect(result.problems.map((p) => [p.key, p.member ?? null])).toEqual([
      [packKey, '000123/call-1.wav'],
      [packKey, null],
    ]);
    expect(result.problems[0]!.reason).toMatch(/^member SHA-256 [0-9a-f]{64} differs from the manifest's [0-9a-f]{64}$/);
    expect(result.problems[1]!.reason).toMatch(/^pack SHA-256 /);

    const report = await dailyReport({ blobs, catalogue: new MemoryCatalogue() }, 'site-a', result.startedAt.slice(0, 10));
    expect(report.scrub?.problems.map((p) => p.member)).toContain('000123/call-1.wav');
    expect(report.problems).toContain(`scrub: ${packKey} member 000123/call-1.wav: ${result.problems[0]!.reason}`);
  });

  it('reads only the sample and the source asked for, and records what it verified', async () => {
    const result = await verifySite(blobs, { site: 'site-a', source: 'db' });
    expect(result.candidates).toBe(1);
    expect(result.verified).toEqual([expect.stringMatching(/^backups\/site-a\/db\/2026\/03\/02\/a[0-9a-f]{23}-full\.sql$/)]);
    const none = await verifySite(blobs, { site: 'site-a', since: '2027-01-01T00:00:00Z' });
    expect([none.candidates, none.objects]).toEqual([0, 0]);
    const key = await recordScrub(blobs, result);
    expect(key).toMatch(/^reports\/site-a\/scrub\/\d{4}\/\d{2}\/\d{2}\/\d{8}T\d{9}Z(-\d+)?\.json$/);
  });

  it('refuses a sample that is not a share in (0%, 100%], naming it', async () => {
    expect(parseSample('5%')).toBe(0.05);
    expect(() => parseSample('150%')).toThrow('--sample "150%" must be a percentage in (0%, 100%] such as 5%, or a fraction in (0, 1]');
    const { code } = await runCli(['verify', '--site', 'site-a', '--sample', '0']);
    expect(code).toBe(1);
  });
});

describe('ferry verify --source with nothing to scrub', () => {
  it('names a tree source as checked by restore tree, and a source the site does not have as such', async () => {
    const blobs = new MemoryBlobStore();
    await blobs.put(treeSnapshotManifestKey('site-a', 'share', `s${'a'.repeat(23)}`, new Date('2026-03-01T00:00:00Z')), Buffer.from('{}'));
    expect(await noSuchSource(blobs, 'site-a', 'share')).toMatch(/^source share of site site-a is a tree source \(a file share\): verify reads recording packs and backups\. .*`ferry restore tree --site site-a --source share --to SCRATCH_DIR`.* Nothing was recorded\.$/);
    expect(await noSuchSource(blobs, 'site-a', 'nosuch')).toMatch(/^site site-a has no source nosuch with recordings or backups offsite .* Nothing was recorded\.$/);
  });
});
