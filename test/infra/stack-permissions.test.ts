import { beforeAll, describe, expect, it } from 'vitest';
import { FAKE_ENV } from '../../infra/cfn-resolve.ts';
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
  it('may BatchWriteItem (delete) the recording, pack and artefact items it forgets, DeleteItem (conditional) a recording entry only, and nothing else', () => {
    const p = rolePolicies(built.functions.purge.role!);
    for (const pk of ['REC#site-a#r1', 'PACK#site-a#p1', 'ART#site-a']) {
      expect(isAllowed(p, { action: 'dynamodb:BatchWriteItem', resource: table, context: leading(pk) }), pk).toBe(true);
    }
    for (const pk of ['ARTSRC#site-a', 'RUN#site-a', 'LOCK#site-a']) {
      expect(isAllowed(p, { action: 'dynamodb:BatchWriteItem', resource: table, context: leading(pk) }), pk).toBe(false);
    }
    expect(isAllowed(p, { action: 'dynamodb:DeleteItem', resource: table, context: leading('REC#site-a#r1') })).toBe(true);
    for (const pk of ['PACK#site-a#p1', 'HOLD#site-a', 'ERASE#site-a', 'AUDIT#site-a']) expect(isAllowed(p, { action: 'dynamodb:DeleteItem', resource: table, context: leading(pk) }), pk).toBe(false);
    expect(isAllowed(p, { action: 'dynamodb:Scan', resource: table })).toBe(false);
  });

  it('reads the legal hold records (never writes them), holds its lock, re-catalogues copied-out calls, reads where a pack\'s calls are catalogued and where their other copies are', () => {
    const p = rolePolicies(built.functions.purge.role!);
    expect(isAllowed(p, { action: 'dynamodb:Query', resource: table, context: leading('HOLD#site-a') })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading('HOLD#site-a') })).toBe(false);
    expect(isAllowed(p, { action: 'dynamodb:BatchWriteItem', resource: table, context: leading('HOLD#site-a') })).toBe(false);
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading('LOCK#site-a') })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading('REC#site-a#r1') })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading('RUN#site-a') })).toBe(false);
    // Where a pack's calls are catalogued now, before it forgets them (a call shipped twice keeps its other copy's entry).
    expect(isAllowed(p, { action: 'dynamodb:BatchGetItem', resource: table, context: leading('REC#site-a#r1') })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:BatchGetItem', resource: table, context: leading('HOLD#site-a') })).toBe(false);
    // The other copies of an erased call (a recording's COPY# items), by a Query of its partition.
    expect(isAllowed(p, { action: 'dynamodb:Query', resource: table, context: leading('REC#site-a#r1') })).toBe(true);
    for (const pk of ['CASE#site-a', 'RUN#site-a', 'EXPORT#site-a']) expect(isAllowed(p, { action: 'dynamodb:Query', resource: table, context: leading(pk) }), pk).toBe(false);
  });

  it("records its run's start on PURGERUN# items only (PutItem), and may not write a window's run record or the dead-man's memory", () => {
    const p = rolePolicies(built.functions.purge.role!);
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading('PURGERUN#site-a') })).toBe(true);
    for (const action of ['dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem']) expect(isAllowed(p, { action, resource: table, context: leading('PURGERUN#site-a') }), action).toBe(false);
    for (const pk of ['RUN#site-a', 'DEADMAN#site-a']) expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading(pk) }), pk).toBe(false);
    // The window may not write purge runs either: each writes its own kind of run record.
    const window = rolePolicies(built.functions.window.role!);
    expect(isAllowed(window, { action: 'dynamodb:PutItem', resource: table, context: leading('RUN#site-a') })).toBe(true);
    expect(isAllowed(window, { action: 'dynamodb:PutItem', resource: table, context: leading('PURGERUN#site-a') })).toBe(false);
  });

  it('keeps its open intents on PURGEINTENT# items (Get, Put, Delete, Query), deletes no audit record, and the audit view (catalogue, console) may only Query them', () => {
    const p = rolePolicies(built.functions.purge.role!);
    for (const action of ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:Query']) expect(isAllowed(p, { action, resource: table, context: leading('PURGEINTENT#site-a') }), action).toBe(true);
    for (const pk of ['AUDIT#site-a', 'AUDITSEAL#site-a']) expect(isAllowed(p, { action: 'dynamodb:DeleteItem', resource: table, context: leading(pk) }), pk).toBe(false);
    for (const fn of [built.functions.lock, built.functions.window]) expect(isAllowed(rolePolicies(fn.role!), { action: 'dynamodb:PutItem', resource: table, context: leading('PURGEINTENT#site-a') })).toBe(false);
    for (const role of [synth.processing.functions.catalogue.role!, synth.processing.functions.console.role!]) {
      const r = rolePolicies(role);
      expect(isAllowed(r, { action: 'dynamodb:Query', resource: table, context: leading('PURGEINTENT#site-a') })).toBe(true);
      for (const action of ['dynamodb:PutItem', 'dynamodb:DeleteItem']) expect(isAllowed(r, { action, resource: table, context: leading('PURGEINTENT#site-a') }), action).toBe(false);
    }
  });

  it('may set legal hold on packs and manifests (copy-out) but never bypasses governance or shortens retention', () => {
    const p = rolePolicies(built.functions.purge.role!);
    const bucket = `ferry-data-${account}-${region}`;
    for (const key of ['recordings/site-a/2025/01/01/p1.tar', 'manifests/site-a/recordings/2025/01/01/p1.json']) {
      expect(isAllowed(p, { action: 's3:PutObjectLegalHold', resource: `arn:aws:s3:::${bucket}/${key}` }), key).toBe(true);
      expect(isAllowed(p, { action: 's3:BypassGovernanceRetention', resource: `arn:aws:s3:::${bucket}/${key}` }), key).toBe(false);
      expect(isAllowed(p, { action: 's3:PutObjectRetention', resource: `arn:aws:s3:::${bucket}/${key}` }), key).toBe(false);
    }
    expect(isAllowed(p, { action: 's3:PutObjectLegalHold', resource: `arn:aws:s3:::${bucket}/backups/site-a/db/x.rbk` })).toBe(false);
  });
});

