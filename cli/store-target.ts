import { userInfo, hostname } from 'node:os';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createDynamoClients, createS3Client } from '../adapters/aws-clients.ts';
import { DynamoAuditLedger } from '../adapters/dynamo-audit-ledger.ts';
import { DynamoCatalogue } from '../adapters/dynamo-catalogue.ts';
import { DynamoErasureStore } from '../adapters/dynamo-erasures.ts';
import { S3BlobStore } from '../adapters/s3-blob-store.ts';
import { readLocalCloud, NoCloudError } from './cloud.ts';
import { credentialsInUse } from './site-access.ts';

// The store itself (bucket and catalogue table), for the commands an officer or a DR operator
// runs with their own AWS credentials: case export (no Lambda time or disk limit on a large
// case) and the audit trail. FERRY_BUCKET + FERRY_TABLE (and the standard AWS credential
// chain), else the embedded local cloud `ferry start` left running.

export function storeTarget(env: NodeJS.ProcessEnv = process.env) {
  const standIn = { features: { verifiesChecksums: false, conditionalPut: false, md5ETags: true } };
  let s3;
  let clients;
  let bucket: string;
  let table: string;
  let local = false;
  let endpoints: { s3?: string; dynamo?: string };
  let credentialsFrom: string;
  if (env.FERRY_BUCKET && env.FERRY_TABLE) {
    const region = env.AWS_REGION ?? 'us-east-1';
    // Keys given in `env` are used as given; otherwise the SDK's chain (profiles, SSO, roles).
    const credentials = env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) } : undefined;
    s3 = createS3Client({ region, endpoint: env.AWS_ENDPOINT_URL_S3, ...(credentials ? { credentials } : {}) });
    clients = createDynamoClients({ region, endpoint: env.AWS_ENDPOINT_URL_DYNAMODB, ...(credentials ? { credentials } : {}) });
    ({ FERRY_BUCKET: bucket, FERRY_TABLE: table } = env as { FERRY_BUCKET: string; FERRY_TABLE: string });
    local = env.AWS_ENDPOINT_URL_S3 !== undefined;
    endpoints = { s3: env.AWS_ENDPOINT_URL_S3, dynamo: env.AWS_ENDPOINT_URL_DYNAMODB };
    credentialsFrom = credentialsInUse(undefined, undefined, env);
  } else {
    const cloud = readLocalCloud(env);
    if (!cloud) throw new NoCloudError();
    s3 = createS3Client({ region: cloud.region, endpoint: cloud.s3, credentials: cloud.credentials });
    clients = createDynamoClients({ region: cloud.region, endpoint: cloud.dynamo, credentials: cloud.credentials });
    bucket = cloud.bucket;
    table = cloud.table;
    local = true;
    endpoints = { s3: cloud.s3, dynamo: cloud.dynamo };
    credentialsFrom = credentialsInUse(cloud.credentials, undefined, env);
  }
  const blobs = new S3BlobStore(s3, bucket, local ? standIn : undefined);
  const doc = clients.doc;
  return {
    /** Where a refusal happened, as siteDeniedMessage says it: `in bucket B at URL`, `in table T at URL`. */
    where: {
      s3: `in bucket ${bucket} ${endpoints.s3 ? `at ${endpoints.s3}` : '(S3)'}`,
      dynamo: `in table ${table} ${endpoints.dynamo ? `at ${endpoints.dynamo}` : '(DynamoDB)'}`,
    },
    /** Where the credentials came from (credentialsInUse). */
    credentialsFrom,
    blobs,
    catalogue: new DynamoCatalogue(doc, table),
    ledger: new DynamoAuditLedger(doc, table),
    /** Erasure requests (core/erasures.ts): what a case export leaves out. */
    erasures: new DynamoErasureStore(doc, table),
    /** The rids of a case (legal hold's case records: `members`), undefined when there is no such case. */
    async caseMembers(site: string, caseId: string): Promise<string[] | undefined> {
      const { Item } = await doc.send(new GetCommand({ TableName: table, Key: { pk: `CASE#${site}`, sk: caseId }, ConsistentRead: true }));
      return Item && Array.isArray(Item.members) ? (Item.members as string[]) : undefined;
    },
    /**
     * Who is asking, as the audit trail and a bundle's custody report name a CLI user: user@host
     * and the access key id, always. FERRY_PRINCIPAL (a person's name for a shared service
     * account) is added as what it is, a name the caller claims: it never stands in for the
     * credentials, or anyone could file an export under a console officer's name.
     */
    async principal(): Promise<string> {
      const key = await s3.config.credentials().then((c) => c.accessKeyId).catch(() => undefined);
      const real = `${userInfo().username}@${hostname()}${key ? ` (${key})` : ''}`;
      return env.FERRY_PRINCIPAL ? `${env.FERRY_PRINCIPAL} (claimed; ${real})` : real;
    },
    close(): void {
      s3.destroy();
      clients.client.destroy();
    },
  };
}
