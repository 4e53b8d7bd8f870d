import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { CONSOLE_ROUTES, consoleGroups, LISTENER_GROUP_PREFIX } from '../core/console-access.ts';
import { routeToFunction } from './api-invoke.ts';
import type { CatalogueApi } from './catalogue-api.ts';
import { acknowledge } from './nag.ts';

// The compliance console on AWS:
//  - a Cognito user pool (no self sign-up, strong passwords, groups admin / officer-all /
//    officer-<site>) and an app client for the console (no secret: it runs in a browser);
//  - the console routes (core/console-access.ts) on the catalogue's HTTP API, each behind a JWT
//    authorizer on that pool, integrated with the console function, which verifies the token
//    again and scopes every request to the caller's sites (functions/console);
//  - that function may invoke each site's replay alias URL, and nothing else of Lambda: it
//    presigns play and download links with its own role after its site check, so the browser
//    never holds AWS credentials;
//  - the static console (web/) in a private bucket behind CloudFront (origin access control,
//    HTTPS only, security headers with the CSP), with the config.json the page reads.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface ConsoleProps {
  sites: string[];
  /** The off-boarded sites: their own console groups grant nothing (functions/console, CONSOLE_OFFBOARDED_SITES). */
  offboarded?: string[];
  api: CatalogueApi;
  consoleFunction: lambda.Function;
}