// The console runs the holds function's code in process for officers, so it has the same grants.
describe('the fleet function (GET /fleet) on the catalogue', () => {
  it("reads window and purge runs (Query) and the dead-man's switch's memory of a site (GetItem of DEADMAN# only), and writes nothing", () => {
    const p = rolePolicies(synth.processing.functions.roles.fleet);
    for (const pk of ['RUN#site-a', 'PURGERUN#site-a']) expect(isAllowed(p, { action: 'dynamodb:Query', resource: table, context: leading(pk) }), pk).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:GetItem', resource: table, context: leading('DEADMAN#site-a') })).toBe(true);
    for (const pk of ['REC#site-a#r1', 'HOLD#site-a', 'LOCK#site-a']) expect(isAllowed(p, { action: 'dynamodb:GetItem', resource: table, context: leading(pk) }), pk).toBe(false);
    for (const action of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem']) {
      expect(isAllowed(p, { action, resource: table, context: leading('DEADMAN#site-a') }), action).toBe(false);
    }
  });
});

describe.each(['holds', 'console'] as const)('the %s function on legal holds', (fn) => {
  it('reads and writes hold and case records, reads recordings (a case\'s 100 at a time), never writes a recording', () => {
    const p = rolePolicies(synth.processing.functions.roles[fn]);
    for (const pk of ['HOLD#site-a', 'CASE#site-a']) {
      for (const action of ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query']) expect(isAllowed(p, { action, resource: table, context: leading(pk) }), `${action} ${pk}`).toBe(true);
    }
    expect(isAllowed(p, { action: 'dynamodb:GetItem', resource: table, context: leading('REC#site-a#r1') })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:BatchGetItem', resource: table, context: leading('REC#site-a#r1') })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:BatchGetItem', resource: table, context: leading('LOCK#site-a') })).toBe(false);
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading('REC#site-a#r1') })).toBe(false);
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading('LOCK#site-a') })).toBe(false);
  });

  it('sets S3 legal hold on packs and manifests and can delete nothing, bypass nothing', () => {
    const p = rolePolicies(synth.processing.functions.roles[fn]);
    const bucket = `ferry-data-${account}-${region}`;
    const pack = `arn:aws:s3:::${bucket}/recordings/site-a/2025/01/01/p1.tar`;
    expect(isAllowed(p, { action: 's3:PutObjectLegalHold', resource: pack })).toBe(true);
    expect(isAllowed(p, { action: 's3:PutObjectLegalHold', resource: `arn:aws:s3:::${bucket}/manifests/site-a/recordings/2025/01/01/p1.json` })).toBe(true);
    for (const action of ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:BypassGovernanceRetention', 's3:PutObjectRetention', 's3:PutObject']) {
      expect(isAllowed(p, { action, resource: pack }), action).toBe(false);
    }
  });
});

