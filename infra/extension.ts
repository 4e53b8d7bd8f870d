import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { WorkflowConfig } from '../core/workflow-config.ts';
import type { AlertTopic } from './alerts.ts';
import type { DeploymentConfig, SiteConfig } from './config.ts';
import type { FerryFunctions } from './functions.ts';

// EXTENSION POINT for the orchestration (infra/workflows/): the backup-window, purge and
// recall state machines, the lock table, their Lambdas and the EventBridge schedules per site
// plug into the processing stack through `ProcessingStackProps.workflows`, a function called
// once with a scope of its own and everything below. Nothing here depends on infra/workflows/.

export interface SiteContext {
  config: SiteConfig;
  /** The activity this site's agent polls (GetActivityTask); the backup window dispatches to it. */
  activity: sfn.Activity;
  /** The site's agent role (for reference only: never widen it from a workflow). */
  agentRole: iam.IRole;
}

export interface WorkflowContext {
  config: DeploymentConfig;
  bucketName: string;
  bucketArn: string;
  /** The data key: the purge and recall need kms:Decrypt via S3 on it. */
  dataKey: kms.IKey;
  /** The catalogue table (legal holds, pack records) and its index ARNs. */
  catalogueTable: dynamodb.ITable;
  catalogueIndexArns: string[];
  /** SNS alerts: use `alerts.grantPublish(role)` rather than topic.grantPublish. */
  alerts: AlertTopic;
  sites: SiteContext[];
  functions: FerryFunctions;
  /** Retained, KMS-encrypted log groups should use this key too. */
  logsKey: kms.IKey;
  /**
   * Called once by the factory with the orchestration's numbers its state machines were built
   * with (lock waits, job timeout): the dead-man's switch and the fleet readers judge a window
   * stuck or a purge missed after those waits, not the defaults' (their FLEET_SITES follow).
   */
  useWorkflowConfig(config: WorkflowConfig): void;
}

export type WorkflowsFactory = (scope: Construct, context: WorkflowContext) => void;
