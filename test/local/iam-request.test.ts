import { describe, expect, it } from 'vitest';
import { authoriseDynamo, authoriseStates, type TableSchema } from '../../local/iam-gateway/json-request.ts';
import { authoriseS3, deleteObjectsKeys, knowsS3Key, type S3Request } from '../../local/iam-gateway/s3-request.ts';
import { evaluate } from '../../infra/policy-eval.ts';

// The one mapping from requests to IAM: action, resource and the condition keys Ferry's
// policies depend on. Pure, no network.

const bucketArn = (name: string) => `arn:aws:s3:::${name === 'ferry-data' ? 'ferry-data-111122223333-eu-west-1' : name}`;
const OBJECT = 'arn:aws:s3:::ferry-data-111122223333-eu-west-1/recordings/site-a/p 1.tar';
const s3 = (method: string, path: string, query: S3Request['query'] = {}, headers: S3Request['headers'] = {}) => authoriseS3({ method, path, query, headers }, bucketArn, new Date('2026-01-01T00:00:00Z'));

describe('S3 requests', () => {
  it('maps object reads, HEAD without the data key, and %-escaped keys onto the deployed bucket', () => {
    expect(s3('GET', '/ferry-data/recordings/site-a/p%201.tar')).toEqual({ checks: [{ action: 's3:GetObject', resource: OBJECT, context: {} }], kms: 'kms:Decrypt' });
    expect(s3('HEAD', '/ferry-data/recordings/site-a/p%201.tar')).toEqual({ checks: [{ action: 's3:GetObject', resource: OBJECT, context: {} }] });
    expect(s3('GET', '/ferry-data/recordings/site-a/p%201.tar', { versionId: 'v1' }).checks[0]!.action).toBe('s3:GetObjectVersion');
  });

  it('marks PutObject and CompleteMultipartUpload as creating, CreateMultipartUpload and UploadPart as not', () => {
    const creation = (r: ReturnType<typeof s3>) => r.checks[0]!.context['s3:ObjectCreationOperation'];
    expect(creation(s3('PUT', '/ferry-data/k', {}, { 'if-none-match': '*' }))).toBe(true);
    expect(s3('PUT', '/ferry-data/k', {}, { 'if-none-match': '*' }).checks[0]!.context['s3:if-none-match']).toBe('*');
    expect(creation(s3('POST', '/ferry-data/k', { uploads: '' }))).toBe(false);
    expect(creation(s3('PUT', '/ferry-data/k', { partNumber: '1', uploadId: 'u' }))).toBe(false);
    expect(creation(s3('POST', '/ferry-data/k', { uploadId: 'u' }))).toBe(true);
    expect(s3('DELETE', '/ferry-data/k', { uploadId: 'u' }).checks[0]!.action).toBe('s3:AbortMultipartUpload');
  });

  it('checks s3:PutObjectRetention as well when a PutObject or CreateMultipartUpload sets its own retention, and not otherwise', () => {
    const lock = { 'x-amz-object-lock-mode': 'GOVERNANCE', 'x-amz-object-lock-retain-until-date': '2030-01-01T00:00:00Z' };
    const object = 'arn:aws:s3:::ferry-data-111122223333-eu-west-1/k';
    for (const [method, query] of [['PUT', {}], ['POST', { uploads: '' }]] as const) {
      expect(s3(method, '/ferry-data/k', query, lock).checks.map((c) => [c.action, c.resource]), method).toEqual([['s3:PutObject', object], ['s3:PutObjectRetention', object]]);
      expect(s3(method, '/ferry-data/k', query).checks.map((c) => c.action), method).toEqual(['s3:PutObject']);
    }
  });

  it("puts a write's own retention in both checks' context: its mode, date and remaining days (a part day counted whole)", () => {
    const lock = { 'x-amz-object-lock-mode': 'GOVERNANCE', 'x-amz-object-lock-retain-until-date': '2026-01-02T23:00:00.000Z' };
    const want = { 's3:object-lock-mode': 'GOVERNANCE', 's3:object-lock-retain-until-date': '2026-01-02T23:00:00.000Z', 's3:object-lock-remaining-retention-days': 2 };
    for (const c of s3('PUT', '/ferry-data/k', {}, lock).checks) expect(c.context, c.action).toMatchObject(want);
    const body = '<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Mode>COMPLIANCE</Mode><RetainUntilDate>2026-01-31T00:00:00Z</RetainUntilDate></Retention>';
    const standalone = authoriseS3({ method: 'PUT', path: '/ferry-data/k', query: { retention: '' }, headers: {}, body }, bucketArn, new Date('2026-01-01T00:00:00Z'));
    expect(standalone.checks[0]!.context).toMatchObject({ 's3:object-lock-mode': 'COMPLIANCE', 's3:object-lock-remaining-retention-days': 30 });
  });

  it('refuses to decide a request whose applicable statement conditions on an S3 key the gateway does not supply, rather than let a Deny pass', () => {
    const deny = { Version: '2012-10-17', Statement: [{ Effect: 'Deny' as const, Action: 's3:PutObject', Resource: '*', Condition: { StringEquals: { 's3:x-amz-acl': 'public-read' } } }, { Effect: 'Allow' as const, Action: 's3:PutObject', Resource: '*' }] };
    const request = { action: 's3:PutObject', resource: 'arn:aws:s3:::b/k', context: {} };
    expect(evaluate([deny], request).decision).toBe('allow'); // what an evaluator that does not know the key would say
    expect(() => evaluate([deny], { ...request, knows: knowsS3Key })).toThrow(/s3:x-amz-acl/);
    expect(knowsS3Key('s3:object-lock-remaining-retention-days')).toBe(true);
    expect(knowsS3Key('aws:SourceVpce')).toBe(true); // absent global keys keep IAM's rules
  });

  it('checks CopyObject as a write of the target and a read of the source', () => {
    const copy = s3('PUT', '/ferry-data/a', {}, { 'x-amz-copy-source': '/ferry-data/recordings/site-b/x.tar' });
    expect(copy.checks.map((c) => [c.action, c.resource])).toEqual([
      ['s3:PutObject', 'arn:aws:s3:::ferry-data-111122223333-eu-west-1/a'],
      ['s3:GetObject', 'arn:aws:s3:::ferry-data-111122223333-eu-west-1/recordings/site-b/x.tar'],
    ]);
  });

  it('maps listings with s3:prefix, and object-lock sub-resources to their own actions', () => {
    expect(s3('GET', '/ferry-data', { 'list-type': '2', prefix: 'manifests/site-a/' }).checks[0]).toMatchObject({ action: 's3:ListBucket', context: { 's3:prefix': 'manifests/site-a/' } });
    expect(s3('GET', '/ferry-data', { uploads: '' }).checks[0]!.action).toBe('s3:ListBucketMultipartUploads');
    expect(s3('PUT', '/ferry-data/k', { retention: '' }).checks[0]!.action).toBe('s3:PutObjectRetention');
    expect(s3('PUT', '/ferry-data/k', { 'legal-hold': '' }).checks[0]!.action).toBe('s3:PutObjectLegalHold');
  });

  it('leaves DeleteObjects to a per-key check and reads the keys from its body', () => {
    expect(s3('POST', '/ferry-data', { delete: '' })).toEqual({ checks: [], deleteObjectsIn: 'arn:aws:s3:::ferry-data-111122223333-eu-west-1' });
    const body = '<Delete><Object><Key>a&amp;b</Key></Object><Object><Key>c</Key><VersionId>v</VersionId></Object></Delete>';
    expect(deleteObjectsKeys(body)).toEqual([{ key: 'a&b', versioned: false }, { key: 'c', versioned: true }]);
  });

  it('names a call it cannot map instead of letting it through', () => {
    expect(s3('PATCH', '/ferry-data/k').unknown).toBe('PATCH /ferry-data/k');
    expect(s3('POST', '/ferry-data/k').unknown).toBe('POST /ferry-data/k');
  });
});

