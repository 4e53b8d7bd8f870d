import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import type { SitePurgeSettings } from '../core/workflow-config.ts';
import type { RenderedWorkflows } from '../infra/workflows/render.ts';

// The state machines the local cloud runs, as CDK synthesized them at build time
// (`npm run render-workflows` writes local/workflows.generated.json; a test checks it still
// equals a fresh synth). Reading them needs no aws-cdk-lib, so `ferry start` runs on the
// product's dependencies alone.

/** The sites of the local deployment, with their purge settings: what the generated file holds. */
export const LOCAL_WORKFLOW_SITES: readonly { site: string; purge: SitePurgeSettings }[] = [
  // `ferry start`'s demo site; its calls are from 2023, so a ten-year retention keeps them all.
  { site: 'demo', purge: { retentionDays: 3650, keepFullCycles: 2 } },
];

export interface GeneratedWorkflows {
  sites: { site: string; purge: SitePurgeSettings; definitions: RenderedWorkflows }[];
}

export const GENERATED_WORKFLOWS_FILE = new URL('./workflows.generated.json', import.meta.url);

/** The generated definitions of `site`; throws when the file has none for these settings. */
export function generatedWorkflows(site: string, purge: SitePurgeSettings): RenderedWorkflows {
  const file = JSON.parse(readFileSync(GENERATED_WORKFLOWS_FILE, 'utf8')) as GeneratedWorkflows;
  const entry = file.sites.find((s) => s.site === site);
  if (!entry || !isDeepStrictEqual(entry.purge, purge)) {
    const known = file.sites.map((s) => `${s.site} ${JSON.stringify(s.purge)}`).join(', ');
    throw new Error(
      `no synthesized workflows for site ${site} with purge ${JSON.stringify(purge)} (have: ${known}); ` +
        'add it to LOCAL_WORKFLOW_SITES and run `npm run render-workflows`',
    );
  }
  return entry.definitions;
}
