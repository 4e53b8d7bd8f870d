import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { workflowConfig, type SitePurgeSettings, type WorkflowConfig, type WorkflowConfigInput } from '../../core/workflow-config.ts';
import { BackupWindowWorkflow } from './backup-window.ts';
import type { WorkflowFunctions } from './common.ts';
import { PurgeWorkflow } from './purge.ts';
import { RecallWorkflow } from './recall.ts';
import type { WorkflowFunctionName } from './state-names.ts';

// The Amazon States Language of the workflows, as CDK synthesizes them: a small stack with
// the very constructs the processing stack uses, synthesized with Template.fromStack, each
// DefinitionString resolved with placeholder ARNs. The local runner executes these, and the
// tests validate them, so what runs locally is what deploys.

export const PLACEHOLDER_ACCOUNT = '000000000000';
export const PLACEHOLDER_REGION = 'us-east-1';

export function placeholderFunctionArn(name: WorkflowFunctionName): string {
  return `arn:aws:lambda:${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}:function:ferry-${name}`;
}

/** A state machine definition (ASL) as plain JSON. */
export type AslDefinition = { StartAt: string; States: Record<string, Record<string, unknown>>; [key: string]: unknown };

type CfnResources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;

const PSEUDO: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::Region': PLACEHOLDER_REGION, 'AWS::AccountId': PLACEHOLDER_ACCOUNT, 'AWS::URLSuffix': 'amazonaws.com' };

function arnOf(resources: CfnResources, logicalId: string): string {
  const type = resources[logicalId]?.Type;
  const at = `${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}`;
  switch (type) {
    case 'AWS::StepFunctions::Activity':
      return `arn:aws:states:${at}:activity:${logicalId}`;
    case 'AWS::SNS::Topic':
      return `arn:aws:sns:${at}:${logicalId}`;
    case 'AWS::Lambda::Function':
      return `arn:aws:lambda:${at}:function:${logicalId}`;
    case 'AWS::StepFunctions::StateMachine':
      return `arn:aws:states:${at}:stateMachine:${logicalId}`;
    default:
      throw new Error(`no placeholder ARN for ${logicalId} (${type ?? 'not in the template'})`);
  }
}

/** Resolves the intrinsics a DefinitionString uses (Fn::Join, Ref, Fn::GetAtt …Arn) with placeholder ARNs. */
export function resolveIntrinsics(value: unknown, resources: CfnResources): unknown {
  if (typeof value === 'string' || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, resources));
  const o = value as Record<string, unknown>;
  if ('Fn::Join' in o) {
    const [separator, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => resolveIntrinsics(p, resources)).join(separator);
  }
  if ('Ref' in o) {
    const ref = o.Ref as string;
    return PSEUDO[ref] ?? arnOf(resources, ref);
  }
  if ('Fn::GetAtt' in o) {
    const [logicalId, attribute] = o['Fn::GetAtt'] as [string, string];
    if (attribute !== 'Arn') throw new Error(`cannot resolve Fn::GetAtt ${logicalId}.${attribute}`);
    return arnOf(resources, logicalId);
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolveIntrinsics(v, resources)]));
}

/** Every state machine of a synthesized template (`Template.fromStack(stack).toJSON()`), by logical id, as ASL. */
export function stateMachineDefinitions(template: { Resources?: CfnResources }): Record<string, AslDefinition> {
  const resources = template.Resources ?? {};
  const out: Record<string, AslDefinition> = {};
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type !== 'AWS::StepFunctions::StateMachine') continue;
    const body = resolveIntrinsics(r.Properties?.DefinitionString, resources);
    if (typeof body !== 'string') throw new Error(`state machine ${id} has no DefinitionString`);
    out[id] = JSON.parse(body) as AslDefinition;
  }
  return out;
}

export interface RenderOptions {
  site: string;
  purge: SitePurgeSettings;
  config?: WorkflowConfigInput;
}

export interface RenderedWorkflows {
  backupWindow: AslDefinition;
  purge: AslDefinition;
  recall: AslDefinition;
  config: WorkflowConfig;
  /** The activity ARN the backup window's dispatch state names. */
  activityArn: string;
}

const rendered = new Map<string, RenderedWorkflows>();

/** Synthesizes the three workflows of one site in a throwaway stack and returns their ASL (memoized per options: synthesis is pure). */
export function renderWorkflowDefinitions(options: RenderOptions): RenderedWorkflows {
  const key = JSON.stringify([options.site, options.purge, workflowConfig(options.config)]);
  let result = rendered.get(key);
  if (!result) {
    result = synthesize(options);
    rendered.set(key, result);
  }
  return structuredClone(result);
}

function synthesize(options: RenderOptions): RenderedWorkflows {
  const config = workflowConfig(options.config);
  // No CloudFormation schema validation (seconds of WASM per synth) and no construct stack traces: this stack is only read, never deployed.
  const app = new App({ builtinCloudFormationValidation: false, analyticsReporting: false, treeMetadata: false, context: { 'aws:cdk:disable-stack-trace': true } });
  const stack = new Stack(app, 'FerryWorkflowDefinitions', { env: { account: PLACEHOLDER_ACCOUNT, region: PLACEHOLDER_REGION } });
  const names: WorkflowFunctionName[] = ['lock', 'window', 'purge', 'recall'];
  const functions = Object.fromEntries(names.map((n) => [n, lambda.Function.fromFunctionArn(stack, `Fn-${n}`, placeholderFunctionArn(n))])) as WorkflowFunctions;
  const activity = new sfn.Activity(stack, 'Activity');
  const alerts = { topic: new sns.Topic(stack, 'Alerts') };
  const common = { functions, alerts, config };
  const window = new BackupWindowWorkflow(stack, 'BackupWindow', { ...common, site: options.site, activity });
  const purge = new PurgeWorkflow(stack, 'Purge', { ...common, site: options.site, purge: options.purge });
  const recall = new RecallWorkflow(stack, 'Recall', common);
  const template = Template.fromStack(stack).toJSON() as { Resources: CfnResources };
  const definitions = stateMachineDefinitions(template);
  const of = (machine: sfn.StateMachine) => {
    const id = stack.getLogicalId(machine.node.defaultChild as sfn.CfnStateMachine);
    const definition = definitions[id];
    if (!definition) throw new Error(`state machine ${id} missing from the synthesized template`);
    return definition;
  };
  return {
    backupWindow: of(window.stateMachine),
    purge: of(purge.stateMachine),
    recall: of(recall.stateMachine),
    config,
    activityArn: resolveIntrinsics(stack.resolve(activity.activityArn), template.Resources) as string,
  };
}
