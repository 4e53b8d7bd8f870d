import { describe, it, expect } from 'vitest';
import { PRICE_TABLE_STALE_DAYS, priceTableAgeWarning } from '../../core/cost-prices.ts';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { estimateCost, type CostInput } from '../../core/cost.ts';
import { priceTable } from '../../core/cost-prices.ts';
import P from '../../core/prices/aws-s3-eu-west-1-2026-11.json' with { type: 'json' };

// The arithmetic of `ferry cost estimate` on one small case worked out by hand below (from the
// price table's figures, not from the estimator), and the command as an operator runs it.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
const GiB = 2 ** 30;

// 1,000 calls a day of 100 s G.711 (8,000 B/s) = 800,000 B each; a tar member is a 512-byte
// header + the data padded to 512 (1,563 blocks) = 800,768 B; a pack of 100 + 1 KiB end =
// 80,077,824 B; 10 packs a day; 8 MiB parts: 10 parts + create + complete = 12 requests.
// Kept 400 days: Standard 0-30, Glacier IR 30-365, Deep Archive 365-400 (billed 180 days).
const input: CostInput = {
  callsPerDay: 1000,
  codec: 'g711',
  avgSeconds: 100,
  retentionDays: 400,
  recordingsPerPack: 100,
  partSizeMiB: 8,
  backupGbPerDay: 0,
  backupRetentionDays: 90,
  tiers: { recordings: [{ storageClass: 'GLACIER_IR', afterDays: 30 }, { storageClass: 'DEEP_ARCHIVE', afterDays: 365 }], backups: [] },
};
const PACK = 80_077_824;
const MANIFEST = 1024 + 600 * 100;

