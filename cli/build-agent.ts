import { readFileSync, statSync, mkdirSync, accessSync, constants } from 'node:fs';
import nodePath, { type PlatformPath } from 'node:path';
import { ConfigError, NotFoundError, messageOf } from '../core/errors.ts';
import { heartbeatPrefix } from '../core/fleet.ts';
import { sitePrefix, type DataClass } from '../core/layout.ts';
import { unreadableDirectory } from '../agent/sources/source-checks.ts';
import { batchDepthProblem } from '../agent/sources/scan.ts';
import { hasExtension } from '../agent/sources/recordings.ts';
import { literalTreeGlob } from '../agent/tree/paths.ts';
import { parseAgentConfig, type AgentConfig } from '../core/config.ts';
import { problemLines } from '../core/config-lines.ts';
import { systemClock } from '../core/clock.ts';
import { createS3Client } from '../adapters/aws-clients.ts';
import { S3BlobStore } from '../adapters/s3-blob-store.ts';
import { storeFault } from '../adapters/s3-errors.ts';
import { Agent, type Progress } from '../agent/agent.ts';
import { createLogger, type Logger } from '../agent/log.ts';
import { createAlertNotifier } from '../agent/alerts.ts';
import { resolveVerifyMode, type VerifyMode } from '../agent/verify.ts';
import { sessionRefusal } from '../agent/store-refusal.ts';
import { NoCloudError, resolveCloud } from './cloud.ts';
import type { BlobStore } from '../core/ports.ts';
import { hostname } from 'node:os';
import { createSfnClient, SfnActivityClient } from '../adapters/sfn-activity-client.ts';
import { ActivityWorker } from '../agent/activity-worker.ts';
import { FERRY_VERSION } from './version.ts';
import { partialLockNotes, readAndPublishProblem } from './check-permissions.ts';
import { credentialsSource, explainMissingCredentials } from './credentials-diagnosis.ts';

// Composition root of the agent process: the only place that reads the config file and the
// environment and builds clients.

export function loadConfig(file: string): AgentConfig {
  const text = readConfigFile(file);
  return inConfigFile(file, text, () => {
    const config = parseAgentConfig(text, file);
    const problems = controlCharacterProblems(config);
    if (problems.length > 0) throw new ConfigError(problems);
    return leaveStateOutOfTrees(resolveConfigPaths(config, file));
  });
}

/**
 * Runs a check of the configuration in `file` (its text: `text`, read again when not given): a
 * ConfigError it throws names the file, and each problem the line of the setting it names. A site
 * host may hold several configurations, and a long one is edited by hand: the setting's path alone
 * says neither which file nor where in it.
 */
export function inConfigFile<T>(file: string, text: string | undefined, check: () => T): T {
  const named = (error: unknown): unknown => {
    if (!(error instanceof ConfigError) || error.lines !== undefined) return error;
    let source = text;
    try {
      source ??= readFileSync(file, 'utf8');
    } catch {
      source = '';
    }
    const origin = error.origin ?? (error.problems.some((p) => p.startsWith(file)) ? undefined : file);
    return new ConfigError(error.problems, origin, problemLines(source, error.problems));
  };
  try {
    const out = check();
    return out instanceof Promise ? (out.catch((error: unknown) => Promise.reject(named(error))) as T) : out;
  } catch (error) {
    throw named(error);
  }
}

/**
 * A tree source whose path holds the agent's state directory leaves it out of its snapshots
 * (an exclude of the state's contents): the agent's own journal changes while it is read, so
 * every snapshot would report it torn, and it is no backup of anything. A tree source that IS
 * the state directory is a mistake, refused.
 */
