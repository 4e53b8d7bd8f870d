import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClients, createS3Client } from '../../adapters/aws-clients.ts';
import { DynamoAuditLedger } from '../../adapters/dynamo-audit-ledger.ts';
import { readTrail } from '../../cli/audit-commands.ts';
import { appendAuditEvents, auditRecordKey, verifyAuditChain, type AuditEvent } from '../../core/audit-trail.ts';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import { buildFunctionBundles } from '../../local/function-bundles.ts';
import { functionEnvironment } from '../../local/function-environment.ts';
import { LocalLambda } from '../../local/local-lambda.ts';

// The scheduled audit sealer as it deploys: its minified bundle in a runtime of its own, with the
// environment the CDK app sets on it (local/iam-deployment.generated.json: the sites of the
// deployment), signing as its own execution role through the local IAM gateway, so a grant the
// stack does not give fails here with AccessDenied. The test is the schedule: it invokes the
// function with the event EventBridge sends. The record is written to the ledger as an audited
// function writes it, and then left there, as when that function's runtime is frozen before its
// background seal.

const SITE = 'demo';
const SCHEDULED = { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} };
let dir: string;
let cloud: LocalCloud;
let fn: LocalLambda;
let admin: ReturnType<typeof createDynamoClients>;
let ledger: DynamoAuditLedger;

const listen = (i: number): AuditEvent => ({ at: new Date(Date.UTC(2026, 3, 1, 12, 0, i)).toISOString(), action: 'listen', site: SITE, rid: `r${i}`, principal: 'arn:aws:iam::000000000000:role/officer' });
type Run = { outcomes: Array<{ site: string; sealedBefore: number; sealedTo?: number; error?: string }> };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sealer-audit-iam-'));
  const [started, bundles] = await Promise.all([startLocalCloud({ directory: join(dir, 'cloud'), fresh: true }), buildFunctionBundles(['audit-seal'])]);
  cloud = started;
  const iam = cloud.iam!;
  const role = iam.credentialsOf('function:audit-seal');
  fn = await LocalLambda.start({
    functionName: 'ferry-audit-seal',
    bundle: bundles['audit-seal'],
    environment: {
      ...functionEnvironment('audit-seal', { BUCKET: cloud.bucket, TABLE: cloud.table }),
      AWS_REGION: cloud.region,
      AWS_ENDPOINT_URL_S3: iam.s3Endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: iam.dynamoEndpoint,
      AWS_ACCESS_KEY_ID: role.accessKeyId,
      AWS_SECRET_ACCESS_KEY: role.secretAccessKey,
    },
  });
  admin = createDynamoClients({ region: cloud.region, endpoint: cloud.dynamoEndpoint, credentials: cloud.credentials });
  ledger = new DynamoAuditLedger(admin.doc, cloud.table);
}, 240_000);

