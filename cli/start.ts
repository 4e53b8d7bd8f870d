import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Command } from 'commander';
import { startLocalCloud, type LocalCloud } from '../local/cloud.ts';
import { DEFAULT_API_PORT } from '../core/deployment.ts';
import { generateBatches } from '../scripts/demo/site.ts';
import { SimulatedRecorder } from '../scripts/demo/recorder.ts';
import { buildAgent, loadConfig } from './build-agent.ts';
import { ferryHome, localCloudFile, readLocalCloud } from './cloud.ts';
import { InvalidInputError } from '../core/errors.ts';
import { searchCalls, playCall } from './calls-commands.ts';
import { createLogger, silentLogger } from '../agent/log.ts';
import { localRecallStarter } from '../local/api-server.ts';
import { startLocalOrchestration, type LocalOrchestration } from '../local/orchestration.ts';
import { createSfnClient, SfnActivityClient } from '../adapters/sfn-activity-client.ts';
import type { ActivityClient } from '../core/activity.ts';
import { ActivityWorker } from '../agent/activity-worker.ts';
import { systemClock } from '../core/clock.ts';
import { formatBytes } from './progress.ts';
import { refuseWhileSecondSiteRuns, removeSecondSiteState, removedNotice, secondSiteState } from './start-previous.ts';
import type { Agent } from '../agent/agent.ts';

// `ferry start` (npm start): the whole story on one machine with no AWS account. It starts the
// local cloud, a demo site whose simulated recorder writes batches of 8 kHz calls and evicts
// the oldest, runs the agent, and then finds and replays a call the recorder already deleted.
// `--no-demo` runs the local cloud alone. On every way out (done, error, Ctrl-C, SIGTERM) the
// stand-ins' child processes are stopped; if this process is killed outright, they see their
// IPC channel close and exit on their own.

export interface StartOptions {
  once?: boolean;
  /** false with --no-demo: the local cloud only. */
  demo?: boolean;
  port?: string;
  batches?: string;
  perBatch?: string;
  keep?: boolean;
}

const SITE = 'demo';

/** The demo agent talks to S3 through the IAM gateway, signing as its site's agent role. */
function agentYaml(recorderRoot: string, stateDir: string, perBatch: number, cloud: LocalCloud): string {
  const iam = cloud.iam!;
  const { accessKeyId, secretAccessKey } = iam.credentialsOf(`agent:${SITE}`);
  return `# Demo agent configuration written by \`ferry start\`.
site: ${SITE}
state: ${stateDir}
cloud:
  bucket: ${cloud.bucket}
  endpoint: ${iam.s3Endpoint}
  api: ${cloud.apiUrl}
  replay: ${cloud.replayUrl}
  credentials: { accessKeyId: ${accessKeyId}, secretAccessKey: ${JSON.stringify(secretAccessKey)} }
shipping:
  pollSeconds: 3
sources:
  - name: contactstore
    type: recordings
    path: ${recorderRoot}
    closeAfterFiles: ${perBatch}
    quietSeconds: 2
    settleSeconds: 0
`;
}

async function shipPass(agent: Agent, say: (m: string) => void): Promise<void> {
  const r = await agent.cycle();
  say(`  agent: shipped ${r.packs} pack(s), ${r.recordings} recording(s), ${formatBytes(r.bytes)}${r.lost ? `; ${r.lost} lost` : ''}`);
}

function demoCounts(opts: StartOptions): { batches: number; perBatch: number } {
  const batches = Number(opts.batches ?? 6);
  const perBatch = Number(opts.perBatch ?? 50);
  if (!Number.isInteger(batches) || batches < 3) throw new Error(`--batches must be a whole number ≥ 3 (got ${opts.batches})`);
  if (!Number.isInteger(perBatch) || perBatch < 1) throw new Error(`--per-batch must be a whole number ≥ 1 (got ${opts.perBatch})`);
  return { batches, perBatch };
}

