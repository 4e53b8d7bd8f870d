import { LOCAL_ENV, TemplateResolver } from '../infra/cfn-resolve.ts';
import type { DeploymentSnapshot } from './iam-gateway/deployment.ts';

// The deployment's event-pattern rules on the local cloud: every EventBridge rule with an
// EventPattern in the synthesized templates (local/scheduled-rules.ts takes the scheduled ones),
// its pattern evaluated against the events the local cloud emits (local/stepfunctions.ts: a
// Step Functions Execution Status Change when an execution ends) and each match delivered to
// its target, the alert topic, with the target's input transformer applied. Only the part of
// EventBridge's pattern language the deployment uses is evaluated, strictly: a rule using any
// other operator, a target that is not an SNS topic of the deployment, or an input path or
// template the stand-in cannot read stops the start, naming the rule. None is silently matched.

type Json = unknown;
type Matcher = (value: Json) => boolean;
/** A compiled pattern: whether an event (or a nested object of it) matches. */
type Predicate = (value: Json) => boolean;

export interface EventRuleTarget {
  id: string;
  topicArn: string;
  /** The message: from the event (input transformer, constant input or the whole event). */
  message(event: Record<string, Json>): string;
}

export interface EventRule {
  /** Logical id, as logs name it. */
  name: string;
  pattern: Json;
  matches(event: Record<string, Json>): boolean;
  targets: EventRuleTarget[];
}

/** An event rule the local cloud cannot stand in for. */
export class UnsupportedEventRuleError extends Error {
  override name = 'UnsupportedEventRuleError';
}

function wildcardMatcher(pattern: string, where: string): Matcher {
  if (pattern.includes('\\')) throw new UnsupportedEventRuleError(`${where}: a wildcard with an escape (\\) is not evaluated by the local cloud`);
  const regex = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
  return (value) => typeof value === 'string' && regex.test(value);
}

/**
 * `anything-but` of strings (one or a list): a string value not among them. A null value never
 * matches here: EventBridge's documentation does not say plainly whether it would, and the
 * deployment's rule never relies on it (a FAILED execution always carries its error's name).
 */
function anythingButMatcher(operand: Json, where: string): Matcher {
  const listed = typeof operand === 'string' ? [operand] : Array.isArray(operand) && operand.length > 0 && operand.every((o) => typeof o === 'string') ? (operand as string[]) : undefined;
  if (!listed) throw new UnsupportedEventRuleError(`${where}: {"anything-but":${JSON.stringify(operand)}} is not evaluated by the local cloud (it takes anything-but of strings)`);
  const excluded = new Set(listed);
  return (value) => typeof value === 'string' && !excluded.has(value);
}

function valueMatcher(spec: Json, where: string): Matcher {
  if (typeof spec === 'string') return (value) => value === spec;
  const entries = spec !== null && typeof spec === 'object' && !Array.isArray(spec) ? Object.entries(spec) : [];
  const [operator, operand] = entries.length === 1 ? entries[0]! : [];
  if (operator === 'prefix' && typeof operand === 'string') return (value) => typeof value === 'string' && value.startsWith(operand);
  if (operator === 'wildcard' && typeof operand === 'string') return wildcardMatcher(operand, where);
  if (operator === 'anything-but') return anythingButMatcher(operand, where);
  throw new UnsupportedEventRuleError(`${where}: ${JSON.stringify(spec)} is not evaluated by the local cloud (it takes exact strings, prefix, wildcard and anything-but of strings)`);
}

/** A field's value: matched by one of `matchers` (an array value by any element); an absent field never matches. */
function fieldPredicate(field: string, spec: Json[], where: string): Predicate {
  if (spec.length === 0) throw new UnsupportedEventRuleError(`${where}: an empty list matches nothing`);
  const matchers = spec.map((s) => valueMatcher(s, where));
  return (object) => {
    const value = (object as Record<string, Json>)[field];
    if (value === undefined) return false;
    const values = Array.isArray(value) ? value : [value];
    return values.some((v) => matchers.some((m) => m(v)));
  };
}