// A search page of a site with many erasure requests looks up its own calls' (core/erasures.ts erasureGate);
// a page of the erasure list (the holds function's, and the console's running its code) reads its own requests whole.
describe.each(['catalogue', 'console', 'holds'] as const)('the %s function on erasure requests', (fn) => {
  it('reads a page of erasure requests with BatchGetItem, and nothing else with it', () => {
    const p = rolePolicies(synth.processing.functions.roles[fn]);
    expect(isAllowed(p, { action: 'dynamodb:BatchGetItem', resource: table, context: leading('ERASE#site-a') })).toBe(true);
    for (const pk of ['LOCK#site-a', 'HOLD#site-a', 'AUDIT#site-a']) expect(isAllowed(p, { action: 'dynamodb:BatchGetItem', resource: table, context: leading(pk) }), pk).toBe(false);
  });
});

describe('case exports from the console', () => {
  const bucket = () => `arn:aws:s3:::ferry-data-${account}-${region}`;
  const exportFn = () => synth.resolver.resolveString(synth.processing.stackName, { 'Fn::GetAtt': [logicalId(synth.processing.functions.export), 'Arn'] });

  it('the export function reads packs and recording entries, writes bundles under exports/ only, and ends EXPORT# status records', () => {
    const p = rolePolicies(synth.processing.functions.roles.export);
    expect(isAllowed(p, { action: 's3:GetObject', resource: `${bucket()}/recordings/site-a/2025/01/01/p1.tar` })).toBe(true);
    for (const action of ['s3:PutObject', 's3:AbortMultipartUpload']) expect(isAllowed(p, { action, resource: `${bucket()}/exports/site-a/x.tar` }), action).toBe(true);
    expect(isAllowed(p, { action: 's3:PutObject', resource: `${bucket()}/recordings/site-a/2025/01/01/p1.tar` })).toBe(false);
    expect(isAllowed(p, { action: 's3:GetObject', resource: `${bucket()}/manifests/site-a/x.json` })).toBe(false);
    expect(isAllowed(p, { action: 's3:DeleteObject', resource: `${bucket()}/exports/site-a/x.tar` })).toBe(false);
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading('EXPORT#site-a') })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:GetItem', resource: table, context: leading('REC#site-a#r1') })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading('REC#site-a#r1') })).toBe(false);
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading('HOLD#site-a') })).toBe(false);
  });

  it('the console starts the export function and nothing else of Lambda, reads bundles (to presign) but cannot write them, and writes EXPORT# records', () => {
    const p = rolePolicies(synth.processing.functions.roles.console);
    expect(isAllowed(p, { action: 'lambda:InvokeFunction', resource: exportFn() })).toBe(true);
    expect(isAllowed(p, { action: 'lambda:InvokeFunction', resource: replayFunction() })).toBe(false);
    expect(isAllowed(p, { action: 's3:GetObject', resource: `${bucket()}/exports/site-a/x.tar` })).toBe(true);
    expect(isAllowed(p, { action: 's3:PutObject', resource: `${bucket()}/exports/site-a/x.tar` })).toBe(false);
    expect(isAllowed(p, { action: 's3:GetObject', resource: `${bucket()}/recordings/site-a/2025/01/01/p1.tar` })).toBe(false);
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading('EXPORT#site-a') })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading('REC#site-a#r1') })).toBe(false);
  });
});

const { account, region } = FAKE_ENV;
const apiArn = (method: string, path: string) => {
  const apiId = synth.resolver.resolveString(synth.processing.stackName, { Ref: logicalId(synth.processing.api.api) });
  return `arn:aws:execute-api:${region}:${account}:${apiId}/$default/${method}${path}`;
};
const replayFunction = () => synth.resolver.resolveString(synth.processing.stackName, { 'Fn::GetAtt': [logicalId(synth.processing.functions.replay), 'Arn'] });
/** A request through a Function URL with IAM auth, as Lambda authorizes it since October 2025: both actions. */
const viaUrl = { 'lambda:FunctionUrlAuthType': 'AWS_IAM', 'lambda:InvokedViaFunctionUrl': true };
const site = (name: string) => synth.processing.sites.find((s) => s.site === name)!;

