import { App, type AppProps, type Environment } from 'aws-cdk-lib';
import type { DeploymentConfig } from './config.ts';
import type { WorkflowsFactory } from './extension.ts';
import { addNagChecks } from './nag.ts';
import { ProcessingStack } from './processing-stack.ts';
import { StatefulStack } from './stateful-stack.ts';

// Assembles the app from a validated configuration. The entry (app.ts) and the tests both call
// this, so what the tests check is what `cdk synth` produces.

/**
 * Feature flags the app is written against, pinned here (not taken from cdk.json or from the
 * library's moving "recommended" set) so `cdk synth` and the tests build the same templates and
 * an aws-cdk-lib upgrade changes nothing silently.
 */
export const FEATURE_FLAGS: Record<string, unknown> = {
  '@aws-cdk/core:checkSecretUsage': true,
  // No indentation in the templates: a site adds ~68 KB indented, and CloudFormation takes at most 1,000,000 bytes.
  '@aws-cdk/core:suppressTemplateIndentation': true,
  // The stacks share the bucket by name; the few remaining references (keys, table) stay exports.
  '@aws-cdk/core:defaultCrossStackReferences': 'strong',
  '@aws-cdk/core:enablePartitionLiterals': true,
  '@aws-cdk/core:includePrefixInUniqueNameGeneration': true,
  '@aws-cdk/aws-iam:minimizePolicies': true,
  '@aws-cdk/aws-iam:importedRoleStackSafeDefaultPolicyName': true,
  '@aws-cdk/aws-kms:aliasNameRef': true,
  // Server access logs are delivered under a bucket policy, not the LogDeliveryWrite ACL.
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  '@aws-cdk/aws-s3:createDefaultLoggingPolicy': true,
  '@aws-cdk/aws-s3:publicAccessBlockedByDefault': true,
  '@aws-cdk/aws-s3:setUniqueReplicationRoleName': true,
  '@aws-cdk/aws-apigateway:disableCloudWatchRole': true,
  '@aws-cdk/aws-apigateway:logGroupDestinationArnWithoutWildcard': true,
};

/** A CDK App with Ferry's feature flags; context from the CLI (`-c …`) still applies. */
export function createFerryApp(props: AppProps = {}): App {
  return new App({ ...props, context: { ...FEATURE_FLAGS, ...props.context } });
}

export interface FerryStacks {
  stateful: StatefulStack;
  processing: ProcessingStack;
}

export interface BuildOptions {
  /** EXTENSION POINT: the orchestration (infra/workflows/) plugs in here. */
  workflows?: WorkflowsFactory;
  /** cdk-nag AwsSolutions on the whole app (default true). */
  nag?: boolean;
}

export function buildFerry(app: App, config: DeploymentConfig, options: BuildOptions = {}): FerryStacks {
  // No env: the stacks are environment-agnostic and synth needs no credentials or lookups.
  const env: Environment | undefined = config.env;
  const stateful = new StatefulStack(app, `${config.stackPrefix}-stateful`, {
    config,
    env,
    description: 'Ferry: data bucket, catalogue table, keys (retained)',
    terminationProtection: true,
  });
  const processing = new ProcessingStack(app, `${config.stackPrefix}-processing`, {
    config,
    env,
    description: 'Ferry: functions, catalogue API, replay, alerts, site roles and activities',
    bucketName: stateful.dataBucketName,
    dataKey: stateful.dataKey,
    logsKey: stateful.logsKey,
    catalogueTable: stateful.table,
    catalogueIndexArns: stateful.catalogue.indexArns,
    workflows: options.workflows,
  });
  // The bucket is shared by name (no export), so the order is stated rather than inferred.
  processing.addStackDependency(stateful, 'the data bucket must exist before its notification and the roles that name it');
  if (options.nag ?? true) addNagChecks(app);
  return { stateful, processing };
}
