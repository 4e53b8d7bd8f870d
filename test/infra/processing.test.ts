import { Match } from 'aws-cdk-lib/assertions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { beforeAll, describe, expect, it } from 'vitest';
import { FAKE_ENV } from '../../infra/cfn-resolve.ts';
import { API_POST_ROUTES, API_ROUTES } from '../../infra/catalogue-api.ts';
import { DEFAULT_CONFIG } from '../../infra/config.ts';
import type { WorkflowContext } from '../../infra/extension.ts';
import { isAllowed, type PolicyDocument } from '../../infra/policy-eval.ts';
import { logicalId, synthFerry, type Synthesized } from './fixture.ts';

// The invariants of the processing stack: functions, their least-privilege roles, the
// authenticated entry points, the alert topic, per-site resources and the extension point.

const { account, region } = FAKE_ENV;
const BUCKET = `arn:aws:s3:::ferry-data-${account}-${region}`;

let synth: Synthesized;
let resources: Record<string, { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string }>;
const fnNames = ['ingest', 'catalogue', 'artefacts', 'replay', 'console'] as const;

beforeAll(() => {
  synth = synthFerry();
  resources = synth.processingTemplate.toJSON().Resources;
});

const policiesOf = (name: (typeof fnNames)[number]): PolicyDocument[] => synth.resolver.policiesOfRole(synth.processing.stackName, logicalId(synth.processing.functions.roles[name]));

