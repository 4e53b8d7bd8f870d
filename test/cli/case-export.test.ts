import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClients, createS3Client } from '../../adapters/aws-clients.ts';
import { DynamoHoldStore } from '../../adapters/dynamo-holds.ts';
import { holdMirrorKey } from '../../core/hold-mirror.ts';
import { holdToItem } from '../../core/hold-items.ts';
import { createCatalogueTable, DynamoCatalogue } from '../../adapters/dynamo-catalogue.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { auditFilter, readTrail } from '../../cli/audit-commands.ts';
import { exportCase, verifyBundleFile } from '../../cli/case-commands.ts';
import { storeTarget } from '../../cli/store-target.ts';
import { appendAuditEvents, auditRecordKey, verifyAuditChain, type AuditRecord } from '../../core/audit-trail.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { startLocalDynamo, type LocalDynamo } from '../../local/dynalite-process.ts';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { audio, buildPack, publish, type PackFixture } from '../support/pack-fixture.ts';

// Case export from the store (S3 stand-in with Object Lock and versions, DynamoDB on dynalite)
// to a file, the export audited in the site's chain; then the bundle and the chain checked by
// the real `ferry` command, as an auditor would.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
const BUCKET = 'ferry-data';
const TABLE = 'catalogue';
const SITE = 'site-a';

let s3: LocalS3;
let dynamo: LocalDynamo;
let dir: string;
let env: NodeJS.ProcessEnv;
let fixture: PackFixture;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-case-'));
  [s3, dynamo] = await Promise.all([startLocalS3({ directory: join(dir, 's3'), buckets: [BUCKET] }), startLocalDynamo({})]);
  env = {
    ...process.env,
    FERRY_BUCKET: BUCKET,
    FERRY_TABLE: TABLE,
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    FERRY_PRINCIPAL: 'officer-jane',
    FERRY_HOME: join(dir, 'home'),
  };
  const { client, doc } = createDynamoClients({ region: 'us-east-1', endpoint: dynamo.endpoint, credentials: s3.credentials });
  await createCatalogueTable(client, TABLE);
  const blobs = new S3BlobStore(createS3Client({ region: 'us-east-1', endpoint: s3.endpoint, credentials: s3.credentials }), BUCKET, { features: { verifiesChecksums: false, conditionalPut: false, md5ETags: true } });
  fixture = buildPack(SITE, [{ path: 'b/日本語の通話.wav', body: audio(1, 200_000) }, { path: 'b/two.wav', body: audio(2, 3000) }, { path: 'b/three.wav', body: audio(3, 5000) }]);
  await publish(blobs, fixture);
  await ingestManifest({ blobs, catalogue: new DynamoCatalogue(doc, TABLE) }, fixture.manifestKey);
  await doc.send(new PutCommand({ TableName: TABLE, Item: { pk: `CASE#${SITE}`, sk: 'C-7', type: 'case', members: [fixture.manifest.members[0]!.rid, fixture.manifest.members[2]!.rid] } }));
  client.destroy();
}, 60_000);