/** How long a restore from the archive tier takes on `ferry start`'s S3 stand-in. */
export const LOCAL_RESTORE_MS = 1_000;

/** Whether something accepts a connection on the URL's host and port within a second. */
function answers(url: string): Promise<boolean> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((done) => {
    const socket = connect({ host: u.hostname, port: Number(u.port) || 80, timeout: 1000 });
    const end = (up: boolean) => {
      socket.destroy();
      done(up);
    };
    socket.once('connect', () => end(true));
    socket.once('timeout', () => end(false));
    socket.once('error', () => end(false));
  });
}

/**
 * A local cloud of this FERRY_HOME still running (its address file names a live process and its
 * catalogue API answers): a second start would remove the data it serves (without --keep) and its
 * address file, or share its directory; refused before anything is touched. A live pid alone is not
 * enough: after a kill -9 and a reboot (or in a container) another process may have its number.
 */
async function refuseWhileRunning(): Promise<void> {
  let running: ReturnType<typeof readLocalCloud>;
  try {
    running = readLocalCloud();
  } catch {
    return; // a damaged address file (a run killed while writing it) names no running cloud: it is rewritten
  }
  if (!running || running.pid === process.pid || !(await answers(running.api))) return;
  throw new InvalidInputError(`a local cloud of ${ferryHome()} is already running (pid ${running.pid}, catalogue API ${running.api}; its address in ${localCloudFile()}): stop it first (Ctrl-C where it runs), or start this one with another FERRY_HOME. Nothing was removed.`);
}

export async function startCloud(opts: StartOptions, say: (m: string) => void): Promise<LocalCloud> {
  await refuseWhileRunning();
  refuseWhileSecondSiteRuns(ferryHome(), opts.keep, new Date());
  const removing = removedNotice(ferryHome(), opts);
  if (removing) say(removing);
  removeSecondSiteState(ferryHome(), opts.keep);
  say('Starting the embedded local cloud (S3 and DynamoDB stand-ins, catalogue API, replay URL)…');
  // The workflows' waits are shortened here (the recall checks its restore a few times a second,
  // not hourly), so a restore from the archive tier takes seconds, not S3's 12 h: a recall asked
  // from the console completes while the officer watches, instead of giving up.
  const cloud = await startLocalCloud({ directory: join(ferryHome(), 'cloud'), fresh: !opts.keep, apiPort: Number(opts.port ?? DEFAULT_API_PORT), addressFile: localCloudFile(), iam: { sites: [SITE] }, restoreDelayMs: LOCAL_RESTORE_MS, log: (m) => process.stderr.write(`local cloud: ${m}\n`) });
  say(describeCloud(cloud));
  return cloud;
}

