import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../infra/config.ts';
import { MIN_REASON_LENGTH } from '../../infra/nag.ts';
import { synthFerry, type Synthesized } from './fixture.ts';

// The app as `cdk synth` builds it: esbuild bundles, CDK's CloudFormation validation and the
// cdk-nag AwsSolutions pack, with no credentials and no network. cdk-nag 3 reports through
// CDK's policy validation (a violation fails synth and lands in validation-report.json), not
// through Annotations.

interface Report {
  pluginReports: { pluginName: string; violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[] }[];
}

function acknowledgements(root: IConstruct): { path: string; id: string; reason: string }[] {
  return root.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) => Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({ path: c.node.path, id: id.replace(/^annotation::/i, ''), reason }))),
  );
}

let synth: Synthesized;
let report: Report;

beforeAll(() => {
  const started = Date.now();
  synth = synthFerry(DEFAULT_CONFIG, { nag: true, bundle: true, validate: true });
  console.log(`bundled, validated and nagged synth: ${Date.now() - started} ms`);
  report = JSON.parse(readFileSync(join(synth.outdir, 'validation-report.json'), 'utf8')) as Report;
}, 300_000);

describe('cdk-nag AwsSolutions', () => {
  it('reports no unacknowledged finding (errors and warnings) and no other validation issue', () => {
    const violations = report.pluginReports.flatMap((p) => p.violations.map((v) => `${p.pluginName} ${v.ruleName} @ ${v.violatingConstructs.map((c) => c.constructPath).join(', ')}`));
    expect(violations).toEqual([]);
  });

  it('gives every acknowledgement a specific reason', () => {
    const acks = acknowledgements(synth.stateful.node.root);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.id, ack.path).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(ack.reason.length, `${ack.path} ${ack.id}`).toBeGreaterThanOrEqual(MIN_REASON_LENGTH);
    }
    // One reason per finding, not one catch-all reason pasted everywhere.
    const reasons = new Set(acks.map((a) => a.reason));
    expect(reasons.size).toBeGreaterThan(acks.length / 3);
  });

  it('acknowledges only findings that exist (no stale justification)', () => {
    const used = new Set<string>();
    const pack = new AwsSolutionsChecks();
    const original = (pack as unknown as { isAcknowledged: (r: IConstruct, id: string) => boolean }).isAcknowledged.bind(pack);
    (pack as unknown as { isAcknowledged: (r: IConstruct, id: string) => boolean }).isAcknowledged = (resource, id) => {
      const hit = original(resource, id);
      if (hit) used.add(id);
      return hit;
    };
    expect(pack.validateScope(synth.stateful.node.root).success).toBe(true);
    const unused = acknowledgements(synth.stateful.node.root).filter((a) => !used.has(a.id));
    expect(unused).toEqual([]);
  });

  it('stays clean with every option on: env pinned (deploy.md), compliance lock, replication, Roles Anywhere, DR readers, three sites, a retired one', () => {
    const full = synthFerry(
      {
        ...DEFAULT_CONFIG,
        env: { account: '111122223333', region: 'eu-west-2' },
        objectLock: { mode: 'compliance', defaultRetentionDays: 60 },
        replication: { destinationBucketArn: 'arn:aws:s3:::ferry-dr-copy', kmsKeyArn: 'arn:aws:kms:eu-central-1:111122223333:key/abcd-1234' },
        sites: [
          DEFAULT_CONFIG.sites[0]!,
          { ...DEFAULT_CONFIG.sites[1]!, retired: '2026-01-05', agent: { rolesAnywhereTrustAnchorArn: 'arn:aws:rolesanywhere:eu-west-1:111122223333:trust-anchor/ta-1' } },
          {
            name: 'site-c',
            retentionDays: 90,
            agent: { principal: 'arn:aws:iam::111122223333:role/agents', externalId: 'c-ext', rolesAnywhereTrustAnchorArn: 'arn:aws:rolesanywhere:eu-west-1:111122223333:trust-anchor/ta-1' },
            drReaders: ['444455556666', 'arn:aws:iam::444455556666:role/dr'],
          },
        ],
      },
      { nag: true },
    );
    const fullReport = JSON.parse(readFileSync(join(full.outdir, 'validation-report.json'), 'utf8')) as Report;
    expect(fullReport.pluginReports.flatMap((p) => p.violations)).toEqual([]);
  });

  it('bites: an unlogged, non-TLS bucket fails synthesis', () => {
    const app = new App({ builtinCloudFormationValidation: false });
    new s3.Bucket(new Stack(app, 'Bad'), 'Open');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-S1[\s\S]*AwsSolutions-S10/);
  });
});

describe('offline synth', () => {
  it('bundles the twelve handlers (ingest, catalogue, artefacts, replay, console, holds, export, export-failed, fleet, dead-man, report, audit sealer) with the local esbuild into ESM assets', () => {
    const assets = readdirSync(synth.outdir).filter((d) => d.startsWith('asset.'));
    const bundles = assets.filter((d) => existsSync(join(synth.outdir, d, 'index.mjs')));
    expect(bundles).toHaveLength(12);
    for (const dir of bundles) {
      const code = readFileSync(join(synth.outdir, dir, 'index.mjs'), 'utf8');
      expect(code).toMatch(/export\s*\{[^}]*\bhandler\b/);
    }
  });

  it('writes both templates', () => {
    expect(Object.keys(synth.raw).sort()).toEqual(['Ferry-processing', 'Ferry-stateful']);
  });
});