describe('functions', () => {
  it.each(fnNames)('%s runs nodejs22.x on ARM64 with the env its deps.ts reads', (name) => {
    const fn = resources[logicalId(synth.processing.functions[name])]!;
    expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Handler: 'index.handler' });
    const env = synth.resolver.resolve(synth.processing.stackName, (fn.Properties.Environment as { Variables: unknown }).Variables) as Record<string, string>;
    expect(env.BUCKET).toBe(`ferry-data-${account}-${region}`);
    expect(env.TABLE).toBe(synth.resolver.resolveString(synth.stateful.stackName, { Ref: logicalId(synth.stateful.table) }));
  });

  it.each(fnNames)('%s gets CURSOR_KEY from the generated secret exactly when it hands out listing cursors', (name) => {
    const fn = resources[logicalId(synth.processing.functions[name])]!;
    const vars = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    if (name !== 'catalogue' && name !== 'artefacts' && name !== 'console') {
      expect(vars.CURSOR_KEY).toBeUndefined();
      return;
    }
    const secretId = logicalId(synth.processing.functions.cursorKey);
    expect(JSON.stringify(vars.CURSOR_KEY)).toContain(`{"Ref":"${secretId}"}`);
    expect(JSON.stringify(vars.CURSOR_KEY)).toContain('{{resolve:secretsmanager:');
    expect(resources[secretId]).toMatchObject({ Type: 'AWS::SecretsManager::Secret', Properties: { GenerateSecretString: { PasswordLength: 64 } } });
  });

  it.each(fnNames)('%s logs to its own retained, KMS-encrypted log group', (name) => {
    const fn = resources[logicalId(synth.processing.functions[name])]!;
    const group = synth.processing.functions.logGroups[name];
    expect(fn.Properties.LoggingConfig).toEqual({ LogGroup: { Ref: logicalId(group) } });
    expect(resources[logicalId(group)]).toMatchObject({ DeletionPolicy: 'Retain', Properties: { RetentionInDays: name === 'ingest' ? 90 : 731, KmsKeyId: expect.anything() } });
  });

  // A Deny may be broad (the console's `s3:Delete*` on `*`, as the holds function's): it only narrows.
  it.each(fnNames)('%s is allowed no wildcard action and no "*" resource', (name) => {
    for (const doc of policiesOf(name)) {
      for (const st of [doc.Statement].flat().filter((st) => st.Effect !== 'Deny')) {
        expect([st.Action].flat().filter((a) => a?.includes('*'))).toEqual([]);
        expect([st.Resource].flat()).not.toContain('*');
      }
    }
    expect(resources[logicalId(synth.processing.functions.roles[name])]!.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it("ingest reads manifests, HEADs the objects they name and writes (and reads back) the items a manifest makes: never a hold, a case, the audit ledger, a lock or a run", () => {
    const p = policiesOf('ingest');
    expect(isAllowed(p, { action: 's3:GetObject', resource: `${BUCKET}/manifests/site-a/recordings/2024/01/01/p.json` })).toBe(true);
    expect(isAllowed(p, { action: 's3:GetObject', resource: `${BUCKET}/recordings/site-b/2024/01/01/p.tar` })).toBe(true);
    expect(isAllowed(p, { action: 's3:GetObject', resource: `${BUCKET}/backups/site-a/db/2024/01/01/a1-x.rbk` })).toBe(true);
    expect(isAllowed(p, { action: 's3:GetObject', resource: `${BUCKET}/reports/x` })).toBe(false);
    expect(isAllowed(p, { action: 's3:PutObject', resource: `${BUCKET}/manifests/site-a/x.json` })).toBe(false);
    expect(isAllowed(p, { action: 's3:DeleteObject', resource: `${BUCKET}/manifests/site-a/x.json` })).toBe(false);
    const table = synth.resolver.resolveString(synth.stateful.stackName, { 'Fn::GetAtt': [logicalId(synth.stateful.table), 'Arn'] });
    const leading = (pk: string) => ({ 'dynamodb:LeadingKeys': [pk] });
    for (const pk of ['REC#site-a#r1', 'PACK#site-a#p1', 'ART#site-a', 'ARTSRC#site-a', 'SNAP#site-a']) {
      expect(isAllowed(p, { action: 'dynamodb:BatchWriteItem', resource: table, context: leading(pk) }), pk).toBe(true);
      expect(isAllowed(p, { action: 'dynamodb:BatchGetItem', resource: table, context: leading(pk) }), pk).toBe(true);
    }
    for (const pk of ['HOLD#site-a', 'CASE#site-a', 'AUDIT#site-a', 'LOCK#site-a', 'RUN#site-a', 'EXPORT#site-a', 'DEADMAN#site-a']) {
      expect(isAllowed(p, { action: 'dynamodb:BatchWriteItem', resource: table, context: leading(pk) }), pk).toBe(false);
      expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading(pk) }), pk).toBe(false);
    }
    expect(isAllowed(p, { action: 'dynamodb:BatchWriteItem', resource: table, context: { 'dynamodb:LeadingKeys': ['REC#site-a#r1', 'AUDIT#site-a'] } })).toBe(false);
    expect(isAllowed(p, { action: 'dynamodb:DeleteItem', resource: table, context: leading('REC#site-a#r1') })).toBe(false);
    expect(isAllowed(p, { action: 'dynamodb:DeleteTable', resource: table })).toBe(false);
  });

  it("the dead-man's switch reads window and purge runs and keeps its own memory of each site, nothing else of the table", () => {
    const p = synth.resolver.policiesOfRole(synth.processing.stackName, logicalId(synth.processing.deadman.role));
    const table = synth.resolver.resolveString(synth.stateful.stackName, { 'Fn::GetAtt': [logicalId(synth.stateful.table), 'Arn'] });
    const leading = (pk: string) => ({ 'dynamodb:LeadingKeys': [pk] });
    expect(isAllowed(p, { action: 'dynamodb:Query', resource: table, context: leading('RUN#site-a') })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:Query', resource: table, context: leading('PURGERUN#site-a') })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:GetItem', resource: table, context: leading('DEADMAN#site-a') })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading('DEADMAN#site-a') })).toBe(true);
    for (const pk of ['HOLD#site-a', 'AUDIT#site-a', 'REC#site-a#r1', 'CASE#site-a']) expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading(pk) }), pk).toBe(false);
  });

  it('catalogue reads the table and its indexes only', () => {
    const p = policiesOf('catalogue');
    const table = synth.resolver.resolveString(synth.stateful.stackName, { 'Fn::GetAtt': [logicalId(synth.stateful.table), 'Arn'] });
    expect(isAllowed(p, { action: 'dynamodb:Query', resource: `${table}/index/byAgent` })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:GetItem', resource: table })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: { 'dynamodb:LeadingKeys': ['REC#site-a#r1'] } })).toBe(false);
    expect(isAllowed(p, { action: 's3:GetObject', resource: `${BUCKET}/recordings/site-a/x.tar` })).toBe(false);
  });

  it.each(['catalogue', 'artefacts', 'replay'] as const)('%s appends to the audit trail (its ledger items, found by Query, the sealed mark, and sealed audit/ records), never deletes it, and only catalogue (the audit view) reads the bucket copies', (name) => {
    const p = policiesOf(name);
    const table = synth.resolver.resolveString(synth.stateful.stackName, { 'Fn::GetAtt': [logicalId(synth.stateful.table), 'Arn'] });
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: { 'dynamodb:LeadingKeys': ['AUDIT#site-a'] } })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:Query', resource: table, context: { 'dynamodb:LeadingKeys': ['AUDIT#site-a'] } })).toBe(true);
    // The sealed mark it raises after a background seal, under its own partition.
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: { 'dynamodb:LeadingKeys': ['AUDITSEAL#site-a'] } })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:DeleteItem', resource: table, context: { 'dynamodb:LeadingKeys': ['AUDIT#site-a'] } })).toBe(false);
    expect(isAllowed(p, { action: 'dynamodb:UpdateItem', resource: table, context: { 'dynamodb:LeadingKeys': ['AUDIT#site-a'] } })).toBe(false);
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: { 'dynamodb:LeadingKeys': ['LOCK#site-a'] } })).toBe(false);
    expect(isAllowed(p, { action: 's3:PutObject', resource: `${BUCKET}/audit/site-a/000000000001.json` })).toBe(true);
    expect(isAllowed(p, { action: 's3:GetObject', resource: `${BUCKET}/audit/site-a/000000000001.json` })).toBe(name === 'catalogue');
    expect(isAllowed(p, { action: 's3:DeleteObject', resource: `${BUCKET}/audit/site-a/000000000001.json` })).toBe(false);
    expect(isAllowed(p, { action: 's3:PutObject', resource: `${BUCKET}/recordings/site-a/x.tar` })).toBe(false);
  });

  it('artefacts reads the main table only', () => {
    const p = policiesOf('artefacts');
    const table = synth.resolver.resolveString(synth.stateful.stackName, { 'Fn::GetAtt': [logicalId(synth.stateful.table), 'Arn'] });
    expect(isAllowed(p, { action: 'dynamodb:Query', resource: table })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:Query', resource: `${table}/index/byTime` })).toBe(false);
    expect(isAllowed(p, { action: 'dynamodb:BatchWriteItem', resource: table })).toBe(false);
    expect(isAllowed(p, { action: 's3:GetObject', resource: `${BUCKET}/backups/site-a/x` })).toBe(false);
  });

  it('replay reads catalogue entries and recordings/ packs only', () => {
    const p = policiesOf('replay');
    expect(isAllowed(p, { action: 's3:GetObject', resource: `${BUCKET}/recordings/site-a/2024/01/01/p.tar` })).toBe(true);
    for (const other of ['manifests', 'backups', 'logs', 'archives']) expect(isAllowed(p, { action: 's3:GetObject', resource: `${BUCKET}/${other}/site-a/x` })).toBe(false);
    expect(isAllowed(p, { action: 's3:PutObject', resource: `${BUCKET}/recordings/site-a/x.tar` })).toBe(false);
    const table = synth.resolver.resolveString(synth.stateful.stackName, { 'Fn::GetAtt': [logicalId(synth.stateful.table), 'Arn'] });
    expect(isAllowed(p, { action: 'dynamodb:GetItem', resource: table })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:Query', resource: `${table}/index/byTime` })).toBe(false);
  });

  it('ingest is triggered by manifests/…json objects of the data bucket', () => {
    synth.processingTemplate.hasResourceProperties('Custom::S3BucketNotifications', {
      Managed: false,
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: Match.arrayWith([{ Name: 'suffix', Value: '.json' }, { Name: 'prefix', Value: 'manifests/' }]) } },
            LambdaFunctionArn: { 'Fn::GetAtt': [logicalId(synth.processing.functions.ingest), 'Arn'] },
          },
        ],
      },
    });
  });
});