describe("site-a's listener role", () => {
  it('searches, reads, follows and asks for recalls of site-a recordings on the API, and nothing else of the API', () => {
    const p = rolePolicies(site('site-a').listenerRole);
    for (const [method, path] of [['GET', '/sites/site-a/recordings'], ['GET', '/sites/site-a/recordings/r0123'], ['GET', '/sites/site-a/recordings/r0123/recall'], ['POST', '/sites/site-a/recordings/r0123/recall']] as const) {
      expect(isAllowed(p, { action: 'execute-api:Invoke', resource: apiArn(method, path) }), `${method} ${path}`).toBe(true);
    }
    const refused: ['GET' | 'POST', string][] = [
      ['GET', '/sites/site-a/audit'], ['GET', '/sites/site-a/snapshots'], ['GET', '/sites/site-a/artefacts'],
      ['GET', '/sites/site-a/holds'], ['POST', '/sites/site-a/holds'], ['POST', '/sites/site-a/holds/release'],
      ['GET', '/sites/site-a/cases'], ['GET', '/sites/site-a/cases/C-1'], ['POST', '/sites/site-a/cases'], ['POST', '/sites/site-a/cases/C-1/calls'],
      ['GET', '/sites/site-a/erasures'], ['POST', '/sites/site-a/erasures'],
      ['GET', '/sites/site-b/recordings'], ['GET', '/sites/site-b/recordings/r0123'], ['POST', '/sites/site-b/recordings/r0123/recall'], ['GET', '/fleet'],
    ];
    for (const [method, path] of refused) expect(isAllowed(p, { action: 'execute-api:Invoke', resource: apiArn(method, path) }), `${method} ${path}`).toBe(false);
  });

  it("replays through site-a's replay URL only, and reads no object, table item or key (not the audit trail)", () => {
    const p = rolePolicies(site('site-a').listenerRole);
    const own = `${replayFunction()}:site-site-a`;
    expect(isAllowed(p, { action: 'lambda:InvokeFunctionUrl', resource: own, context: viaUrl })).toBe(true);
    expect(isAllowed(p, { action: 'lambda:InvokeFunction', resource: own, context: viaUrl })).toBe(true);
    expect(isAllowed(p, { action: 'lambda:InvokeFunctionUrl', resource: `${replayFunction()}:site-site-b`, context: viaUrl })).toBe(false);
    expect(isAllowed(p, { action: 'lambda:InvokeFunction', resource: own })).toBe(false);
    const actions = new Set(p.flatMap((d) => d.Statement).flatMap((s) => ([] as string[]).concat(s.Action ?? [])));
    expect([...actions].sort()).toEqual(['execute-api:Invoke', 'lambda:InvokeFunction', 'lambda:InvokeFunctionUrl']);
  });

  it('is given to the replay function as a role refused a download (LISTENER_ROLE_NAMES)', () => {
    const fn = synth.processingTemplate.findResources('AWS::Lambda::Function');
    const replay = fn[logicalId(synth.processing.functions.replay)]!.Properties as { Environment: { Variables: Record<string, unknown> } };
    const names = JSON.parse(synth.resolver.resolveString(synth.processing.stackName, replay.Environment.Variables.LISTENER_ROLE_NAMES as never)) as string[];
    const roleName = (s: string) => synth.resolver.resolveString(synth.processing.stackName, { Ref: logicalId(site(s).listenerRole) });
    expect(names).toEqual(synth.processing.sites.map((s) => roleName(s.site)));
    expect(names).not.toContain(synth.resolver.resolveString(synth.processing.stackName, { Ref: logicalId(site('site-a').officerRole) }));
  });
});

