import { describe, expect, it } from 'vitest';
import { TemplateResolver } from '../../infra/cfn-resolve.ts';
import { evaluate, globMatch, isAllowed, type PolicyDocument } from '../../infra/policy-eval.ts';

// The evaluator is itself under test: hand-written policies whose answers are known from the
// IAM documentation, including the cases where it must say no.

const BUCKET = 'arn:aws:s3:::data';
const doc = (...Statement: PolicyDocument['Statement'][]): PolicyDocument => ({ Version: '2012-10-17', Statement: Statement.flat() });

describe('policy evaluator', () => {
  it('denies by default', () => {
    expect(evaluate([], { action: 's3:GetObject', resource: `${BUCKET}/x` }).decision).toBe('implicit-deny');
    expect(evaluate([doc({ Effect: 'Allow', Action: 's3:PutObject', Resource: `${BUCKET}/*` })], { action: 's3:GetObject', resource: `${BUCKET}/x` }).decision).toBe('implicit-deny');
  });

  it('matches actions case-insensitively with wildcards, resources case-sensitively', () => {
    const policy = doc({ Effect: 'Allow', Action: 's3:Get*', Resource: `${BUCKET}/site-a/*` });
    expect(isAllowed([policy], { action: 'S3:GETOBJECT', resource: `${BUCKET}/site-a/k` })).toBe(true);
    expect(isAllowed([policy], { action: 's3:PutObject', resource: `${BUCKET}/site-a/k` })).toBe(false);
    expect(isAllowed([policy], { action: 's3:GetObject', resource: `${BUCKET}/SITE-A/k` })).toBe(false);
    expect(isAllowed([policy], { action: 's3:GetObject', resource: `${BUCKET}/site-ab/k` })).toBe(false);
    expect(globMatch('a?c', 'abc')).toBe(true);
    expect(globMatch('a?c', 'abbc')).toBe(false);
  });

  it('lets an explicit deny win over any allow', () => {
    const policies = [doc({ Effect: 'Allow', Action: 's3:*', Resource: '*' }), doc({ Sid: 'NoDelete', Effect: 'Deny', Action: 's3:Delete*', Resource: '*' })];
    const result = evaluate(policies, { action: 's3:DeleteObject', resource: `${BUCKET}/k` });
    expect(result).toMatchObject({ decision: 'explicit-deny', deniedBy: ['NoDelete'] });
    expect(isAllowed(policies, { action: 's3:GetObject', resource: `${BUCKET}/k` })).toBe(true);
  });

  it('supports NotAction and NotResource', () => {
    const policy = doc({ Effect: 'Allow', NotAction: 's3:Delete*', NotResource: `${BUCKET}/secret/*` });
    expect(isAllowed([policy], { action: 's3:GetObject', resource: `${BUCKET}/k` })).toBe(true);
    expect(isAllowed([policy], { action: 's3:DeleteObject', resource: `${BUCKET}/k` })).toBe(false);
    expect(isAllowed([policy], { action: 's3:GetObject', resource: `${BUCKET}/secret/k` })).toBe(false);
  });

  it('evaluates StringEquals, StringLike, StringNotEquals, Null and Bool as IAM does', () => {
    const put = doc({ Effect: 'Allow', Action: 's3:PutObject', Resource: `${BUCKET}/*`, Condition: { StringEquals: { 's3:if-none-match': '*' } } });
    expect(isAllowed([put], { action: 's3:PutObject', resource: `${BUCKET}/k`, context: { 's3:if-none-match': '*' } })).toBe(true);
    expect(isAllowed([put], { action: 's3:PutObject', resource: `${BUCKET}/k` })).toBe(false); // key absent: no match
    expect(isAllowed([put], { action: 's3:PutObject', resource: `${BUCKET}/k`, context: { 'S3:IF-NONE-MATCH': '*' } })).toBe(true); // key names are case-insensitive

    const list = doc({ Effect: 'Allow', Action: 's3:ListBucket', Resource: BUCKET, Condition: { StringLike: { 's3:prefix': ['a/site-a/*', 'b/site-a/*'] } } });
    expect(isAllowed([list], { action: 's3:ListBucket', resource: BUCKET, context: { 's3:prefix': 'b/site-a/2024/' } })).toBe(true);
    expect(isAllowed([list], { action: 's3:ListBucket', resource: BUCKET, context: { 's3:prefix': 'b/site-b/' } })).toBe(false);
    expect(isAllowed([list], { action: 's3:ListBucket', resource: BUCKET })).toBe(false);

    const notEquals = doc({ Effect: 'Deny', Action: '*', Resource: '*', Condition: { StringNotEquals: { 'aws:PrincipalAccount': '111122223333' } } });
    expect(evaluate([notEquals], { action: 's3:GetObject', resource: 'x', context: { 'aws:PrincipalAccount': '999999999999' } }).decision).toBe('explicit-deny');
    expect(evaluate([notEquals], { action: 's3:GetObject', resource: 'x', context: { 'aws:PrincipalAccount': '111122223333' } }).decision).toBe('implicit-deny');
    expect(evaluate([notEquals], { action: 's3:GetObject', resource: 'x' }).decision).toBe('explicit-deny'); // negated operator, key absent: true

    const nullDeny = doc({ Effect: 'Deny', Action: 's3:PutObject', Resource: '*', Condition: { Null: { 's3:if-none-match': 'true' }, Bool: { 's3:ObjectCreationOperation': 'true' } } });
    expect(evaluate([nullDeny], { action: 's3:PutObject', resource: 'x', context: { 's3:ObjectCreationOperation': true } }).decision).toBe('explicit-deny');
    expect(evaluate([nullDeny], { action: 's3:PutObject', resource: 'x', context: { 's3:ObjectCreationOperation': 'false' } }).decision).toBe('implicit-deny');
    expect(evaluate([nullDeny], { action: 's3:PutObject', resource: 'x', context: { 's3:ObjectCreationOperation': true, 's3:if-none-match': '*' } }).decision).toBe('implicit-deny');
  });

  it('supports IfExists, Numeric and set qualifiers', () => {
    const tls = doc({ Effect: 'Deny', Action: 's3:*', Resource: '*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } });
    expect(evaluate([tls], { action: 's3:GetObject', resource: 'x', context: { 's3:TlsVersion': '1.1' } }).decision).toBe('explicit-deny');
    expect(evaluate([tls], { action: 's3:GetObject', resource: 'x', context: { 's3:TlsVersion': 1.3 } }).decision).toBe('implicit-deny');
    const ifExists = doc({ Effect: 'Allow', Action: 's3:GetObject', Resource: '*', Condition: { StringEqualsIfExists: { 'aws:SourceVpc': 'vpc-1' } } });
    expect(isAllowed([ifExists], { action: 's3:GetObject', resource: 'x' })).toBe(true);
    expect(isAllowed([ifExists], { action: 's3:GetObject', resource: 'x', context: { 'aws:SourceVpc': 'vpc-2' } })).toBe(false);
    const anyTag = doc({ Effect: 'Allow', Action: 'x:Y', Resource: '*', Condition: { 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['a', 'b'] } } });
    expect(isAllowed([anyTag], { action: 'x:Y', resource: 'r', context: { 'aws:TagKeys': ['c', 'b'] } })).toBe(true);
    expect(isAllowed([anyTag], { action: 'x:Y', resource: 'r', context: { 'aws:TagKeys': ['c'] } })).toBe(false);
  });

  it('matches principals of resource policies', () => {
    const policy = doc({ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:role/r' }, Action: 's3:GetObject', Resource: '*' });
    expect(isAllowed([policy], { action: 's3:GetObject', resource: 'x', principal: { type: 'AWS', id: 'arn:aws:iam::111122223333:role/r' } })).toBe(true);
    expect(isAllowed([policy], { action: 's3:GetObject', resource: 'x', principal: { type: 'AWS', id: 'arn:aws:iam::111122223333:role/other' } })).toBe(false);
    const anyone = doc({ Effect: 'Deny', Principal: { AWS: '*' }, Action: 's3:*', Resource: '*' });
    expect(evaluate([anyone], { action: 's3:GetObject', resource: 'x', principal: { type: 'Service', id: 'logs.amazonaws.com' } }).decision).toBe('explicit-deny');
    const service = doc({ Effect: 'Allow', Principal: { Service: 'logging.s3.amazonaws.com' }, Action: 's3:PutObject', Resource: '*' });
    expect(isAllowed([service], { action: 's3:PutObject', resource: 'x', principal: { type: 'Service', id: 'logging.s3.amazonaws.com' } })).toBe(true);
    expect(isAllowed([service], { action: 's3:PutObject', resource: 'x', principal: { type: 'AWS', id: 'arn:aws:iam::111122223333:root' } })).toBe(false);
    const star = doc({ Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: '*' });
    expect(evaluate([star], { action: 's3:GetObject', resource: 'x' }).decision).toBe('explicit-deny');
  });

  it('refuses what it cannot evaluate instead of guessing', () => {
    const odd = doc({ Effect: 'Allow', Action: 's3:GetObject', Resource: '*', Condition: { DateGreaterThan: { 'aws:CurrentTime': '2020-01-01' } } });
    expect(() => evaluate([odd], { action: 's3:GetObject', resource: 'x' })).toThrow(/not implemented/);
    expect(() => evaluate([doc({ Effect: 'Maybe' as never, Action: '*', Resource: '*' })], { action: 'a:b', resource: 'x' })).toThrow(/Effect/);
  });
});

describe('globMatch with compiled patterns kept between calls', () => {
  it('answers the same on every call, and keeps case-sensitive and case-insensitive matches of one pattern apart', () => {
    for (let n = 0; n < 3; n++) {
      expect(globMatch('arn:aws:s3:::bucket/recordings/site-a/*', 'arn:aws:s3:::bucket/recordings/site-a/p1.tar')).toBe(true);
      expect(globMatch('arn:aws:s3:::bucket/recordings/site-a/*', 'arn:aws:s3:::bucket/recordings/site-b/p1.tar')).toBe(false);
    }
    expect(globMatch('S3:Get*', 's3:getobject', true)).toBe(true);
    expect(globMatch('S3:Get*', 's3:getobject', false)).toBe(false);
    expect(globMatch('S3:Get*', 's3:getobject', true)).toBe(true);
  });
});

describe('template resolver', () => {
  const stateful = {
    Resources: {
      Key: { Type: 'AWS::KMS::Key' },
      Bucket: { Type: 'AWS::S3::Bucket', Properties: { BucketName: { 'Fn::Join': ['', ['data-', { Ref: 'AWS::AccountId' }]] } } },
    },
    Outputs: { KeyArn: { Value: { 'Fn::GetAtt': ['Key', 'Arn'] }, Export: { Name: 'stateful:KeyArn' } } },
  };
  const processing = {
    Resources: {
      Activity: { Type: 'AWS::StepFunctions::Activity', Properties: { Name: 'site-a' } },
      Role: { Type: 'AWS::IAM::Role', Properties: {} },
      Policy: {
        Type: 'AWS::IAM::Policy',
        Properties: {
          Roles: [{ Ref: 'Role' }],
          PolicyDocument: { Statement: [{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: { 'Fn::ImportValue': 'stateful:KeyArn' } }, { Effect: 'Allow', Action: 'states:GetActivityTask', Resource: { Ref: 'Activity' } }] },
        },
      },
    },
  };
  const resolver = new TemplateResolver({ stateful, processing });

  it('resolves pseudo parameters, joins, attributes, subs and imports', () => {
    expect(resolver.resolve('stateful', { 'Fn::GetAtt': ['Bucket', 'Arn'] })).toBe('arn:aws:s3:::data-111122223333');
    expect(resolver.resolve('processing', { 'Fn::Sub': 'arn:${AWS::Partition}:x:${AWS::Region}' })).toBe('arn:aws:x:eu-west-1');
    expect(resolver.resolve('processing', { 'Fn::Select': [1, { 'Fn::Split': ['/', 'a/b/c'] }] })).toBe('b');
    const [policy] = resolver.policiesOfRole('processing', 'Role');
    expect(policy).toEqual({
      Statement: [
        { Effect: 'Allow', Action: 'kms:Decrypt', Resource: 'arn:aws:kms:eu-west-1:111122223333:key/key-Key' },
        { Effect: 'Allow', Action: 'states:GetActivityTask', Resource: 'arn:aws:states:eu-west-1:111122223333:activity:site-a' },
      ],
    });
  });

  it('names what it cannot resolve', () => {
    expect(() => resolver.resolve('processing', { Ref: 'Nope' })).toThrow(/Nope/);
    expect(() => resolver.resolve('processing', { 'Fn::ImportValue': 'other' })).toThrow(/exports other/);
    expect(() => resolver.resolve('processing', { 'Fn::If': ['c', 1, 2] })).toThrow(/Fn::If/);
  });
});