/** EventBridge's rule: every field of the pattern present and matched, and one pattern of each `$or` matched. */
function compile(pattern: Json, where: string): Predicate {
  if (pattern === null || typeof pattern !== 'object' || Array.isArray(pattern)) throw new UnsupportedEventRuleError(`${where}: a pattern is an object of fields`);
  const checks: Predicate[] = [];
  for (const [field, spec] of Object.entries(pattern as Record<string, Json>)) {
    const at = `${where}.${field}`;
    if (field === '$or') {
      if (!Array.isArray(spec) || spec.length < 2) throw new UnsupportedEventRuleError(`${at}: $or takes a list of at least two patterns`);
      const alternatives = spec.map((p, i) => compile(p, `${at}[${i}]`));
      checks.push((object) => alternatives.some((alternative) => alternative(object)));
    } else if (field.startsWith('$')) throw new UnsupportedEventRuleError(`${at}: ${field} is not evaluated by the local cloud`);
    else if (Array.isArray(spec)) checks.push(fieldPredicate(field, spec, at));
    else {
      const nested = compile(spec, at);
      checks.push((object) => {
        const value = (object as Record<string, Json>)[field];
        return value !== undefined && nested(value);
      });
    }
  }
  return (value) => value !== null && typeof value === 'object' && checks.every((check) => check(value));
}

const INPUT_PATH = /^\$(\.[A-Za-z0-9_-]+)+$/;

function readPath(event: Record<string, Json>, path: string, rule: string): Json {
  let value: Json = event;
  for (const key of path.slice(2).split('.')) value = value !== null && typeof value === 'object' ? (value as Record<string, Json>)[key] : undefined;
  if (value === undefined) throw new UnsupportedEventRuleError(`event rule ${rule}: the event has no ${path} for its input transformer`);
  return value;
}

/**
 * The input template with each `<name>` replaced as EventBridge does: inside a JSON string the
 * value's text (unescaped, as EventBridge leaves it), outside one the value as JSON.
 */
export function applyInputTemplate(template: string, values: Record<string, Json>): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c === '"' && template[i - 1] !== '\\') inString = !inString;
    const name = c === '<' ? /^<([A-Za-z0-9_.-]+)>/.exec(template.slice(i))?.[1] : undefined;
    if (name === undefined || !(name in values)) {
      out += c;
      continue;
    }
    const value = values[name];
    out += inString ? (typeof value === 'string' ? value : JSON.stringify(value)) : JSON.stringify(value);
    i += name.length + 1;
  }
  return out;
}

type Target = { Id?: string; Arn?: Json; Input?: string; InputPath?: string; InputTransformer?: { InputPathsMap?: Record<string, string>; InputTemplate?: string } };

function targetMessage(rule: string, target: Target): EventRuleTarget['message'] {
  if (target.InputPath !== undefined) throw new UnsupportedEventRuleError(`event rule ${rule}: InputPath is not evaluated by the local cloud`);
  const input = target.Input;
  if (input !== undefined) return () => input;
  const transformer = target.InputTransformer;
  if (!transformer) return (event) => JSON.stringify(event);
  const paths = transformer.InputPathsMap ?? {};
  for (const [name, path] of Object.entries(paths)) {
    if (!INPUT_PATH.test(path)) throw new UnsupportedEventRuleError(`event rule ${rule}: input path ${name} = ${path} is not evaluated by the local cloud (dot notation only)`);
  }
  const template = transformer.InputTemplate;
  if (typeof template !== 'string') throw new UnsupportedEventRuleError(`event rule ${rule}: its input transformer has no InputTemplate`);
  if (/<aws\.events\./.test(template)) throw new UnsupportedEventRuleError(`event rule ${rule}: the predefined <aws.events.…> variables are not evaluated by the local cloud`);
  return (event) => applyInputTemplate(template, Object.fromEntries(Object.entries(paths).map(([name, path]) => [name, readPath(event, path, rule)])));
}

type Resource = { Type: string; Properties?: Record<string, Json> };

