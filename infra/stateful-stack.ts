import { Aws, CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { CatalogueTable } from './catalogue.ts';
import type { DeploymentConfig } from './config.ts';
import { DataBucket } from './data-bucket.ts';
import { dataBucketName } from './names.ts';

// Everything that holds data or decides who can read it: keys, the data bucket, the access
// log bucket, the catalogue table. RETAIN throughout; the processing stack can be destroyed and
// redeployed at will, this one is meant to outlive it.

export interface StatefulStackProps extends StackProps {
  config: DeploymentConfig;
}

export class StatefulStack extends Stack {
  /** Encrypts the data bucket (with an S3 bucket key) and the catalogue table. */
  readonly dataKey: kms.Key;
  /** Encrypts the CloudWatch log groups of the functions, which hold the audit trail. */
  readonly logsKey: kms.Key;
  readonly dataBucket: s3.Bucket;
  /** The deterministic name (see names.ts); use it, not `dataBucket.bucketName`, from another stack. */
  readonly dataBucketName: string;
  readonly accessLogsBucket: s3.Bucket;
  readonly catalogue: CatalogueTable;
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.dataKey = new kms.Key(this, 'DataKey', {
      description: 'Ferry: data bucket (SSE-KMS with bucket key) and catalogue table',
      alias: `alias/${config.stackPrefix.toLowerCase()}-data`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.logsKey = new kms.Key(this, 'LogsKey', {
      description: 'Ferry: CloudWatch log groups of the functions (audit trail)',
      alias: `alias/${config.stackPrefix.toLowerCase()}-logs`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch Logs encrypts with the key itself; the context condition keeps it to this account's log groups.
    this.logsKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsOfThisAccount',
        principals: [new iam.ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:*` } },
      }),
    );

    this.dataBucketName = dataBucketName(config.stackPrefix);
    const data = new DataBucket(this, 'Data', { bucketName: this.dataBucketName, key: this.dataKey, config });
    this.dataBucket = data.bucket;
    this.accessLogsBucket = data.accessLogs;

    this.catalogue = new CatalogueTable(this, 'Catalogue', { key: this.dataKey });
    this.table = this.catalogue.table;

    new CfnOutput(this, 'DataBucketName', { value: this.dataBucket.bucketName, description: 'The agent config `cloud.bucket`' });
    new CfnOutput(this, 'CatalogueTableName', { value: this.table.tableName });
    new CfnOutput(this, 'DataKeyArn', { value: this.dataKey.keyArn });
    if (data.replicationRole) new CfnOutput(this, 'ReplicationRoleArn', { value: data.replicationRole.roleArn, description: 'Allow it kms:Encrypt and kms:GenerateDataKey on the DR key' });
    new CfnOutput(this, 'Region', { value: Aws.REGION, description: 'The agent config `cloud.region`' });
  }
}