/** Runs the demo against a started local cloud; `signal` ends the endless part (without --once). */
export async function runDemo(cloud: LocalCloud, opts: StartOptions, say: (m: string) => void, signal?: AbortSignal): Promise<{ evictedCallId: string; verified: boolean }> {
  const { batches, perBatch } = demoCounts(opts);
  const demo = join(ferryHome(), 'demo');
  if (!opts.keep) rmSync(demo, { recursive: true, force: true });
  mkdirSync(demo, { recursive: true });
  const recorderRoot = join(demo, 'recorder');
  const configFile = join(demo, 'agent.yaml');
  writeFileSync(configFile, agentYaml(recorderRoot, join(demo, 'state'), perBatch, cloud), { mode: 0o600 });
  say(`\nDemo site "${SITE}": a recorder writing ${batches} batches of ${perBatch} calls (8 kHz) into ${recorderRoot}`);
  const generated = await generateBatches({ root: recorderRoot, firstBatch: 1, batches, perBatch, seconds: [3, 9], start: new Date(Date.UTC(2023, 10, 6, 8, 0)), seed: 7, sidecar: 'xml' });

  const agent = buildAgent(loadConfig(configFile), { log: createLogger({ json: false, level: 'warn' }) });
  await shipPass(agent, say);
  await cloud.drain();

  const recorder = new SimulatedRecorder({ root: recorderRoot, keepBatches: batches - 2, perBatch, seconds: [3, 9], sidecar: 'xml' });
  const evicted: string[] = [];
  for (let i = 0; i < 2; i++) {
    const gone = await recorder.evictOldest();
    if (gone) evicted.push(gone);
  }
  say(`  recorder: disk nearly full, deleted its oldest batches ${evicted.join(', ')} (${evicted.length * perBatch} calls no longer on the recorder)`);

  const victim = generated.find((g) => evicted.some((b) => g.relativePath.startsWith(`${b}/`)));
  if (!victim) throw new Error('demo: no evicted recording to look for');
  const found = await searchCalls({ site: SITE, callId: victim.metadata.callId, api: cloud.apiUrl });
  const entry = found[0];
  if (!entry) throw new Error(`demo: evicted call ${victim.metadata.callId} is not in the catalogue`);
  const out = join(demo, 'evicted-call.wav');
  const played = await playCall(`${SITE}/${entry.rid}`, { out, api: cloud.apiUrl, replayUrl: cloud.replayUrl });
  const verified = played.sha256 === victim.sha256;
  say(`\nCall ${victim.metadata.callId} (agent ${entry.meta.agent}, ${entry.meta.caller} → ${entry.meta.called}, ${entry.start}) was deleted by the recorder,`);
  say(`and replayed from the cloud tier into ${out}: ${played.bytes} bytes, ${verified ? 'byte-identical to the original' : 'DIFFERENT from the original'}.`);
  say(opts.once ? '\nThe local cloud stops with --once. Run `npm start` (without --once) to keep it up, then in another terminal:' : '\nTry it yourself (another terminal, same directory):');
  say(`  ./bin/ferry.mjs calls search --site ${SITE} --call-id ${victim.metadata.callId}`);
  say(`  ./bin/ferry.mjs calls search --site ${SITE} --agent "${entry.meta.agent}" --from 2023-11-06T00:00:00Z --to 2023-11-30T00:00:00Z`);
  say(`  ./bin/ferry.mjs calls play ${SITE}/${entry.rid} --out call.wav`);
  say(`  ./bin/ferry.mjs agent status --config ${configFile}`);
  say(`  ./bin/ferry.mjs calls link ${SITE}/${entry.rid}     # a presigned replay link, valid 5 minutes`);
  say(`  browser: ${cloud.webUrl}`);
  if (!verified) throw new Error('demo: replayed audio differs from the original');
  const stopOrchestration = await runOrchestrationDemo(cloud, agent, say);
  try {
    return await keepShipping(agent, recorder, opts, say, signal, { evictedCallId: victim.metadata.callId ?? '', verified });
  } finally {
    await stopOrchestration();
  }
}

/** Without --once: the recorder keeps writing and the agent keeps shipping until `signal`. */
async function keepShipping<T>(
  agent: Agent,
  recorder: SimulatedRecorder,
  opts: StartOptions,
  say: (m: string) => void,
  signal: AbortSignal | undefined,
  result: T,
): Promise<T> {
  if (opts.once || signal?.aborted) {
    agent.close();
    return result;
  }

  say('\nThe recorder keeps writing a batch every 20 s and evicting the oldest; the agent ships them. Ctrl-C stops.');
  say(`Recall an archived call through the catalogue API: ./bin/ferry.mjs calls recall ${SITE}/ID (this site's recall workflow).`);
  const timer = setInterval(() => {
    recorder.writeBatch().then(
      (w) => say(`  recorder: wrote batch ${w.batch}${w.evicted.length ? `, deleted ${w.evicted.join(', ')}` : ''}`),
      (e: unknown) => say(`  recorder: ${String(e)}`),
    );
  }, 20_000);
  await agent.run(signal ?? new AbortController().signal);
  clearInterval(timer);
  agent.close();
  return result;
}