describe('cost estimate arithmetic', () => {
  const e = estimateCost(input, priceTable('aws-s3-eu-west-1-2026-11').table);
  const line = (data: string, cls: string) => e.lines.find((l) => l.dataClass === data && l.storageClass === cls)!;

  it('sizes the pack from the codec, the tar framing and the pack size', () => {
    expect(e.volumes).toMatchObject({ recordingBytes: 800_000, packBytes: PACK, packsPerDay: 10 });
  });

  it('prices each tier of the recordings per month as worked out by hand, Deep Archive at its 180-day minimum and per-object overhead', () => {
    const std = 10 * 30 * PACK / GiB * P.s3.STANDARD.storagePerGbMonth;
    const stdRequests = 10 * 30 * 12 * P.s3.STANDARD.putPer1000 / 1000;
    const gir = 10 * 335 * PACK / GiB * P.s3.GLACIER_IR.storagePerGbMonth;
    const girTransitions = 10 * 30 * P.s3.GLACIER_IR.transitionInPer1000 / 1000;
    const da = 10 * 180 * (PACK + 32_768) / GiB * P.s3.DEEP_ARCHIVE.storagePerGbMonth + 10 * 180 * 8192 / GiB * P.s3.STANDARD.storagePerGbMonth;
    const daTransitions = 10 * 30 * P.s3.DEEP_ARCHIVE.transitionInPer1000 / 1000;
    expect(line('recordings', 'STANDARD').storagePerMonth).toBeCloseTo(std, 9);
    expect(line('recordings', 'STANDARD').requestsPerMonth).toBeCloseTo(stdRequests, 9);
    expect(line('recordings', 'GLACIER_IR').storagePerMonth).toBeCloseTo(gir, 9);
    expect(line('recordings', 'GLACIER_IR').requestsPerMonth).toBeCloseTo(girTransitions, 9);
    expect(line('recordings', 'DEEP_ARCHIVE').storagePerMonth).toBeCloseTo(da, 9);
    expect(line('recordings', 'DEEP_ARCHIVE').requestsPerMonth).toBeCloseTo(daTransitions, 9);
    expect(line('recordings', 'DEEP_ARCHIVE').objects).toBe(350);
  });

  it('totals storage, requests, manifests, catalogue and ingest per month as worked out by hand', () => {
    const recordings =
      10 * 30 * PACK / GiB * 0.023 + 10 * 30 * 12 * 0.005 / 1000 +
      10 * 335 * PACK / GiB * 0.004 + 10 * 30 * 0.02 / 1000 +
      (10 * 180 * (PACK + 32_768) / GiB) * 0.00099 + (10 * 180 * 8192 / GiB) * 0.023 + 10 * 30 * 0.05 / 1000;
    const manifests = 10 * 400 * MANIFEST / GiB * 0.023 + 10 * 30 * 0.005 / 1000;
    // Each recording's item is written to the table and to its 5 search indexes (projection ALL): 6 writes and 6 stored copies;
    // point-in-time recovery bills the base table's size (one copy of the six) again at $0.22; once the retention
    // is full the purge deletes as many items as ingest writes, each delete a write too.
    const catalogue = 2 * (1000 * 6 + 10) * 30 * 0.7063 / 1e6 + 1000 * 1024 * 6 / GiB * 400 * 0.283 + 1000 * 1024 / GiB * 400 * 0.22;
    const ingest = 300 * 0.2 / 1e6 + 300 * 0.0004 / 1000;
    // The literal prices above are the table's: a changed table must fail here, not pass silently.
    expect([P.s3.STANDARD.storagePerGbMonth, P.s3.GLACIER_IR.storagePerGbMonth, P.s3.DEEP_ARCHIVE.storagePerGbMonth, P.dynamodb.writeRequestUnitsPerMillion, P.dynamodb.pointInTimeRecoveryPerGbMonth]).toEqual([0.023, 0.004, 0.00099, 0.7063, 0.22]);
    expect(e.unpriced).toEqual([]);
    expect(e.total.perMonth).toBeCloseTo(recordings + manifests + catalogue + ingest, 9);
  });

  it("pays the catalogue's writes twice a month in the steady state (the purge's deletes match ingest's writes), once a month over the first retention", () => {
    const writes = (1000 * 6 + 10) * 30 * P.dynamodb.writeRequestUnitsPerMillion / 1e6;
    const storage = 1000 * 1024 * 6 / GiB * 400 * P.dynamodb.storagePerGbMonth + 1000 * 1024 / GiB * 400 * P.dynamodb.pointInTimeRecoveryPerGbMonth;
    expect(e.catalogue.perMonth).toBeCloseTo(2 * writes + storage, 9);
    expect(e.catalogue.overRetention).toBeCloseTo(writes * 400 / 30 + storage * 400 / 2 / 30, 9);
  });

  it('sums the first retention period from an empty bucket: the stock in each tier ramps up, then holds', () => {
    // Glacier IR holds ages 30-365: empty until day 30, growing to 335 days of packs by day 365, then full to day 400.
    const gbDays = 10 * (335 * 335 / 2 + 335 * 35) * PACK / GiB;
    // Transitions into it start on day 30: 370 days of 10 packs.
    const expected = gbDays * P.s3.GLACIER_IR.storagePerGbMonth / 30 + 10 * 370 * P.s3.GLACIER_IR.transitionInPer1000 / 1000;
    expect(line('recordings', 'GLACIER_IR').overRetention).toBeCloseTo(expected, 9);
  });

  it('counts the transitions into a later class over the retention only from the day the first objects reach its age', () => {
    // Deep Archive holds ages 365-400: 35 days of transitions, the stock growing to 35 days of packs by day 400.
    const storage = (10 * 35 * 35 / 2 * (PACK + 32_768) / GiB * P.s3.DEEP_ARCHIVE.storagePerGbMonth + 10 * 35 * 35 / 2 * 8192 / GiB * P.s3.STANDARD.storagePerGbMonth) / 30;
    expect(line('recordings', 'DEEP_ARCHIVE').overRetention).toBeCloseTo(storage + 10 * 35 * P.s3.DEEP_ARCHIVE.transitionInPer1000 / 1000, 9);
  });

  it("sums backups over the recordings' retention (the days of the column), not over the backups' own", () => {
    // 10 GiB a day in one 1,280-part upload (+ create, complete, manifest), kept 33.5 days: the stock grows
    // to 33.5 days by day 33.5, then holds to day 400; uploads every day of the 400.
    const b = estimateCost({ ...input, backupGbPerDay: 10, backupRetentionDays: 33.5 }, priceTable('aws-s3-eu-west-1-2026-11').table);
    const backups = b.lines.find((l) => l.dataClass === 'backups')!;
    const storage = 10 * (33.5 * 33.5 / 2 + 33.5 * (400 - 33.5)) * P.s3.STANDARD.storagePerGbMonth / 30;
    const uploads = 400 * 1283 * P.s3.STANDARD.putPer1000 / 1000;
    expect(backups.overRetention).toBeCloseTo(storage + uploads, 9);
    // About a month's cost a month: 400 days of the steady state, less the first month's ramp.
    expect(backups.overRetention / (backups.storagePerMonth + backups.requestsPerMonth)).toBeGreaterThan(12.5);
  });

  it('bills an object that leaves a class before its minimum duration the rest of it over the retention', () => {
    // Backups kept 40 days, moved to Standard-IA at 30: each leaves it after 10 days, billed 30.
    const b = estimateCost({ ...input, backupGbPerDay: 1, backupRetentionDays: 40, tiers: { ...input.tiers, backups: [{ storageClass: 'STANDARD_IA', afterDays: 30 }] } }, priceTable('aws-s3-eu-west-1-2026-11').table);
    const ia = b.lines.find((l) => l.dataClass === 'backups' && l.storageClass === 'STANDARD_IA')!;
    const objectDays = 10 * 10 / 2 + 10 * (400 - 40) + (400 - 40) * 20;
    expect(ia.overRetention).toBeCloseTo(objectDays * P.s3.STANDARD_IA.storagePerGbMonth / 30 + 370 * P.s3.STANDARD_IA.transitionInPer1000 / 1000, 9);
  });

  it("keeps packs under 128 KiB in Standard for the whole retention, as S3's lifecycle does, and says so", () => {
    // 2,000 calls of 20 s G.729 (20,000 B, 20,992 B as a tar member) in packs of 3: 63,000 B + 1 KiB end.
    const small = estimateCost({ ...input, callsPerDay: 2000, codec: 'g729', avgSeconds: 20, recordingsPerPack: 3 }, priceTable('aws-s3-eu-west-1-2026-11').table);
    expect(small.volumes.packBytes).toBe(64_000);
    const recordings = small.lines.filter((l) => l.dataClass === 'recordings');
    expect(recordings.map((l) => [l.storageClass, l.fromDay, l.toDay])).toEqual([['STANDARD', 0, 400]]);
    expect(recordings[0]!.storagePerMonth).toBeCloseTo(667 * 400 * 64_000 / GiB * P.s3.STANDARD.storagePerGbMonth, 9);
    expect(recordings[0]!.requestsPerMonth).toBeCloseTo(667 * 30 * P.s3.STANDARD.putPer1000 / 1000, 9);
    // (131,072 - 1,024) / 20,992 = 6.2: seven recordings make a pack the lifecycle moves.
    expect(small.lifecycleWarnings).toEqual([
      "recordings: objects of 64,000 B stay in STANDARD for their whole retention, never GLACIER_IR and DEEP_ARCHIVE: S3's lifecycle does not move objects under 128 KiB (its default minimum transition size), so they are priced there; a pack reaches GLACIER_IR and DEEP_ARCHIVE from 7 recordings of this size (--recordings-per-pack; the source's closeAfterFiles and the recorder's batches decide it)",
    ]);
    const seven = estimateCost({ ...input, callsPerDay: 2000, codec: 'g729', avgSeconds: 20, recordingsPerPack: 7 }, priceTable('aws-s3-eu-west-1-2026-11').table);
    expect(seven.lines.filter((l) => l.dataClass === 'recordings').map((l) => l.storageClass)).toEqual(['STANDARD', 'GLACIER_IR', 'DEEP_ARCHIVE']);
    expect(seven.lifecycleWarnings).toEqual([]);
  });

  it('prices replaying one recording: a range GET and its bytes from Glacier IR, a restore of its whole pack from Deep Archive', () => {
    expect(line('recordings', 'GLACIER_IR').replayOne).toBeCloseTo(P.s3.GLACIER_IR.getPer1000 / 1000 + 800_000 / GiB * P.s3.GLACIER_IR.retrievalPerGb, 12);
    expect(line('recordings', 'DEEP_ARCHIVE').replayOne).toBeCloseTo((P.s3.DEEP_ARCHIVE.restoreRequestPer1000 + P.s3.STANDARD.getPer1000) / 1000 + PACK / GiB * P.s3.DEEP_ARCHIVE.retrievalPerGb, 12);
  });

  it("names the catalogue's point-in-time recovery as unpriced, and leaves it out, when a price table has no price for it", () => {
    const table = priceTable('aws-s3-eu-west-1-2026-11').table;
    const { pointInTimeRecoveryPerGbMonth: _pitr, ...dynamodb } = table.dynamodb;
    const without = estimateCost(input, { ...table, dynamodb });
    expect(without.unpriced).toEqual([
      "the catalogue's point-in-time recovery (always on in the deployed stack) is not priced: the price table has no dynamodb.pointInTimeRecoveryPerGbMonth; it bills the base table's size again",
    ]);
    expect(e.catalogue.perMonth - without.catalogue.perMonth).toBeCloseTo(1000 * 1024 / GiB * 400 * 0.22, 9);
  });

  it('prices a daily binlog segment kept as long as the fulls, and its partials as whole-prefix copies kept their lock and half the purge interval', () => {
    // 1 GiB a day in one daily segment, a partial every 300 s: 288 partials a day of 0.5 GiB on average (144 GiB a day of copies).
    const binlogs = { gbPerDay: 1, segmentsPerDay: 1, partialIntervalSeconds: 300, segmentDays: 33.5, partialDays: 5.5 };
    const b = estimateCost({ ...input, binlogs }, priceTable('aws-s3-eu-west-1-2026-11').table);
    const only = (data: string) => b.lines.filter((l) => l.dataClass === data).map((l) => [l.storageClass, l.fromDay, l.toDay]);
    expect(only('binlogs')).toEqual([['STANDARD', 0, 33.5]]);
    expect(only('binlog partials')).toEqual([['STANDARD', 0, 5.5]]);
    const partials = b.lines.find((l) => l.dataClass === 'binlog partials')!;
    expect(partials.objects).toBeCloseTo(288 * 5.5, 9);
    expect(partials.storagePerMonth).toBeCloseTo(288 * 5.5 * 0.5 * P.s3.STANDARD.storagePerGbMonth, 9);
    // 0.5 GiB in 8 MiB parts: 64 parts + create + complete, and the manifest's PUT.
    expect(partials.requestsPerMonth).toBeCloseTo(288 * 30 * 67 * P.s3.STANDARD.putPer1000 / 1000, 9);
    // The bucket's 30-day lock instead of 2 days: six times the copies.
    const locked = estimateCost({ ...input, binlogs: { ...binlogs, partialDays: 33.5 } }, priceTable('aws-s3-eu-west-1-2026-11').table);
    expect(locked.lines.find((l) => l.dataClass === 'binlog partials')!.storagePerMonth / partials.storagePerMonth).toBeCloseTo(33.5 / 5.5, 9);
  });

  it('rejects a negative volume naming the option', () => {
    expect(() => estimateCost({ ...input, callsPerDay: -1 }, priceTable().table)).toThrow(/--calls-per-day must be a non-negative number/);
  });
});

