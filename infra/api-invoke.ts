import { Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';

// The HTTP API's routes to one function, with one invoke permission for all of them.
// HttpLambdaIntegration adds an AWS::Lambda::Permission per route (scoped to that route), and
// its `scopePermissionToRoute: false` one per function for the whole API (`*/*/*`). Per route,
// the API's 36 routes cost 36 of the processing stack's 500 resources — the budget that decides
// how many sites a deployment holds. So the integration here adds none, and each function gets
// one permission for each method it serves, whose SourceArn covers that method's routes by
// their paths' common prefix. One a method, not one a function: ArnLike's `*` spans `/`, so a
// pattern with `*` for the method (`…/*/*/sites/{site}/*`) would also admit
// `$default/GET/console/sites/{site}/…`, a console route, to an IAM-authorized function; with
// the method written out (`…/*/GET/sites/{site}/*`) the stage's `*` cannot reach past it.
// API Gateway builds the SourceArn it invokes with from the route key (`{site}` literally), so
// `…/*/GET/sites/{site}/*` matches `…/$default/GET/sites/{site}/artefacts`.

export interface InvokeRoute {
  method: 'GET' | 'POST';
  /** API Gateway route path (`{name}` a path parameter). */
  path: string;
}

/** An integration whose routes the caller grants (`grantRoutes`) rather than one permission each. */
class GrantedLambdaIntegration extends HttpLambdaIntegration {
  protected override completeBind(): void {
    // The function's one permission is added by routeToFunction.
  }
}

/**
 * The execute-api resource (`{stage}/{method}{path}`) that covers every one of `routes`, all of
 * one method: one path as it is, several by their common prefix followed by `*`.
 */
export function routesResource(method: InvokeRoute['method'], routes: readonly InvokeRoute[]): string {
  const paths = [...new Set(routes.filter((r) => r.method === method).map((r) => r.path))];
  if (paths.length === 0) throw new Error(`routesResource: no ${method} route to cover`);
  if (paths.length === 1) return `*/${method}${paths[0]}`;
  let prefix = paths[0]!;
  for (const path of paths) while (!path.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return `*/${method}${prefix}*`;
}

export interface RouteOptions {
  /** The construct id of the integration and of its permissions (`<id>Invoke<METHOD>`). */
  id: string;
  authorizer?: apigw.IHttpRouteAuthorizer;
}

/** Adds `routes` to `api`, integrated with `fn`, and the permission (one a method) that lets API Gateway invoke `fn` for them. */
export function routeToFunction(api: apigw.HttpApi, fn: lambda.IFunction, routes: readonly InvokeRoute[], options: RouteOptions): void {
  const integration = new GrantedLambdaIntegration(options.id, fn);
  for (const route of routes) {
    api.addRoutes({ path: route.path, methods: [route.method as apigw.HttpMethod], integration, authorizer: options.authorizer });
  }
  for (const method of new Set(routes.map((r) => r.method))) {
    fn.addPermission(`${options.id}Invoke${method}`, {
      scope: api,
      principal: new iam.ServicePrincipal('apigateway.amazonaws.com'),
      sourceArn: Stack.of(api).formatArn({ service: 'execute-api', resource: api.apiId, resourceName: routesResource(method, routes) }),
    });
  }
}
