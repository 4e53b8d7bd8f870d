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

/** Decisions kept at most (then all are dropped): one per principal, action, resource and context seen. */
const DECISIONS_MAX = 20_000;

export class Authorizer {
  /**
   * Decisions already made, by the identity policies they were made with (a principal whose
   * policies are replaced gets a new entry) and then by principal, action, resource, context and
   * resource policy; all dropped when the deployment's policyVersion moves (revisePolicies), so a
   * changed or revoked grant applies to the next request. Evaluating the synthesized policies
   * is the same function of these inputs every time: the cache changes the cost, not the answer.
   */
  private decisions = new WeakMap<PolicyDocument[], Map<string, Denial | undefined>>();
  private decisionCount = 0;
  private version: number;

  constructor(private readonly deployment: LocalDeployment) {
    this.version = deployment.policyVersion;
  }

  /** The decision for `key` under `identity`, made by `decide` unless already known for the current policy version. */
  private remembered(identity: PolicyDocument[], key: string, decide: () => Denial | undefined): Denial | undefined {
    if (this.version !== this.deployment.policyVersion || this.decisionCount >= DECISIONS_MAX) {
      this.decisions = new WeakMap();
      this.decisionCount = 0;
      this.version = this.deployment.policyVersion;
    }
    let known = this.decisions.get(identity);
    if (!known) this.decisions.set(identity, (known = new Map()));
    if (known.has(key)) return known.get(key);
    const decision = decide();
    known.set(key, decision);
    this.decisionCount++;
    return decision;
  }

  private message(principalArn: string, check: AccessCheck, decision: Denial['decision'], kind: string): string {
    // AWS's words: "with an explicit deny in an identity-based policy", "because no identity-based policy allows …".
    const none = kind.replace(/^(an|the) /, '').replace(' or an ', ' or ');
    const why = decision === 'explicit-deny' ? `with an explicit deny in ${kind}` : `because no ${none} allows the ${check.action} action`;
    return `User: ${principalArn} is not authorized to perform: ${check.action} on resource: "${check.resource}" ${why}`;
  }

  /** undefined when allowed, else why not. `resourcePolicy` is the bucket policy for S3 checks. */
  check(principalArn: string, identity: PolicyDocument[], check: AccessCheck, resourcePolicy?: PolicyDocument, knows?: (key: string) => boolean): Denial | undefined {
    // The resource policy is the deployment's bucket policy when given (its changes move policyVersion too).
    const key = `${principalArn}\n${check.action}\n${check.resource}\n${JSON.stringify(check.context)}\n${resourcePolicy ? 'with-resource-policy' : ''}`;
    return this.remembered(identity, key, () => this.evaluateCheck(principalArn, identity, check, resourcePolicy, knows));
  }

  private evaluateCheck(principalArn: string, identity: PolicyDocument[], check: AccessCheck, resourcePolicy?: PolicyDocument, knows?: (key: string) => boolean): Denial | undefined {
    const context = { ...commonContext(principalArn, this.deployment.env.account), ...check.context };
    const policies = resourcePolicy ? [...identity, resourcePolicy] : identity;
    const principal = { type: 'AWS' as const, id: principalArn };
    const { decision } = evaluate(policies, { action: check.action, resource: check.resource, context, principal, ...(knows ? { knows } : {}) });
    if (decision === 'allow') return undefined;
    const kind = resourcePolicy ? 'an identity-based or resource-based policy' : 'an identity-based policy';
    return { action: check.action, resource: check.resource, decision, message: this.message(principalArn, check, decision, kind) };
  }

  /** S3 using the data key for the caller (SSE-KMS): kms:ViaService is S3 in the deployment's region. */
  checkDataKey(principalArn: string, identity: PolicyDocument[], action: string): Denial | undefined {
    return this.remembered(identity, `${principalArn}\n${action}\ndata-key`, () => this.evaluateDataKey(principalArn, identity, action));
  }

  private evaluateDataKey(principalArn: string, identity: PolicyDocument[], action: string): Denial | undefined {
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
