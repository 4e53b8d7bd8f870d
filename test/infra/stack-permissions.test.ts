import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../infra/config.ts';
import { isAllowed, type PolicyDocument } from '../../infra/policy-eval.ts';
import { workflowsFactory, type BuiltWorkflows } from '../../infra/workflows/build.ts';
import { logicalId, synthFerry, type Synthesized } from './fixture.ts';

// What the deployed stack's principals may do, read from the synthesized templates with the
// offline evaluator: the purge on the catalogue, officers and DR readers on the API and replay,
// the catalogue function on the recall workflow.


let synth: Synthesized;
let built: BuiltWorkflows;
let table: string;

beforeAll(() => {
  synth = synthFerry(DEFAULT_CONFIG, { workflows: workflowsFactory({ onBuilt: (b) => (built = b) }) });
  table = synth.resolver.resolveString(synth.stateful.stackName, { 'Fn::GetAtt': [logicalId(synth.stateful.table), 'Arn'] });
});

const rolePolicies = (role: { node: unknown } & object): PolicyDocument[] => synth.resolver.policiesOfRole(synth.processing.stackName, logicalId(role as never));
const leading = (pk: string) => ({ 'dynamodb:LeadingKeys': [pk] });

describe('the purge function on the catalogue', () => {
  it('may BatchWriteItem (delete) the recording, pack and artefact items it forgets, and nothing else', () => {
    const p = rolePolicies(built.functions.purge.role!);
    for (const pk of ['REC#site-a#r1', 'PACK#site-a#p1', 'ART#site-a']) {
      expect(isAllowed(p, { action: 'dynamodb:BatchWriteItem', resource: table, context: leading(pk) }), pk).toBe(true);
    }
    for (const pk of ['ARTSRC#site-a', 'RUN#site-a', 'LOCK#site-a']) {
      expect(isAllowed(p, { action: 'dynamodb:BatchWriteItem', resource: table, context: leading(pk) }), pk).toBe(false);
    }
    expect(isAllowed(p, { action: 'dynamodb:DeleteItem', resource: table, context: leading('REC#site-a#r1') })).toBe(false);
    expect(isAllowed(p, { action: 'dynamodb:Scan', resource: table })).toBe(false);
  });

  it('still reads legal holds and holds its lock', () => {
    const p = rolePolicies(built.functions.purge.role!);
    expect(isAllowed(p, { action: 'dynamodb:GetItem', resource: table, context: leading('REC#site-a#r1') })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading('LOCK#site-a') })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading('REC#site-a#r1') })).toBe(false);
  });
});