function topicOf(template: { Resources?: Record<string, Resource> }, rule: string, target: Target): string {
  const ref = (target.Arn as { Ref?: string } | undefined)?.Ref;
  if (ref && template.Resources?.[ref]?.Type === 'AWS::SNS::Topic') return ref;
  throw new UnsupportedEventRuleError(`event rule ${rule}: its target ${JSON.stringify(target.Arn)} is not an SNS topic of the deployment (the local cloud delivers event rules to the alert topic only)`);
}

/** Every enabled event-pattern rule of the synthesized deployment, compiled. */
export function eventRules(snapshot: DeploymentSnapshot): EventRule[] {
  const resolver = new TemplateResolver(snapshot.templates, LOCAL_ENV);
  const rules: EventRule[] = [];
  for (const [stack, template] of Object.entries(snapshot.templates)) {
    for (const [id, resource] of Object.entries((template.Resources ?? {}) as Record<string, Resource>)) {
      const p = resource.Properties ?? {};
      if (resource.Type !== 'AWS::Events::Rule' || p.EventPattern === undefined || p.State === 'DISABLED') continue;
      const pattern = resolver.resolve(stack, p.EventPattern);
      const compiled = compile(pattern, `event rule ${id}: pattern`);
      const targets = ((p.Targets ?? []) as Target[]).map((t) => ({
        id: String(t.Id),
        topicArn: resolver.resolveString(stack, { Ref: topicOf(template, id, t) }),
        message: targetMessage(id, resolver.resolve(stack, t) as Target),
      }));
      rules.push({ name: id, pattern, matches: compiled, targets });
    }
  }
  return rules;
}

/** The deployed ARN of every state machine, by name (`Ferry-site-a-purge` → `arn:aws:states:…:stateMachine:Ferry-site-a-purge`). */
export function stateMachineArns(snapshot: DeploymentSnapshot): Map<string, string> {
  const resolver = new TemplateResolver(snapshot.templates, LOCAL_ENV);
  const out = new Map<string, string>();
  for (const [stack, template] of Object.entries(snapshot.templates)) {
    for (const [id, resource] of Object.entries((template.Resources ?? {}) as Record<string, Resource>)) {
      if (resource.Type !== 'AWS::StepFunctions::StateMachine') continue;
      const arn = resolver.resolveString(stack, { Ref: id });
      out.set(arn.slice(arn.lastIndexOf(':') + 1), arn);
    }
  }
  return out;
}

export interface EventDelivery {
  rule: string;
  target: string;
  topicArn: string;
  message: string;
}

/** The default event bus: `put` matches an event against every rule and hands each match to `deliver`. */
export class LocalEventBus {
  constructor(
    readonly rules: EventRule[],
    private readonly deliver: (delivery: EventDelivery) => void | Promise<void>,
  ) {}

  async put(event: Record<string, Json>): Promise<EventDelivery[]> {
    const out: EventDelivery[] = [];
    for (const rule of this.rules.filter((r) => r.matches(event))) {
      for (const target of rule.targets) {
        const delivery = { rule: rule.name, target: target.id, topicArn: target.topicArn, message: target.message(event) };
        await this.deliver(delivery);
        out.push(delivery);
      }
    }
    return out;
  }
}

export type WorkflowName = 'backupWindow' | 'purge' | 'recall';

/**
 * The deployed ARNs of `site`'s state machines, named as infra/workflows/index.ts names them
 * (`{prefix}-{site}-backup-window`, `{prefix}-{site}-purge`, `{prefix}-recall`; the prefix is the
 * processing stack's, `{prefix}-processing`); undefined when the deployment has no such site.
 */
export function siteStateMachines(snapshot: DeploymentSnapshot, site: string): Record<WorkflowName, string> | undefined {
  const prefix = snapshot.processing.replace(/-processing$/, '');
  const arns = stateMachineArns(snapshot);
  const backupWindow = arns.get(`${prefix}-${site}-backup-window`);
  const purge = arns.get(`${prefix}-${site}-purge`);
  const recall = arns.get(`${prefix}-recall`);
  return backupWindow && purge && recall ? { backupWindow, purge, recall } : undefined;
}