describe('DynamoDB and Step Functions requests', () => {
  const TABLE = 'arn:aws:dynamodb:eu-west-1:111122223333:table/t';
  const tables = (): TableSchema => ({ arn: TABLE, partitionKey: 'pk', indexes: { byTime: 'timePk' } });
  const dynamo = (op: string, body: Record<string, unknown>) => authoriseDynamo(`DynamoDB_20120810.${op}`, body, tables, `${TABLE}*`);

  it('takes dynamodb:LeadingKeys from the key, the item, a key condition or every item of a batch', () => {
    const leading = (r: ReturnType<typeof dynamo>) => r.checks.map((c) => c.context['dynamodb:LeadingKeys']);
    expect(leading(dynamo('GetItem', { TableName: 'x', Key: { pk: { S: 'LOCK#a' }, sk: { S: 'LOCK' } } }))).toEqual([['LOCK#a']]);
    expect(leading(dynamo('PutItem', { TableName: 'x', Item: { pk: { S: 'RUN#a' } } }))).toEqual([['RUN#a']]);
    const query = { TableName: 'x', KeyConditionExpression: '#p = :v AND sk > :s', ExpressionAttributeNames: { '#p': 'pk' }, ExpressionAttributeValues: { ':v': { S: 'REC#a' }, ':s': { S: '0' } } };
    expect(leading(dynamo('Query', query))).toEqual([['REC#a']]);
    const batch = { RequestItems: { x: [{ PutRequest: { Item: { pk: { S: 'REC#1' } } } }, { DeleteRequest: { Key: { pk: { S: 'PACK#2' } } } }] } };
    expect(leading(dynamo('BatchWriteItem', batch))).toEqual([['REC#1', 'PACK#2']]);
  });

  it("takes dynamodb:Attributes of a PutItem from its item's attribute names, and gives none to a read", () => {
    const put = dynamo('PutItem', { TableName: 'x', Item: { pk: { S: 'AUDIT#a' }, sk: { S: 'SEALED' }, seq: { N: '3' } } });
    expect(put.checks[0]!.context['dynamodb:Attributes']).toEqual(['pk', 'sk', 'seq']);
    expect(dynamo('GetItem', { TableName: 'x', Key: { pk: { S: 'AUDIT#a' }, sk: { S: 'SEALED' } } }).checks[0]!.context).not.toHaveProperty('dynamodb:Attributes');
  });

  it("uses the index ARN and the index's partition key for an index query", () => {
    const q = dynamo('Query', { TableName: 'x', IndexName: 'byTime', KeyConditionExpression: 'timePk = :t', ExpressionAttributeValues: { ':t': { S: 'a#2024' } } });
    expect(q.checks[0]).toMatchObject({ action: 'dynamodb:Query', resource: `${TABLE}/index/byTime`, context: { 'dynamodb:LeadingKeys': ['a#2024'] } });
  });

  it('maps an activity call to its activity, and a task token to the activity that issued it', () => {
    const map = (arn: string) => arn.replace('local', 'deployed');
    expect(authoriseStates('AWSStepFunctions.GetActivityTask', { activityArn: 'local' }, map, () => undefined).checks[0]).toMatchObject({ action: 'states:GetActivityTask', resource: 'deployed' });
    expect(authoriseStates('AWSStepFunctions.SendTaskSuccess', { taskToken: 't' }, map, (t) => (t === 't' ? 'the-activity' : undefined)).checks[0]!.resource).toBe('the-activity');
    expect(authoriseDynamo('', {}, tables, '*').unknown).toBe('(no X-Amz-Target)');
  });
});
