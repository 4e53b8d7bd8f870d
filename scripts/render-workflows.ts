import { writeFileSync } from 'node:fs';
import { renderWorkflowDefinitions } from '../infra/workflows/render.ts';
import { GENERATED_DEPLOYMENT_FILE } from '../local/iam-gateway/deployment.ts';
import { synthesizeDeployment } from '../local/iam-gateway/synthesize.ts';
import { GENERATED_WORKFLOWS_FILE, LOCAL_WORKFLOW_SITES, type GeneratedWorkflows } from '../local/workflow-definitions.ts';

// Synthesizes the workflows of the local deployment's sites with the CDK constructs the
// processing stack deploys, and writes their ASL to local/workflows.generated.json, which the
// local cloud runs. Run after changing infra/workflows/ (test/local/generated-workflows.test.ts
// fails until then). It also writes the synthesized templates the local IAM gateway evaluates
// (local/iam-deployment.generated.json; test/local/generated-deployment.test.ts).

export function renderLocalWorkflows(): GeneratedWorkflows {
  const sites = LOCAL_WORKFLOW_SITES.map(({ site, purge }) => ({ site, purge, definitions: renderWorkflowDefinitions({ site, purge }) }));
  return { sites };
}

/** The sites the local cloud's IAM gateway serves from the generated deployment (`ferry start`'s). */
export const LOCAL_IAM_SITES = LOCAL_WORKFLOW_SITES.map((s) => s.site);

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(GENERATED_WORKFLOWS_FILE, `${JSON.stringify(renderLocalWorkflows(), null, 2)}\n`);
  process.stdout.write(`wrote ${GENERATED_WORKFLOWS_FILE.pathname}\n`);
  writeFileSync(GENERATED_DEPLOYMENT_FILE, `${JSON.stringify(await synthesizeDeployment(LOCAL_IAM_SITES))}\n`);
  process.stdout.write(`wrote ${GENERATED_DEPLOYMENT_FILE.pathname}\n`);
}
