import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCloud } from '../../local/cloud.ts';
import { startTestCloud } from '../support/local-cloud.ts';
import { credentialsInUse } from '../../cli/site-access.ts';

// A DR host runs the restore and listing commands with its own configuration, signed with the
// primary's DR role (`dr:site-a` on the local cloud, whose IAM front door enforces the
// synthesized policies). A misspelt --site is refused by the catalogue API (403) or by S3
// (AccessDenied on ListBucket): the operator is told which site was asked, with which
// credentials, where, and to check --site, the service's own words kept after it.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
const dirs: string[] = [];
let cloud: LocalCloud;
let dir: string;
let config: string;
let drKey: string;
let drArn: string;

function ferry(args: string[], cfg = config): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // No local cloud under this FERRY_HOME, no AWS keys: the configuration alone says where and who.
    const env = { ...process.env, FERRY_HOME: join(dir, 'home'), AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '' };
    execFile(process.execPath, [BIN, ...args, '--config', cfg], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function drConfig(name: string, secret: string, key = drKey, site = 'dr-site'): string {
  const file = join(dir, name);
  const cloudBlock = { bucket: cloud.bucket, endpoint: cloud.iam!.s3Endpoint, api: cloud.apiUrl, replay: cloud.replayUrl, credentials: { accessKeyId: key, secretAccessKey: secret } };
  writeFileSync(file, `site: ${site}\nstate: ${join(dir, 'state')}\ncloud: ${JSON.stringify(cloudBlock)}\n`);
  return file;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-dr-wrong-site-'));
  dirs.push(dir);
  // The deployment synthesized once for these sites and cached (test/support/local-cloud.ts).
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: ['site-a'] });
  const dr = cloud.iam!.credentialsOf('dr:site-a');
  drKey = dr.accessKeyId;
  const listed = JSON.parse(readFileSync(cloud.iam!.credentialsFile, 'utf8')) as { principals: { principal: string; arn: string }[] };
  drArn = listed.principals.find((p) => p.principal === 'dr:site-a')!.arn;
  config = drConfig('dr.yaml', dr.secretAccessKey);
}, 180_000);

