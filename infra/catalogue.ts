import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { CATALOGUE_TABLE } from '../core/catalogue-table.ts';

// The catalogue table, built from the same definition the local cloud's CreateTable uses
// (core/catalogue-table.ts), so the two cannot drift. The catalogue is a cache of the
// manifests and can be rebuilt from S3, but rebuilding millions of entries takes hours:
// PITR, deletion protection and RETAIN all the same.

const attribute = (key: { name: string; type: 'S' }): dynamodb.Attribute => ({ name: key.name, type: dynamodb.AttributeType.STRING });

export class CatalogueTable extends Construct {
  readonly table: dynamodb.Table;
  /** ARNs of the indexes, one by one (no `index/*` wildcard in any policy). */
  readonly indexArns: string[];

  constructor(scope: Construct, id: string, props: { key: kms.IKey }) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: attribute(CATALOGUE_TABLE.partitionKey),
      sortKey: attribute(CATALOGUE_TABLE.sortKey),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.key,
      deletionProtection: true,
      // Items that carry it expire (console export records, with their bundles: infra/lifecycle.ts).
      timeToLiveAttribute: CATALOGUE_TABLE.timeToLiveAttribute,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const index of CATALOGUE_TABLE.globalSecondaryIndexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: attribute(index.partitionKey),
        sortKey: attribute(index.sortKey),
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }
    this.indexArns = CATALOGUE_TABLE.globalSecondaryIndexes.map((index) => `${this.table.tableArn}/index/${index.indexName}`);
  }
}