export function leaveStateOutOfTrees(config: AgentConfig, paths: Pick<PlatformPath, 'relative' | 'isAbsolute' | 'sep'> = nodePath): AgentConfig {
  const problems: string[] = [];
  const sources = config.sources.map((s, i) => {
    if (s.type !== 'tree') return s;
    const rel = paths.relative(s.path, config.state);
    if (rel === '') problems.push(`sources[${i}].path: ${s.path} is the agent's state directory (state); a tree source cannot back it up`);
    if (rel === '' || rel === '..' || rel.startsWith(`..${paths.sep}`) || paths.isAbsolute(rel)) return s;
    return { ...s, exclude: [...s.exclude, `${literalTreeGlob(rel.split(paths.sep).join('/'))}/**`] };
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...config, sources };
}

/**
 * A Windows path in a double-quoted YAML string loses its backslashes to escapes
 * ("D:\rostrvm" is D:, a carriage return, "ostrvm"); no real path holds a control character.
 */
export function controlCharacterProblems(config: Pick<AgentConfig, 'state' | 'sources'>): string[] {
  const hint = 'contains a control character: a backslash read as an escape in a double-quoted YAML string? Write Windows paths unquoted, in single quotes, or with forward slashes';
  const bad = (p: string) => /[\x00-\x1f\x7f]/.test(p);
  return [
    ...(bad(config.state) ? [`state: ${JSON.stringify(config.state)} ${hint}`] : []),
    ...config.sources.flatMap((s, i) => (bad(s.path) ? [`sources[${i}].path: ${JSON.stringify(s.path)} ${hint}`] : [])),
  ];
}

/**
 * Relative paths in the file are relative to the file, not to wherever the agent was started;
 * every path comes out absolute and normalised in the host's own syntax (on Windows
 * `D:/Recordings` → `D:\Recordings`, `//nas/share` → `\\nas\share`). `paths` is the host's
 * path module; tests pass `path.win32` to check the Windows behaviour on any host.
 */
export function resolveConfigPaths(config: AgentConfig, file: string, paths: Pick<PlatformPath, 'resolve' | 'dirname'> = nodePath): AgentConfig {
  const base = paths.dirname(paths.resolve(file));
  return {
    ...config,
    state: paths.resolve(base, config.state),
    sources: config.sources.map((s) => ({ ...s, path: paths.resolve(base, s.path) })),
  };
}

function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([`--config ${file}: ${fileProblem(error)}`]);
  }
}

function fileProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EISDIR') return 'is a directory, not a configuration file';
  if (code === 'EACCES' || code === 'EPERM') return 'cannot be read (permission denied)';
  if (code === 'ENOTDIR') return 'a parent of this path is a file, not a directory';
  if (code === 'EEXIST') return 'exists and is not a directory';
  return `cannot be used (${code ?? (error as Error).message})`;
}

/** A state directory on a file system mounted read-only: no owner or mode mends that (the kernel remounts ext4 read-only after an I/O error). */
const READ_ONLY_STATE = 'cannot be written: its file system is mounted read-only (`findmnt -T` names it; the kernel remounts one read-only after a disk error: see dmesg, check it, then `mount -o remount,rw`), or put the state directory on another disk';

/**
 * What the agent needs of the host before it runs: a state directory it can write and (with
 * `sources`, the default: `agent check`, `agent install`) a readable directory at every source
 * path. A mistyped mount must not back up nothing in silence. Every problem is listed with its
 * setting, like the schema's own. `agent run` checks the state directory only: a source path
 * that is gone (an unmounted share) is that source's problem, alerted by every pass while the
 * other sources ship, not a reason to ship none of them.
 */