/**
 * The cloud side of a site's day, from the very state machines CDK synthesizes: an on-demand
 * backup window (lock, job to the agent through its activity, verify, release, record) and a
 * purge (lock, plan, delete, release, report). Waits are shortened; the rules are the real ones.
 */
async function runOrchestrationDemo(cloud: LocalCloud, agent: Agent, say: (m: string) => void): Promise<() => Promise<void>> {
  say('\nOrchestration (the synthesized Step Functions definitions, run locally):');
  const orchestration = await startLocalOrchestration({
    cloud,
    site: SITE,
    // The demo's calls are from 2023: a ten-year retention keeps them all.
    purge: { retentionDays: 3650, keepFullCycles: 2 },
    pauseMs: 20,
    // The agent polls its activity over HTTP, through the IAM gateway, as its site's agent role.
    activityPort: 0,
    say,
    onEvent: (e) => {
      if (e.type === 'StateEntered' && e.state) say(`    → ${e.state.name}`);
    },
  });
  const stopWorker = new AbortController();
  const polling = new ActivityWorker({ client: gatewayActivityClient(cloud, orchestration), site: SITE, runBackup: () => agent.cycle(), clock: systemClock, log: silentLogger, workerName: 'demo-agent' }).run(stopWorker.signal);
  let shown = false;
  try {
    say('  backup window (on demand):');
    say(`  backup window: ${(await orchestration.workflows.runBackupWindow({ onDemand: true }).done).status}`);
    say('  purge:');
    say(`  purge: ${(await orchestration.workflows.runPurge().done).status}`);
    shown = true;
  } finally {
    stopWorker.abort();
    await polling;
    if (!shown) await orchestration.stop();
  }
  // The site's recall workflow stays up with the demo: `ferry calls recall` reaches it through the API.
  const unwire = cloud.wireRecall(SITE, localRecallStarter(orchestration.workflows));
  return async () => {
    unwire();
    await orchestration.stop();
  };
}

/** The demo agent's activity client: the Step Functions API of the local cloud, signed as `agent:demo`. */
function gatewayActivityClient(cloud: LocalCloud, orchestration: LocalOrchestration): ActivityClient {
  if (!orchestration.activityEndpoint || !cloud.iam) return orchestration.activityClient();
  const sfn = createSfnClient({ region: cloud.region, endpoint: orchestration.activityEndpoint, credentials: cloud.iam.credentialsOf(`agent:${SITE}`) });
  return new SfnActivityClient(sfn, orchestration.activityArn);
}

function describeCloud(cloud: LocalCloud): string {
  return [
    `  web page       ${cloud.webUrl}`,
    '                 (search and play calls in a browser; the #session part is the page\'s local session)',
    `  fleet page     ${cloud.webUrl.replace('/#session=', '/fleet.html#session=')}   (every site's backup status, GET /fleet)`,
    `  catalogue API  ${cloud.apiUrl}   (SigV4, service execute-api, region ${cloud.region})`,
    `  console        ${cloud.console.pageUrl}   (the compliance console: sign in as the demo officer below)`,
    `  console API    ${cloud.console.apiUrl}   (Authorization: Bearer <access token>; docs/console.md)`,
    `  console sign-in ${cloud.console.cognitoEndpoint}  (Cognito stand-in: InitiateAuth USER_PASSWORD_AUTH, pool ${cloud.console.userPoolId}, client ${cloud.console.clientId})`,
    `  demo officer   ${cloud.console.demo.username} / ${cloud.console.demo.password}   (groups ${cloud.console.demo.groups.join(', ')})`,
    `  demo listener  ${cloud.console.listener.username} / ${cloud.console.listener.password}   (groups ${cloud.console.listener.groups.join(', ')}: search and play calls only)`,
    `  replay URL     ${cloud.replayUrl}   (SigV4, service lambda, or presigned links)`,
    `  S3             ${cloud.s3Endpoint}  bucket ${cloud.bucket}`,
    `  DynamoDB       ${cloud.dynamoEndpoint}  table ${cloud.table}`,
    `  credentials    access key ${cloud.credentials.accessKeyId}, secret ${cloud.credentials.secretAccessKey} (the administrator's: the stand-ins above, the API and replay; no policy applies)`,
    ...(cloud.iam ? [`  IAM gateway    S3 ${cloud.iam.s3Endpoint}, DynamoDB ${cloud.iam.dynamoEndpoint} (SigV4 + the synthesized policies; each role's keys in ${cloud.iam.credentialsFile})`] : []),
  ].join('\n');
}

