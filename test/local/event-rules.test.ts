import { describe, expect, it } from 'vitest';
import { applyInputTemplate, eventRules, UnsupportedEventRuleError } from '../../local/event-rules.ts';
import type { DeploymentSnapshot } from '../../local/iam-gateway/deployment.ts';

// The local cloud evaluates only the part of EventBridge's pattern language the deployment
// uses; anything else stops the start with the rule named, rather than matching silently.

const snapshotWith = (pattern: unknown, target: Record<string, unknown> = { Arn: { Ref: 'Topic' }, Id: 'T' }) =>
  ({
    processing: 'Ferry-processing',
    templates: { 'Ferry-processing': { Resources: { Topic: { Type: 'AWS::SNS::Topic', Properties: {} }, Fn: { Type: 'AWS::Lambda::Function', Properties: {} }, Rule: { Type: 'AWS::Events::Rule', Properties: { EventPattern: pattern, Targets: [target] } } } } },
  }) as unknown as DeploymentSnapshot;

describe("the local cloud's event rules", () => {
  it.each([
    [{ detail: { status: [{ 'anything-but': 'SUCCEEDED' }] } }, 'event rule Rule: pattern.detail.status: {"anything-but":"SUCCEEDED"} is not evaluated'],
    [{ detail: { count: [{ numeric: ['>', 0] }] } }, 'pattern.detail.count: {"numeric":[">",0]} is not evaluated'],
    [{ detail: { n: [3] } }, 'pattern.detail.n: 3 is not evaluated'],
    [{ $or: [{ source: ['a'] }] }, 'pattern.$or: $or is not evaluated'],
    [{ detail: { arn: [{ wildcard: 'a\\*b' }] } }, 'a wildcard with an escape'],
  ])('refuses the pattern %j, naming the rule and the field', (pattern, message) => {
    expect(() => eventRules(snapshotWith(pattern))).toThrow(UnsupportedEventRuleError);
    expect(() => eventRules(snapshotWith(pattern))).toThrow(message);
  });

  it('refuses a target that is not an SNS topic of the deployment, and an input path it cannot read', () => {
    expect(() => eventRules(snapshotWith({ source: ['aws.states'] }, { Arn: { 'Fn::GetAtt': ['Fn', 'Arn'] }, Id: 'T' }))).toThrow('event rule Rule: its target {"Fn::GetAtt":["Fn","Arn"]} is not an SNS topic');
    const transformer = { InputPathsMap: { s: '$.detail[0]' }, InputTemplate: '"<s>"' };
    expect(() => eventRules(snapshotWith({ source: ['aws.states'] }, { Arn: { Ref: 'Topic' }, Id: 'T', InputTransformer: transformer }))).toThrow('input path s = $.detail[0] is not evaluated');
  });

  it('matches exact, prefix and wildcard values, an array value by any element, and never an absent field', () => {
    const [rule] = eventRules(snapshotWith({ source: ['aws.states'], resources: [{ prefix: 'arn:x:' }], detail: { arn: [{ wildcard: 'F-*-purge' }, 'F-recall'] } }));
    const event = (arn: string, resources = ['z', 'arn:x:1']) => ({ source: 'aws.states', resources, detail: { arn } });
    expect([event('F-a-b-purge'), event('F-recall'), event('F-a-purge-backup-window'), event('F-a-purge', ['z']), { source: 'aws.states', resources: ['arn:x:1'] }].map((e) => rule!.matches(e))).toEqual([true, true, false, false, false]);
  });

  it('fills an input template as EventBridge does: a value inside a JSON string as its text, outside one as JSON', () => {
    expect(applyInputTemplate('{"s":<s>,"what":"ended <s> at <n>","n":<n>,"x":"<unknown>"}', { s: 'FAILED', n: 3 })).toBe('{"s":"FAILED","what":"ended FAILED at 3","n":3,"x":"<unknown>"}');
  });
});
