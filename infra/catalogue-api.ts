import { RemovalPolicy } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { replayAliasName } from '../core/replay.ts';
import { API_POST_ROUTES, API_ROUTES } from '../core/api-routes.ts';
import { routeToFunction } from './api-invoke.ts';

// The two authenticated entry points for compliance officers:
//  - the catalogue API, an HTTP API whose every route takes IAM (SigV4) authorization;
//  - replay, a Lambda Function URL with AWS_IAM auth and response streaming (API Gateway HTTP
//    APIs buffer responses, so they cannot stream audio).
// Replay links are SigV4-presigned requests (X-Amz-Expires=300): a browser can follow one for
// five minutes, then it is refused. Nothing is ever anonymous; who asked is in the audit trail.

// The routes are declared in core/api-routes.ts (the local stand-in serves the same).
export { API_POST_ROUTES, API_ROUTES };

export interface CatalogueApiProps {
  /** Sites that get their own replay alias and URL. */
  sites: string[];
  catalogueFunction: lambda.IFunction;
  artefactsFunction: lambda.IFunction;
  /** GET /fleet: every site's status (functions/fleet). */
  fleetFunction: lambda.IFunction;
  holdsFunction: lambda.IFunction;
  replayFunction: lambda.IFunction;
  logsKey: kms.IKey;
  accessLogRetentionDays: number;
}

export class CatalogueApi extends Construct {
  readonly api: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  readonly replayUrl: lambda.FunctionUrl;
  /** One replay URL per site, on the site's alias of the replay function. */
  readonly siteReplayUrls: Record<string, lambda.FunctionUrl>;
  /** ARN of each site's replay alias, the resource its roles are granted. */
  readonly siteReplayArns: Record<string, string>;
  private readonly replayFunction: lambda.IFunction;

  constructor(scope: Construct, id: string, props: CatalogueApiProps) {
    super(scope, id);
    this.api = new apigw.HttpApi(this, 'HttpApi', {
      description: 'Ferry catalogue API: recordings, artefacts, tree snapshots and fleet status (IAM authorization on every route)',
      defaultAuthorizer: new HttpIamAuthorizer(),
      createDefaultStage: false,
    });
    const functions = { catalogue: props.catalogueFunction, artefacts: props.artefactsFunction, fleet: props.fleetFunction, holds: props.holdsFunction };
    for (const [target, fn] of Object.entries(functions)) {
      const routes = [
        ...Object.entries(API_ROUTES).filter(([, t]) => t === target).map(([path]) => ({ method: 'GET' as const, path })),
        ...Object.entries(API_POST_ROUTES).filter(([, t]) => t === target).map(([path]) => ({ method: 'POST' as const, path })),
      ];
      routeToFunction(this.api, fn, routes, { id: target[0]!.toUpperCase() + target.slice(1) });
    }

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetentionDays,
      encryptionKey: props.logsKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.stage = this.api.addStage('Stage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: 50, burstLimit: 100 },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            time: '$context.requestTime',
            caller: '$context.identity.userArn',
            route: '$context.routeKey',
            // The route is a template (…/sites/{site}/…): the path says which site was asked for.
            method: '$context.httpMethod',
            path: '$context.path',
            status: '$context.status',
            ip: '$context.identity.sourceIp',
          }),
        ),
      },
    });

    const urlOptions = { authType: lambda.FunctionUrlAuthType.AWS_IAM, invokeMode: lambda.InvokeMode.RESPONSE_STREAM };
    this.replayFunction = props.replayFunction;
    this.replayUrl = props.replayFunction.addFunctionUrl(urlOptions);
    this.siteReplayUrls = {};
    this.siteReplayArns = {};
    for (const site of props.sites) {
      const aliasName = replayAliasName(site);
      const alias = new lambda.Alias(this, `Replay-${site}`, { aliasName, version: props.replayFunction.latestVersion });
      this.siteReplayUrls[site] = alias.addFunctionUrl(urlOptions);
      // Written out rather than alias.functionArn (a Ref): the same ARN Lambda authorizes the URL call against.
      this.siteReplayArns[site] = `${props.replayFunction.functionArn}:${aliasName}`;
    }
  }

  /** `arn:…:execute-api:…:{api}/$default/{method}{path}` of a request path (IAM globs allowed). */
  invokeArn(method: 'GET' | 'POST', path: string): string {
    return this.api.arnForExecuteApi(method, path, this.stage.stageName);
  }

  /** The API's base URL (the `$default` stage has no path segment). */
  get url(): string {
    return this.stage.url;
  }
}