function ferry(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, FERRY_HOME: mkdtempSync(join(tmpdir(), 'ferry-home-')) } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('ferry cost estimate', () => {
  it("takes the tiers from the deployment config and the retention from --site, and names the price table's date and source", () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-cost-'));
    const config = join(dir, 'deploy.yaml');
    writeFileSync(config, 'sites:\n  - { name: lon, retentionDays: 60 }\n  - { name: par, retentionDays: 2555 }\nlifecycle: { packsToGlacierIrDays: 45, packsToDeepArchiveDays: 400 }\n');
    const r = ferry(['cost', 'estimate', '--config', config, '--site', 'par', '--calls-per-day', '500', '--json']);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { site: string; input: CostInput; prices: { asOf: string; sources: string[] }; lines: { dataClass: string; storageClass: string; fromDay: number; toDay: number }[] };
    expect(out.site).toBe('par');
    expect(out.input.retentionDays).toBe(2555);
    expect(out.lines.filter((l) => l.dataClass === 'recordings').map((l) => [l.storageClass, l.fromDay, l.toDay])).toEqual([['STANDARD', 0, 45], ['GLACIER_IR', 45, 400], ['DEEP_ARCHIVE', 400, 2555]]);
    expect(out.prices.asOf).toBe('2026-11');
    expect(out.prices.sources).toContain('https://aws.amazon.com/s3/pricing/');
  });

  it('prints a table with a row per tier and the totals', () => {
    const r = ferry(['cost', 'estimate', '--calls-per-day', '1000', '--backup-gb-per-day', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^recordings\s+DEEP_ARCHIVE\s+365-730 /m);
    expect(r.stdout).toMatch(/^backups\s+STANDARD\s+0-33.5 /m);
    expect(r.stdout).toMatch(/total per month \(steady state\)\s+\$\d+\.\d\d/);
  });

  it('prints the pack size, a year of the steady state and the retention in years, for a budget', () => {
    const r = ferry(['cost', 'estimate', '--calls-per-day', '1000', '--json']);
    const out = JSON.parse(r.stdout) as { total: { perMonth: number; perYear: number } };
    expect(out.total.perYear).toBeCloseTo(12 * out.total.perMonth, 9);
    const text = ferry(['cost', 'estimate', '--calls-per-day', '1000']).stdout;
    // 180 s of G.711: 1,440,000 B, 1,440,768 B as a tar member; 100 of them + 1 KiB.
    expect(text).toMatch(/in 10 pack\(s\) of 100 \(144,077,824 B each\)/);
    expect(text).toMatch(/^total per year \(12 months, steady state\)\s+\$\d+\.\d\d$/m);
    expect(text).toMatch(/^total over the first 730 days \(2\.0 years, from an empty bucket\)\s+\$\d+\.\d\d$/m);
  });

  it("prints the binlog lines from --binlog-gb-per-day with the deployment's partial lock, and the bucket's with --partial-lock-days 0", () => {
    const short = ferry(['cost', 'estimate', '--calls-per-day', '1000', '--binlog-gb-per-day', '1']);
    expect(short.code, short.stderr).toBe(0);
    expect(short.stdout).toMatch(/^binlogs\s+STANDARD\s+0-33.5 /m);
    expect(short.stdout).toMatch(/^binlog partials\s+STANDARD\s+0-5.5 /m);
    expect(short.stdout).toContain('a partial every 300 s: 288 a day, 144 GB/day of whole-prefix copies, each kept about 5.5 days');
    const long = ferry(['cost', 'estimate', '--calls-per-day', '1000', '--binlog-gb-per-day', '1', '--partial-lock-days', '0']);
    expect(long.stdout).toMatch(/^binlog partials\s+STANDARD\s+0-33.5 /m);
    expect(ferry(['cost', 'estimate', '--calls-per-day', '1000']).stdout).not.toMatch(/^binlog/m);
  });

  it('lists what the estimate leaves out, each with how to size it', () => {
    const r = ferry(['cost', 'estimate']);
    const list = r.stdout.slice(r.stdout.indexOf('not included (size them apart):\n'));
    expect(list.split('\n').slice(1, -1).map((l) => l.replace(/:.*/, ''))).toEqual(['  - tree snapshots (file shares)', '  - the daily scrub', '  - CloudWatch', "  - the ingest function's duration", '  - KMS']);
  });

  it('refuses an unknown codec, an unknown site and a volume beyond any site, naming each, with exit 2', () => {
    const codec = ferry(['cost', 'estimate', '--codec', 'amr']);
    expect(codec.code).toBe(2);
    expect(codec.stderr).toContain('--codec: "amr" is not one of g711, g729, opus');
    const site = ferry(['cost', 'estimate', '--site', 'nowhere']);
    expect(site.code).toBe(2);
    expect(site.stderr).toContain('--site nowhere: not in the deployment (sites: site-a, site-b)');
    // Volumes beyond any site would overflow the sums to $NaN: refused, naming the option.
    const huge = ferry(['cost', 'estimate', '--calls-per-day', '1e308', '--avg-seconds', '1e308']);
    expect(huge.code).toBe(2);
    expect(huge.stderr).toContain('--calls-per-day: 1e308 is beyond any site this estimates (at most 1e12)');
  });

  it('warns when packs are too small for the lifecycle to move, and prices them in Standard', () => {
    const r = ferry(['cost', 'estimate', '--calls-per-day', '2000', '--codec', 'g729', '--avg-seconds', '20', '--recordings-per-pack', '3']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^recordings +STANDARD +0-730 /m);
    expect(r.stdout).not.toMatch(/^recordings +(GLACIER_IR|DEEP_ARCHIVE) /m);
    expect(r.stdout).toMatch(/^WARNING recordings: objects of 64,000 B stay in STANDARD for their whole retention, never GLACIER_IR and DEEP_ARCHIVE: .* from 7 recordings of this size/m);
  });

  it('warns when the retention would delete packs inside Deep Archive\'s minimum, as the deployment check does', () => {
    const r = ferry(['cost', 'estimate', '--retention-days', '400', '--json']);
    expect((JSON.parse(r.stdout) as { warnings: string[] }).warnings.join('\n')).toMatch(/180-day minimum storage duration/);
  });
});

describe('the age of the price table', () => {
  const table = { asOf: '2026-11', sources: ['https://aws.amazon.com/s3/pricing/'] };

  it(`says nothing up to ${PRICE_TABLE_STALE_DAYS} days after the first of its month`, () => {
    expect(priceTableAgeWarning(table, new Date('2027-04-30T00:00:00Z'))).toBeUndefined();
  });

  it('warns past that, naming its age, its date and where to check the prices', () => {
    expect(priceTableAgeWarning(table, new Date('2027-05-01T00:00:00Z'))).toBe(
      'the price table is 181 days old (prices as of 2026-11, more than 180): check them at https://aws.amazon.com/s3/pricing/ and add a newer dated table under core/prices/',
    );
  });
});
