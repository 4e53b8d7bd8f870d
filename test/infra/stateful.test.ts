import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { CATALOGUE_TABLE } from '../../core/catalogue-table.ts';
import { classPrefix, DATA_CLASSES } from '../../core/layout.ts';
import { DEFAULT_CONFIG } from '../../infra/config.ts';
import { logicalId, synthFerry, type Synthesized } from './fixture.ts';

// The invariants of the stateful stack, asserted on its template.

type Rule = { Id: string; Prefix?: string; Status: string; Transitions?: { StorageClass: string; TransitionInDays: number }[]; [k: string]: unknown };

let synth: Synthesized;
let bucket: { Properties: Record<string, unknown>; DeletionPolicy?: string; UpdateReplacePolicy?: string };
let rules: Rule[];

beforeAll(() => {
  synth = synthFerry();
  bucket = synth.statefulTemplate.toJSON().Resources[logicalId(synth.stateful.dataBucket)];
  rules = (bucket.Properties.LifecycleConfiguration as { Rules: Rule[] }).Rules;
});

const rulesFor = (prefix: string) => rules.filter((r) => r.Prefix === undefined || prefix.startsWith(r.Prefix));

describe('data bucket lifecycle', () => {
  it('moves packs to Glacier IR at 30 days and Deep Archive at 365', () => {
    expect(rules.find((r) => r.Prefix === 'recordings/')?.Transitions).toEqual([
      { StorageClass: 'GLACIER_IR', TransitionInDays: 30 },
      { StorageClass: 'DEEP_ARCHIVE', TransitionInDays: 365 },
    ]);
  });

  it.each([['backups', 38], ['logs', 38], ['archives', 30], ['trees', 30]] as const)('moves %s to Standard-IA at %i days', (dataClass, days) => {
    expect(rules.find((r) => r.Prefix === classPrefix(dataClass))?.Transitions).toEqual([{ StorageClass: 'STANDARD_IA', TransitionInDays: days }]);
  });

  it('never transitions manifests, by any rule', () => {
    for (const rule of rulesFor('manifests/site-a/recordings/2024/01/01/p.json')) {
      expect(rule.Transitions ?? []).toEqual([]);
      expect(rule).not.toHaveProperty('NoncurrentVersionTransitions');
    }
  });

  it('has one transition rule per data class prefix of core/layout.ts, all enabled', () => {
    const prefixes = rules.filter((r) => r.Transitions).map((r) => r.Prefix);
    // Manifests and heartbeats (recent and daily) stay in Standard: small, and read at once.
    expect(prefixes.sort()).toEqual(DATA_CLASSES.filter((c) => c !== 'manifests' && c !== 'heartbeats' && c !== 'heartbeats-daily').map(classPrefix).sort());
    expect(rules.every((r) => r.Status === 'Enabled')).toBe(true);
  });

  it('aborts incomplete uploads and expires noncurrent versions and stray delete markers', () => {
    expect(rules).toContainEqual(expect.objectContaining({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 }, NoncurrentVersionExpiration: { NoncurrentDays: 30 } }));
    expect(rules).toContainEqual(expect.objectContaining({ ExpiredObjectDeleteMarker: true }));
  });

  it('takes the durations from the configuration', () => {
    const custom = synthFerry({ ...DEFAULT_CONFIG, lifecycle: { packsToGlacierIrDays: 60, packsToDeepArchiveDays: 400, backupsToIaDays: 45 } });
    custom.statefulTemplate.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'recordings/', Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 60 }, { StorageClass: 'DEEP_ARCHIVE', TransitionInDays: 400 }] }),
          Match.objectLike({ Prefix: 'logs/', Transitions: [{ StorageClass: 'STANDARD_IA', TransitionInDays: 45 }] }),
        ]),
      },
    });
  });
});

