import { beforeAll, describe, expect, it } from 'vitest';
import { FAKE_ENV } from '../../infra/cfn-resolve.ts';
import { CONSOLE_ROUTES } from '../../core/console-access.ts';
import { isAllowed, type PolicyDocument } from '../../infra/policy-eval.ts';
import { logicalId, synthFerry, type Synthesized } from './fixture.ts';

// The console as the CDK app deploys it: Cognito pool and groups, the JWT authorizer on every
// console route, the console function's narrow replay grant, and the hosting (OAC, HTTPS only,
// security headers).

type Resource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string };
let synth: Synthesized;
let resources: Record<string, Resource>;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

beforeAll(() => {
  synth = synthFerry();
  resources = synth.processingTemplate.toJSON().Resources as Record<string, Resource>;
});

describe('console sign-in', () => {
  it('has a user pool without self sign-up and with a strong password policy, retained', () => {
    const pools = ofType('AWS::Cognito::UserPool');
    expect(pools).toHaveLength(1);
    const [, pool] = pools[0]!;
    expect(pool.DeletionPolicy).toBe('Retain');
    expect(pool.Properties.AdminCreateUserConfig).toMatchObject({ AllowAdminCreateUserOnly: true });
    expect(pool.Properties.Policies).toMatchObject({
      PasswordPolicy: { MinimumLength: 14, RequireLowercase: true, RequireUppercase: true, RequireNumbers: true, RequireSymbols: true },
    });
  });

  it('has the groups admin, officer-all, and officer-<site> and listener-<site> for every configured site, in that pool', () => {
    const poolId = ofType('AWS::Cognito::UserPool')[0]![0];
    const groups = ofType('AWS::Cognito::UserPoolGroup').map(([, g]) => g.Properties);
    expect(groups.map((g) => g.GroupName).sort()).toEqual(['admin', 'listener-site-a', 'listener-site-b', 'officer-all', 'officer-site-a', 'officer-site-b']);
    expect(groups.find((g) => g.GroupName === 'listener-site-a')!.Description).toMatch(/^Listeners of site site-a: search and play its calls only/);
    for (const g of groups) expect(g.UserPoolId).toEqual({ Ref: poolId });
  });

  it('has one console app client without a secret, allowing SRP and password sign-in', () => {
    const clients = ofType('AWS::Cognito::UserPoolClient').map(([, c]) => c.Properties);
    expect(clients).toHaveLength(1);
    expect(clients[0]!.GenerateSecret).toBe(false);
    expect(clients[0]!.ExplicitAuthFlows).toEqual(expect.arrayContaining(['ALLOW_USER_SRP_AUTH', 'ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH']));
  });

  it('puts the JWT authorizer (issuer = the pool, audience = the console client) on every console route, and only there', () => {
    const authorizers = ofType('AWS::ApiGatewayV2::Authorizer');
    expect(authorizers).toHaveLength(1);
    const [authorizerId, authorizer] = authorizers[0]!;
    const [poolId] = ofType('AWS::Cognito::UserPool')[0]!;
    const [clientId] = ofType('AWS::Cognito::UserPoolClient')[0]!;
    expect(authorizer.Properties).toMatchObject({ AuthorizerType: 'JWT', IdentitySource: ['$request.header.Authorization'], JwtConfiguration: { Audience: [{ Ref: clientId }] } });
    expect(JSON.stringify(authorizer.Properties.JwtConfiguration)).toContain(`{"Ref":"${poolId}"}`);
    const routes = ofType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
    const consoleRoutes = routes.filter((r) => String(r.RouteKey).includes(' /console/'));
    expect(consoleRoutes.map((r) => r.RouteKey).sort()).toEqual(CONSOLE_ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    for (const route of consoleRoutes) expect(route).toMatchObject({ AuthorizationType: 'JWT', AuthorizerId: { Ref: authorizerId } });
    const consoleFn = logicalId(synth.processing.functions.console);
    for (const route of consoleRoutes) {
      const target = route.Target as { 'Fn::Join': [string, [string, { Ref: string }]] };
      const integrationId = target['Fn::Join'][1][1].Ref;
      expect(JSON.stringify(resources[integrationId]!.Properties.IntegrationUri)).toContain(consoleFn);
    }
  });

  it('gives the console function the pool issuer, its client id and each site replay URL', () => {
    const fn = resources[logicalId(synth.processing.functions.console)]!;
    const vars = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    const issuer = synth.resolver.resolveString(synth.processing.stackName, vars.CONSOLE_ISSUER as never);
    expect(issuer).toMatch(new RegExp(`^https://cognito-idp\\.${FAKE_ENV.region}\\.amazonaws\\.com/`));
    const urls = JSON.stringify(vars.CONSOLE_REPLAY_URLS);
    for (const site of ['site-a', 'site-b']) {
      const url = synth.processing.api.siteReplayUrls[site]!.node.defaultChild as never;
      expect(urls).toContain(`"${site}`);
      expect(urls).toContain(`{"Fn::GetAtt":["${logicalId(url)}","FunctionUrl"]}`);
    }
    expect(vars.CONSOLE_CLIENT_ID).toEqual({ Ref: ofType('AWS::Cognito::UserPoolClient')[0]![0] });
  });
});

describe('console replay links', () => {
  const policies = (): PolicyDocument[] => synth.resolver.policiesOfRole(synth.processing.stackName, logicalId(synth.processing.functions.roles.console));
  const replayArn = () => synth.resolver.resolveString(synth.processing.stackName, { 'Fn::GetAtt': [logicalId(synth.processing.functions.replay), 'Arn'] });

  it("may invoke every site's replay alias URL (IAM auth), and not the unqualified replay function or any other", () => {
    const urlCall = (resource: string) => ({ action: 'lambda:InvokeFunctionUrl', resource, context: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } });
    for (const site of ['site-a', 'site-b']) expect(isAllowed(policies(), urlCall(`${replayArn()}:site-${site}`))).toBe(true);
    expect(isAllowed(policies(), urlCall(replayArn()))).toBe(false);
    expect(isAllowed(policies(), urlCall(`${replayArn()}:site-site-c`))).toBe(false);
    expect(isAllowed(policies(), { action: 'lambda:InvokeFunction', resource: `${replayArn()}:site-site-a`, context: {} })).toBe(false);
    expect(isAllowed(policies(), { action: 's3:GetObject', resource: `arn:aws:s3:::ferry-data-${FAKE_ENV.account}-${FAKE_ENV.region}/recordings/site-a/x.tar`, context: {} })).toBe(false);
  });
});

