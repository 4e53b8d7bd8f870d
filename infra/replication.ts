import { viaService } from './names.ts';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { DeploymentConfig } from './config.ts';
import { acknowledgeWildcardResource } from './nag.ts';
import { REPLICATED_CLASSES } from '../core/site-prefixes.ts';

// Optional cross-region replication of the data bucket to a DR bucket (another region, maybe
// another account). The destination must already exist with versioning and Object Lock on,
// and its KMS key must let this role encrypt. The role is written out here rather than left
// to the Bucket construct because an Object Lock source needs the retention and legal-hold
// reads too (replicas keep their lock).

export type ReplicationConfig = NonNullable<DeploymentConfig['replication']>;

export interface ReplicationProps {
  config: ReplicationConfig;
  /** ARN of the source bucket, known before the bucket exists (its name is fixed by the caller). */
  sourceBucketArn: string;
  sourceKey: kms.IKey;
}

export class Replication extends Construct {
  readonly role: iam.Role;
  readonly rules: s3.ReplicationRule[];

  constructor(scope: Construct, id: string, props: ReplicationProps) {
    super(scope, id);
    const { config, sourceBucketArn, sourceKey } = props;
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('s3.amazonaws.com'),
      description: 'Ferry: replicates the data bucket to the DR bucket',
    });
    this.role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:GetReplicationConfiguration', 's3:ListBucket'], resources: [sourceBucketArn] }));
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObjectVersionForReplication', 's3:GetObjectVersionAcl', 's3:GetObjectVersionTagging', 's3:GetObjectRetention', 's3:GetObjectLegalHold'],
        resources: [`${sourceBucketArn}/*`],
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({ actions: ['s3:ReplicateObject', 's3:ReplicateDelete', 's3:ReplicateTags'], resources: [`${config.destinationBucketArn}/*`] }),
    );
    // Each key only as S3 uses it: the source's in this region, the DR copy's in the region its ARN names.
    this.role.addToPolicy(new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [sourceKey.keyArn], conditions: { StringEquals: { 'kms:ViaService': viaService('s3') } } }));
    const drRegion = replicaLocation(config).region;
    this.role.addToPolicy(new iam.PolicyStatement({ actions: ['kms:Encrypt', 'kms:GenerateDataKey'], resources: [config.kmsKeyArn], conditions: { StringEquals: { 'kms:ViaService': viaService('s3', drRegion) } } }));
    acknowledgeWildcardResource(this.role, `${sourceBucketArn}/*`, 'replication reads every object version of the data bucket: replicating the whole bucket is the point of DR');
    acknowledgeWildcardResource(this.role, `${config.destinationBucketArn}/*`, 'replication writes a replica of every object into the DR bucket, under the same keys');

    // One rule per prefix a site's objects lie under, all but the case export bundles: a bundle is
    // a copy of calls for one recipient, fetched within its days and expired by its own rule on
    // this bucket (lifecycle.exportsExpireDays). Replicated, it would outlive that on the DR bucket,
    // where the purge never reaches it: an erased call would live on in it.
    const destination = s3.Bucket.fromBucketArn(this, 'Destination', config.destinationBucketArn);
    const kmsKey = kms.Key.fromKeyArn(this, 'DestinationKey', config.kmsKeyArn);
    this.rules = REPLICATED_CLASSES.map((cls, priority) => ({
      id: `dr-${cls}`,
      priority,
      filter: { prefix: `${cls}/` },
      destination,
      kmsKey,
      sseKmsEncryptedObjects: true,
      // Purge deletes versions, which never replicate; delete markers are not replicated either,
      // so the DR copy is only thinned by its own lifecycle.
      deleteMarkerReplication: false,
    }));
  }
}

/** The DR bucket's name and region (the region of its KMS key: an S3 bucket ARN names none). */
export function replicaLocation(config: ReplicationConfig): { bucket: string; region: string } {
  return { bucket: config.destinationBucketArn.split(':::')[1]!, region: config.kmsKeyArn.split(':')[3]! };
}

/** The purge function's environment for the DR bucket (functions/shared/workflow-deps.ts reads it). */
export function replicaEnvironment(config: ReplicationConfig | undefined): Record<string, string> {
  if (!config) return {};
  const { bucket, region } = replicaLocation(config);
  return { DR_BUCKET: bucket, DR_REGION: region };
}

/**
 * What the purge needs on the DR bucket to carry an erasure out there (core/erasure-replica.ts):
 * list the versions of one exact key (a prefix condition: the packs' and manifests' classes) and
 * delete each version, never bypassing Object Lock (the purge role's explicit deny covers the DR
 * bucket too). No read, no write, no KMS: deleting a version needs none. A DR bucket in another
 * account must also allow these in its bucket policy (docs/deploy.md).
 */
export function grantReplicaErasure(role: iam.IRole, config: ReplicationConfig, prefixes: string[]): void {
  const arn = config.destinationBucketArn;
  role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ListErasedInReplica', actions: ['s3:ListBucketVersions'], resources: [arn], conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } } }));
  const objects = prefixes.map((p) => `${arn}/${p}*`);
  role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'DeleteErasedInReplica', actions: ['s3:DeleteObjectVersion'], resources: objects }));
  for (const r of objects) acknowledgeWildcardResource(role, r, "an erasure deletes the erased call's old pack and manifest in the DR bucket too, by exact key (core/erasure-replica.ts): S3 does not replicate version deletes");
}
