import { readFileSync } from 'node:fs';
import { LOCAL_ENV, TemplateResolver } from '../infra/cfn-resolve.ts';
import { GENERATED_DEPLOYMENT_FILE, type DeploymentSnapshot } from './iam-gateway/deployment.ts';

// The environment of a deployed function on the local cloud, read from the synthesized
// deployment (local/iam-deployment.generated.json, or a snapshot a test synthesized): every
// variable the CDK app sets on the function, and only those. A literal is passed as CDK sets
// it; a value CloudFormation computes (the bucket's name, the table's, the cursor secret, the
// recall state machine's ARN) is replaced by its local stand-in. A variable the app sets that
// the local cloud cannot stand in for fails the start, naming it, instead of running the
// function without it.

/** Local values of the variables the CDK app computes. */
export interface LocalValues {
  BUCKET: string;
  TABLE: string;
  CURSOR_KEY?: string;
  RECALL_STATE_MACHINE_ARN?: string;
  /** The console function's user pool (the local Cognito stand-in) and each site's replay URL (JSON). */
  CONSOLE_ISSUER?: string;
  CONSOLE_CLIENT_ID?: string;
  CONSOLE_REPLAY_URLS?: string;
  /** The export function's name, which the console invokes (the local Lambda endpoint serves it). */
  EXPORT_FUNCTION_NAME?: string;
  /** The alert topic the scheduled functions publish to (a local SNS stand-in's topic). */
  TOPIC_ARN?: string;
  /** The console function's role name, which replay takes an officer's name from (resolved as the local IAM names the role). */
  CONSOLE_ROLE_NAME?: string;
  /** The sites' listener roles, which replay refuses a download (JSON, resolved as the local IAM names the roles). */
  LISTENER_ROLE_NAMES?: string;
}

let generated: DeploymentSnapshot | undefined;

/** The build-time snapshot of the deployment (its function definitions do not depend on the sites). */
export function generatedSnapshot(): DeploymentSnapshot {
  generated ??= JSON.parse(readFileSync(GENERATED_DEPLOYMENT_FILE, 'utf8')) as DeploymentSnapshot;
  return generated;
}

/** Logical id and stack of the function whose execution role is the principal `function:{name}`. */
export function functionResource(
  snapshot: DeploymentSnapshot,
  name: string,
): { stack: string; id: string; roleId: string; variables: Record<string, unknown>; properties: Record<string, unknown> } {
  const role = snapshot.roles[`function:${name}`];
  if (!role) throw new Error(`the synthesized deployment has no function ${name}`);
  const [stack, roleId] = role;
  const found = Object.entries(snapshot.templates[stack]?.Resources ?? {}).filter(([, r]) => {
    const arn = (r.Properties?.Role as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt'];
    return r.Type === 'AWS::Lambda::Function' && arn?.[0] === roleId;
  });
  if (found.length !== 1) {
    throw new Error(`the synthesized deployment has ${found.length} functions with the role of ${name}, expected one`);
  }
  const [id, resource] = found[0]!;
  const environment = resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined;
  return { stack, id, roleId, variables: environment?.Variables ?? {}, properties: resource.Properties ?? {} };
}

/** The deployed ARN of the function `name` (in the fake account the local IAM evaluates in). */
export function deployedFunctionArn(snapshot: DeploymentSnapshot, name: string): string {
  const { stack, id } = functionResource(snapshot, name);
  return new TemplateResolver(snapshot.templates, LOCAL_ENV).resolveString(stack, { 'Fn::GetAtt': [id, 'Arn'] });
}

/** The deployed value of the variable `variable` the CDK app sets on function `name` (resolved in the fake account), or undefined when it sets none. */
export function deployedVariable(snapshot: DeploymentSnapshot, name: string, variable: string): string | undefined {
  const { stack, variables } = functionResource(snapshot, name);
  const value = variables[variable];
  return value === undefined ? undefined : new TemplateResolver(snapshot.templates, LOCAL_ENV).resolveString(stack, value as never);
}

/** The deployed recall state machine's ARN, as the catalogue function's RECALL_STATE_MACHINE_ARN resolves. */
export function deployedRecallStateMachineArn(snapshot: DeploymentSnapshot): string | undefined {
  return deployedVariable(snapshot, 'catalogue', 'RECALL_STATE_MACHINE_ARN');
}

/** The variables CDK sets on function `name`, with local values for what CloudFormation computes. */
export function functionEnvironment(
  name: string,
  local: LocalValues,
  snapshot: DeploymentSnapshot = generatedSnapshot(),
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [variable, value] of Object.entries(functionResource(snapshot, name).variables)) {
    if (typeof value === 'string') env[variable] = value;
    else if (local[variable as keyof LocalValues] !== undefined) env[variable] = local[variable as keyof LocalValues]!;
    else {
      throw new Error(
        `function ${name}: the CDK app sets ${variable} from ${JSON.stringify(value)}, which the local cloud has no stand-in for ` +
          '(add it to local/function-environment.ts)',
      );
    }
  }
  return env;
}
