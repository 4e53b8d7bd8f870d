import { printable } from './printable.ts';
import type { Command } from 'commander';
import { createDynamoClients, createS3Client } from '../adapters/aws-clients.ts';
import { DynamoPurgeWatchStore } from '../adapters/dynamo-deadman.ts';
import { DynamoPurgeRunStore } from '../adapters/dynamo-purge-runs.ts';
import { DynamoRunStore } from '../adapters/dynamo-runs.ts';
import { DynamoErasureStore } from '../adapters/dynamo-erasures.ts';
import { S3BlobStore } from '../adapters/s3-blob-store.ts';
import { formatDuration } from '../core/alert-text.ts';
import { passRunningText } from '../core/fleet-pass.ts';
import { purgeLine } from '../core/fleet-purge.ts';
import { shipperText } from '../core/fleet-handover.ts';
import { readFleet, type FleetReadDeps, type FleetSiteConfig } from '../core/fleet-read.ts';
import { FLEET_STATES, type FleetRow } from '../core/fleet.ts';
import { loadDeploymentConfig, type DeploymentConfig } from '../infra/config.ts';
import { deployedVariable, generatedSnapshot } from '../local/function-environment.ts';
import { NoCloudError, readLocalCloud } from './cloud.ts';

// `ferry fleet status`: one row per site of the deployment, worst first, from the heartbeats in
// the bucket and the window and purge runs (and the dead-man's switch's purge watch) in the
// catalogue table. Needs read access to `heartbeats/`, `heartbeats-daily/` and the table (an
// operator's credentials, or the local cloud's).

/** The table's readers: window runs, and each site's purge runs and the switch's watch of them. */
function tableReaders(doc: ConstructorParameters<typeof DynamoRunStore>[0], table: string): Pick<FleetReadDeps, 'runs' | 'purge' | 'erasures'> {
  return { runs: new DynamoRunStore(doc, table), purge: { purgeRuns: new DynamoPurgeRunStore(doc, table), purgeWatch: new DynamoPurgeWatchStore(doc, table) }, erasures: new DynamoErasureStore(doc, table) };
}

export function fleetTarget(env: NodeJS.ProcessEnv = process.env): FleetReadDeps {
  const standIn = { features: { verifiesChecksums: false, conditionalPut: false, md5ETags: true } };
  if (env.FERRY_BUCKET && env.FERRY_TABLE) {
    const region = env.AWS_REGION ?? 'us-east-1';
    const s3 = createS3Client({ region, endpoint: env.AWS_ENDPOINT_URL_S3 });
    const { doc } = createDynamoClients({ region, endpoint: env.AWS_ENDPOINT_URL_DYNAMODB });
    return { blobs: new S3BlobStore(s3, env.FERRY_BUCKET, env.AWS_ENDPOINT_URL_S3 ? standIn : undefined), ...tableReaders(doc, env.FERRY_TABLE) };
  }
  const local = readLocalCloud(env);
  if (!local) throw new NoCloudError();
  const s3 = createS3Client({ region: local.region, endpoint: local.s3, credentials: local.credentials });
  const { doc } = createDynamoClients({ region: local.region, endpoint: local.dynamo, credentials: local.credentials });
  return { blobs: new S3BlobStore(s3, local.bucket, standIn), ...tableReaders(doc, local.table) };
}

export function fleetSites(config: DeploymentConfig): FleetSiteConfig[] {
  // A retired site's backup window is not scheduled any more (infra/workflows/build.ts): none is watched. Its purge still runs.
  return config.sites.map((s) => ({
    name: s.name,
    silentAfterMinutes: s.silentAfterMinutes,
    backupCron: s.retired ? undefined : s.schedule?.backupCron,
    ...(s.retired ? { retired: s.retired } : {}),
    ...(s.schedule ? { purgeCron: s.schedule.purgeCron } : {}),
  }));
}

/**
 * The sites `fleet status` reads: the deployment file's (`--deployment`, else $FERRY_DEPLOYMENT);
 * else, when it reads the local cloud `ferry start` left running, that cloud's own sites as its
 * `GET /fleet` reads them (the FLEET_SITES of the generated deployment's fleet function), not
 * the built-in demo deployment's site-a and site-b, which it has never heard of; else those.
 */
