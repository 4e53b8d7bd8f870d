import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../core/config.ts';
import { purgeEventSchema } from '../../functions/purge/handler.ts';
import {
  agentConfigYaml,
  awsConfigFile,
  credentialsFileFromEnv,
  ENV_SOURCE_PROFILE,
  purgeFunctionName,
  purgePlanEvent,
  rangeOf,
  readStackOutputs,
  roleEnv,
  smokeGate,
  windowStateMachineArn,
} from './smoke-config.ts';

// The smoke suite's plumbing, checked without AWS: a mistake here would only show on a real deploy.

const ACCOUNT = '111122223333';
const outputs = {
  'Ferry-stateful': { DataBucketName: `ferry-data-${ACCOUNT}-eu-west-2`, Region: 'eu-west-2', CatalogueTableName: 't', DataKeyArn: 'k' },
  'Ferry-processing': {
    CatalogueApiUrl: 'https://abc123.execute-api.eu-west-2.amazonaws.com/',
    ReplayUrl: 'https://all.lambda-url.eu-west-2.on.aws/',
    ReplayUrllondoncc: 'https://site.lambda-url.eu-west-2.on.aws/',
    AgentRoleArnlondoncc: `arn:aws:iam::${ACCOUNT}:role/agent`,
    AgentExternalIdlondoncc: 'ferry-agent-london-cc',
    ActivityArnlondoncc: `arn:aws:states:eu-west-2:${ACCOUNT}:activity:Ferry-london-cc`,
    OfficerRoleArnlondoncc: `arn:aws:iam::${ACCOUNT}:role/officer`,
    DrRoleArnlondoncc: `arn:aws:iam::${ACCOUNT}:role/dr`,
  },
};

describe('smokeGate', () => {
  it('runs only with FERRY_AWS_SMOKE=1, credentials and stack outputs', () => {
    expect(smokeGate({ FERRY_AWS_SMOKE: '1', AWS_PROFILE: 'admin', FERRY_STACK_OUTPUTS: 'o.json' })).toEqual({ enabled: true, title: 'real AWS smoke' });
    expect(smokeGate({ FERRY_AWS_SMOKE: '1', AWS_ACCESS_KEY_ID: 'AKIA', FERRY_STACK_OUTPUTS: 'o.json' }).enabled).toBe(true);
  });

  it('says in its title that it is skipped and names every missing variable', () => {
    const gate = smokeGate({ FERRY_AWS_SMOKE: '1' });
    expect(gate.enabled).toBe(false);
    expect(gate.title).toBe('real AWS smoke (skipped: set AWS_PROFILE or AWS_ACCESS_KEY_ID, FERRY_STACK_OUTPUTS=<cdk-outputs.json>; see docs/deploy.md)');
    expect(smokeGate({ AWS_PROFILE: 'p', FERRY_STACK_OUTPUTS: 'o' }).title).toMatch(/skipped: set FERRY_AWS_SMOKE=1;/);
  });
});

describe('readStackOutputs', () => {
  it("takes the site's outputs by its dashless key and derives the backup window state machine ARN", () => {
    const t = readStackOutputs(outputs, 'london-cc');
    expect(t).toEqual({
      stackPrefix: 'Ferry',
      site: 'london-cc',
      bucket: `ferry-data-${ACCOUNT}-eu-west-2`,
      region: 'eu-west-2',
      apiUrl: 'https://abc123.execute-api.eu-west-2.amazonaws.com',
      replayUrl: 'https://site.lambda-url.eu-west-2.on.aws/',
      agentRoleArn: `arn:aws:iam::${ACCOUNT}:role/agent`,
      agentExternalId: 'ferry-agent-london-cc',
      activityArn: `arn:aws:states:eu-west-2:${ACCOUNT}:activity:Ferry-london-cc`,
      officerRoleArn: `arn:aws:iam::${ACCOUNT}:role/officer`,
      drRoleArn: `arn:aws:iam::${ACCOUNT}:role/dr`,
      windowStateMachineArn: `arn:aws:states:eu-west-2:${ACCOUNT}:stateMachine:Ferry-london-cc-backup-window`,
    });
  });

  it('names every output a site lacks in one error', () => {
    expect(() => readStackOutputs(outputs, 'leeds-cc')).toThrow(
      'stack outputs of Ferry lack ReplayUrlleedscc, AgentRoleArnleedscc, AgentExternalIdleedscc, ActivityArnleedscc, OfficerRoleArnleedscc, DrRoleArnleedscc (site leeds-cc)',
    );
  });

  it('refuses a file without exactly one stateful stack', () => {
    expect(() => readStackOutputs({ 'X-processing': {} }, 'a')).toThrow('expected one {prefix}-stateful stack, found none');
    expect(() => readStackOutputs([1], 'a')).toThrow(/found none/);
    expect(() => readStackOutputs(null, 'a')).toThrow(/outputs-file/);
  });

  it('keeps the partition of a GovCloud or China activity in the state machine ARN', () => {
    expect(windowStateMachineArn(`arn:aws-cn:states:cn-north-1:${ACCOUNT}:activity:x`, 'P', 's')).toBe(`arn:aws-cn:states:cn-north-1:${ACCOUNT}:stateMachine:P-s-backup-window`);
    expect(() => windowStateMachineArn('arn:aws:iam::1:role/x', 'P', 's')).toThrow('not an activity ARN');
  });
});