afterAll(async () => {
  await fn?.stop();
  admin?.client.destroy();
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the bundled audit sealer on the local cloud, as its own role through the IAM gateway', () => {
  it('seals records a writer left in the ledger only: the scheduled run copies them to audit/ and raises the mark; the next run changes nothing', async () => {
    await appendAuditEvents({ ledger }, [listen(1), listen(2)]);
    await appendAuditEvents({ ledger }, [listen(3)]);
    expect(await ledger.sealed(SITE)).toBe(0);
    expect(await readTrail(cloud.blobs, SITE)).toEqual([]);

    expect(((await fn.invoke(SCHEDULED)) as Run).outcomes).toEqual([{ site: SITE, sealedBefore: 0, sealedTo: 3 }]);
    expect(await ledger.sealed(SITE)).toBe(3);
    const trail = await readTrail(cloud.blobs, SITE);
    expect(trail.map((r) => r.key)).toEqual([1, 2, 3].map((seq) => auditRecordKey(SITE, seq)));
    expect(verifyAuditChain(SITE, trail, await ledger.head(SITE))).toMatchObject({ ok: true, records: 3 });

    expect(((await fn.invoke(SCHEDULED)) as Run).outcomes).toEqual([{ site: SITE, sealedBefore: 3, sealedTo: 3 }]);
    expect((await readTrail(cloud.blobs, SITE)).map((r) => r.key)).toEqual(trail.map((r) => r.key));
  });

  it('seals a record over DynamoDB\'s item limit that the export function wrote as its own role (a 20,000-call export, its JSON in parts): the copy in audit/ is the whole record and the chain verifies', async () => {
    const role = cloud.iam!.credentialsOf('function:export');
    const writer = createDynamoClients({ region: cloud.region, endpoint: cloud.iam!.dynamoEndpoint, credentials: role });
    try {
      const mine = new DynamoAuditLedger(writer.doc, cloud.table);
      const rids = Array.from({ length: 20_000 }, (_, i) => `r${String(i).padStart(23, '0')}`);
      const big: AuditEvent = { at: '2026-04-01T12:30:00.000Z', action: 'export', site: SITE, principal: 'arn:aws:iam::000000000000:role/officer', detail: { case: 'C1', rids } };
      const before = (await ledger.head(SITE))?.seq ?? 0;
      const [record] = (await appendAuditEvents({ ledger: mine }, [big])).records;
      expect(Buffer.byteLength(JSON.stringify(record))).toBeGreaterThan(400 * 1024);
      expect((await fn.invoke(SCHEDULED)) as Run).toMatchObject({ outcomes: [{ site: SITE, sealedTo: before + 1 }] });
      const trail = await readTrail(cloud.blobs, SITE);
      expect(JSON.parse(trail.find((r) => r.key === auditRecordKey(SITE, before + 1))!.text)).toEqual(record);
      expect(verifyAuditChain(SITE, trail, await ledger.head(SITE))).toMatchObject({ ok: true, records: before + 1 });
    } finally {
      writer.client.destroy();
    }
  });

  it("refuses the sealer's role any PutItem onto a ledger record's partition (a record item, or a mark-shaped item on a record's key), and a read of the sealed records, with AccessDenied", async () => {
    const role = cloud.iam!.credentialsOf('function:audit-seal');
    const { client } = createDynamoClients({ region: cloud.region, endpoint: cloud.iam!.dynamoEndpoint, credentials: role });
    const s3 = createS3Client({ region: cloud.region, endpoint: cloud.iam!.s3Endpoint, credentials: role });
    const refused = (item: Record<string, { S: string } | { N: string }>) =>
      client.send(new PutItemCommand({ TableName: cloud.table, Item: item })).then(
        () => 'written',
        (e: unknown) => (e as Error).name,
      );
    try {
      const forged = { pk: { S: `AUDIT#${SITE}` }, sk: { S: 'REC#000000000099' }, type: { S: 'audit-records' }, site: { S: SITE }, records: { S: '[]' } };
      expect(await refused(forged)).toBe('AccessDeniedException');
      // Shaped like the mark, on the key of the record item written above: it would replace that record.
      const overRecord = { pk: { S: `AUDIT#${SITE}` }, sk: { S: 'REC#000000000001' }, type: { S: 'audit-sealed' }, site: { S: SITE }, seq: { N: '1' } };
      expect(await refused(overRecord)).toBe('AccessDeniedException');
      const oldMark = { pk: { S: `AUDIT#${SITE}` }, sk: { S: 'SEALED' }, type: { S: 'audit-sealed' }, site: { S: SITE }, seq: { N: '3' } };
      expect(await refused(oldMark)).toBe('AccessDeniedException');
      const mark = { pk: { S: `AUDITSEAL#${SITE}` }, sk: { S: 'SEALED' }, type: { S: 'audit-sealed' }, site: { S: SITE }, seq: { N: '3' } };
      expect(await refused(mark)).toBe('written');
      const read = await s3.send(new GetObjectCommand({ Bucket: cloud.bucket, Key: auditRecordKey(SITE, 1) })).then(() => undefined, (e: unknown) => e as Error & { $metadata?: { httpStatusCode?: number } });
      expect(read?.$metadata?.httpStatusCode).toBe(403);
    } finally {
      client.destroy();
      s3.destroy();
    }
  });

  it('honours a mark written under the ledger partition before the move: the scheduled run seals from above it and writes the mark under AUDITSEAL#', async () => {
    const site = 'demo';
    const before = await ledger.sealed(site);
    const head = (await ledger.head(site))!.seq;
    await appendAuditEvents({ ledger }, [listen(10), listen(11)]);
    // A mark as the older code wrote it (pk AUDIT#{site}), above the one under AUDITSEAL#: records up to head+1 count as sealed.
    await admin.doc.send(new PutCommand({ TableName: cloud.table, Item: { pk: `AUDIT#${site}`, sk: 'SEALED', type: 'audit-sealed', site, seq: head + 1 } }));
    expect(await ledger.sealed(site)).toBe(head + 1);
    expect(((await fn.invoke(SCHEDULED)) as Run).outcomes).toEqual([{ site, sealedBefore: head + 1, sealedTo: head + 2 }]);
    const trail = (await readTrail(cloud.blobs, site)).map((r) => r.key);
    expect(trail).toContain(auditRecordKey(site, head + 2));
    expect(trail).not.toContain(auditRecordKey(site, head + 1));
    const newMark = await admin.doc.send(new GetCommand({ TableName: cloud.table, Key: { pk: `AUDITSEAL#${site}`, sk: 'SEALED' }, ConsistentRead: true }));
    expect(newMark.Item?.seq).toBe(head + 2);
    expect(before).toBeLessThan(head + 2);
  });
});
