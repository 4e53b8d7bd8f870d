import { CfnOutput, Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { CfnProfile } from 'aws-cdk-lib/aws-rolesanywhere';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { SiteConfig } from './config.ts';
import { acknowledgeWildcardResource } from './nag.ts';
import { auditPrefix } from '../core/audit-trail.ts';
import { partialKeyPatterns, sitePrefixes } from '../core/layout.ts';
import { bucketArn as bucketArnOf, objectsArn } from './names.ts';
import { agentStatements, drApiStatements, drReaderStatements, listenerStatements, officerAuditStatements, officerStatements, type PartialLock, type SiteEntryPoints } from './site-policies.ts';

// One site's identities in the cloud: its activity (the agent polls it; no inbound connection
// to the site), its agent role (add-only, see site-policies.ts) and its DR read role.
//
// How an agent host gets credentials for its role (docs/deploy.md has the steps):
//  - default: an IAM user per site whose only permission is sts:AssumeRole on this role, its
//    access key in the agent host's ~/.aws/credentials, and a profile with `role_arn` and
//    `external_id`; the SDK assumes the role and refreshes the session by itself;
//  - with `agent.rolesAnywhereTrustAnchorArn`: IAM Roles Anywhere, the host holds an X.509
//    certificate whose CN is `ferry-agent-{site}` and `aws_signing_helper` is its
//    credential_process; no long-lived key anywhere.

export interface SiteAccessProps {
  site: SiteConfig;
  bucketName: string;
  dataKeyArn: string;
  /** The catalogue table: the officer reads its site's audit ledger there (`ferry audit verify|search`). */
  tableArn: string;
  stackPrefix: string;
  /** The catalogue API routes and replay URL of this site. */
  entryPoints: SiteEntryPoints;
  /** The short lock the agent may give its binlog partials; absent: none (they keep the bucket's default). */
  partialLock?: PartialLock;
}

/** The whole policy of a role whose site no longer lets it in (retired: the agent; off-boarded: its people): nothing, denied outright so no broader policy attached later grants it. */
function reachesNothing(): iam.PolicyStatement {
  return new iam.PolicyStatement({ sid: 'SiteClosedReachesNothing', effect: iam.Effect.DENY, actions: ['*'], resources: ['*'] });
}

export function defaultExternalId(site: string): string {
  return `ferry-agent-${site}`;
}

function toPrincipal(value: string): iam.PrincipalBase {
  return /^\d{12}$/.test(value) ? new iam.AccountPrincipal(value) : new iam.ArnPrincipal(value);
}

export class SiteAccess extends Construct {
  readonly site: string;
  readonly activity: sfn.Activity;
  readonly agentRole: iam.Role;
  readonly drRole: iam.Role;
  readonly officerRole: iam.Role;
  /** Search, play and recall the site's calls, nothing else (the console's listener-<site> on the command line). */
  readonly listenerRole: iam.Role;
  readonly externalId: string;

  constructor(scope: Construct, id: string, props: SiteAccessProps) {
    super(scope, id);
    const { site, bucketName, dataKeyArn } = props;
    this.site = site.name;
    this.externalId = site.agent.externalId ?? defaultExternalId(site.name);
    const scopeOf = { site: site.name, bucketName, dataKeyArn };

    this.activity = new sfn.Activity(this, 'Activity', { activityName: `${props.stackPrefix}-${site.name}-agent` });

    this.agentRole = new iam.Role(this, 'AgentRole', {
      description: `Ferry agent of site ${site.name}: add objects under its own prefixes, poll its own activity`,
      assumedBy: (site.agent.principal ? toPrincipal(site.agent.principal) : new iam.AccountRootPrincipal()).withConditions({
        StringEquals: { 'sts:ExternalId': this.externalId },
      }),
      maxSessionDuration: Duration.hours(12),
    });
    if (site.agent.rolesAnywhereTrustAnchorArn) this.trustRolesAnywhere(site.name, site.agent.rolesAnywhereTrustAnchorArn, props.stackPrefix, !site.retired);
    // A retired site no longer ships: whoever still holds its agent's key or certificate (a
    // customer off-boarded, a host not wiped) reaches nothing; its data stays for its purge.
    const agentPolicy = site.retired ? [reachesNothing()] : agentStatements({ ...scopeOf, activityArn: this.activity.activityArn, ...(props.partialLock ? { partialLock: props.partialLock } : {}) });
    for (const statement of agentPolicy) this.agentRole.addToPolicy(statement);

    this.drRole = new iam.Role(this, 'DrRole', {
      description: `Ferry DR reader of site ${site.name}: read-only on its prefixes`,
      // Nobody listed: principals of this account tagged ferry-dr-site={site} (and allowed sts:AssumeRole) may use it.
      assumedBy:
        site.drReaders.length > 0
          ? new iam.CompositePrincipal(...site.drReaders.map(toPrincipal))
          : new iam.AccountRootPrincipal().withConditions({ StringEquals: { 'aws:PrincipalTag/ferry-dr-site': site.name } }),
    });
    // An off-boarded site's people (its customer) reach nothing; its calls stay for the deployment's operators.
    const people = (statements: iam.PolicyStatement[]) => (site.offboarded ? [reachesNothing()] : statements);
    const drStatements = people([...drReaderStatements(scopeOf), ...drApiStatements(site.name, props.entryPoints)]);
    for (const statement of drStatements) this.drRole.addToPolicy(statement);

    this.officerRole = new iam.Role(this, 'OfficerRole', {
      description: `Ferry compliance officer of site ${site.name}: search, replay and recall its recordings; legal holds and cases; read its audit trail`,
      // Nobody listed: principals of this account tagged ferry-officer-site={site} (and allowed sts:AssumeRole) may use it.
      assumedBy:
        site.officers.length > 0
          ? new iam.CompositePrincipal(...site.officers.map(toPrincipal))
          : new iam.AccountRootPrincipal().withConditions({ StringEquals: { 'aws:PrincipalTag/ferry-officer-site': site.name } }),
      maxSessionDuration: Duration.hours(12),
    });
    for (const statement of people([...officerStatements(site.name, props.entryPoints), ...officerAuditStatements({ ...scopeOf, tableArn: props.tableArn })])) this.officerRole.addToPolicy(statement);
    this.listenerRole = new iam.Role(this, 'ListenerRole', {
      description: `Ferry listener of site ${site.name}: search, play and recall its recordings; no download, legal holds, cases, erasure or audit trail`,
      // Nobody listed: principals of this account tagged ferry-listener-site={site} (and allowed sts:AssumeRole) may use it.
      assumedBy:
        site.listeners.length > 0
          ? new iam.CompositePrincipal(...site.listeners.map(toPrincipal))
          : new iam.AccountRootPrincipal().withConditions({ StringEquals: { 'aws:PrincipalTag/ferry-listener-site': site.name } }),
      maxSessionDuration: Duration.hours(12),
    });
    for (const statement of people(listenerStatements(site.name, props.entryPoints))) this.listenerRole.addToPolicy(statement);
    this.acknowledgeRoutes(site.name, props.entryPoints);

    for (const prefix of sitePrefixes(site.name)) {
      const arn = objectsArn(bucketName, prefix);
      if (!site.retired) acknowledgeWildcardResource(this.agentRole, arn, `the agent of site ${site.name} adds and reads back objects under its own prefix ${prefix} only; keys are new per pack, artefact and manifest`);
      acknowledgeWildcardResource(this.drRole, arn, `the DR reader of site ${site.name} reads any object under ${prefix} and nothing outside that site`);
    }
    acknowledgeWildcardResource(this.officerRole, objectsArn(bucketName, auditPrefix(site.name)), `the officer of site ${site.name} reads the sealed audit records of that site (one object per record) to verify its chain, and of no other site`);
    if (props.partialLock && !site.retired) {
      for (const pattern of partialKeyPatterns(site.name)) {
        acknowledgeWildcardResource(this.agentRole, `${bucketArnOf(bucketName)}/${pattern}`, `the agent of site ${site.name} may give its own binlog partials and their manifests (new keys, one per partial) a lock of at most ${props.partialLock.days} day(s) in the bucket's mode, and no other object any retention`);
      }
    }
    this.outputs();
  }

  /** The per-site route wildcards (`…/recordings/*`): one recording id, or a source name, of this site only. */
  private acknowledgeRoutes(site: string, entry: SiteEntryPoints): void {
    const officerWhy = `the officer of site ${site} reads or recalls any recording of that site and of no other`;
    acknowledgeWildcardResource(this.officerRole, entry.invokeArn('GET', `/sites/${site}/recordings/*`), officerWhy);
    acknowledgeWildcardResource(this.officerRole, entry.invokeArn('POST', `/sites/${site}/recordings/*/recall`), officerWhy);
    const listenerWhy = `the listener of site ${site} reads, plays or recalls any recording of that site and of no other`;
    acknowledgeWildcardResource(this.listenerRole, entry.invokeArn('GET', `/sites/${site}/recordings/*`), listenerWhy);
    acknowledgeWildcardResource(this.listenerRole, entry.invokeArn('POST', `/sites/${site}/recordings/*/recall`), listenerWhy);
    const caseWhy = `the officer of site ${site} reads and fills any case of that site (one case id) and of no other; every change is audited as the caller`;
    acknowledgeWildcardResource(this.officerRole, entry.invokeArn('GET', `/sites/${site}/cases/*`), caseWhy);
    acknowledgeWildcardResource(this.officerRole, entry.invokeArn('POST', `/sites/${site}/cases/*/calls`), caseWhy);
    const drWhy = `the DR reader of site ${site} plans restores of any source and reads any recording of that site only`;
    for (const path of [`/sites/${site}/recordings/*`, `/sites/${site}/sources/*/restore-plan`]) {
      acknowledgeWildcardResource(this.drRole, entry.invokeArn('GET', path), drWhy);
    }
  }

  private trustRolesAnywhere(site: string, trustAnchorArn: string, stackPrefix: string, enabled: boolean): void {
    this.agentRole.assumeRolePolicy?.addStatements(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('rolesanywhere.amazonaws.com')],
        actions: ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity'],
        conditions: {
          ArnEquals: { 'aws:SourceArn': trustAnchorArn },
          StringEquals: { 'aws:PrincipalTag/x509Subject/CN': defaultExternalId(site) },
        },
      }),
    );
    const profile = new CfnProfile(this, 'RolesAnywhereProfile', {
      name: `${stackPrefix}-agent-${site}`,
      roleArns: [this.agentRole.roleArn],
      durationSeconds: 3600,
      // A retired site's profile vends no session at all (its role could do nothing with one).
      enabled,
    });
    new CfnOutput(this, 'RolesAnywhereProfileArn', { key: `RolesAnywhereProfileArn${site.replace(/[^A-Za-z0-9]/g, '')}`, value: profile.attrProfileArn, description: `--profile-arn of site ${site}'s aws_signing_helper` });
  }

  private outputs(): void {
    const key = this.site.replace(/[^A-Za-z0-9]/g, '');
    new CfnOutput(this, 'AgentRoleArn', { key: `AgentRoleArn${key}`, value: this.agentRole.roleArn, description: `role_arn of site ${this.site}'s agent profile` });
    new CfnOutput(this, 'AgentExternalId', { key: `AgentExternalId${key}`, value: this.externalId, description: `external_id of site ${this.site}'s agent profile` });
    new CfnOutput(this, 'ActivityArn', { key: `ActivityArn${key}`, value: this.activity.activityArn, description: `activity site ${this.site}'s agent polls` });
    new CfnOutput(this, 'DrRoleArn', { key: `DrRoleArn${key}`, value: this.drRole.roleArn, description: `read-only DR role of site ${this.site}` });
    new CfnOutput(this, 'OfficerRoleArn', {
      key: `OfficerRoleArn${key}`,
      value: this.officerRole.roleArn,
      description: `compliance officer role of site ${this.site}`,
    });
    new CfnOutput(this, 'ListenerRoleArn', { key: `ListenerRoleArn${key}`, value: this.listenerRole.roleArn, description: `listener role of site ${this.site} (search, play, recall)` });
  }
}
