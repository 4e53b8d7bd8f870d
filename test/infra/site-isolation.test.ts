import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { DATA_CLASSES, sitePrefix, type DataClass } from '../../core/layout.ts';
import { FAKE_ENV } from '../../infra/cfn-resolve.ts';
import { evaluate, type AccessRequest, type PolicyDocument } from '../../infra/policy-eval.ts';
import { logicalId, synthFerry, type Synthesized } from './fixture.ts';

// Site isolation, evaluated on the policies `cdk synth` produces (not on the code that builds
// them): the processing template's role policies and the stateful template's bucket policy,
// with intrinsics resolved to a fake account, through infra/policy-eval.ts.

const { account, region } = FAKE_ENV;
const BUCKET = `arn:aws:s3:::ferry-data-${account}-${region}`;
const object = (key: string) => `${BUCKET}/${key}`;
const activity = (site: string) => `arn:aws:states:${region}:${account}:activity:Ferry-${site}-agent`;

// What S3 puts in the request context for each kind of write (see infra/site-policies.ts).
const PUBLISH = { 's3:if-none-match': '*', 's3:ObjectCreationOperation': true };
const OVERWRITE = { 's3:ObjectCreationOperation': true };
const PART = { 's3:ObjectCreationOperation': false };

let synth: Synthesized;
let agentA: PolicyDocument[];
let drA: PolicyDocument[];
let officerA: PolicyDocument[];
let bucketPolicy: PolicyDocument;
let tableArn: string;
let dataKeyArn: string;

function decide(policies: PolicyDocument[], action: string, resource: string, context: AccessRequest['context'] = {}) {
  // Every request an agent makes comes over TLS 1.2+ (the bucket policy refuses anything else).
  return evaluate([...policies, bucketPolicy], {
    action,
    resource,
    context: { 'aws:SecureTransport': true, 's3:TlsVersion': 1.3, ...context },
    principal: { type: 'AWS', id: `arn:aws:iam::${account}:role/agent` },
  }).decision;
}

const key = (dataClass: DataClass, site: string, rest = '2024/05/01/p0123.tar') => `${sitePrefix(dataClass, site)}${rest}`;

beforeAll(() => {
  synth = synthFerry();
  const stack = synth.processing.stackName;
  const siteA = synth.processing.sites.find((s) => s.site === 'site-a')!;
  agentA = synth.resolver.policiesOfRole(stack, logicalId(siteA.agentRole));
  drA = synth.resolver.policiesOfRole(stack, logicalId(siteA.drRole));
  officerA = synth.resolver.policiesOfRole(stack, logicalId(siteA.officerRole));
  const statefulName = synth.stateful.stackName;
  const bucketPolicyId = logicalId(synth.stateful.dataBucket.policy!);
  bucketPolicy = synth.resolver.resolve(statefulName, synth.raw[statefulName]!.Resources![bucketPolicyId]!.Properties!.PolicyDocument) as PolicyDocument;
  tableArn = synth.resolver.resolveString(statefulName, { 'Fn::GetAtt': [logicalId(synth.stateful.table), 'Arn'] });
  dataKeyArn = synth.resolver.resolveString(statefulName, { 'Fn::GetAtt': [logicalId(synth.stateful.dataKey), 'Arn'] });
});

