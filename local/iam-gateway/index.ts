import { join } from 'node:path';
import { CATALOGUE_TABLE } from '../../core/catalogue-table.ts';
import type { Clock } from '../../core/clock.ts';
import type { CfnTemplate } from '../../infra/cfn-resolve.ts';
import { CredentialTable, type LocalCredentials } from './credentials.ts';
import { loadLocalDeployment, type DeploymentSnapshot, type LocalDeployment, type PrincipalName } from './deployment.ts';
export { revisePolicies, type PolicyRevision } from './deployment.ts';
import { startIamGateway, type GatewayOptions, type IamGateway } from './gateway.ts';

// IAM for the embedded local cloud. Owns: the deployment's principals and policies as the CDK
// app synthesizes them (deployment.ts), a credential table per local cloud (credentials.ts),
// SigV4 verification (sigv4.ts), the mapping of requests to IAM (s3-request.ts,
// json-request.ts), the decision (authorizer.ts) and the proxies (gateway.ts).
// Imports infra/ (policy evaluator, resolver, the app) and core/; nothing from agent/ or functions/.

export { FLEET_READER, OFFICER, type LocalDeployment, type PrincipalName } from './deployment.ts';
export type { LocalCredentials } from './credentials.ts';

export interface LocalIamOptions {
  /** Where the credential table is written (`credentials.json`, owner-only). */
  directory: string;
  sites: string[];
  /** The local names the stand-ins use, mapped onto the deployed bucket and table. */
  bucket: string;
  table: string;
  /** Test hook: edit the synthesized templates (e.g. strip a statement) before policies are read. */
  editTemplates?: (templates: Record<string, CfnTemplate>) => void;
  /** The synthesized deployment (local/iam-gateway/synthesize.ts); absent: the generated one for the local sites. */
  snapshot?: DeploymentSnapshot;
  clock?: Clock;
  onDecision?: GatewayOptions['onDecision'];
}

export interface LocalIam {
  deployment: LocalDeployment;
  credentials: CredentialTable;
  credentialsFile: string;
  /** Credentials of one principal (`agent:{site}`, `dr:{site}`, `function:{name}`, `officer`). */
  credentialsOf(principal: PrincipalName): LocalCredentials;
  /** A gateway in front of one stand-in; stopped with the rest. */
  gateway(
    service: GatewayOptions['service'],
    upstream: string,
    upstreamCredentials: LocalCredentials,
    activities?: Record<string, string>,
  ): Promise<IamGateway>;
  stop(): Promise<void>;
}

export async function startLocalIam(options: LocalIamOptions): Promise<LocalIam> {
  const deployment = loadLocalDeployment({ sites: options.sites, editTemplates: options.editTemplates, snapshot: options.snapshot });
  const credentials = CredentialTable.generate([...deployment.principals.values()]);
  const credentialsFile = join(options.directory, 'credentials.json');
  credentials.write(credentialsFile);
  const indexes = Object.fromEntries(CATALOGUE_TABLE.globalSecondaryIndexes.map((i) => [i.indexName, i.partitionKey.name]));
  const gateways: IamGateway[] = [];
  return {
    deployment,
    credentials,
    credentialsFile,
    credentialsOf: (principal) => credentials.of(principal),
    async gateway(service, upstream, upstreamCredentials, activities) {
      const gateway = await startIamGateway({
        service,
        upstream,
        upstreamCredentials,
        deployment,
        credentials,
        buckets: { [options.bucket]: deployment.bucketName },
        tables: { [options.table]: { arn: deployment.tableArn, partitionKey: CATALOGUE_TABLE.partitionKey.name, indexes } },
        activities,
        clock: options.clock,
        onDecision: options.onDecision,
      });
      gateways.push(gateway);
      return gateway;
    },
    async stop() {
      await Promise.all(gateways.splice(0).map((g) => g.stop()));
    },
  };
}
