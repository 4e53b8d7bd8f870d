// A small offline IAM policy evaluator: enough of the IAM evaluation logic to check the
// synthesized policies of this app (site isolation, add-only agents, TLS-only bucket) without
// an AWS account. Concrete ARNs only: resolve CloudFormation intrinsics first (cfn-resolve.ts).
//
// What it implements: Effect Allow/Deny with explicit-deny precedence and default deny;
// Action/NotAction (case-insensitive, `*` and `?`); Resource/NotResource (case-sensitive
// globs); Principal for resource policies; Condition operators String(Not)Equals(IgnoreCase),
// String(Not)Like, Arn(Not)Equals/Like, Null, Bool, Numeric*, each with `…IfExists`, and the
// ForAnyValue:/ForAllValues: set qualifiers. All operators of a block must hold; within an
// operator every key; within a key any of the values.
// What it does not: policy variables, permission boundaries, SCPs, session policies, NotPrincipal.
// An unknown operator throws: an evaluator that silently ignored a condition would allow too much;
// so does, when the caller says which keys it supplies (`knows`), a key it does not.

export type ContextValue = string | number | boolean | (string | number | boolean)[];

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Principal?: '*' | Record<string, string | string[]>;
  Condition?: Record<string, Record<string, ContextValue>>;
}

export interface PolicyDocument {
  Version?: string;
  Statement: PolicyStatement | PolicyStatement[];
}

export interface AccessRequest {
  action: string;
  resource: string;
  /** Request context keys (`aws:SecureTransport`, `s3:prefix`, …); names are case-insensitive. */
  context?: Record<string, ContextValue | undefined>;
  /** The caller, for resource-based policies: an ARN, or `{ Service: 'logs.amazonaws.com' }`-like pairs. */
  principal?: { type: 'AWS' | 'Service'; id: string };
  /**
   * Whether the caller can supply this condition key when the request carries it. A statement
   * that applies to the request and names a key absent from `context` that the caller does not
   * know throws: absent, the key would make an Allow fail but a Deny pass silently, so a
   * condition the caller never evaluates could let through what AWS refuses.
   */
  knows?: (key: string) => boolean;
}

export type Decision = 'allow' | 'explicit-deny' | 'implicit-deny';

export interface Evaluation {
  decision: Decision;
  /** Sids (or indexes) of the statements that matched, for messages. */
  allowedBy: string[];
  deniedBy: string[];
}

const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** Compiled patterns: policies hold a few hundred, and every request evaluates them (a bound keeps odd callers from growing it). */
const compiled = new Map<string, RegExp>();
const COMPILED_MAX = 10_000;

function globToRegExp(pattern: string, flags: string): RegExp {
  const key = `${flags}:${pattern}`;
  const known = compiled.get(key);
  if (known) return known;
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  // No `g` or `y` flag: test() keeps no state, so one RegExp serves every call.
  const re = new RegExp(`^${body}$`, flags);
  if (compiled.size >= COMPILED_MAX) compiled.clear();
  compiled.set(key, re);
  return re;
}

export function globMatch(pattern: string, value: string, caseInsensitive = false): boolean {
  return globToRegExp(pattern, caseInsensitive ? 'is' : 's').test(value);
}

function matchesAny(patterns: string[], value: string, caseInsensitive: boolean): boolean {
  return patterns.some((p) => globMatch(p, value, caseInsensitive));
}

function actionApplies(s: PolicyStatement, action: string): boolean {
  if (s.Action !== undefined) return matchesAny(list(s.Action), action, true);
  if (s.NotAction !== undefined) return !matchesAny(list(s.NotAction), action, true);
  throw new Error(`statement ${s.Sid ?? ''} has neither Action nor NotAction`);
}

function resourceApplies(s: PolicyStatement, resource: string): boolean {
  if (s.Resource !== undefined) return matchesAny(list(s.Resource), resource, false);
  if (s.NotResource !== undefined) return !matchesAny(list(s.NotResource), resource, false);
  return true; // trust policies and some resource policies omit it
}

function principalApplies(s: PolicyStatement, principal: AccessRequest['principal']): boolean {
  if (s.Principal === undefined) return true; // identity policy
  // `"*"` and `{ "AWS": "*" }` are equivalent: every caller, services and anonymous included.
  if (s.Principal === '*' || list(s.Principal.AWS).includes('*')) return true;
  if (!principal) return false;
  const ids = list(s.Principal[principal.type]);
  return ids.some((id) => id === '*' || id === principal.id || (principal.type === 'AWS' && /^\d{12}$/.test(id) && principal.id.includes(`::${id}:`)));
}

// ---- conditions ----

type Comparator = (expected: string, actual: string) => boolean;

