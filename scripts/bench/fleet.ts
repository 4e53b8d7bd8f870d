import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDynamoClients, createS3Client } from '../../adapters/aws-clients.ts';
import { createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { DynamoRunStore } from '../../adapters/dynamo-runs.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { readFleet } from '../../core/fleet-read.ts';
import type { FleetRow } from '../../core/fleet.ts';
import { startLocalDynamo } from '../../local/dynalite-process.ts';
import { fleetSitesOf, simulatedFleet, writeSimulatedFleet } from '../demo/fleet.ts';

// The `fleet` scenario: N simulated sites (scripts/demo/fleet.ts: heartbeats in the bucket, window
// runs in a catalogue table on dynalite, a problem on every fourth site), then `ferry fleet status
// --json` as an operator runs it (its own process, Node start included) and the same read in
// process (readFleet). The target is an answer in under 2 s for 20 sites; it prints, never fails
// on the figure. It fails when the answer does not name exactly the sites with a problem.

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const TABLE = 'ferry-fleet-bench';
const REGION = 'us-east-1';

export interface FleetBenchResult {
  sites: number;
  /** Wall time of `ferry fleet status --json` (a new process), the first run and a second one (tsx's transform cache warm). */
  cliSeconds: number;
  cliWarmSeconds: number;
  /** Wall time of `ferry --help`: the CLI's start alone, to set the runs above against. */
  startSeconds: number;
  /** readFleet in this process (warm clients): the requests alone. */
  readSeconds: number;
  notOk: number;
  problems: string[];
}

export async function runFleetBench(o: { work: string; sites: number; s3: { endpoint: string; credentials: { accessKeyId: string; secretAccessKey: string } }; bucket: string; say: (line: string) => void }): Promise<FleetBenchResult> {
  const dynamo = await startLocalDynamo();
  try {
    const credentials = o.s3.credentials;
    const { client, doc } = createDynamoClients({ region: REGION, endpoint: dynamo.endpoint, credentials });
    await createCatalogueTable(client, TABLE);
    const blobs = new S3BlobStore(createS3Client({ region: REGION, endpoint: o.s3.endpoint, credentials }), o.bucket, { features: { verifiesChecksums: false, conditionalPut: false, md5ETags: true } });
    const runs = new DynamoRunStore(doc, TABLE);
    const fleet = simulatedFleet(o.sites);
    await writeSimulatedFleet({ blobs, runs }, fleet, new Date());
    const deployment = join(o.work, 'fleet-deployment.json');
    writeFileSync(deployment, JSON.stringify({ sites: fleetSitesOf(fleet).map(({ name, silentAfterMinutes, backupCron }) => ({ name, retentionDays: 730, ...(silentAfterMinutes ? { silentAfterMinutes } : {}), ...(backupCron ? { schedule: { backupCron, purgeCron: '0 5 ? * SUN *' } } : {}) })) }));
    o.say(`[fleet] ${o.sites} simulated site(s), ${fleet.filter((s) => s.problem).length} with a problem; timing \`ferry fleet status --json\``);

    const env = { ...process.env, FERRY_BUCKET: o.bucket, FERRY_TABLE: TABLE, AWS_REGION: REGION, AWS_ENDPOINT_URL_S3: o.s3.endpoint, AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey };
    const timedCli = (args: string[]) => {
      const started = performance.now();
      const run = spawnSync(process.execPath, [join(REPO, 'bin', 'ferry.mjs'), ...args], { cwd: REPO, env, encoding: 'utf8', timeout: 120_000 });
      return { run, seconds: (performance.now() - started) / 1000 };
    };
    const status = ['fleet', 'status', '--json', '--deployment', deployment];
    const { seconds: cliSeconds } = timedCli(status);
    const { run: cli, seconds: cliWarmSeconds } = timedCli(status);
    const { seconds: startSeconds } = timedCli(['--help']);
    const problems: string[] = [];
    // Exit 3: some site is SILENT or LATE, which the simulated fleet has on purpose.
    if (cli.status !== 0 && cli.status !== 3) problems.push(`ferry fleet status exited ${cli.status ?? cli.signal}: ${cli.stderr.trim().slice(0, 400)}`);
    const rows = cli.status === 0 || cli.status === 3 ? (JSON.parse(cli.stdout) as FleetRow[]) : [];

    const readStarted = performance.now();
    await readFleet({ blobs, runs }, fleetSitesOf(fleet), new Date());
    const readSeconds = (performance.now() - readStarted) / 1000;

    const flagged = rows.filter((r) => r.state !== 'OK').map((r) => r.site).sort();
    const injected = fleet.filter((s) => s.problem).map((s) => s.name).sort();
    if (rows.length > 0 && flagged.join(',') !== injected.join(',')) problems.push(`sites not OK ${flagged.join(', ')} are not the ones with a problem ${injected.join(', ')}`);
    client.destroy();
    return { sites: o.sites, cliSeconds, cliWarmSeconds, startSeconds, readSeconds, notOk: flagged.length, problems };
  } finally {
    await dynamo.stop();
  }
}

/** The benchmark row. */
export function fleetTable(r: FleetBenchResult): string {
  const s = (n: number) => `${n.toFixed(2)} s`;
  return [
    `fleet: ${r.sites} simulated sites (heartbeats in the local S3, window runs on dynalite), target < 2 s`,
    '| sites | `ferry fleet status --json` (new process: first, again) | `ferry --help` (the start alone) | readFleet (in process: the requests) | sites not OK | whole command under 2 s |',
    '|---:|---:|---:|---:|---:|---|',
    `| ${r.sites} | ${s(r.cliSeconds)}, ${s(r.cliWarmSeconds)} | ${s(r.startSeconds)} | ${s(r.readSeconds)} | ${r.notOk} | ${r.cliWarmSeconds < 2 ? 'yes' : 'no'} |`,
  ].join('\n');
}
