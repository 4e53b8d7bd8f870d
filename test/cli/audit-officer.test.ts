import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClients } from '../../adapters/aws-clients.ts';
import { DynamoAuditLedger } from '../../adapters/dynamo-audit-ledger.ts';
import { readTrail } from '../../cli/audit-commands.ts';
import { appendAuditEvents, auditRecordKey, sealAudit, type AuditEvent } from '../../core/audit-trail.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { startTestCloud } from '../support/local-cloud.ts';

// A compliance officer checks the audit trail of their own site with their own credentials,
// independently of the operators: `ferry audit verify` and `ferry audit search` read the bucket
// and the table directly, signed with the site's officer role (`officer:site-a` on the local
// cloud, whose IAM gateway enforces the synthesized policies). Another site's trail and the
// seal (a write) stay refused.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
let cloud: LocalCloud;
let dir: string;
let admin: ReturnType<typeof createDynamoClients>;
let officerKey: string;
let officerArn: string;

const listen = (site: string, i: number): AuditEvent => ({ at: new Date(Date.UTC(2026, 3, 1, 12, 0, i)).toISOString(), action: 'listen', site, rid: `r${i}`, principal: 'arn:aws:iam::000000000000:role/someone' });

/** The real CLI as an officer runs it: the bucket and table named, the officer role's key, the gateway's endpoints. */
function ferry(args: string[], principal = 'officer:site-a'): Promise<{ code: number; stdout: string; stderr: string }> {
  const key = cloud.iam!.credentialsOf(principal);
  const env = {
    ...process.env,
    FERRY_HOME: join(dir, 'home'),
    FERRY_BUCKET: cloud.bucket,
    FERRY_TABLE: cloud.table,
    AWS_REGION: cloud.region,
    AWS_ENDPOINT_URL_S3: cloud.iam!.s3Endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: cloud.iam!.dynamoEndpoint,
    AWS_ACCESS_KEY_ID: key.accessKeyId,
    AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
    AWS_PROFILE: '',
  };
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-audit-officer-'));
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: ['site-a', 'site-b'] });
  const officer = cloud.iam!.credentialsOf('officer:site-a');
  officerKey = officer.accessKeyId;
  const listed = JSON.parse(readFileSync(cloud.iam!.credentialsFile, 'utf8')) as { principals: { principal: string; arn: string }[] };
  officerArn = listed.principals.find((p) => p.principal === 'officer:site-a')!.arn;
  // Each site's trail as the operators' functions leave it: records 1-2 sealed in the bucket, record 3 still only in the ledger.
  admin = createDynamoClients({ region: cloud.region, endpoint: cloud.dynamoEndpoint, credentials: cloud.credentials });
  const ledger = new DynamoAuditLedger(admin.doc, cloud.table);
  for (const site of ['site-a', 'site-b']) {
    await appendAuditEvents({ ledger }, [listen(site, 1), listen(site, 2)]);
    await sealAudit({ ledger, blobs: cloud.blobs }, site);
    await appendAuditEvents({ ledger }, [listen(site, 3)]);
  }
}, 180_000);

afterAll(async () => {
  admin?.client.destroy();
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const CHECK = "check --site (a site's officer role reads the audit trail of its own site only, an administrator's every site's), then that these are the credentials meant for site site-b. ";

describe("the site's officer role on its audit trail", () => {
  it('verifies the chain of its own site: exit 0, OK with every record, sealed and not yet sealed', async () => {
    const r = await ferry(['audit', 'verify', '--site', 'site-a']);
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ code: 0, stdout: 'OK: the audit trail of site-a holds 3 record(s), each linked to the one before\n' });
  }, 90_000);

  it('searches its own site: the records of the bucket and of the ledger, in chain order', async () => {
    const r = await ferry(['audit', 'search', '--site', 'site-a', '--action', 'listen']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; rid: string; site: string });
    expect(lines.map((l) => [l.seq, l.rid, l.site])).toEqual([[1, 'r1', 'site-a'], [2, 'r2', 'site-a'], [3, 'r3', 'site-a']]);
  }, 90_000);

  it("is refused site-b's trail for verify and search alike (exit 1), told that these credentials may not read site-b's audit trail", async () => {
    // verify lists the bucket first, search reads the ledger first: each refusal where it happened, the service's words after it.
    const refusals = {
      verify: `in bucket ${cloud.bucket} at ${cloud.iam!.s3Endpoint}: ${CHECK}S3 list audit/site-b/: AccessDenied: User: ${officerArn} is not authorized to perform: s3:ListBucket`,
      search: `in table ${cloud.table} at ${cloud.iam!.dynamoEndpoint}: ${CHECK}DynamoDB Query (audit ledger) failed: AccessDeniedException: User: ${officerArn} is not authorized to perform: dynamodb:Query`,
    };
    for (const [command, refusal] of Object.entries(refusals)) {
      const r = await ferry(['audit', command, '--site', 'site-b']);
      expect(r.code, command).toBe(1);
      expect(r.stdout, command).toBe('');
      expect(r.stderr, command).toContain(`ferry: the credentials in use (${officerArn}; key ${officerKey} from AWS_ACCESS_KEY_ID) may not read the audit trail of site site-b ${refusal}`);
    }
  }, 120_000);

  it('may not seal: the record left in the ledger is not copied to the bucket', async () => {
    const r = await ferry(['audit', 'seal', '--site', 'site-a']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is not authorized to perform');
    expect((await readTrail(cloud.blobs, 'site-a')).map((t) => t.key)).toEqual([1, 2].map((seq) => auditRecordKey('site-a', seq)));
  }, 90_000);

  it("verifies and searches a record over DynamoDB's item limit still in the ledger (a purge of a pack of 3,000 calls, its JSON in parts), reading its parts as the officer role", async () => {
    const rids = Array.from({ length: 3000 }, (_, i) => `r${String(i).padStart(23, '0')}`);
    const calls = rids.map((rid, i) => `${rid} callId=CALL-${i} start=2026-04-01T12:00:00.000Z +4930123456789→+4989987654321 agent=agent-0042`);
    const purge: AuditEvent = { at: '2026-04-01T12:10:00.000Z', action: 'purge', site: 'site-a', principal: 'ferry-purge', detail: { object: 'recordings/site-a/pack.tar', kind: 'pack', recordings: rids.length, rids, calls } };
    const [record] = (await appendAuditEvents({ ledger: new DynamoAuditLedger(admin.doc, cloud.table) }, [purge])).records;
    expect(Buffer.byteLength(JSON.stringify(record))).toBeGreaterThan(400 * 1024);
    const verified = await ferry(['audit', 'verify', '--site', 'site-a']);
    expect(verified).toMatchObject({ code: 0, stdout: 'OK: the audit trail of site-a holds 4 record(s), each linked to the one before\n' });
    const found = await ferry(['audit', 'search', '--site', 'site-a', '--action', 'purge']);
    expect(found.stderr).toBe('');
    const [line] = found.stdout.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; detail?: { calls?: string[] } });
    expect([line!.seq, line!.detail?.calls]).toEqual([4, calls]);
  }, 120_000);
});