describe('authenticated entry points', () => {
  it('serves replay through streaming Function URLs with IAM auth: one for all sites, one per site on its alias', () => {
    const urls = Object.values(synth.processingTemplate.findResources('AWS::Lambda::Url')).map((u) => u.Properties);
    for (const url of urls) expect(url).toMatchObject({ AuthType: 'AWS_IAM', InvokeMode: 'RESPONSE_STREAM', TargetFunctionArn: { 'Fn::GetAtt': [logicalId(synth.processing.functions.replay), 'Arn'] } });
    expect(urls.map((u) => u.Qualifier ?? '(unqualified)').sort()).toEqual(['(unqualified)', 'site-site-a', 'site-site-b']);
  });

  it('exposes exactly the catalogue routes, every one IAM-authorized (the console routes, JWT-authorized: test/infra/console.test.ts)', () => {
    const all = Object.values(synth.processingTemplate.findResources('AWS::ApiGatewayV2::Route')).map((r) => r.Properties);
    const routes = all.filter((r) => !String(r.RouteKey).includes(' /console/'));
    const expected = [...Object.keys(API_ROUTES).map((p) => `GET ${p}`), ...Object.keys(API_POST_ROUTES).map((p) => `POST ${p}`)];
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(expected.sort());
    for (const route of routes) expect(route.AuthorizationType).toBe('AWS_IAM');
    expect(routes.some((r) => r.AuthorizationType === 'NONE' || r.AuthorizationType === undefined)).toBe(false);
  });

  it('logs API access to a retained log group', () => {
    synth.processingTemplate.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: '$default', AutoDeploy: true, AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('identity.userArn.*context.path') } });
  });
});

