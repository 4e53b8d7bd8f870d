import { replayAliasName } from '../core/replay.ts';
import type { PolicyDocument } from '../infra/policy-eval.ts';
import { LOCAL_ENV, TemplateResolver } from '../infra/cfn-resolve.ts';
import { deployedFunctionArn } from './function-environment.ts';
import { Authorizer } from './iam-gateway/authorizer.ts';
import type { CredentialTable, LocalCredentials } from './iam-gateway/credentials.ts';
import type { DeploymentSnapshot, LocalDeployment } from './iam-gateway/deployment.ts';
import type { AccessCheck } from './iam-gateway/s3-request.ts';

// IAM at the local catalogue API and replay URL, as AWS authorizes them: the SigV4 key id is
// looked up in the local credential table (its deployment principal), and the request goes
// through only if that principal's synthesized policies allow what the front door asks for:
//  - the catalogue API (HTTP API, IAM authorization): execute-api:Invoke on the route's ARN,
//    arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}{path};
//  - the replay URL (a Function URL, AWS_IAM auth): lambda:InvokeFunctionUrl and
//    lambda:InvokeFunction on the site's replay alias (each site has its own URL on its alias;
//    the one local replay endpoint stands for all of them, the site in the path picks the alias).
// Evaluated by the IAM gateway's authorizer (infra/policy-eval.ts), never a second evaluator.
// The local cloud's own key (cloud.json) stands for the account administrator who deployed the
// stack (AdministratorAccess): allowed everything, and named so in the audit trail.

/** Where the API and the replay function are in the deployment (the fake account the local IAM evaluates in). */
export interface DeployedEntryPoints {
  /** `arn:…:execute-api:{region}:{account}:{apiId}/{stage}` */
  apiArnPrefix: string;
  /** The replay function's unqualified ARN. */
  replayFunctionArn: string;
}

export function deployedEntryPoints(snapshot: DeploymentSnapshot): DeployedEntryPoints {
  const resources = Object.entries(snapshot.templates[snapshot.processing]?.Resources ?? {});
  const api = resources.filter(([, r]) => r.Type === 'AWS::ApiGatewayV2::Api').map(([id]) => id);
  const stage = resources.find(([, r]) => r.Type === 'AWS::ApiGatewayV2::Stage')?.[1].Properties?.StageName;
  if (api.length !== 1 || typeof stage !== 'string') throw new Error('the synthesized deployment has no single HTTP API with a stage');
  const apiId = new TemplateResolver(snapshot.templates, LOCAL_ENV).resolveString(snapshot.processing, { Ref: api[0]! });
  const { partition, region, account } = LOCAL_ENV;
  return {
    apiArnPrefix: `arn:${partition}:execute-api:${region}:${account}:${apiId}/${stage}`,
    replayFunctionArn: deployedFunctionArn(snapshot, 'replay'),
  };
}

/** The one place a front-door request becomes IAM checks. */
export const frontDoorChecks = {
  /** A catalogue API request: its method and raw path, as API Gateway puts them in the ARN. */
  api(entry: DeployedEntryPoints, method: string, path: string): AccessCheck[] {
    return [{ action: 'execute-api:Invoke', resource: `${entry.apiArnPrefix}/${method.toUpperCase()}${path}`, context: {} }];
  },
  /** A replay URL request for `site`: both actions a Function URL created since October 2025 needs. */
  replay(entry: DeployedEntryPoints, site: string): AccessCheck[] {
    const resource = replayAliasArn(entry, site);
    return [
      { action: 'lambda:InvokeFunctionUrl', resource, context: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
      { action: 'lambda:InvokeFunction', resource, context: { 'lambda:InvokedViaFunctionUrl': true } },
    ];
  },
};

export function replayAliasArn(entry: DeployedEntryPoints, site: string): string {
  return `${entry.replayFunctionArn}:${replayAliasName(site)}`;
}

/** What a front door needs of the local IAM. */
export interface FrontDoorIam {
  deployment: LocalDeployment;
  credentials: CredentialTable;
  entryPoints: DeployedEntryPoints;
  /** Keys that stand for the account administrator (the local cloud's own key). */
  administrators: LocalCredentials[];
}

/** Who a verified key is, and whether IAM lets it through. */
export type AccessVerdict = { allowed: true; principal: string } | { allowed: false; message: string };

// One array for every request: the authorizer keeps its decisions by the identity policies' array.
const ADMINISTRATOR_POLICIES: PolicyDocument[] = [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }];

export class FrontDoorAccess {
  private readonly authorizer: Authorizer;
  private readonly administrators: Set<string>;

  constructor(private readonly iam: FrontDoorIam) {
    this.authorizer = new Authorizer(iam.deployment);
    this.administrators = new Set(iam.administrators.map((c) => c.accessKeyId));
  }

  /** Secret by key id: every principal of the deployment, and the administrator's key. */
  secrets(): Map<string, string> {
    const all = [...this.iam.credentials.entries(), ...this.iam.administrators];
    return new Map(all.map((c) => [c.accessKeyId, c.secretAccessKey]));
  }

  /** The caller's ARN, as the handlers see it (requestContext.authorizer.iam.userArn). */
  private administratorArn(): string {
    const { partition, account } = this.iam.deployment.env;
    return `arn:${partition}:iam::${account}:role/local-administrator`;
  }

  /** A catalogue API request (method and raw path). */
  api(accessKeyId: string, method: string, path: string): AccessVerdict {
    return this.decide(accessKeyId, frontDoorChecks.api(this.iam.entryPoints, method, path));
  }

  /** A replay URL request for `site`. */
  replay(accessKeyId: string, site: string): AccessVerdict {
    return this.decide(accessKeyId, frontDoorChecks.replay(this.iam.entryPoints, site));
  }

  /** The site's replay alias: what the replay function is invoked through. */
  replayAliasArn(site: string): string {
    return replayAliasArn(this.iam.entryPoints, site);
  }

  decide(accessKeyId: string, checks: AccessCheck[]): AccessVerdict {
    if (this.administrators.has(accessKeyId)) {
      const denial = checks.map((c) => this.authorizer.check(this.administratorArn(), ADMINISTRATOR_POLICIES, c)).find(Boolean);
      return denial ? { allowed: false, message: denial.message } : { allowed: true, principal: this.administratorArn() };
    }
    const caller = this.iam.credentials.lookup(accessKeyId);
    if (!caller) {
      return { allowed: false, message: `The security token included in the request is invalid: unknown access key ${accessKeyId}` };
    }
    const policies = this.iam.deployment.principals.get(caller.principal)?.policies ?? [];
    for (const check of checks) {
      const denial = this.authorizer.check(caller.arn, policies, check);
      if (denial) return { allowed: false, message: denial.message };
    }
    return { allowed: true, principal: caller.arn };
  }
}