export function fleetStatusSites(deployment: string | undefined, env: NodeJS.ProcessEnv = process.env): FleetSiteConfig[] {
  const file = deployment ?? env.FERRY_DEPLOYMENT;
  const readsLocalCloud = file === undefined && !(env.FERRY_BUCKET && env.FERRY_TABLE) && readLocalCloud(env) !== undefined;
  if (!readsLocalCloud) return fleetSites(loadDeploymentConfig(file));
  const sites = deployedVariable(generatedSnapshot(), 'fleet', 'FLEET_SITES');
  if (sites === undefined) throw new Error("the local cloud's generated deployment gives its fleet function no FLEET_SITES: run `npm run render-workflows`");
  return JSON.parse(sites) as FleetSiteConfig[];
}

const age = (seconds: number | undefined) => (seconds === undefined ? '-' : formatDuration(seconds * 1000));

function sourceCell(s: FleetRow['sources'][number]): string {
  const parts = [`${s.name}: last good ${s.lastGood ? `${age(s.lastGoodAgeSeconds)} ago` : 'never'}`];
  if (s.pendingBatches !== undefined) parts.push(`backlog ${s.pendingBatches}${s.oldestPendingSeconds !== undefined ? ` (oldest ${age(s.oldestPendingSeconds)})` : ''}`);
  if (s.timeToLossSeconds !== undefined) parts.push(`loss in ${age(s.timeToLossSeconds)}`);
  if (s.rpoSeconds !== undefined) parts.push(`RPO ${age(s.rpoSeconds)}`);
  return parts.join(', ');
}

export function renderFleet(rows: FleetRow[]): string {
  const lines: string[] = [];
  for (const r of rows) {
    const window = r.lastWindow ? `${r.lastWindow.outcome} ${r.lastWindow.startedAt}` : 'none';
    lines.push(`${r.state.padEnd(7)} ${r.site}  heartbeat ${r.lastHeartbeat ? `${age(r.heartbeatAgeSeconds)} ago` : 'never'}  losses ${r.losses ?? '-'}  last window ${window}  next ${r.nextWindow ?? 'on demand'}`);
    // Its newest heartbeat was written during a pass: the backlog below is as the pass left it then.
    if (r.passRunning) lines.push(`          ${passRunningText(r.passRunning)}`);
    // Which host ships the site now, since when, and which shipped it before (a failover): the agent's words, shown, never obeyed.
    if (r.shippedBy) lines.push(`          ${printable(shipperText(r.shippedBy))}`);
    // What a site's heartbeat says (source names, problems, alert subjects) is the agent's: shown, never obeyed.
    for (const s of r.sources) lines.push(`          ${printable(sourceCell(s))}`);
    if (r.purge) lines.push(`          ${purgeLine(r.purge)}`);
    for (const reason of r.reasons) lines.push(`          ! ${printable(reason)}`);
  }
  const counts = FLEET_STATES.map((s) => `${rows.filter((r) => r.state === s).length} ${s}`).join(', ');
  lines.push(`${rows.length} site(s): ${counts}`);
  return `${lines.join('\n')}\n`;
}

export function registerFleetCommands(program: Command): void {
  const fleet = program.command('fleet').description('every site of the deployment at a glance');
  fleet
    .command('status')
    .description('per site: heartbeat age, last good copy per source, backlog and time to loss, RPO, losses, windows, the scheduled purge (last run, missed); worst first (exit 3 when a site is SILENT or LATE; a RETIRED one is never)')
    .option('--deployment <file>', "deployment config (JSON) naming the sites; default: $FERRY_DEPLOYMENT, else the running local cloud's sites, else the built-in demo sites")
    .option('--json', 'JSON output')
    .action(async (opts: { deployment?: string; json?: boolean }) => {
      const rows = await readFleet(fleetTarget(), fleetStatusSites(opts.deployment), new Date());
      process.stdout.write(opts.json ? `${JSON.stringify(rows, null, 2)}\n` : renderFleet(rows));
      if (rows.some((r) => r.state === 'SILENT' || r.state === 'LATE')) process.exitCode = 3;
    });
}
