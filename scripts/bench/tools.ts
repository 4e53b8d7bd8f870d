import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runMeasured, type Measured } from './measure.ts';
import type { VerifyMode } from '../../agent/verify.ts';

// The three tools under test, each started as its own process with its own bucket or prefix.
// Peers run exactly as an operator would run them (default settings apart from rclone's
// --transfers 16); Ferry runs its real CLI, verification of what it published included.

export type ToolName = 'ferry' | 'rclone' | 'aws-cli';

export interface Target {
  endpoint: string;
  bucket: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

export interface ToolRun extends Measured {
  tool: ToolName;
  /** The command as run (for the report and for reproducing one run by hand). */
  commandLine: string;
  logFile: string;
}

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FERRY_BIN = join(REPO, 'bin', 'ferry.mjs');
/** Debian's AWS CLI v2 (an older `aws` may come first on PATH); when it is absent, the `aws` on PATH (v1 on some machines). */
export const AWS_CLI = '/usr/bin/aws';
/** Transfers run sequentially, so a stuck tool must not hold the bench for ever. */
const TOOL_TIMEOUT_MS = 45 * 60_000;

function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

export interface Availability {
  rclone?: string;
  aws?: string;
  /** One line per missing peer, with how to install it. */
  missing: string[];
}

export function findPeers(): Availability {
  const rclone = which('rclone');
  const aws = existsSync(AWS_CLI) ? AWS_CLI : which('aws');
  const missing: string[] = [];
  if (!rclone) missing.push('rclone is missing: install it with `apt-get install -y rclone` (Debian package); its runs are skipped');
  if (!aws) missing.push(`${AWS_CLI} (or an \`aws\` on PATH) is missing: install it with \`apt-get install -y awscli\` (Debian package, AWS CLI v2); its runs are skipped`);
  return { rclone, aws, missing };
}

/** The environment of a peer: ours minus a CA bundle rclone chokes on, plus the S3 settings. */
function peerEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.AWS_CA_BUNDLE;
  for (const key of Object.keys(env)) if (key.startsWith('AWS_ENDPOINT_URL') || key === 'AWS_PROFILE') delete env[key];
  return env;
}

const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);
const show = (cmd: string, args: string[]) => [cmd, ...args].map(quote).join(' ');

export interface FerryRunOptions {
  scenario: string;
  root: string;
  workDir: string;
  target: Target;
  /** Flow-style YAML for the source's `metadata:` block (default: the demo sidecars). */
  metadataYaml?: string;
  /** Extra node flags for the agent process, e.g. --cpu-prof. */
  nodeFlags?: string[];
  /** cloud.verify; absent leaves Ferry's default ('auto': etag on a stand-in). */
  verify?: VerifyMode;
  /** Runs of `--once` at most (default 500); 1 measures a single run, whatever it left. */
  maxRuns?: number;
}

export function ferryConfigYaml(o: FerryRunOptions, state: string): string {
  const { endpoint, bucket, credentials } = o.target;
  return [
    'site: bench',
    `state: ${JSON.stringify(state)}`,
    // The bench's store is Ferry's own stand-in, which refuses to replace an object (docs/parity.md).
    `cloud: { bucket: ${bucket}, region: us-east-1, endpoint: ${JSON.stringify(endpoint)}, writeOnce: true,${o.verify ? ` verify: ${o.verify},` : ''} credentials: { accessKeyId: ${credentials.accessKeyId}, secretAccessKey: ${credentials.secretAccessKey} } }`,
    'shipping: { partSizeMiB: 8, packConcurrency: 4, partConcurrency: 2 }',
    'sources:',
    `  - { name: rec, type: recordings, path: ${JSON.stringify(o.root)}, closeAfterFiles: 100, quietSeconds: 0, settleSeconds: 0${o.metadataYaml ? `, metadata: ${o.metadataYaml}` : ''} }`,
    '',
  ].join('\n');
}

