import { afterAll, beforeAll, describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { priceStored, priceStoredBySite } from '../../core/cost-stored.ts';
import { renderStored, renderStoredBySite } from '../../cli/cost-commands.ts';
import { priceTable } from '../../core/cost-prices.ts';
import P from '../../core/prices/aws-s3-eu-west-1-2026-11.json' with { type: 'json' };

// `ferry cost now`: a site's listed objects priced as S3 bills their storage, worked out by hand.

const GiB = 2 ** 30;
const table = priceTable('aws-s3-eu-west-1-2026-11').table;

describe("what a site's stored objects cost a month", () => {
  const listing = [
    { key: 'recordings/leeds/2026/11/01/p1.tar', size: 2_000_000, storageClass: 'STANDARD' },
    { key: 'recordings/leeds/2026/09/01/p0.tar', size: 64_000, storageClass: 'GLACIER_IR' },
    { key: 'recordings/leeds/2026/01/01/pa.tar', size: 1_000_000, storageClass: 'DEEP_ARCHIVE' },
    { key: 'recordings/leeds/2026/01/02/pb.tar', size: 1_000_000, storageClass: 'DEEP_ARCHIVE' },
    { key: 'manifests/leeds/recordings/2026/11/01/p1.json', size: 61_024 },
    { key: 'backups/leeds/db/f1.tar', size: 40 * GiB, storageClass: 'STANDARD_IA' },
    { key: 'archives/leeds/old/a.tar', size: 500_000, storageClass: 'GLACIER' },
  ];

  it('bills each object at least its class minimum size, plus the archive overhead (8 KiB of it at the Standard rate), by data class and class', async () => {
    const s = await priceStored('leeds', listing, table);
    const line = (d: string, c: string) => s.lines.find((l) => l.dataClass === d && l.storageClass === c)!;
    expect(line('recordings', 'STANDARD').storagePerMonth).toBeCloseTo(2_000_000 / GiB * P.s3.STANDARD.storagePerGbMonth, 12);
    // 64,000 B in Glacier IR is billed as 128 KiB.
    expect(line('recordings', 'GLACIER_IR').billedGb).toBeCloseTo(131_072 / GiB, 12);
    expect(line('recordings', 'GLACIER_IR').storagePerMonth).toBeCloseTo(131_072 / GiB * P.s3.GLACIER_IR.storagePerGbMonth, 12);
    // Two Deep Archive packs: each its bytes + 32 KiB at the class rate, + 8 KiB at Standard.
    expect(line('recordings', 'DEEP_ARCHIVE')).toMatchObject({ objects: 2, bytes: 2_000_000 });
    expect(line('recordings', 'DEEP_ARCHIVE').storagePerMonth).toBeCloseTo(2 * (1_000_000 + 32_768) / GiB * P.s3.DEEP_ARCHIVE.storagePerGbMonth + 2 * 8192 / GiB * P.s3.STANDARD.storagePerGbMonth, 12);
    // A listing without a class is Standard (S3 omits it for some stand-ins).
    expect(line('manifests', 'STANDARD').storagePerMonth).toBeCloseTo(61_024 / GiB * P.s3.STANDARD.storagePerGbMonth, 12);
    expect(line('backups', 'STANDARD_IA').storagePerMonth).toBeCloseTo(40 * P.s3.STANDARD_IA.storagePerGbMonth, 12);
    expect(s.lines.map((l) => `${l.dataClass} ${l.storageClass}`)).toEqual(['archives GLACIER', 'backups STANDARD_IA', 'manifests STANDARD', 'recordings STANDARD', 'recordings GLACIER_IR', 'recordings DEEP_ARCHIVE']);
  });

  it('names a class the price table cannot price and leaves it out of the total', async () => {
    const s = await priceStored('leeds', listing, table);
    expect(s.unpriced).toEqual(['archives in GLACIER (1 object(s)): the price table has no price for GLACIER; left out of the total']);
    const priced = s.lines.filter((l) => l.storageClass !== 'GLACIER').reduce((n, l) => n + l.storagePerMonth!, 0);
    expect(s.total.storagePerMonth).toBeCloseTo(priced, 12);
    expect(s.total.objects).toBe(7);
  });

  it('reads the listing as it comes (an async listing of the bucket)', async () => {
    async function* listed() {
      yield* listing.slice(0, 2);
    }
    expect((await priceStored('leeds', listed(), table)).total.objects).toBe(2);
  });
});

describe('ferry cost now', () => {
  const BUCKET = 'ferry-cost-now';
  let directory: string;
  let s3: LocalS3;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'ferry-cost-now-'));
    s3 = await startLocalS3({ directory, buckets: [BUCKET] });
    const client = createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials, maxAttempts: 1 });
    const blobs = new S3BlobStore(client, BUCKET, { features: { verifiesChecksums: false, conditionalPut: true, md5ETags: true } });
    // A pack of three 20-second G.729 calls (64,000 B) and one of ten (210,944 B), then 40 days of the deployment's lifecycle.
    await blobs.put('recordings/leeds/2026/11/01/small.tar', Buffer.alloc(64_000, 1));
    await blobs.put('recordings/leeds/2026/11/01/large.tar', Buffer.alloc(210_944, 1));
    await blobs.put('recordings/york/2026/11/01/other.tar', Buffer.alloc(1000, 1));
    // A case's export bundle and a sealed audit record: a site's objects outside the data classes.
    await blobs.put('exports/leeds/case-7.tar', Buffer.alloc(5000, 1));
    await blobs.put('audit/york/000000000001.json', Buffer.alloc(300, 1));
    // Not Ferry's: another application's object in the same bucket.
    await blobs.put('tmp/upload-test.bin', Buffer.alloc(700, 1));
    client.destroy();
    await s3.advanceClock(40 * 86_400_000);
  });

  afterAll(async () => {
    await s3?.stop();
    await rm(directory, { recursive: true, force: true });
  });

  it("prices the site's objects in the classes the lifecycle put them in: a pack under 128 KiB still in Standard", () => {
    const env = { ...process.env, FERRY_HOME: directory, FERRY_BUCKET: BUCKET, FERRY_TABLE: 'unused', AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey, AWS_REGION: 'us-east-1' };
    const r = spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/ferry.mjs'), 'cost', 'now', '--site', 'leeds', '--json'], { encoding: 'utf8', timeout: 30_000, env });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { lines: { dataClass: string; storageClass: string; objects: number; bytes: number }[]; total: { storagePerMonth: number } };
    expect(out.lines.map((l) => [l.dataClass, l.storageClass, l.objects, l.bytes])).toEqual([
      ['exports', 'STANDARD', 1, 5000],
      ['recordings', 'STANDARD', 1, 64_000],
      ['recordings', 'GLACIER_IR', 1, 210_944],
    ]);
    expect(out.total.storagePerMonth).toBeCloseTo((64_000 + 5000) / GiB * P.s3.STANDARD.storagePerGbMonth + 210_944 / GiB * P.s3.GLACIER_IR.storagePerGbMonth, 12);
    const text = spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/ferry.mjs'), 'cost', 'now', '--site', 'leeds'], { encoding: 'utf8', timeout: 30_000, env }).stdout;
    expect(text).toMatch(/^recordings +GLACIER_IR +1 +0\.00 +0\.00 +/m);
    expect(text).toMatch(/^storage per month at this size +\$\S+ +\(3 objects\)$/m);
  });

  it('without --site prices every site found in the bucket, one line each and their total, and counts what lies under no site apart', () => {
    const env = { ...process.env, FERRY_HOME: directory, FERRY_BUCKET: BUCKET, FERRY_TABLE: 'unused', AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey, AWS_REGION: 'us-east-1' };
    const r = spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/ferry.mjs'), 'cost', 'now', '--json'], { encoding: 'utf8', timeout: 30_000, env });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { sites: { site: string; total: { objects: number; bytes: number; storagePerMonth: number } }[]; all: { total: { objects: number; storagePerMonth: number }; lines: { dataClass: string }[] }; outside: { objects: number; bytes: number; examples: string[] } };
    expect(out.sites.map((s) => [s.site, s.total.objects, s.total.bytes])).toEqual([
      ['leeds', 3, 64_000 + 210_944 + 5000],
      ['york', 2, 1000 + 300],
    ]);
    expect(out.all.total.objects).toBe(5);
    expect(out.all.total.storagePerMonth).toBeCloseTo(out.sites[0]!.total.storagePerMonth + out.sites[1]!.total.storagePerMonth, 12);
    expect(out.all.lines.map((l) => l.dataClass)).toEqual(['audit', 'exports', 'recordings', 'recordings']);
    expect(out.outside).toEqual({ objects: 1, bytes: 700, examples: ['tmp/upload-test.bin'] });
    const text = spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/ferry.mjs'), 'cost', 'now'], { encoding: 'utf8', timeout: 30_000, env }).stdout;
    expect(text).toMatch(/^leeds +3 +0\.00 +0\.00 +\S+$/m);
    expect(text).toMatch(/^york +2 +/m);
    expect(text).toMatch(/^all sites +5 +/m);
    expect(text).toMatch(/^storage per month at this size +\$\S+ +\(5 objects in 2 site\(s\)\)$/m);
    expect(text).toContain('1 object(s) (0.00 GB) under no site\'s prefix, not priced: e.g. "tmp/upload-test.bin"');
  });
});

