import { beforeAll, describe, expect, it } from 'vitest';
import { routesResource } from '../../infra/api-invoke.ts';
import { isAllowed, type PolicyDocument } from '../../infra/policy-eval.ts';
import { synthFerry, type Synthesized } from './fixture.ts';

// API Gateway may invoke a route's function only if the function's resource policy allows
// apigateway.amazonaws.com with the route's ARN as AWS:SourceArn. The API's functions take one
// permission a method (infra/api-invoke.ts) instead of one a route; these tests evaluate, on the
// synthesized template, the call API Gateway makes for every route.

type Resource = { Type: string; Properties: Record<string, unknown> };
const STACK = 'Ferry-processing';
let synth: Synthesized;
let resources: Record<string, Resource>;

beforeAll(() => {
  synth = synthFerry();
  resources = synth.processingTemplate.toJSON().Resources as Record<string, Resource>;
});

const resolve = (value: unknown) => synth.resolver.resolveString(STACK, value as never);
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

/** Each route with the ARN API Gateway invokes its function with, and that function's ARN. */
function routes(): { key: string; sourceArn: string; functionArn: string }[] {
  const [apiId] = ofType('AWS::ApiGatewayV2::Api')[0]!;
  const apiArn = `arn:aws:execute-api:eu-west-1:111122223333:${resolve({ Ref: apiId })}`;
  return ofType('AWS::ApiGatewayV2::Route').map(([, route]) => {
    const key = String(route.Properties.RouteKey);
    const [method, path] = key.split(' ');
    const target = route.Properties.Target as { 'Fn::Join': [string, [string, { Ref: string }]] };
    const integration = resources[target['Fn::Join'][1][1].Ref]!;
    return { key, sourceArn: `${apiArn}/$default/${method}${path}`, functionArn: resolve(integration.Properties.IntegrationUri) };
  });
}

/** The apigateway.amazonaws.com permissions of the stack, as the resource policy statements Lambda evaluates. */
function apiPermissions(): { functionArn: string; policy: PolicyDocument }[] {
  return ofType('AWS::Lambda::Permission')
    .filter(([, p]) => p.Properties.Principal === 'apigateway.amazonaws.com')
    .map(([, p]) => {
      const functionArn = resolve(p.Properties.FunctionName);
      const statement = {
        Effect: 'Allow' as const,
        Principal: { Service: 'apigateway.amazonaws.com' },
        Action: String(p.Properties.Action),
        Resource: functionArn,
        Condition: { ArnLike: { 'AWS:SourceArn': resolve(p.Properties.SourceArn) } },
      };
      return { functionArn, policy: { Version: '2012-10-17', Statement: [statement] } };
    });
}

const invokes = (policies: PolicyDocument[], route: { sourceArn: string; functionArn: string }) =>
  isAllowed(policies, {
    action: 'lambda:InvokeFunction',
    resource: route.functionArn,
    principal: { type: 'Service', id: 'apigateway.amazonaws.com' },
    context: { 'aws:SourceArn': route.sourceArn },
  });

describe("API Gateway's permission to invoke the API's functions", () => {
  it("lets API Gateway invoke every route's function for that route (each of the 36+ routes evaluated on the template)", () => {
    const all = routes();
    expect(all.length).toBeGreaterThanOrEqual(36);
    const policies = apiPermissions().map((p) => p.policy);
    const refused = all.filter((route) => !invokes(policies, route)).map((r) => r.key);
    expect(refused).toEqual([]);
  });

  it('gives each function behind the API one permission a method it serves, not one a route', () => {
    const perFunction = new Map<string, number>();
    for (const { functionArn } of apiPermissions()) perFunction.set(functionArn, (perFunction.get(functionArn) ?? 0) + 1);
    const targets = new Set(routes().map((r) => r.functionArn));
    expect(targets.size).toBe(5);
    for (const target of targets) {
      const methods = new Set(routes().filter((r) => r.functionArn === target).map((r) => r.key.split(' ')[0]));
      expect(perFunction.get(target), target).toBe(methods.size);
    }
    expect(perFunction.size).toBe(targets.size);
  });

  it("keeps the console function's permission to the /console routes and the IAM-authorized functions' permissions off them", () => {
    const all = routes();
    const consoleArn = resolve({ 'Fn::GetAtt': [Object.keys(resources).find((id) => id.startsWith('FunctionsConsole') && resources[id]!.Type === 'AWS::Lambda::Function'), 'Arn'] });
    for (const { functionArn, policy } of apiPermissions()) {
      for (const route of all) {
        const isConsoleRoute = route.key.includes(' /console/');
        if (isConsoleRoute === (functionArn === consoleArn)) continue;
        expect(invokes([policy], { sourceArn: route.sourceArn, functionArn }), `${functionArn} for ${route.key}`).toBe(false);
      }
    }
  });
});

describe('the execute-api resource one permission covers', () => {
  it("is the route itself for one route of the method, the method and the paths' common prefix for several", () => {
    const routes = [
      { method: 'GET', path: '/sites/{site}/artefacts' },
      { method: 'GET', path: '/sites/{site}/sources/{source}/restore-plan' },
      { method: 'POST', path: '/sites/{site}/holds' },
    ] as const;
    expect(routesResource('POST', routes)).toBe('*/POST/sites/{site}/holds');
    expect(routesResource('GET', routes)).toBe('*/GET/sites/{site}/*');
    expect(() => routesResource('POST', routes.slice(0, 2))).toThrow('no POST route to cover');
  });
});