const STRING: Record<string, Comparator> = {
  StringEquals: (e, a) => e === a,
  StringNotEquals: (e, a) => e === a,
  StringEqualsIgnoreCase: (e, a) => e.toLowerCase() === a.toLowerCase(),
  StringNotEqualsIgnoreCase: (e, a) => e.toLowerCase() === a.toLowerCase(),
  StringLike: (e, a) => globMatch(e, a),
  StringNotLike: (e, a) => globMatch(e, a),
  ArnEquals: (e, a) => globMatch(e, a),
  ArnNotEquals: (e, a) => globMatch(e, a),
  ArnLike: (e, a) => globMatch(e, a),
  ArnNotLike: (e, a) => globMatch(e, a),
  Bool: (e, a) => e.toLowerCase() === a.toLowerCase(),
  NumericEquals: (e, a) => Number(a) === Number(e),
  NumericNotEquals: (e, a) => Number(a) === Number(e),
  NumericLessThan: (e, a) => Number(a) < Number(e),
  NumericLessThanEquals: (e, a) => Number(a) <= Number(e),
  NumericGreaterThan: (e, a) => Number(a) > Number(e),
  NumericGreaterThanEquals: (e, a) => Number(a) >= Number(e),
};

/** Negated operators: the positive comparison is computed above and inverted here. */
const NEGATED = new Set(['StringNotEquals', 'StringNotEqualsIgnoreCase', 'StringNotLike', 'ArnNotEquals', 'ArnNotLike', 'NumericNotEquals']);

function contextValue(context: AccessRequest['context'], key: string): string[] | undefined {
  if (!context) return undefined;
  const found = Object.keys(context).find((k) => k.toLowerCase() === key.toLowerCase());
  const value = found === undefined ? undefined : context[found];
  return value === undefined ? undefined : list(value).map(String);
}

function parseOperator(raw: string): { qualifier?: 'ForAnyValue' | 'ForAllValues'; name: string; ifExists: boolean } {
  const [q, rest] = raw.includes(':') ? (raw.split(':', 2) as [string, string]) : [undefined, raw];
  if (q !== undefined && q !== 'ForAnyValue' && q !== 'ForAllValues') throw new Error(`unknown condition qualifier ${q}`);
  const ifExists = rest.endsWith('IfExists');
  const name = ifExists ? rest.slice(0, -'IfExists'.length) : rest;
  if (name !== 'Null' && !(name in STRING)) throw new Error(`condition operator ${raw} is not implemented by the evaluator`);
  return { qualifier: q, name, ifExists };
}

function keyHolds(operator: string, expected: string[], actual: string[] | undefined): boolean {
  const { qualifier, name, ifExists } = parseOperator(operator);
  if (name === 'Null') return expected.some((e) => (e.toLowerCase() === 'true') === (actual === undefined));
  if (actual === undefined) return ifExists || (qualifier === 'ForAllValues' ? true : NEGATED.has(name));
  const cmp = STRING[name]!;
  const negated = NEGATED.has(name);
  const one = (a: string) => (negated ? !expected.some((e) => cmp(e, a)) : expected.some((e) => cmp(e, a)));
  if (qualifier === 'ForAllValues') return actual.every(one);
  return negated && qualifier === undefined ? actual.every(one) : actual.some(one);
}

function conditionsHold(s: PolicyStatement, request: Pick<AccessRequest, 'context' | 'knows'>): boolean {
  for (const [operator, block] of Object.entries(s.Condition ?? {})) {
    for (const [key, expected] of Object.entries(block)) {
      const actual = contextValue(request.context, key);
      if (actual === undefined && request.knows && !request.knows(key)) {
        throw new Error(`statement ${s.Sid ?? ''} conditions on ${key}, a key this evaluator's caller does not supply: it cannot decide the request as AWS would`);
      }
      if (!keyHolds(operator, list(expected).map(String), actual)) return false;
    }
  }
  return true;
}

function statementsOf(doc: PolicyDocument): PolicyStatement[] {
  return list(doc.Statement);
}

/** Whether one statement applies to the request (its effect is the caller's business). */
export function statementApplies(s: PolicyStatement, request: AccessRequest): boolean {
  return actionApplies(s, request.action) && resourceApplies(s, request.resource) && principalApplies(s, request.principal) && conditionsHold(s, request);
}

/** Evaluates the request against all the policies together (identity and/or resource policies of one account). */
export function evaluate(policies: PolicyDocument[], request: AccessRequest): Evaluation {
  const allowedBy: string[] = [];
  const deniedBy: string[] = [];
  policies.forEach((doc, p) =>
    statementsOf(doc).forEach((s, i) => {
      if (s.Effect !== 'Allow' && s.Effect !== 'Deny') throw new Error(`statement ${s.Sid ?? i} has Effect ${String(s.Effect)}`);
      if (!statementApplies(s, request)) return;
      (s.Effect === 'Deny' ? deniedBy : allowedBy).push(s.Sid ?? `policy${p}#${i}`);
    }),
  );
  const decision: Decision = deniedBy.length > 0 ? 'explicit-deny' : allowedBy.length > 0 ? 'allow' : 'implicit-deny';
  return { decision, allowedBy, deniedBy };
}

export function isAllowed(policies: PolicyDocument[], request: AccessRequest): boolean {
  return evaluate(policies, request).decision === 'allow';
}
