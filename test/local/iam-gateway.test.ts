import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3ServiceException, type S3Client } from '@aws-sdk/client-s3';
import { DynamoDBServiceException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { GetActivityTaskCommand, SendTaskFailureCommand, SendTaskSuccessCommand, SFNServiceException } from '@aws-sdk/client-sfn';
import { createSfnClient } from '../../adapters/sfn-activity-client.ts';
import { startActivityServer, type ActivityServer } from '../../local/activity-server.ts';
import { LocalActivityService } from '../../local/activity-service.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClients, createS3Client } from '../../adapters/aws-clients.ts';
import { createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { startLocalDynamo, type LocalDynamo } from '../../local/dynalite-process.ts';
import { revisePolicies, startLocalIam, type LocalCredentials, type LocalIam } from '../../local/iam-gateway/index.ts';
import { LOCAL_S3_CREDENTIALS, startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { synthesizeDeployment } from '../../local/iam-gateway/synthesize.ts';

// The IAM gateway in front of the real stand-ins, driven by real SDK v3 clients over HTTP:
// signatures are verified, and every call is decided by the policies the CDK app synthesizes.

const BUCKET = 'ferry-data';
const TABLE = 'ferry-catalogue';
let dir: string;
let s3: LocalS3;
let dynamo: LocalDynamo;
let iam: LocalIam;
let s3Gateway: string;
let dynamoGateway: string;
const clients: { destroy(): void }[] = [];

function s3As(credentials: LocalCredentials): S3Client {
  const client = createS3Client({ endpoint: s3Gateway, credentials, maxAttempts: 1 });
  clients.push(client);
  return client;
}

function dynamoAs(credentials: LocalCredentials) {
  const { client, doc } = createDynamoClients({ endpoint: dynamoGateway, credentials, maxAttempts: 1 });
  clients.push(client);
  return doc;
}

async function s3Error(promise: Promise<unknown>): Promise<{ name: string; status?: number }> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!(error instanceof S3ServiceException)) throw new Error(`expected an S3 error, got ${String(error)}`);
  return { name: error.name, status: error.$metadata.httpStatusCode };
}

async function dynamoError(promise: Promise<unknown>): Promise<{ name: string; status?: number }> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!(error instanceof DynamoDBServiceException)) throw new Error(`expected a DynamoDB error, got ${String(error)}`);
  return { name: error.name, status: error.$metadata.httpStatusCode };
}

/** A PutObject of 'x', with its Content-MD5 (a write under the bucket's Object Lock needs a digest). */
const put = (client: S3Client, Key: string, extra: { IfNoneMatch?: string } = { IfNoneMatch: '*' }) => client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: 'x', ContentMD5: X_MD5, ...extra }));
const X_MD5 = createHash('md5').update('x').digest('base64');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-iam-'));
  [s3, dynamo] = await Promise.all([startLocalS3({ directory: join(dir, 's3'), buckets: [BUCKET] }), startLocalDynamo()]);
  // Provisioning (CloudFormation's part) goes to the stand-in directly.
  const admin = createDynamoClients({ endpoint: dynamo.endpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  await createCatalogueTable(admin.client, TABLE);
  admin.client.destroy();
  iam = await startLocalIam({ directory: dir, sites: ['site-a', 'site-b'], bucket: BUCKET, table: TABLE, snapshot: await synthesizeDeployment(['site-a', 'site-b']) });
  s3Gateway = (await iam.gateway('s3', s3.endpoint, LOCAL_S3_CREDENTIALS)).endpoint;
  dynamoGateway = (await iam.gateway('dynamodb', dynamo.endpoint, { accessKeyId: 'x', secretAccessKey: 'x' })).endpoint;
}, 180_000);