/** Ferry's CLI starts at all (the tree may be mid-edit): its stderr when it does not. */
export function ferryStartProblem(): string | undefined {
  // The agent (and `ferry restore`) run from the single-file bundle, as on a site, only when it is
  // newer than every source file; otherwise bin/ferry.mjs quietly runs the sources, which start
  // and run slower. A source edited since the last build must not turn the figures into the
  // sources' figures: build the bundle first, every run.
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: REPO, encoding: 'utf8', timeout: 300_000 });
  if (build.status !== 0) return `npm run build failed, so Ferry's CLI would run from source: ${(build.stderr || build.error?.message || `exit ${build.status}`).trim().split('\n').slice(0, 6).join('\n')}`;
  const r = spawnSync(process.execPath, [FERRY_BIN, '--help'], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  if (r.status === 0) return undefined;
  return (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(0, 6).join('\n');
}

export async function runFerry(o: FerryRunOptions): Promise<ToolRun> {
  const dir = join(o.workDir, `ferry-${o.scenario}`);
  const state = join(dir, 'state');
  mkdirSync(state, { recursive: true });
  const config = join(dir, 'agent.yaml');
  writeFileSync(config, ferryConfigYaml(o, state));
  const args = [...(o.nodeFlags ?? []), FERRY_BIN, 'agent', 'run', '--config', config, '--once', '--json-logs'];
  const logFile = join(o.workDir, `${o.scenario}-ferry.log`);
  const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  // `--once` ships for one time slice and says `more` when work is left (agent/ship-recordings.ts): run it
  // again, as cron would, until nothing is left; every run's time, CPU and memory count.
  let total: Measured | undefined;
  for (let run = 1; run <= (o.maxRuns ?? MAX_ONCE_RUNS); run++) {
    const m = await runMeasured(process.execPath, args, { logFile, env, cwd: REPO, timeoutMs: TOOL_TIMEOUT_MS });
    total = total ? addRuns(total, m) : m;
    if (m.code !== 0 || m.timedOut || !lastPassLeftMore(logFile)) break;
  }
  return { ...(total as Measured), tool: 'ferry', commandLine: show('node', args), logFile };
}

/** Runs of `agent run --once` one after the other, until the last pass left nothing. */
const MAX_ONCE_RUNS = 500;

function addRuns(a: Measured, b: Measured): Measured {
  return {
    ...b,
    startedAt: a.startedAt,
    seconds: a.seconds + b.seconds,
    cpuSeconds: a.cpuSeconds + b.cpuSeconds,
    peakTreeRssMb: Math.max(a.peakTreeRssMb, b.peakTreeRssMb),
    mainHwmMb: Math.max(a.mainHwmMb, b.mainHwmMb),
    samples: a.samples + b.samples,
  };
}

/** Whether the agent's last `pass complete` line says work was left for the next pass. */
function lastPassLeftMore(logFile: string): boolean {
  const lines = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('"pass complete"'));
  const last = lines.at(-1);
  if (!last) return false;
  try {
    return (JSON.parse(last) as { more?: boolean }).more === true;
  } catch {
    return false;
  }
}

export async function runRclone(bin: string, scenario: string, root: string, workDir: string, target: Target, prefix: string): Promise<ToolRun> {
  const env = peerEnv({
    RCLONE_CONFIG_FERRY_TYPE: 's3',
    RCLONE_CONFIG_FERRY_PROVIDER: 'Other',
    RCLONE_CONFIG_FERRY_ENDPOINT: target.endpoint,
    RCLONE_CONFIG_FERRY_ACCESS_KEY_ID: target.credentials.accessKeyId,
    RCLONE_CONFIG_FERRY_SECRET_ACCESS_KEY: target.credentials.secretAccessKey,
    RCLONE_CONFIG_FERRY_FORCE_PATH_STYLE: 'true',
    RCLONE_CONFIG_FERRY_REGION: 'us-east-1',
  });
  const args = ['copy', '--transfers', '16', root, `ferry:${target.bucket}/${prefix}`];
  const logFile = join(workDir, `${scenario}-rclone.log`);
  const m = await runMeasured(bin, args, { logFile, env, timeoutMs: TOOL_TIMEOUT_MS });
  return { ...m, tool: 'rclone', commandLine: show('rclone', args), logFile };
}

export async function runAwsCli(bin: string, scenario: string, root: string, workDir: string, target: Target, prefix: string): Promise<ToolRun> {
  const env = peerEnv({
    AWS_ACCESS_KEY_ID: target.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: target.credentials.secretAccessKey,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
    // No shared config: the CLI's defaults (10 concurrent requests, 8 MiB multipart threshold).
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  });
  const args = ['--endpoint-url', target.endpoint, 's3', 'cp', '--recursive', '--only-show-errors', root, `s3://${target.bucket}/${prefix}`];
  const logFile = join(workDir, `${scenario}-aws-cli.log`);
  const m = await runMeasured(bin, args, { logFile, env, timeoutMs: TOOL_TIMEOUT_MS });
  return { ...m, tool: 'aws-cli', commandLine: show(bin, args), logFile };
}
