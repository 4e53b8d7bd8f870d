import { Stack, Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { IConstruct } from 'constructs';

// cdk-nag (AwsSolutions) over the whole app, and the one way findings are acknowledged here.
// cdk-nag 3 acknowledges each finding separately (`AwsSolutions-IAM5[Resource::…]`), so a
// wildcard under one site's prefix is acknowledged for that prefix only, with its own reason:
// a new wildcard nobody has justified fails synthesis.

/** Reasons shorter than this say nothing; test/infra checks every acknowledgement against it. */
export const MIN_REASON_LENGTH = 40;

/** Acknowledges one finding of one rule (`finding` undefined: the rule as a whole) on `scope` and its children. */
export function acknowledge(scope: IConstruct, ruleId: string, finding: string | undefined, reason: string): void {
  if (reason.trim().length < MIN_REASON_LENGTH) throw new Error(`acknowledging ${ruleId} needs a specific reason (at least ${MIN_REASON_LENGTH} characters), got "${reason}"`);
  Validations.of(scope).acknowledge({ id: finding === undefined ? ruleId : `${ruleId}[${finding}]`, reason });
}

/**
 * Acknowledges the IAM5 finding cdk-nag reports for a wildcard resource: the resource is
 * resolved and flattened exactly as cdk-nag does (`<Logical.Arn>/recordings/site-a/*`).
 * Only stable tokens (same-stack references, pseudo parameters) flatten the same at
 * construction and at validation time; cross-stack references do not (they become imports).
 */
export function acknowledgeWildcardResource(scope: IConstruct, resource: string, reason: string): void {
  const flat = flattenCfnReference(Stack.of(scope).resolve(resource));
  acknowledge(scope, 'AwsSolutions-IAM5', `Resource::${flat}`, reason);
}

/** Same, for a wildcard action (e.g. `s3:GetObject*` written by a CDK grant). */
export function acknowledgeWildcardAction(scope: IConstruct, action: string, reason: string): void {
  acknowledge(scope, 'AwsSolutions-IAM5', `Action::${action}`, reason);
}

export function addNagChecks(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
}
