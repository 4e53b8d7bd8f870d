import { LOCAL_ENV, TemplateResolver } from '../infra/cfn-resolve.ts';
import { isAllowed } from '../infra/policy-eval.ts';
import { deployedFunctionArn, functionResource } from './function-environment.ts';
import type { DeploymentSnapshot } from './iam-gateway/deployment.ts';

// What the synthesized deployment says about a function's asynchronous invocations, for the
// local Lambda endpoint: its timeout (Lambda stops the invocation there), and the on-failure
// destination of its EventInvokeConfig (where Lambda sends the record of a failed invocation),
// with whether its execution role may invoke that destination, as Lambda requires. Read from
// the templates, so what the local cloud delivers is what is deployed. Only a function is
// modelled as a destination (SQS, SNS, EventBridge and S3 destinations fail the start).

/** A function's on-failure destination: the destination function, and whether the source's role may invoke it. */
export interface FailureDestination {
  /** The destination's principal name without `function:` (its `function:{name}` role). */
  name: string;
  arn: string;
  /** False when the source's execution role lacks lambda:InvokeFunction on it: Lambda then drops the record. */
  allowed: boolean;
}

/** The function's timeout in seconds (the template's Timeout; Lambda's default 3 s when absent). */
export function functionTimeoutSeconds(snapshot: DeploymentSnapshot, name: string): number {
  const timeout = functionResource(snapshot, name).properties.Timeout;
  return typeof timeout === 'number' ? timeout : 3;
}

/** The function whose resource has logical id `id` in `stack`, by its role's principal name. */
export function functionNamed(snapshot: DeploymentSnapshot, stack: string, id: string): string | undefined {
  const resource = snapshot.templates[stack]?.Resources?.[id];
  if (resource?.Type !== 'AWS::Lambda::Function') return undefined;
  const roleId = (resource.Properties?.Role as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt']?.[0];
  const principal = Object.entries(snapshot.roles).find(([p, [s, r]]) => p.startsWith('function:') && s === stack && r === roleId);
  return principal?.[0].slice('function:'.length);
}

/** The on-failure destination of function `name`'s asynchronous invocations, or undefined when none is configured. */
export function failureDestination(snapshot: DeploymentSnapshot, name: string): FailureDestination | undefined {
  const { stack, id, roleId } = functionResource(snapshot, name);
  const configs = Object.values(snapshot.templates[stack]?.Resources ?? {}).filter(
    (r) => r.Type === 'AWS::Lambda::EventInvokeConfig' && (r.Properties?.FunctionName as { Ref?: string } | undefined)?.Ref === id,
  );
  const target = (configs[0]?.Properties?.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)?.OnFailure?.Destination;
  if (target === undefined) return undefined;
  const [targetId, attribute] = (target as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'] ?? [];
  const destination = targetId && attribute === 'Arn' ? functionNamed(snapshot, stack, targetId) : undefined;
  if (!destination) throw new Error(`function ${name}: its on-failure destination ${JSON.stringify(target)} is not a function of the deployment; the local cloud delivers to functions only`);
  const arn = deployedFunctionArn(snapshot, destination);
  const policies = new TemplateResolver(snapshot.templates, LOCAL_ENV).policiesOfRole(stack, roleId);
  return { name: destination, arn, allowed: isAllowed(policies, { action: 'lambda:InvokeFunction', resource: arn }) };
}