/** What an operator needs to point a second site's agent at this local cloud. */
function secondSiteHelp(cloud: LocalCloud): string {
  return `
The local cloud is up (no demo site). To ship from a site of your own, write an agent config:

  site: site-b
  state: ${secondSiteState(ferryHome())}
  cloud:
    bucket: ${cloud.bucket}
    region: ${cloud.region}
    endpoint: ${cloud.s3Endpoint}
    api: ${cloud.apiUrl}
    replay: ${cloud.replayUrl}
    credentials: { accessKeyId: ${cloud.credentials.accessKeyId}, secretAccessKey: ${cloud.credentials.secretAccessKey} }
  sources:
    - { name: contactstore, type: recordings, path: /path/to/recordings }

then \`./bin/ferry.mjs agent run --config site-b.yaml\`, and \`./bin/ferry.mjs calls search --site site-b\`.
Site-b is not one of this local cloud's sites (${SITE} is): the fleet page and \`ferry fleet status\` list
${SITE} only. To watch site-b's heartbeat, name it in a deployment file and read the fleet with it:
  echo '{"sites":[{"name":"site-b","retentionDays":730}]}' > fleet.json
  ./bin/ferry.mjs fleet status --deployment fleet.json
This ships with the administrator's key, straight to the S3 stand-in (no policy checked). To ship as
a site's agent role, through the IAM gateway (${cloud.iam?.s3Endpoint ?? 'not running'}), use site ${SITE}
and the \`agent:${SITE}\` keys from ${cloud.iam?.credentialsFile ?? 'its credentials file'}.
The CLI finds this cloud by itself (${localCloudFile()}). Ctrl-C stops it.`;
}

function untilSignal(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}

/** Starts the cloud, runs the demo (or waits), and stops the cloud on every way out. */
export async function startCommand(opts: StartOptions, say: (m: string) => void = (m) => process.stdout.write(`${m}\n`)): Promise<void> {
  if (opts.demo !== false) demoCounts(opts); // refuse bad counts before starting anything
  const stopping = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping.signal.aborted) return;
    say(`\n${sig}: stopping the local cloud…`);
    stopping.abort();
    process.exitCode = sig === 'SIGINT' ? 130 : 143;
    // The demo's steps finish what they are doing first; do not wait more than a moment.
    setTimeout(() => void Promise.resolve(cloud?.stop()).finally(() => process.exit(process.exitCode)), 2000).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let cloud: LocalCloud | undefined;
  try {
    cloud = await startCloud(opts, say);
    if (opts.demo === false) {
      say(secondSiteHelp(cloud));
      if (!opts.once) await untilSignal(stopping.signal);
    } else {
      await runDemo(cloud, opts, say, stopping.signal);
    }
  } finally {
    await cloud?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('start the embedded local cloud and a demo site, ship, evict, and replay an evicted call (no AWS account)')
    .option('--once', 'run the demo once and exit 0 (for scripts)')
    .option('--no-demo', 'the local cloud only: print its endpoints and credentials, run until Ctrl-C')
    .option('--port <port>', 'catalogue API port (0: any free port)', String(DEFAULT_API_PORT))
    .option('--batches <n>', 'demo batches', '6')
    .option('--per-batch <n>', 'recordings per batch', '50')
    .option('--keep', "keep the previous run's local cloud data and the printed site-b config's agent state (without it, a start removes them and says how much)")
    .action((opts: StartOptions) => startCommand(opts));
}
