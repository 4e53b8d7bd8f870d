import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED_DEPLOYMENT_FILE, resolveDeployment, type DeploymentSnapshot } from '../../local/iam-gateway/deployment.ts';
import { synthesizeDeployment } from '../../local/iam-gateway/synthesize.ts';
import { LOCAL_IAM_SITES } from '../../scripts/render-workflows.ts';

// The IAM gateway of `ferry start` evaluates the policies of a deployment synthesized at build
// time, so that the local cloud needs no aws-cdk-lib at run time. The snapshot must be what a
// synth of the app gives today: after a change to infra/, run `npm run render-workflows`.

const generated = () => JSON.parse(readFileSync(GENERATED_DEPLOYMENT_FILE, 'utf8')) as DeploymentSnapshot;

describe('generated deployment for the IAM gateway', () => {
  it('local/iam-deployment.generated.json equals a fresh synth of the app for the local sites (run `npm run render-workflows` if not)', async () => {
    expect(generated()).toEqual(await synthesizeDeployment(LOCAL_IAM_SITES));
  }, 120_000);

  it('resolves every principal of the local sites with its policies, and the bucket and key policies', () => {
    const d = resolveDeployment(generated());
    for (const site of LOCAL_IAM_SITES) {
      expect(d.principals.get(`agent:${site}`)?.policies.length).toBeGreaterThan(0);
      expect(d.principals.get(`dr:${site}`)?.arn).toMatch(/^arn:aws:iam::\d{12}:role\//);
      expect(d.siteActivities.get(site)).toMatch(/:activity:/);
    }
    for (const fn of ['ingest', 'catalogue', 'replay', 'artefacts', 'lock', 'window', 'purge', 'recall']) expect(d.principals.has(`function:${fn}`), fn).toBe(true);
    expect(JSON.stringify(d.bucketPolicy)).toContain('aws:SecureTransport');
    expect(d.dataKeyArn).toMatch(/^arn:aws:kms:/);
  });
});
