import { LOCAL_REGION } from '../core/deployment.ts';
import type { PolicyDocument } from './policy-eval.ts';

// Resolves the CloudFormation intrinsics of synthesized templates to concrete strings, with a
// fake account, region and partition, so that policy-eval.ts can evaluate real ARNs:
// Ref (pseudo parameters and resources), Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split
// and Fn::ImportValue (looked up in the exporting template's Outputs). Resources get the
// physical id CloudFormation would give them, derived from their type and name properties
// or logical id. Anything else throws, naming what it could not resolve.

export interface CfnTemplate {
  Resources?: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  Outputs?: Record<string, { Value: unknown; Export?: { Name: unknown } }>;
}

export interface FakeEnvironment {
  account: string;
  region: string;
  partition: string;
}

export const FAKE_ENV: FakeEnvironment = { account: '111122223333', region: 'eu-west-1', partition: 'aws' };

/**
 * The account and region the local cloud resolves the deployment in: the fake account, in the
 * region its clients sign for (LOCAL_REGION), so that an ARN a local refusal quotes (an
 * execute-api route, a role) names the region the caller uses, not another.
 */
export const LOCAL_ENV: FakeEnvironment = { ...FAKE_ENV, region: LOCAL_REGION };

type Json = unknown;

export class TemplateResolver {
  /** Stack name → template, for Fn::ImportValue. */
  constructor(
    private readonly templates: Record<string, CfnTemplate>,
    readonly env: FakeEnvironment = FAKE_ENV,
  ) {}

