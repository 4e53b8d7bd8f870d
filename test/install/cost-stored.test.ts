import { describe, it, expect } from 'vitest';
import { priceStored } from '../../core/cost-stored.ts';
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
