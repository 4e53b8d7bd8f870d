import { evaluate, type Decision, type PolicyDocument } from '../../infra/policy-eval.ts';
import type { LocalDeployment } from './deployment.ts';
import type { AccessCheck } from './s3-request.ts';

// The IAM decision for one principal and one check, from the deployment's synthesized policies
// (infra/policy-eval.ts): identity policies, plus the bucket policy for S3 (same account: an
// allow in either suffices, a deny in either wins) and, for what S3 does with the data key on
// the caller's behalf, the key policy (its grant to the account root delegates to IAM policies).

export interface Denial {
  action: string;
  resource: string;
  decision: Exclude<Decision, 'allow'>;
  message: string;
}

/** Context every request carries. The gateway listens on loopback only, which stands for TLS 1.3. */
function commonContext(principalArn: string, account: string): AccessCheck['context'] {
  return { 'aws:PrincipalArn': principalArn, 'aws:PrincipalAccount': account, 'aws:SecureTransport': true, 'aws:SourceIp': '127.0.0.1' };
}

export class Authorizer {
  constructor(private readonly deployment: LocalDeployment) {}

  private message(principalArn: string, check: AccessCheck, decision: Denial['decision'], kind: string): string {
    const why = decision === 'explicit-deny' ? `with an explicit deny in ${kind}` : `because no ${kind} allows the ${check.action} action`;
    return `User: ${principalArn} is not authorized to perform: ${check.action} on resource: "${check.resource}" ${why}`;
  }

  /** undefined when allowed, else why not. `resourcePolicy` is the bucket policy for S3 checks. */
  check(principalArn: string, identity: PolicyDocument[], check: AccessCheck, resourcePolicy?: PolicyDocument): Denial | undefined {
    const context = { ...commonContext(principalArn, this.deployment.env.account), ...check.context };
    const policies = resourcePolicy ? [...identity, resourcePolicy] : identity;
    const principal = { type: 'AWS' as const, id: principalArn };
    const { decision } = evaluate(policies, { action: check.action, resource: check.resource, context, principal });
    if (decision === 'allow') return undefined;
    const kind = resourcePolicy ? 'an identity-based or resource-based policy' : 'an identity-based policy';
    return { action: check.action, resource: check.resource, decision, message: this.message(principalArn, check, decision, kind) };
  }

  /** S3 using the data key for the caller (SSE-KMS): kms:ViaService is S3 in the deployment's region. */
  checkDataKey(principalArn: string, identity: PolicyDocument[], action: string): Denial | undefined {
    const { env, dataKeyArn, dataKeyPolicy } = this.deployment;
    const kmsContext = { 'kms:ViaService': `s3.${env.region}.amazonaws.com`, 'kms:CallerAccount': env.account };
    const check: AccessCheck = { action, resource: dataKeyArn, context: kmsContext };
    const context = { ...commonContext(principalArn, env.account), ...check.context };
    const asCaller = (id: string, policies: PolicyDocument[]) =>
      evaluate(policies, { action, resource: dataKeyArn, context, principal: { type: 'AWS', id } }).decision;
    const byKey = asCaller(principalArn, [dataKeyPolicy]);
    const byIdentity = asCaller(principalArn, identity);
    const delegated = asCaller(`arn:${env.partition}:iam::${env.account}:root`, [dataKeyPolicy]) === 'allow';
    const denied = byKey === 'explicit-deny' || byIdentity === 'explicit-deny';
    if (!denied && (byKey === 'allow' || (delegated && byIdentity === 'allow'))) return undefined;
    const decision = denied ? 'explicit-deny' : 'implicit-deny';
    const message = this.message(principalArn, check, decision, 'the key policy or an identity-based policy');
    return { action, resource: dataKeyArn, decision, message };
  }
}
