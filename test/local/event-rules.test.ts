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
    [{ detail: { status: [{ 'anything-but': { prefix: 'S' } }] } }, 'event rule Rule: pattern.detail.status: {"anything-but":{"prefix":"S"}} is not evaluated'],
    [{ detail: { n: [{ 'anything-but': [3] }] } }, 'pattern.detail.n: {"anything-but":[3]} is not evaluated'],
    [{ detail: { count: [{ numeric: ['>', 0] }] } }, 'pattern.detail.count: {"numeric":[">",0]} is not evaluated'],
    [{ detail: { n: [3] } }, 'pattern.detail.n: 3 is not evaluated'],
    [{ $or: [{ source: ['a'] }] }, 'pattern.$or: $or takes a list of at least two patterns'],
    [{ $and: [{ source: ['a'] }, { source: ['b'] }] }, 'pattern.$and: $and is not evaluated'],
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

  it('matches anything-but (a string value not listed; never a null or absent one) and $or (any one of its patterns, beside the other fields)', () => {
    const [rule] = eventRules(snapshotWith({ source: ['aws.states'], detail: { $or: [{ status: ['TIMED_OUT'] }, { status: ['FAILED'], error: [{ 'anything-but': ['Reported', 'Told'] }] }] } }));
    const event = (detail: Record<string, unknown>, source = 'aws.states') => ({ source, detail });
    const cases = [
      event({ status: 'TIMED_OUT' }),
      event({ status: 'FAILED', error: 'States.TaskFailed' }),
      event({ status: 'FAILED', error: 'Reported' }),
      event({ status: 'FAILED', error: 'Told' }),
      event({ status: 'FAILED', error: null }),
      event({ status: 'FAILED' }),
      event({ status: 'SUCCEEDED', error: 'States.TaskFailed' }),
      event({ status: 'TIMED_OUT' }, 'aws.s3'),
    ];
    expect(cases.map((e) => rule!.matches(e))).toEqual([true, true, false, false, false, false, false, false]);
  });

  it('fills an input template as EventBridge does: a value inside a JSON string as its text, outside one as JSON', () => {
    expect(applyInputTemplate('{"s":<s>,"what":"ended <s> at <n>","n":<n>,"x":"<unknown>"}', { s: 'FAILED', n: 3 })).toBe('{"s":"FAILED","what":"ended FAILED at 3","n":3,"x":"<unknown>"}');
  });
});