describe("site-a's officer role", () => {
  it('searches, reads and recalls site-a recordings on the API, nothing of site-b, no artefacts', () => {
    const p = rolePolicies(site('site-a').officerRole);
    expect(isAllowed(p, { action: 'execute-api:Invoke', resource: apiArn('GET', '/sites/site-a/recordings') })).toBe(true);
    expect(isAllowed(p, { action: 'execute-api:Invoke', resource: apiArn('GET', '/sites/site-a/recordings/r0123') })).toBe(true);
    expect(isAllowed(p, { action: 'execute-api:Invoke', resource: apiArn('POST', '/sites/site-a/recordings/r0123/recall') })).toBe(true);
    expect(isAllowed(p, { action: 'execute-api:Invoke', resource: apiArn('GET', '/sites/site-b/recordings') })).toBe(false);
    expect(isAllowed(p, { action: 'execute-api:Invoke', resource: apiArn('POST', '/sites/site-b/recordings/r0123/recall') })).toBe(false);
    expect(isAllowed(p, { action: 'execute-api:Invoke', resource: apiArn('GET', '/sites/site-a/artefacts') })).toBe(false);
  });

  it("places and releases legal holds and opens and fills cases of site-a on the API, nothing of site-b's; the DR role none", () => {
    const p = rolePolicies(site('site-a').officerRole);
    const dr = rolePolicies(site('site-a').drRole);
    const routes: ['GET' | 'POST', string][] = [['GET', 'holds'], ['POST', 'holds'], ['POST', 'holds/release'], ['GET', 'cases'], ['GET', 'cases/C-1'], ['POST', 'cases'], ['POST', 'cases/C-1/calls']];
    for (const [method, path] of routes) {
      expect(isAllowed(p, { action: 'execute-api:Invoke', resource: apiArn(method, `/sites/site-a/${path}`) }), `${method} ${path}`).toBe(true);
      expect(isAllowed(p, { action: 'execute-api:Invoke', resource: apiArn(method, `/sites/site-b/${path}`) }), `${method} site-b ${path}`).toBe(false);
      expect(isAllowed(dr, { action: 'execute-api:Invoke', resource: apiArn(method, `/sites/site-a/${path}`) }), `DR ${method} ${path}`).toBe(false);
    }
  });

  it("replays through site-a's replay URL with both Function URL actions, not site-b's, never a direct invoke", () => {
    const p = rolePolicies(site('site-a').officerRole);
    const own = `${replayFunction()}:site-site-a`;
    expect(isAllowed(p, { action: 'lambda:InvokeFunctionUrl', resource: own, context: viaUrl })).toBe(true);
    expect(isAllowed(p, { action: 'lambda:InvokeFunction', resource: own, context: viaUrl })).toBe(true);
    expect(isAllowed(p, { action: 'lambda:InvokeFunctionUrl', resource: `${replayFunction()}:site-site-b`, context: viaUrl })).toBe(false);
    expect(isAllowed(p, { action: 'lambda:InvokeFunction', resource: `${replayFunction()}:site-site-b`, context: viaUrl })).toBe(false);
    expect(isAllowed(p, { action: 'lambda:InvokeFunctionUrl', resource: replayFunction(), context: viaUrl })).toBe(false);
    expect(isAllowed(p, { action: 'lambda:InvokeFunction', resource: own })).toBe(false);
  });

  it('has a Function URL with IAM auth and response streaming on its own replay alias', () => {
    synth.processingTemplate.hasResourceProperties('AWS::Lambda::Alias', { Name: 'site-site-a' });
    const urls = Object.values(synth.processingTemplate.findResources('AWS::Lambda::Url'));
    const aliasQualified = urls.filter((u) => (u.Properties as { Qualifier?: string }).Qualifier === 'site-site-a');
    expect(aliasQualified).toHaveLength(1);
    expect(aliasQualified[0]!.Properties).toMatchObject({ AuthType: 'AWS_IAM', InvokeMode: 'RESPONSE_STREAM' });
  });
});

describe("site-a's DR role", () => {
  it("plans restores and lists artefacts of site-a only, and finds its recordings", () => {
    const p = rolePolicies(site('site-a').drRole);
    expect(isAllowed(p, { action: 'execute-api:Invoke', resource: apiArn('GET', '/sites/site-a/sources/db/restore-plan') })).toBe(true);
    expect(isAllowed(p, { action: 'execute-api:Invoke', resource: apiArn('GET', '/sites/site-a/artefacts') })).toBe(true);
    expect(isAllowed(p, { action: 'execute-api:Invoke', resource: apiArn('GET', '/sites/site-a/recordings') })).toBe(true);
    expect(isAllowed(p, { action: 'execute-api:Invoke', resource: apiArn('GET', '/sites/site-b/sources/db/restore-plan') })).toBe(false);
    expect(isAllowed(p, { action: 'execute-api:Invoke', resource: apiArn('GET', '/sites/site-b/artefacts') })).toBe(false);
    expect(isAllowed(p, { action: 'execute-api:Invoke', resource: apiArn('POST', '/sites/site-a/recordings/r0123/recall') })).toBe(false);
  });

  it("replays site-a's calls through site-a's replay URL only", () => {
    const p = rolePolicies(site('site-a').drRole);
    expect(isAllowed(p, { action: 'lambda:InvokeFunctionUrl', resource: `${replayFunction()}:site-site-a`, context: viaUrl })).toBe(true);
    expect(isAllowed(p, { action: 'lambda:InvokeFunction', resource: `${replayFunction()}:site-site-a`, context: viaUrl })).toBe(true);
    expect(isAllowed(p, { action: 'lambda:InvokeFunctionUrl', resource: `${replayFunction()}:site-site-b`, context: viaUrl })).toBe(false);
    expect(isAllowed(p, { action: 'lambda:InvokeFunction', resource: `${replayFunction()}:site-site-b`, context: viaUrl })).toBe(false);
  });
});