describe("site-a's agent role", () => {
  it.each(DATA_CLASSES)('publishes new objects under %s/site-a/', (dataClass) => {
    expect(decide(agentA, 's3:PutObject', object(key(dataClass, 'site-a')), PUBLISH)).toBe('allow');
  });

  it('uploads the parts of a multipart upload, completes it only with If-None-Match, aborts its own', () => {
    const pack = object(key('recordings', 'site-a'));
    expect(decide(agentA, 's3:PutObject', pack, PART)).toBe('allow'); // CreateMultipartUpload, UploadPart
    expect(decide(agentA, 's3:PutObject', pack, PUBLISH)).toBe('allow'); // CompleteMultipartUpload with If-None-Match
    expect(decide(agentA, 's3:PutObject', pack, OVERWRITE)).toBe('explicit-deny'); // Complete without it
    expect(decide(agentA, 's3:AbortMultipartUpload', pack)).toBe('allow');
    expect(decide(agentA, 's3:ListMultipartUploadParts', pack)).toBe('allow');
  });

  it('cannot overwrite a published object: a write without If-None-Match is refused', () => {
    for (const dataClass of DATA_CLASSES) expect(decide(agentA, 's3:PutObject', object(key(dataClass, 'site-a')), OVERWRITE)).toBe('explicit-deny');
    expect(decide(agentA, 's3:PutObject', object(key('manifests', 'site-a')), {})).not.toBe('allow');
    expect(decide(agentA, 's3:PutObject', object(key('manifests', 'site-a')), { 's3:if-match': '"etag"', 's3:ObjectCreationOperation': true })).toBe('explicit-deny');
  });

  it('cannot delete, unlock or re-lock its own objects, nor touch the bucket configuration', () => {
    const own = object(key('recordings', 'site-a'));
    for (const action of ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:PutObjectRetention', 's3:PutObjectLegalHold', 's3:BypassGovernanceRetention']) {
      expect(decide(agentA, action, own)).toBe('explicit-deny');
    }
    for (const action of ['s3:PutLifecycleConfiguration', 's3:PutBucketPolicy', 's3:PutBucketVersioning', 's3:PutBucketObjectLockConfiguration', 's3:DeleteBucket']) {
      expect(decide(agentA, action, BUCKET)).not.toBe('allow');
    }
  });

  it('reads back and lists only its own prefixes', () => {
    expect(decide(agentA, 's3:GetObject', object(key('manifests', 'site-a', 'recordings/2024/05/01/p.json')))).toBe('allow');
    expect(decide(agentA, 's3:ListBucket', BUCKET, { 's3:prefix': 'manifests/site-a/recordings/' })).toBe('allow');
    expect(decide(agentA, 's3:ListBucket', BUCKET, { 's3:prefix': 'manifests/site-b/' })).toBe('implicit-deny');
    expect(decide(agentA, 's3:ListBucket', BUCKET, { 's3:prefix': 'manifests/' })).toBe('implicit-deny');
    expect(decide(agentA, 's3:ListBucket', BUCKET, { 's3:prefix': 'manifests/site-a' })).toBe('implicit-deny'); // would also list site-ab
    expect(decide(agentA, 's3:ListBucket', BUCKET)).toBe('implicit-deny');
    expect(decide(agentA, 's3:ListBucketMultipartUploads', BUCKET)).toBe('implicit-deny');
  });

  it.each(DATA_CLASSES)("cannot read, write, abort or delete site-b's %s", (dataClass) => {
    const theirs = object(key(dataClass, 'site-b'));
    expect(decide(agentA, 's3:GetObject', theirs)).not.toBe('allow');
    expect(decide(agentA, 's3:PutObject', theirs, PUBLISH)).not.toBe('allow');
    expect(decide(agentA, 's3:PutObject', theirs, PART)).not.toBe('allow');
    expect(decide(agentA, 's3:AbortMultipartUpload', theirs)).not.toBe('allow');
    expect(decide(agentA, 's3:DeleteObject', theirs)).not.toBe('allow');
  });

  it('uses the data key only through S3', () => {
    expect(decide(agentA, 'kms:GenerateDataKey', dataKeyArn, { 'kms:ViaService': `s3.${region}.amazonaws.com` })).toBe('allow');
    expect(decide(agentA, 'kms:Decrypt', dataKeyArn, { 'kms:ViaService': `s3.${region}.amazonaws.com` })).toBe('allow');
    expect(decide(agentA, 'kms:Decrypt', dataKeyArn)).toBe('implicit-deny');
    expect(decide(agentA, 'kms:Decrypt', dataKeyArn, { 'kms:ViaService': `dynamodb.${region}.amazonaws.com` })).toBe('implicit-deny');
  });

  it('cannot touch the catalogue table', () => {
    for (const action of ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'dynamodb:Scan']) {
      expect(decide(agentA, action, tableArn)).toBe('implicit-deny');
      expect(decide(agentA, action, `${tableArn}/index/byTime`)).toBe('implicit-deny');
    }
  });

  it('polls and answers its own activity, not site-b\'s', () => {
    for (const action of ['states:GetActivityTask', 'states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat']) {
      expect(decide(agentA, action, activity('site-a'))).toBe('allow');
      expect(decide(agentA, action, activity('site-b'))).toBe('implicit-deny');
    }
    expect(decide(agentA, 'states:StartExecution', `arn:aws:states:${region}:${account}:stateMachine:any`)).toBe('implicit-deny');
  });

  it('holds for any key: own keys publish-only, other sites nothing (property)', () => {
    const segment = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/);
    const site = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/).filter((s) => s !== 'site-a');
    fc.assert(
      fc.property(fc.constantFrom(...DATA_CLASSES), fc.array(segment, { minLength: 1, maxLength: 5 }), site, (dataClass, rest, other) => {
        const own = object(key(dataClass, 'site-a', rest.join('/')));
        const theirs = object(key(dataClass, other, rest.join('/')));
        expect(decide(agentA, 's3:PutObject', own, PUBLISH)).toBe('allow');
        expect(decide(agentA, 's3:PutObject', own, OVERWRITE)).toBe('explicit-deny');
        expect(decide(agentA, 's3:DeleteObject', own)).toBe('explicit-deny');
        for (const action of ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload']) {
          expect(decide(agentA, action, theirs, PUBLISH)).not.toBe('allow');
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("site-a's DR read role", () => {
  it.each(DATA_CLASSES)('reads and lists site-a %s, not site-b', (dataClass) => {
    expect(decide(drA, 's3:GetObject', object(key(dataClass, 'site-a')))).toBe('allow');
    expect(decide(drA, 's3:ListBucket', BUCKET, { 's3:prefix': sitePrefix(dataClass, 'site-a') })).toBe('allow');
    expect(decide(drA, 's3:GetObject', object(key(dataClass, 'site-b')))).toBe('implicit-deny');
    expect(decide(drA, 's3:ListBucket', BUCKET, { 's3:prefix': sitePrefix(dataClass, 'site-b') })).toBe('implicit-deny');
  });

  it('cannot write, delete or use the key outside S3', () => {
    const own = object(key('backups', 'site-a'));
    expect(decide(drA, 's3:PutObject', own, PUBLISH)).toBe('implicit-deny');
    expect(decide(drA, 's3:PutObject', own, PART)).toBe('implicit-deny');
    expect(decide(drA, 's3:DeleteObject', own)).toBe('implicit-deny');
    expect(decide(drA, 'kms:Decrypt', dataKeyArn, { 'kms:ViaService': `s3.${region}.amazonaws.com` })).toBe('allow');
    expect(decide(drA, 'kms:GenerateDataKey', dataKeyArn, { 'kms:ViaService': `s3.${region}.amazonaws.com` })).toBe('implicit-deny');
    expect(decide(drA, 'dynamodb:Query', tableArn)).toBe('implicit-deny');
  });
});

describe("site-a's officer role on the audit trail (ferry audit verify, ferry audit search)", () => {
  const leading = (pk: string) => ({ 'dynamodb:LeadingKeys': [pk] });

  it('lists and reads the sealed records under audit/site-a/, not those of site-b nor any other prefix', () => {
    expect(decide(officerA, 's3:ListBucket', BUCKET, { 's3:prefix': 'audit/site-a/' })).toBe('allow');
    expect(decide(officerA, 's3:GetObject', object('audit/site-a/000000000001.json'))).toBe('allow');
    expect(decide(officerA, 's3:ListBucket', BUCKET, { 's3:prefix': 'audit/site-b/' })).toBe('implicit-deny');
    expect(decide(officerA, 's3:GetObject', object('audit/site-b/000000000001.json'))).toBe('implicit-deny');
    for (const prefix of ['audit/', 'audit/site-a', 'recordings/site-a/', undefined]) {
      expect(decide(officerA, 's3:ListBucket', BUCKET, prefix === undefined ? {} : { 's3:prefix': prefix }), String(prefix)).toBe('implicit-deny');
    }
    expect(decide(officerA, 's3:GetObject', object(key('recordings', 'site-a')))).toBe('implicit-deny');
  });

  it('cannot write, seal over, delete or version-read its own audit records', () => {
    const own = object('audit/site-a/000000000001.json');
    expect(decide(officerA, 's3:PutObject', own, PUBLISH)).toBe('implicit-deny');
    expect(decide(officerA, 's3:PutObject', own, PART)).toBe('implicit-deny');
    for (const action of ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:PutObjectRetention', 's3:PutObjectLegalHold']) expect(decide(officerA, action, own), action).not.toBe('allow');
  });

  it("queries and gets site-a's ledger items only, writes none, and cannot read the sealed mark or another site's", () => {
    for (const action of ['dynamodb:Query', 'dynamodb:GetItem']) {
      expect(decide(officerA, action, tableArn, leading('AUDIT#site-a')), action).toBe('allow');
      for (const pk of ['AUDIT#site-b', 'AUDIT#site-ab', 'AUDITSEAL#site-a', 'REC#site-a#r1', 'CASE#site-a']) expect(decide(officerA, action, tableArn, leading(pk)), `${action} ${pk}`).toBe('implicit-deny');
      expect(decide(officerA, action, `${tableArn}/index/byTime`, leading('AUDIT#site-a')), action).toBe('implicit-deny');
    }
    for (const action of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'dynamodb:Scan']) {
      expect(decide(officerA, action, tableArn, leading('AUDIT#site-a')), action).toBe('implicit-deny');
    }
    expect(decide(officerA, 'dynamodb:PutItem', tableArn, leading('AUDITSEAL#site-a'))).toBe('implicit-deny');
  });

  it('decrypts with the data key through S3 and DynamoDB only, and never encrypts', () => {
    for (const service of ['s3', 'dynamodb']) expect(decide(officerA, 'kms:Decrypt', dataKeyArn, { 'kms:ViaService': `${service}.${region}.amazonaws.com` }), service).toBe('allow');
    expect(decide(officerA, 'kms:Decrypt', dataKeyArn)).toBe('implicit-deny');
    expect(decide(officerA, 'kms:GenerateDataKey', dataKeyArn, { 'kms:ViaService': `s3.${region}.amazonaws.com` })).toBe('implicit-deny');
  });

  it("leaves the DR and agent roles without the audit trail", () => {
    for (const role of [drA, agentA]) {
      expect(decide(role, 's3:ListBucket', BUCKET, { 's3:prefix': 'audit/site-a/' })).toBe('implicit-deny');
      expect(decide(role, 's3:GetObject', object('audit/site-a/000000000001.json'))).toBe('implicit-deny');
      expect(decide(role, 'dynamodb:Query', tableArn, leading('AUDIT#site-a'))).toBe('implicit-deny');
    }
  });
});

describe('the data bucket policy', () => {
  const request = (context: AccessRequest['context'], action = 's3:GetObject') =>
    evaluate([bucketPolicy], { action, resource: object(key('recordings', 'site-a')), context, principal: { type: 'AWS', id: `arn:aws:iam::${account}:role/any` } }).decision;

  it('refuses plain HTTP and TLS below 1.2, for every caller', () => {
    expect(request({ 'aws:SecureTransport': false, 's3:TlsVersion': 1.2 })).toBe('explicit-deny');
    expect(request({ 'aws:SecureTransport': true, 's3:TlsVersion': 1.1 })).toBe('explicit-deny');
    expect(request({ 'aws:SecureTransport': true, 's3:TlsVersion': 1.2 })).toBe('implicit-deny'); // left to identity policies
  });

  it('refuses an unconditional write (overwrite) to everybody, but not the parts of a multipart upload', () => {
    const tls = { 'aws:SecureTransport': true, 's3:TlsVersion': 1.3 };
    expect(request({ ...tls, ...OVERWRITE }, 's3:PutObject')).toBe('explicit-deny');
    expect(request({ ...tls, ...PUBLISH }, 's3:PutObject')).toBe('implicit-deny');
    expect(request({ ...tls, ...PART }, 's3:PutObject')).toBe('implicit-deny');
  });

  it('refuses the governance-mode bypass to everybody', () => {
    expect(request({ 'aws:SecureTransport': true, 's3:TlsVersion': 1.3 }, 's3:BypassGovernanceRetention')).toBe('explicit-deny');
  });

  it('wins over the agent role for plain HTTP', () => {
    expect(evaluate([...agentA, bucketPolicy], { action: 's3:PutObject', resource: object(key('recordings', 'site-a')), context: { ...PUBLISH, 'aws:SecureTransport': false } }).decision).toBe('explicit-deny');
  });
});