/** The Content-Security-Policy of the console: its own assets, the regional API and replay origins. */
export function consoleCsp(region: string): string {
  const api = `https://*.execute-api.${region}.amazonaws.com`;
  const replay = `https://*.lambda-url.${region}.on.aws`;
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${api} https://cognito-idp.${region}.amazonaws.com ${replay}`,
    `media-src 'self' ${replay}`,
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export class ConsoleHosting extends Construct {
  readonly userPool: cognito.UserPool;
  readonly client: cognito.UserPoolClient;
  readonly distribution: cloudfront.Distribution;
  readonly assets: s3.Bucket;
  readonly headers: cloudfront.ResponseHeadersPolicy;

  constructor(scope: Construct, id: string, props: ConsoleProps) {
    super(scope, id);
    this.userPool = this.buildPool(props.sites);
    this.client = this.userPool.addClient('ConsoleClient', {
      userPoolClientName: 'ferry-console',
      generateSecret: false,
      authFlows: { userSrp: true, userPassword: true },
      preventUserExistenceErrors: true,
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.hours(12),
      enableTokenRevocation: true,
    });
    this.addRoutes(props);
    this.grantReplay(props);
    const issuer = `https://cognito-idp.${Aws.REGION}.${Aws.URL_SUFFIX}/${this.userPool.userPoolId}`;
    props.consoleFunction.addEnvironment('CONSOLE_ISSUER', issuer);
    props.consoleFunction.addEnvironment('CONSOLE_CLIENT_ID', this.client.userPoolClientId);
    const replayUrls = Object.fromEntries(props.sites.map((site) => [site, props.api.siteReplayUrls[site]!.url]));
    props.consoleFunction.addEnvironment('CONSOLE_REPLAY_URLS', Stack.of(this).toJsonString(replayUrls));
    props.consoleFunction.addEnvironment('CONSOLE_OFFBOARDED_SITES', JSON.stringify(props.offboarded ?? []));

    this.assets = new s3.Bucket(this, 'Assets', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(this.assets, 'AwsSolutions-S1', undefined, 'the console assets bucket holds the public static pages only; every read goes through CloudFront, whose requests the API and replay audit');
    this.headers = new cloudfront.ResponseHeadersPolicy(this, 'Headers', {
      comment: 'Ferry console: CSP, HSTS, no sniffing, no framing',
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: consoleCsp(Aws.REGION), override: true },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: true, preload: false, override: true },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    });
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'Ferry compliance console',
      // The console is the deployment's page; index.html (the local cloud's session page) needs `ferry start`.
      defaultRootObject: 'console.html',
      minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.assets),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        responseHeadersPolicy: this.headers,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
      },
    });
    this.acknowledgeDistribution();
    this.deployAssets(props);
    this.allowConsoleOrigin(props.api);

    new CfnOutput(this, 'ConsoleUrl', { key: 'ConsoleUrl', value: `https://${this.distribution.distributionDomainName}/`, description: 'the compliance console' });
    new CfnOutput(this, 'UserPoolId', { key: 'ConsoleUserPoolId', value: this.userPool.userPoolId, description: 'officers sign in here (docs/deploy.md: creating users)' });
    new CfnOutput(this, 'ClientId', { key: 'ConsoleClientId', value: this.client.userPoolClientId });
  }

  private buildPool(sites: string[]): cognito.UserPool {
    const pool = new cognito.UserPool(this, 'Officers', {
      userPoolName: 'ferry-officers',
      selfSignUpEnabled: false,
      signInAliases: { username: true, email: true },
      signInCaseSensitive: false,
      passwordPolicy: { minLength: 14, requireLowercase: true, requireUppercase: true, requireDigits: true, requireSymbols: true, tempPasswordValidity: Duration.days(3) },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      mfa: cognito.Mfa.OPTIONAL,
      mfaSecondFactor: { sms: false, otp: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(pool, 'AwsSolutions-COG2', undefined, 'TOTP MFA is enabled for every officer to enrol; making it REQUIRED waits for the console enrolment page, and deployments can set it in the pool');
    acknowledge(pool, 'AwsSolutions-COG8', undefined, 'the Plus feature plan (threat protection) is a paid per-user option left to the deployment; only admin-created officers can sign in');
    for (const group of consoleGroups(sites)) {
      new cognito.CfnUserPoolGroup(this, `Group-${group}`, { userPoolId: pool.userPoolId, groupName: group, description: groupDescription(group) });
    }
    return pool;
  }

  private addRoutes(props: ConsoleProps): void {
    const authorizer = new HttpJwtAuthorizer('ConsoleJwt', `https://cognito-idp.${Aws.REGION}.${Aws.URL_SUFFIX}/${this.userPool.userPoolId}`, {
      jwtAudience: [this.client.userPoolClientId],
      identitySource: ['$request.header.Authorization'],
    });
    routeToFunction(props.api.api, props.consoleFunction, CONSOLE_ROUTES, { id: 'Console', authorizer });
  }

  /** The console presigns replay links with its role: invoke the site aliases' URLs, nothing else. */
  private grantReplay(props: ConsoleProps): void {
    const aliases = props.sites.map((site) => props.api.siteReplayArns[site]!);
    props.consoleFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'PresignSiteReplay',
        actions: ['lambda:InvokeFunctionUrl'],
        resources: aliases,
        conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
      }),
    );
    props.consoleFunction.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'PresignSiteReplayInvoke', actions: ['lambda:InvokeFunction'], resources: aliases, conditions: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } } }),
    );
  }

  /** The API answers the console's origin (CORS), nothing else cross-origin. */
  private allowConsoleOrigin(api: CatalogueApi): void {
    const cfn = api.api.node.defaultChild as apigw.CfnApi;
    cfn.corsConfiguration = {
      allowOrigins: [`https://${this.distribution.distributionDomainName}`],
      allowMethods: ['GET', 'POST'],
      allowHeaders: ['authorization', 'content-type'],
      // The audit trail's CSV pages carry their next cursor in a header the page must read.
      exposeHeaders: ['x-ferry-cursor', 'content-disposition'],
      maxAge: 600,
    };
  }

  private deployAssets(props: ConsoleProps): void {
    const config = {
      region: Aws.REGION,
      apiUrl: props.api.url,
      userPoolId: this.userPool.userPoolId,
      clientId: this.client.userPoolClientId,
      issuer: `https://cognito-idp.${Aws.REGION}.${Aws.URL_SUFFIX}/${this.userPool.userPoolId}`,
      // Where the page posts InitiateAuth (the local cloud serves its stand-in's here).
      cognitoEndpoint: `https://cognito-idp.${Aws.REGION}.${Aws.URL_SUFFIX}/`,
    };
    const deployment = new s3deploy.BucketDeployment(this, 'Deploy', {
      sources: [s3deploy.Source.asset(join(ROOT, 'web')), s3deploy.Source.jsonData('config.json', config)],
      destinationBucket: this.assets,
      distribution: this.distribution,
      prune: true,
    });
    const why = 'CDK BucketDeployment provider (runs at deploy time only to copy web/ into the assets bucket); CDK builds its role, grants and runtime';
    const provider = Stack.of(this).node.tryFindChild('Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C');
    for (const scope of [deployment, provider]) {
      if (!scope) continue;
      acknowledge(scope, 'AwsSolutions-L1', undefined, why);
      acknowledge(scope, 'AwsSolutions-IAM4', 'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole', why);
      for (const action of ['s3:GetBucket*', 's3:GetObject*', 's3:List*', 's3:Abort*', 's3:DeleteObject*']) acknowledge(scope, 'AwsSolutions-IAM5', `Action::${action}`, why);
      acknowledge(scope, 'AwsSolutions-IAM5', `Resource::${cdkAssetsObjects(Stack.of(this))}`, why);
      acknowledge(scope, 'AwsSolutions-IAM5', `Resource::<${Stack.of(this).getLogicalId(this.assets.node.defaultChild as s3.CfnBucket)}.Arn>/*`, why);
      acknowledge(scope, 'AwsSolutions-IAM5', 'Resource::*', `${why}; the CloudFront invalidation it makes after the copy takes no resource ARN`);
    }
  }

  private acknowledgeDistribution(): void {
    acknowledge(this.distribution, 'AwsSolutions-CFR1', undefined, 'officers may be anywhere a deployment operates; sign-in and site scoping guard every API call, not geography');
    acknowledge(this.distribution, 'AwsSolutions-CFR2', undefined, 'the distribution serves static pages only; the API behind the console has its own throttling and JWT authorizer');
    acknowledge(this.distribution, 'AwsSolutions-CFR3', undefined, 'static assets only; every data access is logged by the API access log and the audit trail');
    acknowledge(this.distribution, 'AwsSolutions-CFR4', undefined, 'the default CloudFront certificate allows older TLS for viewers; a custom domain with TLSv1.2_2021 is a deployment choice (docs/deploy.md)');
  }
}

/**
 * The CDK assets bucket's objects as cdk-nag names them: with placeholders in an
 * environment-agnostic stack, literal when the deployment pins `env` (deploy.md).
 */
function cdkAssetsObjects(stack: Stack): string {
  const part = (value: string, placeholder: string) => (Token.isUnresolved(value) ? `<${placeholder}>` : value);
  return `arn:${part(stack.partition, 'AWS::Partition')}:s3:::cdk-hnb659fds-assets-${part(stack.account, 'AWS::AccountId')}-${part(stack.region, 'AWS::Region')}/*`;
}

function groupDescription(group: string): string {
  if (group === 'admin') return 'Ferry administrators: every site';
  if (group === 'officer-all') return 'Compliance officers of every site';
  if (group.startsWith(LISTENER_GROUP_PREFIX)) return `Listeners of site ${group.slice(LISTENER_GROUP_PREFIX.length)}: search and play its calls only (no download, hold, case, erasure, export or audit trail)`;
  return `Compliance officers of site ${group.slice('officer-'.length)}`;
}
