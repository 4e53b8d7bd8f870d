import { RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from './config.ts';

// What every function the deployment runs on a schedule starts from (the dead-man's switch, the
// reports, the audit sealer): its own retained, KMS-encrypted log group and an execution role
// that may write that log group and nothing else yet; each construct then grants its own
// statements through `allow`, each with a Sid the infra tests and the local IAM name.

export type Allow = (sid: string, actions: string[], resources: string[], conditions?: Record<string, Record<string, unknown>>) => void;

export interface ScheduledFunctionBase {
  logGroup: logs.LogGroup;
  role: iam.Role;
  allow: Allow;
}

/** The log group (`Logs`) and role (`Role`) in `scope`, the role allowed to write the log group. */
export function scheduledFunctionBase(scope: Construct, p: { config: DeploymentConfig; logsKey: kms.IKey; roleDescription: string }): ScheduledFunctionBase {
  const logGroup = new logs.LogGroup(scope, 'Logs', { retention: p.config.logs.functionRetentionDays, encryptionKey: p.logsKey, removalPolicy: RemovalPolicy.RETAIN });
  const role = new iam.Role(scope, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: p.roleDescription });
  const allow: Allow = (sid, actions, resources, conditions) => void role.addToPolicy(new iam.PolicyStatement({ sid, actions, resources, conditions }));
  allow('OwnLogGroup', ['logs:CreateLogStream', 'logs:PutLogEvents'], [logGroup.logGroupArn]);
  return { logGroup, role, allow };
}