describe('ferry cost now, as printed', () => {
  const prices = { table: 'aws-s3-eu-west-1-2026-11', asOf: '2026-11', region: 'eu-west-1' };

  it('says what it leaves out, the parts of open uploads among them (billed, never listed)', async () => {
    const text = renderStored(await priceStored('leeds', [{ key: 'recordings/leeds/2026/11/01/p1.tar', size: 2_000_000 }], table), prices);
    expect(text).toContain('the parts of uploads still open (billed in Standard,\nnever listed');
    expect(text).not.toContain('no object under the prefixes');
  });

  it('an empty bucket prices to $0 and says why, rather than an empty table', async () => {
    const text = renderStoredBySite(await priceStoredBySite([], table), prices);
    expect(text).toMatch(/^all sites +0 +0\.00 +0\.00 +0$/m);
    expect(text).toContain("no object under any site's prefixes ({class}/{site}/)");
  });

  it("says so when the site has no object under its prefixes, rather than a bare $0 (a misspelt site)", async () => {
    const text = renderStored(await priceStored('leds', [], table), prices);
    expect(text).toMatch(/^storage per month at this size +\$0 +\(0 objects\)$/m);
    expect(text).toContain("no object under the prefixes of site leds ({class}/leds/): a site that has not shipped yet, or another name than its agents' `site`");
  });
});
