import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { DeploymentConfig } from './config.ts';
import { lifecycleRules } from './lifecycle.ts';
import { bucketArn } from './names.ts';
import { Replication } from './replication.ts';

// The data bucket (packs, manifests, backups, logs, archives of every site) and the bucket
// its server access logs go to. Both retained: deleting the stack never deletes data.

export interface DataBucketProps {
  bucketName: string;
  key: kms.IKey;
  config: DeploymentConfig;
}

export function objectLockRetention(config: DeploymentConfig['objectLock']): s3.ObjectLockRetention {
  const duration = Duration.days(config.defaultRetentionDays);
  return config.mode === 'compliance' ? s3.ObjectLockRetention.compliance(duration) : s3.ObjectLockRetention.governance(duration);
}

export class DataBucket extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogs: s3.Bucket;
  /** The replication role, when replication is configured (the DR key must let it encrypt). */
  readonly replicationRole?: iam.Role;

  constructor(scope: Construct, id: string, props: DataBucketProps) {
    super(scope, id);
    const { config, key, bucketName } = props;

    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      // S3 server access logging cannot deliver to an SSE-KMS bucket: SSE-S3 it is.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(config.logs.accessLogExpirationDays) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // No AwsSolutions-S1 finding here: cdk-nag recognises a server-access-log destination.

    const replication = config.replication
      ? new Replication(this, 'Replication', { config: config.replication, sourceBucketArn: bucketArn(bucketName), sourceKey: key })
      : undefined;
    this.replicationRole = replication?.role;

    this.bucket = new s3.Bucket(this, 'Bucket', {
      bucketName,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      objectLockEnabled: true,
      objectLockDefaultRetention: objectLockRetention(config.objectLock),
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'data-bucket/',
      lifecycleRules: lifecycleRules(config.lifecycle),
      removalPolicy: RemovalPolicy.RETAIN,
      ...(replication ? { replicationRole: replication.role, replicationRules: replication.rules } : {}),
    });

    // Write-once, for every writer: an object-creating request (PutObject, CompleteMultipartUpload,
    // CopyObject) without `If-None-Match: *` is refused, so a published key never gets a second
    // version. The parts of a multipart upload carry no header and are exempt
    // (s3:ObjectCreationOperation = false). The agent roles require the same on their side.
    this.denyEveryone('DenyOverwrite', 's3:PutObject', { Null: { 's3:if-none-match': 'true' }, Bool: { 's3:ObjectCreationOperation': 'true' } });
    // SSE-KMS with the data key, for every writer: a write that names other encryption (SSE-S3,
    // AES256) or another KMS key is refused; one that names none (every Ferry writer) gets the
    // bucket's default, this key. Two statements: either header wrong is refused.
    this.denyEveryone('DenyOtherEncryption', 's3:PutObject', presentAndNot('s3:x-amz-server-side-encryption', 'aws:kms'));
    this.denyEveryone('DenyOtherEncryptionKey', 's3:PutObject', presentAndNot('s3:x-amz-server-side-encryption-aws-kms-key-id', key.keyArn));
    // Nothing in Ferry shortens a lock: the purge skips locked objects and reports them. So the
    // governance bypass is denied to every principal; lifting it takes a visible bucket-policy
    // change (compliance mode cannot be lifted at all).
    this.denyEveryone('DenyObjectLockBypass', 's3:BypassGovernanceRetention');
  }

  /** A bucket-policy statement that refuses `action` on every object to every principal (under `conditions`). */
  private denyEveryone(sid: string, action: string, conditions?: Record<string, Record<string, string>>): void {
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({ sid, effect: iam.Effect.DENY, principals: [new iam.AnyPrincipal()], actions: [action], resources: [this.bucket.arnForObjects('*')], ...(conditions ? { conditions } : {}) }),
    );
  }
}

/**
 * The request names `key` with another value than `value`. A negated operator alone, or one
 * "IfExists", holds when the key is absent, and would refuse every write that does not name it.
 */
function presentAndNot(key: string, value: string): Record<string, Record<string, string>> {
  return { Null: { [key]: 'false' }, StringNotEquals: { [key]: value } };
}