afterAll(async () => {
  for (const c of clients) c.destroy();
  await iam?.stop();
  await Promise.all([s3?.stop(), dynamo?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('signatures', () => {
  it('refuses an unknown access key with 403 InvalidAccessKeyId', async () => {
    expect(await s3Error(put(s3As({ accessKeyId: 'AKIAUNKNOWN', secretAccessKey: 'x' }), 'recordings/site-a/k'))).toEqual({ name: 'InvalidAccessKeyId', status: 403 });
  });

  it('refuses a known key signed with the wrong secret with 403 SignatureDoesNotMatch', async () => {
    const { accessKeyId } = iam.credentialsOf('agent:site-a');
    expect(await s3Error(put(s3As({ accessKeyId, secretAccessKey: 'not-the-secret' }), 'recordings/site-a/k'))).toEqual({ name: 'SignatureDoesNotMatch', status: 403 });
  });

  it("refuses s3rver's built-in key: only the deployment's principals exist", async () => {
    expect((await s3Error(put(s3As({ ...LOCAL_S3_CREDENTIALS }), 'recordings/site-a/k'))).name).toBe('InvalidAccessKeyId');
  });

  it('refuses a request signed more than 15 minutes off with 403 RequestTimeTooSkewed', async () => {
    const late = s3As(iam.credentialsOf('agent:site-a'));
    late.config.systemClockOffset = -20 * 60_000;
    expect(await s3Error(put(late, 'recordings/site-a/late'))).toEqual({ name: 'RequestTimeTooSkewed', status: 403 });
  });

  it('answers a DynamoDB call with an unknown key as DynamoDB does (400 UnrecognizedClientException)', async () => {
    const doc = dynamoAs({ accessKeyId: 'AKIAUNKNOWN', secretAccessKey: 'x' });
    expect(await dynamoError(doc.send(new GetCommand({ TableName: TABLE, Key: { pk: 'LOCK#site-a', sk: 'LOCK' } })))).toEqual({ name: 'UnrecognizedClientException', status: 400 });
  });

  it('writes the credential table for the owner only', () => {
    expect(statSync(iam.credentialsFile).mode & 0o777).toBe(0o600);
  });
});

describe("site-a's agent", () => {
  let agentA: S3Client;
  beforeAll(() => {
    agentA = s3As(iam.credentialsOf('agent:site-a'));
  });

  it('publishes a new object under its own prefix with If-None-Match and reads it back', async () => {
    await put(agentA, 'recordings/site-a/2024/05/01/p1.tar');
    const got = await agentA.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'recordings/site-a/2024/05/01/p1.tar' }));
    expect(await got.Body!.transformToString()).toBe('x');
  });

  it('cannot write without If-None-Match (an overwrite): 403 AccessDenied', async () => {
    expect(await s3Error(put(agentA, 'recordings/site-a/2024/05/01/p2.tar', {}))).toEqual({ name: 'AccessDenied', status: 403 });
  });

  it("cannot write or read site-b's prefix", async () => {
    expect((await s3Error(put(agentA, 'recordings/site-b/2024/05/01/p1.tar'))).name).toBe('AccessDenied');
    await put(s3As(iam.credentialsOf('agent:site-b')), 'manifests/site-b/recordings/2024/05/01/p1.json');
    expect((await s3Error(agentA.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'manifests/site-b/recordings/2024/05/01/p1.json' })))).name).toBe('AccessDenied');
    expect((await s3Error(agentA.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'manifests/site-b/' })))).name).toBe('AccessDenied');
  });

  it('cannot delete even its own object', async () => {
    expect((await s3Error(agentA.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'recordings/site-a/2024/05/01/p1.tar' })))).name).toBe('AccessDenied');
    expect((await agentA.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'recordings/site-a/2024/05/01/p1.tar' }))).ContentLength).toBe(1);
  });

  it("is told why in AWS's words: 'because no identity-based or resource-based policy allows the s3:GetObject action', 'with an explicit deny in an identity-based or resource-based policy'", async () => {
    const read = await agentA.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'backups/site-b/db/x.sql' })).then(() => '', (e: unknown) => (e as Error).message);
    expect(read).toMatch(/^User: arn:aws:iam::\d+:role\/\S+ is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::\S+\/backups\/site-b\/db\/x\.sql" because no identity-based or resource-based policy allows the s3:GetObject action$/);
    const deleted = await agentA.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'recordings/site-a/2024/05/01/p1.tar' })).then(() => '', (e: unknown) => (e as Error).message);
    expect(deleted).toMatch(/ is not authorized to perform: s3:DeleteObject on resource: "\S+" with an explicit deny in an identity-based or resource-based policy$/);
    const table = await dynamoAs(iam.credentialsOf('agent:site-a')).send(new GetCommand({ TableName: TABLE, Key: { pk: 'REC#site-a#r1', sk: 'REC' } })).then(() => '', (e: unknown) => (e as Error).message);
    expect(table).toMatch(/ because no identity-based policy allows the dynamodb:GetItem action$/);
  });

  it('lists its own prefix only', async () => {
    const listed = await agentA.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'recordings/site-a/' }));
    expect(listed.Contents?.map((c) => c.Key)).toEqual(['recordings/site-a/2024/05/01/p1.tar']);
    expect((await s3Error(agentA.send(new ListObjectsV2Command({ Bucket: BUCKET })))).name).toBe('AccessDenied');
  });

  it('cannot touch the catalogue table (400 AccessDeniedException)', async () => {
    const doc = dynamoAs(iam.credentialsOf('agent:site-a'));
    expect(await dynamoError(doc.send(new GetCommand({ TableName: TABLE, Key: { pk: 'REC#site-a#r1', sk: 'REC' } })))).toEqual({ name: 'AccessDeniedException', status: 400 });
  });
});