describe('alerts', () => {
  it('publishes to a KMS-encrypted, TLS-only topic', () => {
    synth.processingTemplate.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    synth.processingTemplate.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });
});

describe('sites as configuration', () => {
  it('gives every site its own activity, agent role and DR role, with outputs', () => {
    const three = synthFerry({ ...DEFAULT_CONFIG, sites: [...DEFAULT_CONFIG.sites, { name: 'site-c', retentionDays: 600 }] });
    three.processingTemplate.resourceCountIs('AWS::StepFunctions::Activity', 3);
    three.processingTemplate.hasResourceProperties('AWS::StepFunctions::Activity', { Name: 'Ferry-site-c-agent' });
    const outputs = Object.keys(three.processingTemplate.toJSON().Outputs);
    for (const key of ['AgentRoleArnsitec', 'AgentExternalIdsitec', 'ActivityArnsitec', 'DrRoleArnsitec', 'CatalogueApiUrl', 'ReplayUrl', 'AlertTopicArn']) expect(outputs).toContain(key);
  });

  it('trusts the configured principal with the external id, and Roles Anywhere when configured', () => {
    const custom = synthFerry({
      ...DEFAULT_CONFIG,
      sites: [
        {
          name: 'site-a',
          retentionDays: 730,
          agent: { principal: 'arn:aws:iam::111122223333:user/ferry-site-a', rolesAnywhereTrustAnchorArn: 'arn:aws:rolesanywhere:eu-west-1:111122223333:trust-anchor/abc-123' },
          drReaders: ['444455556666'],
        },
      ],
    });
    const site = custom.processing.sites[0]!;
    const trust = (custom.processingTemplate.toJSON().Resources[logicalId(site.agentRole)].Properties.AssumeRolePolicyDocument as PolicyDocument).Statement as object[];
    expect(trust).toContainEqual(expect.objectContaining({ Principal: { AWS: 'arn:aws:iam::111122223333:user/ferry-site-a' }, Condition: { StringEquals: { 'sts:ExternalId': 'ferry-agent-site-a' } } }));
    expect(trust).toContainEqual(expect.objectContaining({ Principal: { Service: 'rolesanywhere.amazonaws.com' }, Condition: expect.objectContaining({ StringEquals: { 'aws:PrincipalTag/x509Subject/CN': 'ferry-agent-site-a' } }) }));
    custom.processingTemplate.hasResourceProperties('AWS::RolesAnywhere::Profile', { RoleArns: [{ 'Fn::GetAtt': [logicalId(site.agentRole), 'Arn'] }] });
    const drTrust = custom.processingTemplate.toJSON().Resources[logicalId(site.drRole)].Properties.AssumeRolePolicyDocument;
    expect(JSON.stringify(drTrust)).toContain('444455556666');
  });
});

describe('extension point for the workflows', () => {
  it('hands the workflows factory the sites, activities, topic and table, in the processing stack', () => {
    let seen: WorkflowContext | undefined;
    const withWorkflows = synthFerry(DEFAULT_CONFIG, {
      workflows: (scope, context) => {
        seen = context;
        new sfn.StateMachine(scope, 'Probe', { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(scope, 'Noop')) });
      },
    });
    expect(seen?.sites.map((s) => s.config.name)).toEqual(['site-a', 'site-b']);
    expect(seen?.sites[0]?.activity).toBe(withWorkflows.processing.sites[0]?.activity);
    expect(seen?.alerts).toBe(withWorkflows.processing.alerts);
    withWorkflows.processingTemplate.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
  });
});