afterAll(async () => {
  await Promise.all([s3?.stop(), dynamo?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

function ferry(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('ferry case export and verify, ferry audit verify and search', () => {
  it("exports a case's members to a bundle that verifies, with its export audited in the site's chain", async () => {
    const target = storeTarget(env);
    const out = join(dir, 'case-c7.tar');
    try {
      const result = await exportCase(target, { site: SITE, case: 'C-7', reason: 'court order 2026-118', out });
      expect(result).toMatchObject({ file: out, recordings: 2, auditSeq: 1 });
      expect(existsSync(`${out}.partial`)).toBe(false);
      const verdict = await verifyBundleFile(out);
      expect(verdict).toMatchObject({ ok: true, checked: 6, sha256: result.sha256 });
      const trail = await readTrail(target.blobs, SITE);
      expect(verifyAuditChain(SITE, trail, await target.ledger.head(SITE), await target.ledger.records(SITE, 1, Infinity))).toMatchObject({ ok: true, records: 1 });
      const record = JSON.parse(trail[0]!.text) as AuditRecord;
      // FERRY_PRINCIPAL is a name the caller claims: the credentials that did it are named beside it.
      expect(record.event).toMatchObject({ action: 'export', principal: `officer-jane (claimed; ${userInfo().username}@${hostname()} (${s3.credentials.accessKeyId}))`, detail: { case: 'C-7', reason: 'court order 2026-118', sha256: result.sha256 } });
      await expect(exportCase(target, { site: SITE, case: 'C-7', reason: 'again', out })).rejects.toThrow(/never overwritten/);
      await expect(exportCase(target, { site: SITE, case: 'C-404', reason: 'court order', out: join(dir, 'x.tar') })).rejects.toThrow(/no case C-404/);
      expect(existsSync(join(dir, 'x.tar.partial'))).toBe(false);
    } finally {
      target.close();
    }
  }, 30_000);

  it('an export whose second call cannot be read (archived, damaged) fails with that error, leaves no partial bundle and is not audited', async () => {
    const target = storeTarget(env);
    const out = join(dir, 'case-c7-fails.tar');
    try {
      const before = (await readTrail(target.blobs, SITE)).length;
      let reads = 0;
      const blobs = Object.assign(Object.create(target.blobs) as typeof target.blobs, {
        get: async (key: string, range?: { start: number; end: number }) => {
          if (key.endsWith('.tar') && ++reads === 2) throw new Error('call two is in the archive tier (DEEP_ARCHIVE): recall it');
          return target.blobs.get(key, range);
        },
      });
      await expect(exportCase({ ...target, blobs }, { site: SITE, case: 'C-7', reason: 'court order', out })).rejects.toThrow('call two is in the archive tier');
      expect(existsSync(out)).toBe(false);
      expect(existsSync(`${out}.partial`)).toBe(false);
      expect(await readTrail(target.blobs, SITE)).toHaveLength(before);
    } finally {
      target.close();
    }
  }, 30_000);

  it('ferry case verify exits 0 on the bundle and 1 naming the altered file of a tampered copy', () => {
    const out = join(dir, 'case-c7.tar');
    const good = ferry(['case', 'verify', out]);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/^OK: 6 file\(s\)/);
    // The bundle's hash as pasted from the console, with the spaces a copy brings: the same hash.
    const sha = createHash('sha256').update(readFileSync(out)).digest('hex');
    expect(ferry(['case', 'verify', out, '--sha256', ` ${sha.toUpperCase()} `]).code).toBe(0);
    const notHex = ferry(['case', 'verify', out, '--sha256', 'b1f05e']);
    expect(notHex.code).toBe(1);
    expect(notHex.stderr.trim()).toBe('ferry: --sha256: "b1f05e" is not a SHA-256 (64 hex digits)');
    const bad = join(dir, 'tampered.tar');
    copyFileSync(out, bad);
    const bytes = readFileSync(bad);
    const at = bytes.indexOf(Buffer.from('"reason": "court order 2026-118"'));
    bytes.write('"reason": "court order 2026-119"', at);
    writeFileSync(bad, bytes);
    const r = ferry(['case', 'verify', bad]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/custody\.json: SHA-256 .* is not the manifest's/);
  }, 60_000);

  it('ferry audit search filters by action and writes CSV; ferry audit verify names an edited record', async () => {
    const csv = ferry(['audit', 'search', '--site', SITE, '--action', 'export', '--csv']);
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trim().split('\r\n');
    expect(lines[0]).toBe('seq,at,site,action,principal,officer,rid,query,detail,hash');
    expect(lines.slice(1).map((l) => l.split(',').slice(2, 5))).toEqual([[SITE, 'export', expect.stringMatching(/^officer-jane \(claimed; \S+@\S+ \(\S+\)\)$/)]]);
    expect(() => auditFilter({ action: 'peek' })).toThrow(/action: must be one of/);
    expect(() => auditFilter({ from: 'yesterday' })).toThrow(/from: "yesterday" must be an ISO 8601 date-time with a zone/);
    // Neither a time without a zone (another instant on every machine) nor a number is taken.
    expect(() => auditFilter({ from: '2026-03-01T09:00:00' })).toThrow(/from: "2026-03-01T09:00:00" must be an ISO 8601 date-time with a zone/);
    expect(() => auditFilter({ to: '5' })).toThrow(/to: "5" must be/);
    expect(auditFilter({ from: '2026-03-01T10:00:00+01:00' }).from?.toISOString()).toBe('2026-03-01T09:00:00.000Z');
    expect(ferry(['audit', 'verify', '--site', SITE]).code).toBe(0);

    const target = storeTarget(env);
    try {
      const [first] = await readTrail(target.blobs, SITE);
      const edited = JSON.parse(first!.text) as AuditRecord;
      edited.event.principal = 'nobody';
      await target.blobs.put(auditRecordKey(SITE, 1), Buffer.from(JSON.stringify(edited)));
    } finally {
      target.close();
    }
    const broken = ferry(['audit', 'verify', '--site', SITE]);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/^BROKEN at audit\/site-a\/000000000001\.json: record 1 was altered/);
  }, 60_000);

  it('ferry audit verify lists a deletion the purge began whose outcome is not recorded (exit 0: the chain is whole), and no longer once its purge record is written', async () => {
    const site = 'site-i';
    const object = 'recordings/site-i/2019/03/01/p1.tar';
    const begun = { at: '2026-04-01T10:00:00.000Z', action: 'purge-intent' as const, site, principal: 'ferry purge (retention)', detail: { intent: 'i-1', state: 'begun', object, kind: 'pack', recordings: 1, rids: ['r1'], calls: ['r1 callId=c1'] } };
    const target = storeTarget(env);
    try {
      await appendAuditEvents(target, [begun]);
      const open = ferry(['audit', 'verify', '--site', site]);
      expect(open.code).toBe(0);
      expect(open.stdout).toBe(`OK: the audit trail of ${site} holds 1 record(s), each linked to the one before\n1 purge deletion(s) begun with no outcome recorded yet (a purge-intent record no purge record closes): the next purge records what became of each\n  record 1 (2026-04-01T10:00:00.000Z): ${object}, intent i-1\n`);
      expect(JSON.parse(ferry(['audit', 'verify', '--site', site, '--json']).stdout)).toMatchObject({ ok: true, openPurgeIntents: [{ seq: 1, intent: 'i-1', object }] });
      await appendAuditEvents(target, [{ ...begun, at: '2026-04-02T10:00:00.000Z', action: 'purge', detail: { intent: 'i-1', state: 'completed', object, kind: 'pack' } }]);
      expect(ferry(['audit', 'verify', '--site', site]).stdout).toBe(`OK: the audit trail of ${site} holds 2 record(s), each linked to the one before\n`);
    } finally {
      target.close();
    }
  }, 60_000);

  it('ferry audit search and verify see a record still only in the table; ferry audit seal copies it to the bucket, and again changes nothing', async () => {
    const site = 'site-s';
    const target = storeTarget(env);
    try {
      await appendAuditEvents(target, [{ at: '2026-04-01T10:00:00.000Z', action: 'listen', site, rid: fixture.manifest.members[1]!.rid, principal: 'officer-jane' }]);
      expect(await readTrail(target.blobs, site)).toEqual([]);
      expect(ferry(['audit', 'search', '--site', site, '--action', 'listen']).stdout).toMatch(/"seq":1,.*"action":"listen"/);
      expect(ferry(['audit', 'verify', '--site', site]).stdout).toMatch(/^OK: .* 1 record/);
      const sealed = ferry(['audit', 'seal', '--site', site]);
      expect(sealed.code).toBe(0);
      expect(sealed.stdout).toMatch(/records 1\.\.1 of site-s's audit trail are in the bucket/);
      const trail = await readTrail(target.blobs, site);
      expect(trail.map((r) => r.key)).toEqual([auditRecordKey(site, 1)]);
      expect(ferry(['audit', 'seal', '--site', site]).code).toBe(0);
      expect(await readTrail(target.blobs, site)).toEqual(trail);
      expect(verifyAuditChain(site, trail, await target.ledger.head(site))).toMatchObject({ ok: true, records: 1 });
    } finally {
      target.close();
    }
  }, 60_000);

  it('catalogue rebuild of a site: its manifests re-read, the legal holds the bucket keeps put back into the table; a site with none (a misspelt name) exits 1 saying so, and a name that is not one is refused', async () => {
    // A hold the table lost (deleted, or restored to a point before it), as the holds function wrote it to the bucket.
    const rid = fixture.manifest.members[1]!.rid;
    const hold = { site: SITE, rid, scope: { kind: 'call' as const }, reason: 'litigation A', reference: 'MAT-1', placedBy: 'officer-jane', placedAt: '2026-04-01T09:00:00.000Z' };
    const writer = createS3Client({ region: 'us-east-1', endpoint: s3.endpoint, credentials: s3.credentials });
    await new S3BlobStore(writer, BUCKET, { features: { verifiesChecksums: false, conditionalPut: false, md5ETags: true } }).put(holdMirrorKey(hold), Buffer.from(JSON.stringify(holdToItem(hold))));
    writer.destroy();
    const good = ferry(['catalogue', 'rebuild', '--site', SITE]);
    expect(good.code, good.stderr).toBe(0);
    // The case C-7 was made in the table only (as by a release before holds were kept in the bucket): copied to it now.
    expect(good.stdout).toMatch(/^rebuilt 1 manifest\(s\), 3 recording\(s\), 0 artefact\(s\), 0 tree snapshot\(s\); 1 legal hold record\(s\) and 0 case\(s\) from the bucket \(0 hold record\(s\) and 1 case\(s\) only in the table copied to it\); 0 failed/);
    const { client, doc } = createDynamoClients({ region: 'us-east-1', endpoint: dynamo.endpoint, credentials: s3.credentials });
    try {
      expect(await new DynamoHoldStore(doc, TABLE).holdsOf(SITE, rid)).toEqual([hold]);
    } finally {
      client.destroy();
    }
    const misspelt = ferry(['catalogue', 'rebuild', '--site', 'stie-a']);
    expect(misspelt.code).toBe(1);
    expect(misspelt.stderr).toContain('ferry: no manifests found under manifests/stie-a/ in this bucket: is the site name right?');
    const bad = ferry(['catalogue', 'rebuild', '--site', 'Site_A']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--site "Site_A" is not a site name');
  });

  it('names an --out it cannot create in one line, and replaces the .partial an interrupted export left', () => {
    const missing = ferry(['case', 'export', '--site', SITE, '--case', 'C-7', '--reason', 'court order 2026-118', '--out', join(dir, 'no-such-dir', 'x.tar')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe(`ferry: out: ${join(dir, 'no-such-dir', 'x.tar')}: ${join(dir, 'no-such-dir')} does not exist`);
    const out = join(dir, 'after-a-kill.tar');
    writeFileSync(`${out}.partial`, 'half a bundle from an export that was killed');
    const again = ferry(['case', 'export', '--site', SITE, '--case', 'C-7', '--reason', 'court order 2026-118', '--out', out]);
    expect(again.code, again.stderr).toBe(0);
    expect(existsSync(`${out}.partial`)).toBe(false);
    expect(ferry(['case', 'verify', out]).code).toBe(0);
  }, 60_000);

  it('exports what is left of a case whose call the retention purge deleted, naming that call in the custody report and the output, instead of refusing the case', async () => {
    const purged = 'r0000000000000000000dead';
    const { client, doc } = createDynamoClients({ region: 'us-east-1', endpoint: dynamo.endpoint, credentials: s3.credentials });
    await doc.send(new PutCommand({ TableName: TABLE, Item: { pk: `CASE#${SITE}`, sk: 'C-8', type: 'case', members: [fixture.manifest.members[1]!.rid, purged] } }));
    client.destroy();
    const out = join(dir, 'case-c8.tar');
    const r = ferry(['case', 'export', '--site', SITE, '--case', 'C-8', '--reason', 'regulator 2027', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`exported 1 recording(s) to ${out}`);
    expect(r.stdout).toContain(`1 call(s) of the case not exported, no longer in the archive (named in custody.json): ${purged}`);
    const custody = JSON.parse(spawnSync('tar', ['-xOf', out, '--wildcards', '*/custody.json'], { encoding: 'utf8' }).stdout) as { recordings: { rid: string }[]; missing?: { rid: string; reason: string }[] };
    expect(custody.recordings.map((x) => x.rid)).toEqual([fixture.manifest.members[1]!.rid]);
    expect(custody.missing).toEqual([{ rid: purged, reason: expect.stringMatching(/^not in the archive: no catalogue entry \(deleted by the retention purge/) }]);
    expect(ferry(['case', 'verify', out]).code).toBe(0);
    // Chosen ids are another matter: an unknown one is refused, naming it.
    const typo = ferry(['case', 'export', '--site', SITE, '--rid', purged, '--reason', 'regulator 2027', '--out', join(dir, 'typo.tar')]);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain(`rids: no recording ${purged} in site ${SITE}`);
  }, 60_000);

  it('a bundle from ferry case export is checked by coreutils sha256sum -c SHA256SUMS, which names the one recording altered; ferry case verify and the audited hash agree', () => {
    const out = join(dir, 'case-c7-sums.tar');
    const made = ferry(['case', 'export', '--site', SITE, '--case', 'C-7', '--reason', 'regulator 2026-9', '--out', out, '--json']);
    expect(made.code, made.stderr).toBe(0);
    const result = JSON.parse(made.stdout) as { sha256: string; root: string; auditSeq: number };
    const whole = createHash('sha256').update(readFileSync(out)).digest('hex');
    expect(result.sha256).toBe(whole);
    expect(ferry(['case', 'verify', out, '--sha256', whole]).stdout).toMatch(/^OK: 6 file\(s\)/);
    const audited = ferry(['audit', 'search', '--site', SITE, '--action', 'export']);
    expect(audited.stdout).toContain(`"sha256":"${whole}"`);
    const extracted = join(dir, 'extracted');
    mkdirSync(extracted);
    expect(spawnSync('tar', ['-xf', out, '-C', extracted]).status).toBe(0);
    const root = join(extracted, result.root);
    const good = spawnSync('sha256sum', ['-c', '--strict', 'SHA256SUMS'], { cwd: root, encoding: 'utf8' });
    expect(good.status, good.stdout + good.stderr).toBe(0);
    // Two recordings, their two catalogue records, custody.json and both manifests: everything but SHA256SUMS itself.
    expect(good.stdout.trim().split('\n').sort()).toEqual(
      ['README.txt', 'custody.json', 'manifest.csv', 'manifest.json', ...[0, 2].map((i) => `metadata/${fixture.manifest.members[i]!.rid}.json`), `recordings/${fixture.manifest.members[0]!.rid}_日本語の通話.wav`, `recordings/${fixture.manifest.members[2]!.rid}_three.wav`].map((p) => `${p}: OK`).sort(),
    );
    const altered = `recordings/${fixture.manifest.members[0]!.rid}_日本語の通話.wav`;
    const bytes = readFileSync(join(root, altered));
    bytes[1000] = bytes[1000]! ^ 0x01;
    writeFileSync(join(root, altered), bytes);
    const bad = spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: root, encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain(`${altered}: FAILED\n`);
    expect(bad.stderr).toContain('WARNING: 1 computed checksum did NOT match');
  }, 60_000);
});