  /** Resolves every intrinsic in `value`, as seen from the stack `stackName`. */
  resolve(stackName: string, value: Json): Json {
    if (Array.isArray(value)) return value.map((v) => this.resolve(stackName, v));
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, Json>);
    if (entries.length === 1) {
      const [fn, arg] = entries[0]!;
      if (fn === 'Ref' || fn.startsWith('Fn::')) return this.intrinsic(stackName, fn, arg);
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, this.resolve(stackName, v)]));
  }

  resolveString(stackName: string, value: Json): string {
    const out = this.resolve(stackName, value);
    if (typeof out !== 'string') throw new Error(`expected a string, resolved ${JSON.stringify(out)}`);
    return out;
  }

  private template(stackName: string): CfnTemplate {
    const t = this.templates[stackName];
    if (!t) throw new Error(`no template for stack ${stackName}`);
    return t;
  }

  private intrinsic(stack: string, fn: string, arg: Json): Json {
    switch (fn) {
      case 'Ref':
        return this.ref(stack, arg as string);
      case 'Fn::GetAtt': {
        const [id, attr] = (typeof arg === 'string' ? arg.split('.') : arg) as [string, string];
        return this.getAtt(stack, id, attr);
      }
      case 'Fn::Join': {
        const [sep, items] = arg as [string, Json[]];
        return (this.resolve(stack, items) as Json[]).map(String).join(sep);
      }
      case 'Fn::Select': {
        const [index, items] = arg as [number, Json];
        return (this.resolve(stack, items) as Json[])[Number(index)];
      }
      case 'Fn::Split': {
        const [sep, source] = arg as [string, Json];
        return this.resolveString(stack, source).split(sep);
      }
      case 'Fn::Sub':
        return this.sub(stack, arg);
      case 'Fn::ImportValue':
        return this.importValue(this.resolveString(stack, arg));
      default:
        throw new Error(`intrinsic ${fn} is not resolved by cfn-resolve`);
    }
  }

  private sub(stack: string, arg: Json): string {
    const [text, vars] = (Array.isArray(arg) ? arg : [arg, {}]) as [string, Record<string, Json>];
    return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
      if (name in vars) return this.resolveString(stack, vars[name]);
      if (name.includes('.') && !name.startsWith('AWS::')) {
        const [id, attr] = name.split('.') as [string, string];
        return String(this.getAtt(stack, id, attr));
      }
      return String(this.ref(stack, name));
    });
  }

  private importValue(name: string): Json {
    for (const [stackName, t] of Object.entries(this.templates)) {
      for (const output of Object.values(t.Outputs ?? {})) {
        if (output.Export && this.resolve(stackName, output.Export.Name) === name) return this.resolve(stackName, output.Value);
      }
    }
    throw new Error(`no stack exports ${name}`);
  }

  private ref(stack: string, id: string): Json {
    const { account, region, partition } = this.env;
    const pseudo: Record<string, string> = {
      'AWS::AccountId': account,
      'AWS::Region': region,
      'AWS::Partition': partition,
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': stack,
      'AWS::StackId': `arn:${partition}:cloudformation:${region}:${account}:stack/${stack}/fake`,
    };
    if (id in pseudo) return pseudo[id];
    const resource = this.template(stack).Resources?.[id];
    if (!resource) throw new Error(`Ref ${id}: no such resource in ${stack}`);
    return physical(this.env, id, resource.Type, this.nameOf(stack, id, resource)).ref;
  }

  private getAtt(stack: string, id: string, attr: string): Json {
    const resource = this.template(stack).Resources?.[id];
    if (!resource) throw new Error(`Fn::GetAtt ${id}.${attr}: no such resource in ${stack}`);
    const atts = physical(this.env, id, resource.Type, this.nameOf(stack, id, resource)).atts;
    if (!(attr in atts)) throw new Error(`Fn::GetAtt ${id}.${attr} (${resource.Type}) is not known to cfn-resolve`);
    return atts[attr];
  }

  private nameOf(stack: string, id: string, resource: { Type: string; Properties?: Record<string, unknown> }): string {
    const key = NAME_PROPERTY[resource.Type];
    const given = key ? resource.Properties?.[key] : undefined;
    return given === undefined ? id.toLowerCase() : this.resolveString(stack, given);
  }

  /**
   * The identity policies attached to a role of `stack`: inline, AWS::IAM::Policy resources naming
   * it, and AWS::IAM::ManagedPolicy resources naming it in their `Roles` (CDK moves statements
   * into such an overflow policy when a role's inline policy would pass IAM's 10,240 characters).
   */
  policiesOfRole(stack: string, roleLogicalId: string): PolicyDocument[] {
    const resources = this.template(stack).Resources ?? {};
    const role = resources[roleLogicalId];
    if (role?.Type !== 'AWS::IAM::Role') throw new Error(`${roleLogicalId} is not a role of ${stack}`);
    if (role.Properties?.ManagedPolicyArns) throw new Error(`${roleLogicalId} has managed policies, which this evaluator cannot see`);
    const inline = ((role.Properties?.Policies as { PolicyDocument: Json }[] | undefined) ?? []).map((p) => p.PolicyDocument);
    const attached = Object.values(resources)
      .filter((r) => (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') && (r.Properties?.Roles as Json[] | undefined)?.some((ref) => (ref as { Ref?: string }).Ref === roleLogicalId))
      .map((r) => r.Properties!.PolicyDocument);
    return [...inline, ...attached].map((doc) => this.resolve(stack, doc) as PolicyDocument);
  }
}

const NAME_PROPERTY: Record<string, string> = {
  'AWS::S3::Bucket': 'BucketName',
  'AWS::DynamoDB::Table': 'TableName',
  'AWS::StepFunctions::Activity': 'Name',
  'AWS::StepFunctions::StateMachine': 'StateMachineName',
  'AWS::Logs::LogGroup': 'LogGroupName',
  'AWS::IAM::Role': 'RoleName',
  'AWS::SNS::Topic': 'TopicName',
  'AWS::Lambda::Function': 'FunctionName',
};

function physical(env: FakeEnvironment, id: string, type: string, name: string): { ref: string; atts: Record<string, string> } {
  const { account: a, region: r, partition: p } = env;
  switch (type) {
    case 'AWS::S3::Bucket':
      return { ref: name, atts: { Arn: `arn:${p}:s3:::${name}`, DomainName: `${name}.s3.amazonaws.com`, RegionalDomainName: `${name}.s3.${r}.amazonaws.com` } };
    case 'AWS::KMS::Key':
      return { ref: `key-${id}`, atts: { Arn: `arn:${p}:kms:${r}:${a}:key/key-${id}`, KeyId: `key-${id}` } };
    case 'AWS::DynamoDB::Table':
      return { ref: name, atts: { Arn: `arn:${p}:dynamodb:${r}:${a}:table/${name}`, StreamArn: `arn:${p}:dynamodb:${r}:${a}:table/${name}/stream/fake` } };
    case 'AWS::StepFunctions::Activity':
      return { ref: `arn:${p}:states:${r}:${a}:activity:${name}`, atts: { Name: name } };
    case 'AWS::StepFunctions::StateMachine':
      return { ref: `arn:${p}:states:${r}:${a}:stateMachine:${name}`, atts: { Name: name, Arn: `arn:${p}:states:${r}:${a}:stateMachine:${name}` } };
    case 'AWS::Logs::LogGroup':
      return { ref: name, atts: { Arn: `arn:${p}:logs:${r}:${a}:log-group:${name}:*` } };
    case 'AWS::IAM::Role':
      return { ref: name, atts: { Arn: `arn:${p}:iam::${a}:role/${name}`, RoleId: `AROA${id.toUpperCase()}` } };
    case 'AWS::SNS::Topic':
      return { ref: `arn:${p}:sns:${r}:${a}:${name}`, atts: { TopicArn: `arn:${p}:sns:${r}:${a}:${name}`, TopicName: name } };
    case 'AWS::Lambda::Function':
      return { ref: name, atts: { Arn: `arn:${p}:lambda:${r}:${a}:function:${name}` } };
    case 'AWS::Lambda::Url':
      return { ref: id, atts: { FunctionUrl: `https://url${id.toLowerCase()}.lambda-url.${r}.on.aws/`, FunctionArn: `arn:${p}:lambda:${r}:${a}:function:${id}` } };
    case 'AWS::ApiGatewayV2::Api':
      return { ref: `api${id.toLowerCase()}`, atts: { ApiEndpoint: `https://api${id.toLowerCase()}.execute-api.${r}.amazonaws.com` } };
    default:
      return { ref: id, atts: { Arn: `arn:${p}:fake:${r}:${a}:${type}/${id}` } };
  }
}