afterAll(async () => {
  await cloud?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("a misspelt --site with the site's DR role", () => {
  const explanation = () => `ferry: the credentials in use (${drArn}; key ${drKey} from cloud.credentials in ${config}) may not read site site-aa `;
  const checkSite = "check --site (a site's DR role reads only its own site, an officer's role likewise: name the primary as the deployment spells it), then that these are the credentials meant for site site-aa. ";

  it('restore plan, restore fetch and backups list name the site, the credentials and the API, then --site to check, and keep the API\'s 403 after it', async () => {
    const to = join(dir, 'fetch');
    const runs = {
      'restore-plan': ['restore', 'plan', '--site', 'site-aa', '--source', 'db', '--at', 'now'],
      'artefacts': ['backups', 'list', '--site', 'site-aa'],
    };
    for (const [route, args] of [...Object.entries(runs), ['restore-plan', ['restore', 'fetch', '--site', 'site-aa', '--source', 'db', '--at', 'now', '--to', to]] as const]) {
      const r = await ferry([...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain(`${explanation()}through the catalogue API at ${cloud.apiUrl}: ${checkSite}The catalogue API answered 403: User: ${drArn} is not authorized to perform: execute-api:Invoke`);
      expect(r.stderr).toMatch(new RegExp(`GET/sites/site-aa/(sources/db/)?${route}`));
    }
  }, 120_000);

  it("restore tree and snapshots list name the site, the credentials and the bucket, then --site to check, and keep S3's AccessDenied after it", async () => {
    for (const [args, prefix] of [
      [['restore', 'tree', '--site', 'site-aa', '--source', 'share', '--to', join(dir, 'tree')], 'manifests/site-aa/trees/share/'],
      [['snapshots', 'list', '--site', 'site-aa'], 'manifests/site-aa/trees/'],
    ] as const) {
      const r = await ferry([...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain(`${explanation()}in bucket ${cloud.bucket} at ${cloud.iam!.s3Endpoint}: ${checkSite}S3 list ${prefix}: AccessDenied: User: ${drArn} is not authorized to perform: s3:ListBucket`);
    }
  }, 120_000);

  it('the same key reads its own site, and a wrong secret is told as the signature it is, not as a site', async () => {
    expect(await ferry(['backups', 'list', '--site', 'site-a'])).toMatchObject({ code: 0, stdout: 'no backups, log segments or archives found\n' });
    expect(await ferry(['snapshots', 'list', '--site', 'site-a'])).toMatchObject({ code: 0, stdout: 'no snapshots\n' });
    const bad = drConfig('bad-secret.yaml', 'not-the-secret');
    for (const args of [['backups', 'list', '--site', 'site-a'], ['snapshots', 'list', '--site', 'site-a']]) {
      const r = await ferry(args, bad);
      expect(r.stderr).toMatch(/signature we calculated does not match/);
      expect(r.stderr).not.toContain('may not read site');
    }
  }, 120_000);
});

describe("the site's own configuration, with the agent's credentials or others", () => {
  it("the catalogue API asked with the site agent's own key says an agent may not ask it and which credentials listings take, not to check --site", async () => {
    const agent = cloud.iam!.credentialsOf('agent:site-a');
    const own = drConfig('agent.yaml', agent.secretAccessKey, agent.accessKeyId, 'site-a');
    const r = await ferry(['backups', 'list', '--site', 'site-a'], own);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`^ferry: the credentials in use \\(arn:\\S+agentrole\\S+; key ${agent.accessKeyId} from cloud.credentials in ${own}\\) are a site agent's, which ships backups and may not ask the catalogue API at all \\(through the catalogue API at ${cloud.apiUrl}\\): list and plan restores with the site's DR read role or an officer's role`),
    );
    expect(r.stderr).not.toContain('check --site');
    // The store lets an agent list its own site's prefixes (it reads its objects back): that listing works.
    expect(await ferry(['snapshots', 'list', '--site', 'site-a'], own)).toMatchObject({ code: 0, stdout: 'no snapshots\n' });
  }, 120_000);

  it("another role refused its configuration's own site is told what an agent's key may not do, not to check a --site that is the configuration's", async () => {
    const sameSite = drConfig('dr-as-site-aa.yaml', cloud.iam!.credentialsOf('dr:site-a').secretAccessKey, drKey, 'site-aa');
    const r = await ferry(['backups', 'list', '--site', 'site-aa'], sameSite);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`may not read site site-aa through the catalogue API at ${cloud.apiUrl}, the site this configuration is for: if they are its agent's, an agent ships backups and may not ask the catalogue API; list and plan restores with`);
    expect(r.stderr).not.toContain('check --site');
  }, 120_000);
});

describe('the credentials a refusal names', () => {
  it('names the key and the file it came from, the environment key before AWS_PROFILE as the SDK takes them, else the default chain', () => {
    const key = { accessKeyId: 'AKIAEXAMPLE' };
    expect(credentialsInUse(key, '/etc/ferry/agent.yaml', {})).toBe('key AKIAEXAMPLE from cloud.credentials in /etc/ferry/agent.yaml');
    expect(credentialsInUse(key, undefined, { FERRY_HOME: '/var/ferry' })).toBe('key AKIAEXAMPLE of the local cloud (/var/ferry/cloud.json)');
    expect(credentialsInUse(undefined, undefined, { AWS_ACCESS_KEY_ID: 'ASIAENV', AWS_PROFILE: 'ferry-dr-london' })).toBe('key ASIAENV from AWS_ACCESS_KEY_ID');
    expect(credentialsInUse(undefined, undefined, { AWS_PROFILE: 'ferry-dr-london' })).toBe('AWS_PROFILE=ferry-dr-london');
    expect(credentialsInUse(undefined, undefined, {})).toMatch(/^the AWS SDK's default chain: /);
  });
});