describe('DR and officer principals', () => {
  it("site-a's DR role reads site-a, not site-b, and writes nothing", async () => {
    const dr = s3As(iam.credentialsOf('dr:site-a'));
    expect((await dr.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'recordings/site-a/2024/05/01/p1.tar' }))).ContentLength).toBe(1);
    expect((await s3Error(dr.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'manifests/site-b/recordings/2024/05/01/p1.json' })))).name).toBe('AccessDenied');
    expect((await s3Error(put(dr, 'backups/site-a/x'))).name).toBe('AccessDenied');
  });

  it('an officer has no direct access to the bucket (only through the catalogue API)', async () => {
    const officer = s3As(iam.credentialsOf('officer'));
    expect((await s3Error(officer.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'recordings/site-a/2024/05/01/p1.tar' })))).name).toBe('AccessDenied');
  });
});

describe('function roles', () => {
  it('ingest reads any manifest and writes catalogue entries', async () => {
    const ingestS3 = s3As(iam.credentialsOf('function:ingest'));
    const got = await ingestS3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'manifests/site-b/recordings/2024/05/01/p1.json' }));
    expect(await got.Body!.transformToString()).toBe('x');
    await dynamoAs(iam.credentialsOf('function:ingest')).send(new PutCommand({ TableName: TABLE, Item: { pk: 'REC#site-b#r1', sk: 'REC', timePk: 'site-b#2024-05-01', startRid: '2024-05-01T00:00:00Z#r1' } }));
  });

  it('ingest cannot delete objects or query the catalogue', async () => {
    expect((await s3Error(s3As(iam.credentialsOf('function:ingest')).send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'manifests/site-b/recordings/2024/05/01/p1.json' })))).name).toBe('AccessDenied');
    const q = new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'REC#site-b#r1' } });
    expect((await dynamoError(dynamoAs(iam.credentialsOf('function:ingest')).send(q))).name).toBe('AccessDeniedException');
  });

  it('the catalogue function queries the search indexes but cannot write', async () => {
    const doc = dynamoAs(iam.credentialsOf('function:catalogue'));
    const found = await doc.send(new QueryCommand({ TableName: TABLE, IndexName: 'byTime', KeyConditionExpression: 'timePk = :t', ExpressionAttributeValues: { ':t': 'site-b#2024-05-01' } }));
    expect(found.Items?.map((i) => i.pk)).toEqual(['REC#site-b#r1']);
    expect((await dynamoError(doc.send(new PutCommand({ TableName: TABLE, Item: { pk: 'REC#x', sk: 'REC' } })))).name).toBe('AccessDeniedException');
  });

  it('the lock function writes lock items only (dynamodb:LeadingKeys LOCK#*)', async () => {
    const doc = dynamoAs(iam.credentialsOf('function:lock'));
    await doc.send(new PutCommand({ TableName: TABLE, Item: { pk: 'LOCK#site-a', sk: 'LOCK' } }));
    expect((await dynamoError(doc.send(new PutCommand({ TableName: TABLE, Item: { pk: 'REC#site-a#forged', sk: 'REC' } })))).name).toBe('AccessDeniedException');
    expect((await dynamoError(doc.send(new GetCommand({ TableName: TABLE, Key: { pk: 'REC#site-b#r1', sk: 'REC' } })))).name).toBe('AccessDeniedException');
  });

  it('the window function HEADs manifests but cannot GET them (no kms:Decrypt through S3)', async () => {
    const windowS3 = s3As(iam.credentialsOf('function:window'));
    expect((await windowS3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'manifests/site-b/recordings/2024/05/01/p1.json' }))).ContentLength).toBe(1);
    expect((await s3Error(windowS3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'manifests/site-b/recordings/2024/05/01/p1.json' })))).name).toBe('AccessDenied');
  });
});