describe('data bucket protection', () => {
  it('is SSE-KMS with the data key and an S3 bucket key', () => {
    expect(bucket.Properties.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [
        { BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [logicalId(synth.stateful.dataKey), 'Arn'] } } },
      ],
    });
  });

  it('blocks all public access and is versioned', () => {
    expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
  });

  it('has a TLS-only bucket policy', () => {
    synth.statefulTemplate.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logicalId(synth.stateful.dataBucket) },
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } }, Principal: { AWS: '*' } })]),
      },
    });
  });

  it('has Object Lock in governance mode by default, compliance when configured', () => {
    expect(bucket.Properties.ObjectLockEnabled).toBe(true);
    expect(bucket.Properties.ObjectLockConfiguration).toEqual({ ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 30 } } });
    const compliance = synthFerry({ ...DEFAULT_CONFIG, objectLock: { mode: 'compliance', defaultRetentionDays: 90 } });
    compliance.statefulTemplate.hasResourceProperties('AWS::S3::Bucket', { ObjectLockConfiguration: { Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 90 } } } });
  });

  it('logs server access to a separate, retained bucket', () => {
    expect(bucket.Properties.LoggingConfiguration).toEqual({ DestinationBucketName: { Ref: logicalId(synth.stateful.accessLogsBucket) }, LogFilePrefix: 'data-bucket/' });
    synth.statefulTemplate.hasResource('AWS::S3::Bucket', { Properties: Match.objectLike({ LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 365 })] } }), DeletionPolicy: 'Retain' });
  });

  it('replicates to the DR bucket only when configured, every site prefix but the export bundles (they would outlive their expiry there), with Object Lock reads', () => {
    expect(bucket.Properties.ReplicationConfiguration).toBeUndefined();
    const dr = synthFerry({
      ...DEFAULT_CONFIG,
      replication: { destinationBucketArn: 'arn:aws:s3:::ferry-dr-copy', kmsKeyArn: 'arn:aws:kms:eu-central-1:111122223333:key/abcd-1234' },
    });
    const replicated = Object.values(dr.statefulTemplate.findResources('AWS::S3::Bucket')).find((b) => b.Properties.ReplicationConfiguration)!;
    const rules = replicated.Properties.ReplicationConfiguration.Rules as { Filter?: { Prefix?: string }; Priority: number; Status: string; Destination: unknown; DeleteMarkerReplication?: { Status: string } }[];
    for (const rule of rules) {
      expect(rule).toMatchObject({ Destination: { Bucket: 'arn:aws:s3:::ferry-dr-copy', EncryptionConfiguration: { ReplicaKmsKeyID: 'arn:aws:kms:eu-central-1:111122223333:key/abcd-1234' } }, Status: 'Enabled', DeleteMarkerReplication: { Status: 'Disabled' } });
    }
    expect(new Set(rules.map((r) => r.Priority)).size).toBe(rules.length);
    // Every prefix a site's objects lie under, each to its own rule, but the case export bundles.
    expect(rules.map((r) => r.Filter?.Prefix).sort()).toEqual(['archives/', 'audit/', 'backups/', 'cases/', 'erasures/', 'heartbeats-daily/', 'heartbeats/', 'holds/', 'logs/', 'manifests/', 'recordings/', 'reports/', 'trees/']);
    const actions = Object.values(dr.statefulTemplate.findResources('AWS::IAM::Policy')).flatMap((p) =>
      (p.Properties.PolicyDocument.Statement as { Action: string | string[] }[]).flatMap((st) => st.Action),
    );
    expect(actions).toEqual(expect.arrayContaining(['s3:GetObjectRetention', 's3:GetObjectLegalHold', 's3:ReplicateObject']));
  });
});

describe('retention of stateful resources', () => {
  it('retains the data bucket, the table and the keys', () => {
    const resources = synth.statefulTemplate.toJSON().Resources as Record<string, { DeletionPolicy?: string; UpdateReplacePolicy?: string }>;
    for (const construct of [synth.stateful.dataBucket, synth.stateful.accessLogsBucket, synth.stateful.table, synth.stateful.dataKey, synth.stateful.logsKey]) {
      expect(resources[logicalId(construct)]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    }
  });

  it('protects the stateful stack from deletion', () => {
    expect(synth.stateful.terminationProtection).toBe(true);
  });
});

describe('keys', () => {
  it('rotate', () => {
    synth.statefulTemplate.allResourcesProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('let CloudWatch Logs use the logs key for this account only', () => {
    synth.statefulTemplate.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: { Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: Match.anyValue() }, Condition: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': Match.anyValue() } } })]) },
    });
  });
});

describe('catalogue table', () => {
  let table: { Properties: Record<string, unknown> };
  beforeAll(() => {
    table = synth.statefulTemplate.toJSON().Resources[logicalId(synth.stateful.table)];
  });

  it('is on demand, PITR, KMS-encrypted, deletion-protected', () => {
    expect(table.Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [logicalId(synth.stateful.dataKey), 'Arn'] } },
      DeletionProtectionEnabled: true,
    });
  });

  it('has the keys and every index of core/catalogue-table.ts, and nothing else', () => {
    expect(table.Properties.KeySchema).toEqual([
      { AttributeName: CATALOGUE_TABLE.partitionKey.name, KeyType: 'HASH' },
      { AttributeName: CATALOGUE_TABLE.sortKey.name, KeyType: 'RANGE' },
    ]);
    const indexes = (table.Properties.GlobalSecondaryIndexes as { IndexName: string; KeySchema: unknown; Projection: unknown }[]).map((i) => ({ name: i.IndexName, keys: i.KeySchema, projection: i.Projection }));
    expect(indexes).toEqual(
      CATALOGUE_TABLE.globalSecondaryIndexes.map((i) => ({
        name: i.indexName,
        keys: [
          { AttributeName: i.partitionKey.name, KeyType: 'HASH' },
          { AttributeName: i.sortKey.name, KeyType: 'RANGE' },
        ],
        projection: { ProjectionType: 'ALL' },
      })),
    );
  });
});
