import { DeploymentConfigError, loadDeploymentConfig } from './config.ts';
import { buildFerry, createFerryApp } from './ferry-app.ts';
import { buildWorkflows } from './workflows/build.ts';

// `npx cdk synth` / `npx cdk deploy --all -c ferryConfig=ferry.deploy.json`.
// Without ferryConfig the two demo sites of config.ts are used.

const app = createFerryApp();
const file = app.node.tryGetContext('ferryConfig') as string | undefined;
try {
  buildFerry(app, loadDeploymentConfig(file), { workflows: buildWorkflows });
} catch (error) {
  if (error instanceof DeploymentConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
app.synth();