describe('site activities (Step Functions)', () => {
  const LOCAL_ACTIVITY = 'arn:aws:states:us-east-1:000000000000:activity:local-site-a';
  const service = new LocalActivityService();
  let server: ActivityServer;
  let endpoint: string;
  const sfnAs = (principal: string) => {
    const client = createSfnClient({ endpoint, credentials: iam.credentialsOf(principal), maxAttempts: 1 });
    clients.push(client);
    return client;
  };
  const sfnError = async (promise: Promise<unknown>) => {
    const error = await promise.then(() => undefined, (e: unknown) => e);
    if (!(error instanceof SFNServiceException)) throw new Error(`expected a Step Functions error, got ${String(error)}`);
    return { name: error.name, status: error.$metadata.httpStatusCode };
  };

  beforeAll(async () => {
    server = await startActivityServer(service, { pollWaitMs: 200 });
    endpoint = (await iam.gateway('states', server.endpoint, { accessKeyId: 'x', secretAccessKey: 'x' }, { [LOCAL_ACTIVITY]: iam.deployment.siteActivities.get('site-a')! })).endpoint;
  });
  afterAll(async () => {
    service.stop();
    await server?.stop();
  });

  it("site-a's agent polls and answers its own activity", async () => {
    const done = service.run(LOCAL_ACTIVITY, { job: 1 });
    const agentA = sfnAs('agent:site-a');
    const task = await agentA.send(new GetActivityTaskCommand({ activityArn: LOCAL_ACTIVITY }));
    expect(JSON.parse(task.input!)).toEqual({ job: 1 });
    await agentA.send(new SendTaskSuccessCommand({ taskToken: task.taskToken!, output: '{"ok":true}' }));
    expect(await done).toEqual({ ok: true });
  });

  it("site-b's agent can neither poll site-a's activity nor answer its tasks (400 AccessDeniedException)", async () => {
    const done = service.run(LOCAL_ACTIVITY, { job: 2 });
    expect(await sfnError(sfnAs('agent:site-b').send(new GetActivityTaskCommand({ activityArn: LOCAL_ACTIVITY })))).toEqual({ name: 'AccessDeniedException', status: 400 });
    const task = await sfnAs('agent:site-a').send(new GetActivityTaskCommand({ activityArn: LOCAL_ACTIVITY }));
    const forged = sfnAs('agent:site-b').send(new SendTaskFailureCommand({ taskToken: task.taskToken!, error: 'Forged' }));
    expect((await sfnError(forged)).name).toBe('AccessDeniedException');
    await sfnAs('agent:site-a').send(new SendTaskSuccessCommand({ taskToken: task.taskToken!, output: '{}' }));
    expect(await done).toEqual({});
  });
});

describe('decisions kept by the gateway', () => {
  it("refuses a read of the same object at the next request once the role's grant is revoked (403 AccessDenied), and allows it once given back", async () => {
    const key = 'recordings/site-a/2023/01/01/revoked.tar';
    await put(s3As(iam.credentialsOf('agent:site-a')), key);
    const replay = s3As(iam.credentialsOf('function:replay'));
    const get = async () => {
      const out = await replay.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      return out.Body!.transformToString();
    };
    expect(await get()).toBe('x');
    expect(await get()).toBe('x');
    const granted = iam.deployment.principals.get('function:replay')!.policies;
    revisePolicies(iam.deployment, { principal: 'function:replay', policies: [] });
    try {
      expect(await s3Error(get())).toEqual({ name: 'AccessDenied', status: 403 });
    } finally {
      revisePolicies(iam.deployment, { principal: 'function:replay', policies: granted });
    }
    expect(await get()).toBe('x');
  });
});
