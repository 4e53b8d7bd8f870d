import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';

// Names and ARNs the two stacks share without a cross-stack reference.
//
// The data bucket has a deterministic name (prefix, account, region). Every IAM statement in
// either stack builds its object ARNs from that name and the pseudo parameters, so:
//  - the processing stack needs no CloudFormation export for the bucket (no export lock);
//  - a wildcard under a site prefix flattens to the same text when it is acknowledged and when
//    cdk-nag checks it (a cross-stack token would become an import in between);
//  - the agent configuration can name the bucket before the first deploy.
// A retained bucket with a fixed name also means a torn-down stack cannot silently create a
// second, empty data bucket: redeploying fails until the old bucket is imported or removed.

export function dataBucketName(stackPrefix: string): string {
  return `${stackPrefix.toLowerCase()}-data-${Aws.ACCOUNT_ID}-${Aws.REGION}`;
}

export function bucketArn(bucketName: string): string {
  return `arn:${Aws.PARTITION}:s3:::${bucketName}`;
}

/** ARN pattern of every object under a key prefix (`recordings/site-a/` → `…/recordings/site-a/*`). */
export function objectsArn(bucketName: string, prefix: string): string {
  return `${bucketArn(bucketName)}/${prefix}*`;
}

/** The service principal KMS sees when S3, DynamoDB or SNS uses a key on a caller's behalf (in this stack's region, unless another is given). */
export function viaService(service: 's3' | 'dynamodb' | 'sns', region: string = Aws.REGION): string {
  return `${service}.${region}.amazonaws.com`;
}

const listing = new WeakSet<iam.IPrincipal>();

/**
 * Lets a service function that reads objects (`s3:GetObject`) list the bucket, once a role: S3
 * answers 404 for a missing key only to a principal that may list the bucket, and 403
 * AccessDenied to any other, as for a key it may not read. The functions tell absent from
 * present (an unsealed audit record read from the ledger instead, a missing manifest counted by
 * the backup window and the attestation, a purged pack named as such), so they may list; the
 * site roles (agent, DR) may list their own prefixes only, and take 403 as absent in code
 * (S3BlobStore `readsWithoutList`).
 */
export function mayListBucket(grantee: iam.IGrantable, bucketName: string): void {
  const principal = grantee.grantPrincipal;
  if (listing.has(principal)) return;
  listing.add(principal);
  principal.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ListBucketToTellMissingKeys', actions: ['s3:ListBucket'], resources: [bucketArn(bucketName)] }));
}