describe('AWS profiles per role', () => {
  const t = readStackOutputs(outputs, 'london-cc');

  it("keeps the caller's config and adds agent (with external id), officer and DR profiles sourced from it", () => {
    const text = awsConfigFile('[profile admin]\nsso_session = corp\n', t, 'admin');
    expect(text.startsWith('[profile admin]\nsso_session = corp\n\n[profile ferry-smoke-agent]\n')).toBe(true);
    expect(text).toContain(`role_arn = arn:aws:iam::${ACCOUNT}:role/agent\nexternal_id = ferry-agent-london-cc\nsource_profile = admin`);
    expect(text).toContain(`[profile ferry-smoke-officer]\nrole_arn = arn:aws:iam::${ACCOUNT}:role/officer\nsource_profile = admin`);
    expect(text).toContain(`[profile ferry-smoke-dr]\nrole_arn = arn:aws:iam::${ACCOUNT}:role/dr\nsource_profile = admin`);
    expect(text.match(/region = eu-west-2/g)).toHaveLength(3);
  });

  it('turns environment keys into a source profile, session token included, and nothing without keys', () => {
    expect(credentialsFileFromEnv({ AWS_ACCESS_KEY_ID: 'AKIA1', AWS_SECRET_ACCESS_KEY: 's', AWS_SESSION_TOKEN: 'tok' })).toBe(
      `[${ENV_SOURCE_PROFILE}]\naws_access_key_id = AKIA1\naws_secret_access_key = s\naws_session_token = tok\n`,
    );
    expect(credentialsFileFromEnv({ AWS_PROFILE: 'admin' })).toBeUndefined();
  });

  it("gives a child the role's profile and drops keys, endpoints and local-cloud settings that would win over it", () => {
    const env = roleEnv(
      { PATH: '/bin', AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 's', AWS_SESSION_TOKEN: 't', AWS_PROFILE: 'admin', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1', FERRY_BUCKET: 'local' },
      'dr',
      { config: '/tmp/c', credentials: '/tmp/k', home: '/tmp/h' },
      t,
    );
    expect(env).toEqual({
      PATH: '/bin',
      AWS_CONFIG_FILE: '/tmp/c',
      AWS_SHARED_CREDENTIALS_FILE: '/tmp/k',
      AWS_PROFILE: 'ferry-smoke-dr',
      AWS_REGION: 'eu-west-2',
      AWS_EC2_METADATA_DISABLED: 'true',
      FERRY_HOME: '/tmp/h',
      FERRY_API_URL: t.apiUrl,
      FERRY_REPLAY_URL: t.replayUrl,
    });
  });
});

describe('agent config and purge plan', () => {
  const t = readStackOutputs(outputs, 'london-cc');

  it("builds an agent config the agent's own schema accepts, with the deployment's cloud block and no endpoint", () => {
    const config = parseAgentConfig(agentConfigYaml(t, { state: '/s t/state', recordings: '/r', database: '/db' }, true));
    expect(config.site).toBe('london-cc');
    expect(config.cloud).toEqual({
      bucket: t.bucket,
      region: 'eu-west-2',
      api: t.apiUrl,
      replay: t.replayUrl,
      verify: 'auto',
      activity: { arn: t.activityArn },
    });
    expect(config.state).toBe('/s t/state');
    expect(config.sources.map((s) => `${s.name}:${s.type}`)).toEqual(['contactstore:recordings', 'db:rotated', 'binlog:binlog']);
    expect(parseAgentConfig(agentConfigYaml(t, { state: '/s', recordings: '/r', database: '/db' }, false)).cloud?.activity).toBeUndefined();
  });

  it("builds a purge plan event the purge function's schema accepts", () => {
    expect(purgeEventSchema.parse(purgePlanEvent('london-cc', 30))).toMatchObject({ action: 'plan', site: 'london-cc', settings: { retentionDays: 30, keepFullCycles: 2 } });
  });

  it('finds the one purge function of the processing stack', () => {
    const names = ['Ferry-processing-FunctionsPurgeA1B2-xyz', 'Ferry-processing-FunctionsReplayC3-abc', 'Other-processing-FunctionsPurgeZ-q'];
    expect(purgeFunctionName(names, 'Ferry')).toBe('Ferry-processing-FunctionsPurgeA1B2-xyz');
    expect(() => purgeFunctionName(names.slice(1, 2), 'Ferry')).toThrow('found none');
  });

  it('names an inclusive byte range', () => {
    expect(rangeOf(100, 50)).toEqual({ header: 'bytes=100-149', start: 100, end: 150 });
  });
});