describe('console hosting', () => {
  it('serves the assets from a private, TLS-only bucket through CloudFront origin access control', () => {
    const oac = ofType('AWS::CloudFront::OriginAccessControl');
    expect(oac).toHaveLength(1);
    expect(oac[0]![1].Properties.OriginAccessControlConfig).toMatchObject({ OriginAccessControlOriginType: 's3', SigningBehavior: 'always', SigningProtocol: 'sigv4' });
    const [, distribution] = ofType('AWS::CloudFront::Distribution')[0]!;
    const config = distribution.Properties.DistributionConfig as { Origins: Record<string, unknown>[]; DefaultCacheBehavior: Record<string, unknown>; DefaultRootObject: string };
    expect(config.Origins[0]).toMatchObject({ OriginAccessControlId: { 'Fn::GetAtt': [oac[0]![0], 'Id'] }, S3OriginConfig: { OriginAccessIdentity: '' } });
    expect(config.DefaultCacheBehavior).toMatchObject({ ViewerProtocolPolicy: 'https-only' });
    // The distribution's root is the console (web/console.html), not the local cloud's session page.
    expect(config.DefaultRootObject).toBe('console.html');
    const bucketId = logicalId(synth.processing.console.assets);
    expect(resources[bucketId]!.Properties).toMatchObject({
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
    const bucketPolicy = ofType('AWS::S3::BucketPolicy').find(([, p]) => JSON.stringify(p.Properties.Bucket).includes(bucketId))![1];
    const statements = (bucketPolicy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement;
    expect(statements).toEqual(expect.arrayContaining([
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      expect.objectContaining({ Effect: 'Allow', Principal: { Service: 'cloudfront.amazonaws.com' }, Action: 's3:GetObject' }),
    ]));
  });

  it('answers with CSP (self, API and replay origins, no framing), HSTS, nosniff and DENY framing', () => {
    const [policyId, policy] = ofType('AWS::CloudFront::ResponseHeadersPolicy')[0]!;
    const headers = (policy.Properties.ResponseHeadersPolicyConfig as { SecurityHeadersConfig: Record<string, Record<string, unknown>> }).SecurityHeadersConfig;
    const csp = synth.resolver.resolveString(synth.processing.stackName, headers.ContentSecurityPolicy!.ContentSecurityPolicy as never);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toMatch(new RegExp(`connect-src 'self' https://\\*\\.execute-api\\.${FAKE_ENV.region}\\.amazonaws\\.com .*https://\\*\\.lambda-url\\.${FAKE_ENV.region}\\.on\\.aws`));
    expect(csp).toMatch(new RegExp(`media-src 'self' https://\\*\\.lambda-url\\.${FAKE_ENV.region}\\.on\\.aws`));
    expect(headers.StrictTransportSecurity).toMatchObject({ AccessControlMaxAgeSec: 31536000, IncludeSubdomains: true, Override: true });
    expect(headers.ContentTypeOptions).toEqual({ Override: true });
    expect(headers.FrameOptions).toEqual({ FrameOption: 'DENY', Override: true });
    const [, distribution] = ofType('AWS::CloudFront::Distribution')[0]!;
    expect((distribution.Properties.DistributionConfig as { DefaultCacheBehavior: Record<string, unknown> }).DefaultCacheBehavior.ResponseHeadersPolicyId).toEqual({ Ref: policyId });
  });

  it('answers CORS for the console origin only', () => {
    const [, api] = ofType('AWS::ApiGatewayV2::Api')[0]!;
    const cors = api.Properties.CorsConfiguration as { AllowOrigins: unknown[]; AllowHeaders: string[]; ExposeHeaders: string[] };
    expect(cors.AllowOrigins).toHaveLength(1);
    expect(JSON.stringify(cors.AllowOrigins[0])).toContain(ofType('AWS::CloudFront::Distribution')[0]![0]);
    expect(cors.AllowHeaders).toContain('authorization');
    // The audit CSV's next page is named in X-Ferry-Cursor: the page reads it across origins.
    expect(cors.ExposeHeaders).toContain('x-ferry-cursor');
  });

  it('deploys web/ and a config.json naming the API, the pool and the client into the assets bucket', () => {
    const deployments = ofType('Custom::CDKBucketDeployment');
    expect(deployments).toHaveLength(1);
    const props = deployments[0]![1].Properties;
    expect(props.DestinationBucketName).toEqual({ Ref: logicalId(synth.processing.console.assets) });
    expect(props.SourceObjectKeys).toHaveLength(2);
    // The config.json source (Source.jsonData) carries its deploy-time values as markers.
    const text = JSON.stringify(props.SourceMarkers);
    expect(text).toContain(`{"Ref":"${ofType('AWS::ApiGatewayV2::Api')[0]![0]}"}`);
    expect(text).toContain(`{"Ref":"${ofType('AWS::Cognito::UserPool')[0]![0]}"}`);
    expect(text).toContain(`{"Ref":"${ofType('AWS::Cognito::UserPoolClient')[0]![0]}"}`);
  });
});
