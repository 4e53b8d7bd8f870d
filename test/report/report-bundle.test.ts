import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DailyReport } from '../../core/report.ts';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import { buildFunctionBundles } from '../../local/function-bundles.ts';
import { functionEnvironment } from '../../local/function-environment.ts';
import { LocalLambda } from '../../local/local-lambda.ts';
import { makeFull } from '../support/artefact-fixtures.ts';
import { roomBeforeUtcBoundary } from '../support/utc-boundary.ts';

// The scheduled report function as it deploys: its minified bundle in a runtime of its own, with
// the environment the CDK app sets on it (local/iam-deployment.generated.json), signing as its
// own execution role through the local IAM gateway, so a permission the stack does not grant
// fails here with AccessDenied. SNS is a stand-in that records each Publish, or refuses them.
// The test is the schedule: it invokes the function with the input EventBridge Scheduler sends.

const TOPIC = 'arn:aws:sns:us-east-1:000000000000:ferry-alerts';
let dir: string;
let cloud: LocalCloud;
let fn: LocalLambda;
let sns: Server;
let refuse = false;
const published: Array<{ subject: string; message: string; site: string }> = [];

function startSns(): Promise<string> {
  sns = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      if (refuse) {
        res.writeHead(500, { 'content-type': 'text/xml' });
        res.end('<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code><Message>down</Message></Error><RequestId>r</RequestId></ErrorResponse>');
        return;
      }
      if (form.get('Action') === 'Publish' && form.get('TopicArn') === TOPIC) published.push({ subject: form.get('Subject') ?? '', message: form.get('Message') ?? '', site: form.get('MessageAttributes.entry.1.Value.StringValue') ?? '' });
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end('<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m1</MessageId></PublishResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></PublishResponse>');
    });
  });
  return new Promise((resolve) => sns.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(sns.address() as AddressInfo).port}`)));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-report-'));
  const [started, snsUrl, bundles] = await Promise.all([startLocalCloud({ directory: join(dir, 'cloud'), fresh: true }), startSns(), buildFunctionBundles(['report'])]);
  cloud = started;
  const iam = cloud.iam!;
  const role = iam.credentialsOf('function:report');
  const deployed = functionEnvironment('report', { BUCKET: cloud.bucket, TABLE: cloud.table, TOPIC_ARN: TOPIC });
  fn = await LocalLambda.start({
    functionName: 'ferry-report',
    bundle: bundles.report,
    environment: {
      ...deployed,
      AWS_REGION: cloud.region,
      AWS_ENDPOINT_URL_S3: iam.s3Endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: iam.dynamoEndpoint,
      AWS_ENDPOINT_URL_SNS: snsUrl,
      AWS_ACCESS_KEY_ID: role.accessKeyId,
      AWS_SECRET_ACCESS_KEY: role.secretAccessKey,
    },
  });
}, 240_000);

afterAll(async () => {
  await fn?.stop();
  await cloud?.stop();
  sns?.close();
  rmSync(dir, { recursive: true, force: true });
});

const yesterday = () => new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);

describe('the bundled report function on the local cloud, as its own role', () => {
  it("keeps yesterday's report of the deployment's site in the bucket and publishes it to the alert topic", async () => {
    // One yesterday for the test and the function, not two across midnight UTC.
    await roomBeforeUtcBoundary(20_000);
    await cloud.catalogue.putArtefact(makeFull(`${yesterday()}T03:05:00.000Z`, { site: 'demo', source: 'db' }));
    const run = (await fn.invoke({ run: 'daily' })) as { day: string; reports: Array<{ site: string; status: string; key: string }>; scrubs: Array<{ site: string; error?: string }> };
    expect(run.reports.map((r) => [r.site, r.status])).toEqual([['demo', 'FULL']]);
    expect(run.scrubs).toEqual([expect.objectContaining({ site: 'demo' })]);
    expect(run.scrubs[0]!.error).toBeUndefined();
    const kept = JSON.parse((await readAll(run.reports[0]!.key)).toString('utf8')) as DailyReport;
    expect([kept.site, kept.day, kept.status]).toEqual(['demo', yesterday(), 'FULL']);
    expect(published.map((p) => p.subject)).toEqual([`[Ferry] FULL demo ${yesterday()}: every source shipped`]);
    expect(published[0]!.message).toContain(`Kept as ${run.reports[0]!.key}`);
  }, 60_000); // 30 s of work and up to 20 s waiting for midnight UTC to pass

  it('the monthly run keeps the attestation of the month before as JSON, Markdown and CSV', async () => {
    const run = (await fn.invoke({ run: 'monthly' })) as { attestations: Array<{ site: string; json?: string; markdown?: string; csv?: string; error?: string }> };
    expect(run.attestations).toHaveLength(1);
    expect(run.attestations[0]!.error).toBeUndefined();
    const csv = (await readAll(run.attestations[0]!.csv!)).toString('utf8');
    expect(csv.split('\r\n')[0]).toBe('site,month,kind,source,id,name,bucket,key,storage_class,present,immutable_until,retention_mode,last_verified,shipped_at,size_bytes,sha256,manifest_key,legal_hold');
  });

  it('fails the invocation with NotDeliveredError when SNS refuses the publish, after keeping the report', async () => {
    refuse = true;
    try {
      const error = await fn.invoke({ run: 'daily' }).then(() => undefined, (e: unknown) => e as Error);
      expect(error?.name).toBe('NotDeliveredError');
      expect(error?.message).toMatch(/1 message\(s\) not published: demo/);
    } finally {
      refuse = false;
    }
  });
});

async function readAll(key: string): Promise<Buffer> {
  const { body } = await cloud.blobs.get(key);
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}
