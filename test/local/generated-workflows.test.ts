import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED_WORKFLOWS_FILE, LOCAL_WORKFLOW_SITES, generatedWorkflows } from '../../local/workflow-definitions.ts';
import { renderLocalWorkflows } from '../../scripts/render-workflows.ts';

// The local cloud runs the state machines rendered at build time; they must be what a synth of
// the processing stack's constructs gives today. After a change to infra/workflows/, run
// `npm run render-workflows`.

describe('generated workflow definitions', () => {
  it('local/workflows.generated.json equals a fresh synth of every local site (run `npm run render-workflows` if not)', () => {
    expect(JSON.parse(readFileSync(GENERATED_WORKFLOWS_FILE, 'utf8'))).toEqual(renderLocalWorkflows());
  });

  it('holds one entry per local site with its purge settings', () => {
    const file = JSON.parse(readFileSync(GENERATED_WORKFLOWS_FILE, 'utf8')) as { sites: { site: string; purge: unknown }[] };
    expect(file.sites.map(({ site, purge }) => ({ site, purge }))).toEqual([...LOCAL_WORKFLOW_SITES]);
  });

  it('refuses a site or purge setting it has no synthesized definitions for, naming the fix', () => {
    const shorter = { retentionDays: 30, keepFullCycles: 2 };
    expect(() => generatedWorkflows('demo', shorter)).toThrow(/no synthesized workflows for site demo.*npm run render-workflows/);
    expect(() => generatedWorkflows('elsewhere', { retentionDays: 3650, keepFullCycles: 2 })).toThrow(/site elsewhere/);
  });
});