export async function checkSitePaths(config: AgentConfig, options: { sources?: boolean; standby?: boolean } = {}): Promise<void> {
  const problems: string[] = [];
  if (config.sources.length === 0 && !options.standby) problems.push('sources: the agent needs at least one source to ship (a configuration without sources serves the restore, snapshots and backups commands, as at a standby site)');
  try {
    const st = statSync(config.state, { throwIfNoEntry: false });
    if (st && !st.isDirectory()) problems.push(`state: ${config.state} exists and is not a directory`);
    else {
      mkdirSync(config.state, { recursive: true });
      accessSync(config.state, constants.W_OK | constants.X_OK);
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // It exists and may well be readable: what fails is creating it, or writing into it.
    problems.push(`state: ${config.state} ${code === 'EROFS' ? READ_ONLY_STATE : code === 'EACCES' || code === 'EPERM' ? `cannot be created or written (permission denied): the agent's user must own it` : fileProblem(error)}`);
  }
  if (options.sources !== false) {
    // The same answer every pass of the agent gives (and alerts) when a source root goes away.
    const sourceProblems = await Promise.all(config.sources.map((source) => unreadableDirectory(source.path)));
    sourceProblems.forEach((problem, i) => problem && problems.push(`sources[${i}].path: ${problem}${WINDOWS_PATH.test(config.sources[i]!.path) ? WINDOWS_HINT : ''}`));
    // A batchDepth that does not match the recorder's layout ships nothing: said here, before the first run.
    for (const [i, source] of config.sources.entries()) {
      if (source.type !== 'recordings' || sourceProblems[i]) continue;
      const problem = await batchDepthProblem(source.path, source.batchDepth, (name) => hasExtension(name, source.extensions));
      if (problem) problems.push(`sources[${i}].batchDepth: ${problem}`);
    }
  }
  // The state directory inside a recorder's root would be walked as one of its batches.
  for (const [i, source] of config.sources.entries()) {
    const inside = nodePath.relative(source.path, config.state);
    if (source.type === 'recordings' && (inside === '' || (!inside.startsWith('..') && !nodePath.isAbsolute(inside)))) problems.push(`state: ${config.state} lies inside the recordings root of sources[${i}] (${source.path}): the agent would walk it as a batch of recordings; keep the state directory elsewhere`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

/** A drive letter or a UNC share inside a path: a Windows path given to the agent on another system. */
const WINDOWS_PATH = /(^|\/)[A-Za-z]:\\|\\\\[^\\]+\\/;
const WINDOWS_HINT = ' (it looks like a Windows path: on this host give the directory where that disk or share is mounted, e.g. /mnt/ocs-share)';

/**
 * Whether the store answers this agent, for `agent check`: one GET of a key under the site's own
 * heartbeat prefix that does not exist. Missing (404, or 403 to a role that may not list) means
 * the endpoint answered and took the credentials; any other answer is the problem, named. Then a
 * write: an upload begun under that prefix and abandoned at once (nothing is created), which a
 * key that may not write the site's prefixes (another site's key, a misspelt site, a DR site's
 * read-only key) is refused, here rather than at every pass. A configuration with no cloud and
 * no local cloud running is not checked (undefined).
 */
export async function storeProblem(config: AgentConfig, env: NodeJS.ProcessEnv = process.env, options: { standby?: boolean; notes?: string[] } = {}): Promise<string | undefined | 'not checked'> {
  let store: BlobStore;
  try {
    store = buildStore(config).store;
  } catch (error) {
    if (error instanceof NoCloudError && config.cloud === undefined && !env.FERRY_BUCKET) return 'not checked';
    throw error;
  }
  try {
    // A standby reads the site's manifests (restore, snapshots, backups); an agent its own heartbeats.
    if (options.standby) for await (const _ of store.list(sitePrefix('manifests', config.site), { pageSize: 1 })) break;
    else await store.get(`${heartbeatPrefix(config.site)}ferry-agent-check.json`);
  } catch (error) {
    if (!(error instanceof NotFoundError)) return storeFaultWords(config, error) ?? sessionWords(error) ?? `the store did not take this agent: ${messageOf(error)}`;
  }
  if (options.standby) return undefined;
  const key = `${heartbeatPrefix(config.site)}ferry-agent-check-${Date.now()}.json`;
  let uploadId: string;
  try {
    uploadId = await store.createMultipart(key, { contentType: 'application/json' });
  } catch (error) {
    return storeFaultWords(config, error) ?? sessionWords(error) ?? `these credentials may not write site ${config.site}'s objects (is the site name right, is cloud.bucket the deployment's bucket, and is this the site's agent key, not a DR site's read-only one?): ${messageOf(error)}`;
  }
  try {
    await store.abortMultipart(key, uploadId);
  } catch (error) {
    return `these credentials may not abort an upload of site ${config.site} (the agent abandons an interrupted upload the same way): ${messageOf(error)}`;
  }
  const problem = await prefixProblem(store, config);
  if (!problem) options.notes?.push(...(await partialLockNotes(store, config)));
  return problem;
}

/** What the agent writes under each of its site's prefixes, as a refusal there names it. */
const PREFIX_USE: Record<Exclude<DataClass, 'heartbeats'>, string> = {
  recordings: 'the recordings packs',
  manifests: 'the manifest of everything shipped',
  backups: 'rotated and database backups',
  logs: 'log sources',
  archives: 'archive sources',
  trees: 'file-share snapshots',
  'heartbeats-daily': 'the daily heartbeat',
};

/**
 * Each prefix the agent writes, used as the agent uses it (an upload begun and abandoned, a
 * listing, a read back, a publication with If-None-Match: cli/check-permissions.ts): a policy that
 * lost a statement, or grants a prefix fewer permissions, is named here with the permission it
 * lacks, not at the next pass (the heartbeat prefix was tried first).
 */
async function prefixProblem(store: BlobStore, config: AgentConfig): Promise<string | undefined> {
  const site = config.site;
  for (const [dataClass, use] of [['heartbeats', 'the heartbeat'], ...Object.entries(PREFIX_USE)] as [DataClass, string][]) {
    const readAndPublish = await readAndPublishProblem(store, config, sitePrefix(dataClass, site), use);
    if (readAndPublish) return readAndPublish;
    if (dataClass === 'heartbeats') continue;
    const prefix = sitePrefix(dataClass, site);
    const key = `${prefix}ferry-agent-check-${Date.now()}.json`;
    try {
      const uploadId = await store.createMultipart(key, { contentType: 'application/json' });
      await store.abortMultipart(key, uploadId);
      for await (const _ of store.list(prefix, { pageSize: 1 })) break;
    } catch (error) {
      const action = /not authorized to perform: (\S+)/.exec(messageOf(error))?.[1];
      const lacks = action ? `lacks ${action} there` : 'may not do there what the agent does';
      return `these credentials may not use ${prefix} (${use}): the key ${lacks}. Check that the site's agent role still has every statement the deployment gives it (a policy edited by hand, a statement removed) and that this is site ${site}'s agent key: ${messageOf(error)}`;
    }
  }
  return undefined;
}

/**
 * A store check's failure as the setting to mend, when S3's answer (or none) tells which: a
 * misspelt bucket, an endpoint nothing answers at, a key the store does not know or whose secret
 * is wrong. S3's own words follow. Undefined for any other failure.
 */
function storeFaultWords(config: AgentConfig, error: unknown): string | undefined {
  const cloud = resolveCloud(config.cloud);
  const where = cloud.endpoint ?? `S3 in ${cloud.region}`;
  const key = cloud.credentials?.accessKeyId;
  const words = {
    'no-bucket': `there is no bucket ${cloud.bucket} at ${where}: check cloud.bucket (the deployment's data bucket, as its outputs name it)`,
    unreachable: cloud.endpoint
      ? `nothing answers at ${cloud.endpoint}: check cloud.endpoint (its host and port), that the store is running, and the network between`
      : `${where} cannot be reached from this machine: check the network, DNS and the proxy (HTTPS_PROXY)`,
    'unknown-key': `the store knows no access key ${key ?? '(the one the AWS SDK found)'}: check ${key ? 'cloud.credentials.accessKeyId' : 'the credentials the agent takes (AWS_PROFILE, ~/.aws)'}`,
    'wrong-secret': `the secret key is not access key ${key ?? '(the one the AWS SDK found)'}'s: check ${key ? 'cloud.credentials.secretAccessKey' : 'the credentials the agent takes (AWS_PROFILE, ~/.aws)'} (copied whole, no space or line break)`,
  } as const;
  const fault = storeFault(error);
  return fault ? `${words[fault]} (${messageOf(error)})` : undefined;
}

/** A refusal of temporary credentials (expired, a token refused, a role's source key unknown to STS) as the agent's alerts name it, S3's or STS's words after it. */
function sessionWords(error: unknown): string | undefined {
  const words = sessionRefusal(error);
  return words === undefined ? undefined : `${words} (${messageOf(error)})`;
}

/** `fn` run at most once (a credential_process is not run again for every failed request of a pass). */
function onceOnly<T>(fn: () => T): () => T {
  let done: { value: T } | undefined;
  return () => (done ??= { value: fn() }).value;
}

export function buildStore(config: AgentConfig): { store: BlobStore; standIn: boolean; verifyConfigured: 'auto' | VerifyMode; target: string } {
  const cloud = resolveCloud(config.cloud);
  const client = createS3Client({ region: cloud.region, endpoint: cloud.endpoint, credentials: cloud.credentials });
  const standIn = cloud.endpoint !== undefined;
  // A stand-in's refusal to replace an object is declared (cloud.writeOnce), not assumed: raw s3rver ignores it.
  const conditionalPut = cloud.writeOnce ?? !standIn;
  // A site's agent role lists its own prefixes only: a missing key reads as 403 (readsWithoutList).
  // Without keys in the configuration, the SDK's default chain: when it finds none, the cause is looked for once.
  const explainCredentials = cloud.credentials ? undefined : onceOnly(() => explainMissingCredentials(process.env));
  const fromChain = cloud.credentials ? {} : { explainCredentials: explainCredentials!, credentialsSource: onceOnly(() => credentialsSource(process.env)) };
  const store = new S3BlobStore(client, cloud.bucket, { features: standIn ? { verifiesChecksums: false, conditionalPut, md5ETags: true } : { conditionalPut }, readsWithoutList: true, ...fromChain });
  return { store, standIn, verifyConfigured: cloud.verify, target: storeTarget(cloud) };
}

/** The store as the state directory remembers it: the bucket, and the endpoint's host off AWS (a local cloud's port may change between starts). */
export function storeTarget(cloud: { bucket: string; endpoint?: string }): string {
  let host: string | undefined;
  try {
    host = cloud.endpoint ? new URL(cloud.endpoint).hostname : undefined;
  } catch {
    host = cloud.endpoint;
  }
  return `s3://${cloud.bucket}${host ? ` at ${host}` : ''}`;
}

export function buildAgent(config: AgentConfig, options: { log?: Logger; json?: boolean; onProgress?: (p: Progress) => void; store?: BlobStore }): Agent {
  const log = options.log ?? createLogger({ json: options.json ?? !process.stderr.isTTY });
  const built = options.store ? { store: options.store, verifyConfigured: 'auto' as const, target: undefined } : buildStore(config);
  return new Agent({
    config,
    store: built.store,
    ...(built.target ? { target: built.target } : {}),
    clock: systemClock,
    log,
    notifier: createAlertNotifier(config.alerts, log),
    verify: resolveVerifyMode(built.verifyConfigured, built.store.features.verifiesChecksums),
    agentVersion: FERRY_VERSION,
    onProgress: options.onProgress,
  });
}

/** The backup-window worker, when the config names the site's activity. */
export function buildActivityWorker(config: AgentConfig, agent: Agent, log: Logger): ActivityWorker | undefined {
  const activity = config.cloud?.activity;
  if (!activity) return undefined;
  const cloud = resolveCloud(config.cloud);
  const sfn = createSfnClient({ region: cloud.region, endpoint: activity.endpoint ?? process.env.AWS_ENDPOINT_URL_SFN, credentials: cloud.credentials });
  return new ActivityWorker({ client: new SfnActivityClient(sfn, activity.arn), site: config.site, runBackup: () => agent.cycle(), clock: systemClock, log, workerName: `ferry-agent ${config.site}@${hostname()}` });
}