describe('the catalogue function and the recall workflow', () => {
  const machineArn = (machine: { node: unknown }) => synth.resolver.resolveString(synth.processing.stackName, { Ref: logicalId(machine as never) });

  it('may start exactly the recall state machine, nothing else of Step Functions', () => {
    const p = rolePolicies(synth.processing.functions.roles.catalogue);
    const recall = machineArn(built.recall.stateMachine);
    expect(isAllowed(p, { action: 'states:StartExecution', resource: recall })).toBe(true);
    expect(isAllowed(p, { action: 'states:StartExecution', resource: machineArn(built.sites['site-a']!.purge.stateMachine) })).toBe(false);
    expect(isAllowed(p, { action: 'states:StopExecution', resource: recall })).toBe(false);
  });

  it('learns the recall state machine from RECALL_STATE_MACHINE_ARN', () => {
    const fn = synth.processingTemplate.toJSON().Resources[logicalId(synth.processing.functions.catalogue)];
    expect(fn.Properties.Environment.Variables.RECALL_STATE_MACHINE_ARN).toEqual({ Ref: logicalId(built.recall.stateMachine) });
  });

  it('the API routes POST …/recordings/{rid}/recall to the catalogue function, IAM-authorized', () => {
    synth.processingTemplate.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /sites/{site}/recordings/{rid}/recall', AuthorizationType: 'AWS_IAM' });
  });
});

describe('who may assume the officer role', () => {
  const trustOf = (s: Synthesized, name: string) => {
    const role = s.processing.sites.find((x) => x.site === name)!.officerRole;
    return JSON.stringify(s.processingTemplate.toJSON().Resources[logicalId(role)].Properties.AssumeRolePolicyDocument);
  };

  it('by default principals of this account tagged ferry-officer-site={site}', () => {
    expect(trustOf(synth, 'site-a')).toContain('"StringEquals":{"aws:PrincipalTag/ferry-officer-site":"site-a"}');
  });

  it('the principals listed in sites[].officers when given, with no tag condition', () => {
    const custom = synthFerry({ ...DEFAULT_CONFIG, sites: [{ name: 'site-a', retentionDays: 730, officers: ['arn:aws:iam::444455556666:role/compliance'] }] });
    const trust = trustOf(custom, 'site-a');
    expect(trust).toContain('arn:aws:iam::444455556666:role/compliance');
    expect(trust).not.toContain('ferry-officer-site');
  });
});

describe('the alert topic and its publishers', () => {
  it("lets every alarm's action publish: the alert topic's own policy allows CloudWatch of this account (over TLS), not another account's", () => {
    type Resource = { Type: string; Properties: Record<string, unknown> };
    const all = Object.entries(synth.raw).flatMap(([stack, t]) => Object.entries(t.Resources as Record<string, Resource>).map(([id, r]) => ({ stack, id, r })));
    const alarms = all.filter(({ r }) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties.AlarmActions);
    expect(alarms.map(({ id }) => id).filter((id) => id.includes('NoBackupWindow'))).toHaveLength(DEFAULT_CONFIG.sites.length);
    const topicPolicies = all.filter(({ r }) => r.Type === 'AWS::SNS::TopicPolicy');
    for (const { stack, id, r: alarm } of alarms) {
      for (const action of synth.resolver.resolve(stack, alarm.Properties.AlarmActions as never) as string[]) {
        const policies = topicPolicies.filter((p) => (synth.resolver.resolve(p.stack, p.r.Properties.Topics as never) as string[]).includes(action)).map((p) => synth.resolver.resolve(p.stack, p.r.Properties.PolicyDocument as never) as unknown as PolicyDocument);
        expect(policies, `${id} → ${action}`).toHaveLength(1);
        const request = (sourceAccount: string) => ({ action: 'sns:Publish', resource: action, principal: { type: 'Service' as const, id: 'cloudwatch.amazonaws.com' }, context: { 'aws:SecureTransport': true, 'aws:SourceAccount': sourceAccount } });
        expect(isAllowed(policies, request(account)), `${id} may publish to ${action}`).toBe(true);
        expect(isAllowed(policies, request('444455556666')), `another account's alarm may not publish to ${action}`).toBe(false);
      }
    }
  });
});
