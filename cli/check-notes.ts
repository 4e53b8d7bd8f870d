import { readTarget, targetChange, targetChangeAdvice } from '../agent/state/target.ts';
import { storeTarget } from './build-agent.ts';
import { resolveCloud } from './cloud.ts';
import { spawnSync } from 'node:child_process';
import type { AgentConfig } from '../core/config.ts';
import { filesAndFolders, onlyFoldersProblem } from '../agent/sources/files.ts';
import { artefactSelector } from '../agent/sources/select.ts';
import { isTimeZone } from '../core/time-format.ts';
import { proxySetting, shownProxy } from '../adapters/http-handler.ts';
import { archiveSpanFromName, cvpFirstBackupOnly } from '../core/artefact-sources.ts';
import { isLoopback } from '../adapters/http-handler.ts';
import { Observations, REMOVED_KEPT_DAYS } from '../agent/state/observations.ts';
import { renamedSources } from '../agent/source-rename.ts';
import { UnconfiguredRecordings } from '../agent/recordings-elsewhere.ts';
import { listBatches, scanBatch } from '../agent/sources/scan.ts';

// What `ferry agent check` says of a configuration that is valid but would not do what its
// author meant: an alert hook that is not there, a source that selects nothing.

/**
 * Whether the alert hook's program can be found, as the agent's shell would look for it: a hook
 * that is not there shows only at the first incident (as NOT DELIVERED). Undefined when found, or
 * when the command is not a plain program name (a pipeline, a variable: the shell's to judge).
 */
export function alertCommandProblem(command: string | undefined): string | undefined {
  const program = command?.trim().split(/\s+/)[0];
  if (!program || !/^[\w./+-]+$/.test(program)) return undefined;
  const found = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', program], { encoding: 'utf8' });
  if (found.error || found.status === 0) return undefined;
  return `${program} is not found${program.includes('/') ? '' : ' on the PATH'} (the agent runs it, as its own user, for every alert): alerts would not be delivered`;
}

/**
 * What `agent check` says of the site's network settings: the proxy AWS requests take, and a CA
 * bundle given the way the AWS CLI reads it (AWS_CA_BUNDLE), which Node and the AWS SDK for
 * JavaScript do not: the store check fails or passes without it, and the agent would too.
 */
export function networkNotes(env: NodeJS.ProcessEnv): string[] {
  const notes: string[] = [];
  const https = proxySetting(env, 'HTTPS_PROXY');
  const http = proxySetting(env, 'HTTP_PROXY');
  const noProxy = env.NO_PROXY ?? env.no_proxy;
  const except = noProxy ? ` (not for ${noProxy})` : '';
  // Node, like curl and the AWS CLI, takes HTTP_PROXY for http:// addresses only: AWS is https.
  if (https) notes.push(`network: https requests (AWS, the API, replay, the webhook) go through the proxy ${shownProxy(https)}${except}; agent install carries it into the unit or cron line`);
  else if (http) notes.push(`network: only HTTP_PROXY is set (${shownProxy(http)}): it takes http:// addresses only, so AWS (https) is reached direct; set HTTPS_PROXY if the site's way out is the proxy`);
  if (env.AWS_CA_BUNDLE && !env.NODE_EXTRA_CA_CERTS) notes.push(`warning: AWS_CA_BUNDLE (${env.AWS_CA_BUNDLE}) is not read by Ferry (nor by the AWS SDK for JavaScript): a TLS-intercepting proxy's CA is given as NODE_EXTRA_CA_CERTS=${env.AWS_CA_BUNDLE}`);
  return notes;
}

/**
 * A recordings source that reads call times and leaves `metadata.timezone` out reads times written
 * without an offset as UTC: said, naming the host's zone, as a recorder writing local times would
 * have every call catalogued hours off (nothing else tells: the calls look right, only late).
 */
function zoneNote(s: Extract<AgentConfig['sources'][number], { type: 'recordings' }>): string | undefined {
  if (s.metadata.timezone !== undefined || (!s.metadata.sidecar.enabled && s.metadata.filename === undefined)) return undefined;
  // TZ as the administrator wrote it (ICU names Asia/Kolkata Asia/Calcutta), else the system's zone.
  const tz = process.env.TZ;
  const host = tz !== undefined && isTimeZone(tz) ? tz : Intl.DateTimeFormat().resolvedOptions().timeZone;
  return (
    `note: source ${s.name}: call times written without an offset are read as UTC (metadata.timezone is not set${host && !/^(Etc\/)?UTC$/.test(host) ? `; this host's zone is ${host}` : ''}): ` +
    'if the recorder writes local times, set metadata.timezone to its zone (e.g. Europe/London), or every call is catalogued hours off; set it to UTC to say they are UTC'
  );
}

/**
 * A backup, binlog or archive source whose directory holds files of which its selection takes
 * none (a basename the server does not write, patterns that miss): said by `agent check`, as
 * each pass alerts it (artefact-runner.ts selectsNothing); and one whose directory holds only
 * folders. An empty directory is not judged.
 */
export async function selectionNotes(config: AgentConfig): Promise<string[]> {
  const notes: string[] = [];
  for (const s of config.sources) {
    const zone = s.type === 'recordings' ? zoneNote(s) : undefined;
    if (zone) notes.push(zone);
    if (s.type === 'binlog' && s.timezone !== 'UTC') notes.push(`note: source ${s.name}: timezone (${s.timezone}) does nothing for a binlog source: its event times are UTC, and the restore runs mariadb-binlog under TZ=UTC; it can be removed`);
  }
  for (const s of config.sources) {
    if (s.type === 'recordings' || s.type === 'tree' || (s.type === 'binlog' && !s.basename)) continue;
    const { files: names, folders } = await filesAndFolders(s.path).catch(() => ({ files: [] as string[], folders: [] as string[] }));
    if (names.length === 0) {
      if (folders.length > 0) notes.push(`warning: source ${s.name}: ${onlyFoldersProblem(s, folders)}: nothing of it would be backed up`);
      continue;
    }
    const select = artefactSelector(s);
    if (s.type === 'archive') {
      const unread = names.filter(select).filter((n) => archiveSpanFromName(s, n) === undefined);
      if (unread.length > 0) {
        notes.push(
          `warning: source ${s.name}: ${unread.length} archive(s) whose name is not read as the span it covers (${unread.slice(0, 3).join(', ')}${unread.length > 3 ? ', …' : ''}): catalogued with their file times, not the days they hold; set namePattern (named groups from and to) and timeFormat (e.g. dd-MM-yyyy HH.mm.ss for day-first names)`,
        );
      }
    }
    if (names.some(select)) continue;
    if (cvpFirstBackupOnly(s, names)) {
      notes.push(`note: source ${s.name}: CVP has written its first backup only; its copy cvp_backup_data.old (the file that is shipped: the live one is never read) appears after the next backup`);
      continue;
    }
    const what = s.type === 'binlog' ? `basename ${s.basename}` : `patterns ${JSON.stringify(s.patterns)}`;
    notes.push(`warning: source ${s.name}: ${s.path} holds ${names.length} file(s) (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', …' : ''}) and its ${what} takes none of them: nothing of it would be backed up`);
  }
  return notes;
}

/** Batch directories of a root `agent check` looks into for recordings of an unlisted type: the last ones in the recorder's order. */
const TYPE_CHECKED_BATCHES = 200;

/**
 * A recordings source whose batches hold files that look like recordings of a type its
 * `extensions` leave out (a recorder upgraded to write .opus): warned by `agent check` in the
 * words of the critical alert each pass raises (recordings-elsewhere.ts), naming the extension to
 * add, so that an installer checking the site hears it before the first run. The check looks at
 * the last TYPE_CHECKED_BATCHES batch directories in the recorder's order (the newest, on a
 * numbered root), not the whole root.
 */
export async function unlistedTypeNotes(config: AgentConfig): Promise<string[]> {
  const notes: string[] = [];
  for (const s of config.sources) {
    if (s.type !== 'recordings') continue;
    const others = config.sources.flatMap((o) => (o.type === 'recordings' && o.name !== s.name && o.path === s.path ? o.extensions : []));
    const unconfigured = new UnconfiguredRecordings(s, others);
    const batches = await listBatches(s.path, s.batchDepth, { unreadable: () => undefined }).catch(() => [] as string[]);
    for (const batch of batches.slice(-TYPE_CHECKED_BATCHES)) {
      const scanned = await scanBatch(s.path, batch).catch(() => undefined);
      if (scanned) unconfigured.see(batch, scanned.files);
    }
    const alert = unconfigured.alert(config.site);
    if (alert) notes.push(`warning: source ${alert.subject}: ${alert.message}`);
  }
  return notes;
}

/**
 * The site or store changed since the state directory last shipped: what it shipped before is
 * not shipped again to the new place (agent/state/target.ts). Undefined when unchanged, never
 * shipped, or no cloud to name.
 */
export function targetNote(config: AgentConfig): string | undefined {
  let store: string;
  try {
    store = storeTarget(resolveCloud(config.cloud));
  } catch {
    return undefined;
  }
  const before = readTarget(config.state);
  const now = { site: config.site, store };
  return targetChange(before, now) ? targetChangeAdvice(before!, now, config.state) : undefined;
}

/**
 * URLs of the configuration that speak plain HTTP to another host: recordings, their metadata
 * (caller, called, agent) and alerts would cross the network unencrypted. On AWS (no endpoint)
 * the agent speaks HTTPS and the bucket refuses anything else; an S3-compatible store, the API,
 * the replay URL and a webhook speak what their URL says.
 */
export function plainHttpNotes(config: AgentConfig): string[] {
  const urls: [string, string | undefined, string][] = [
    ['cloud.endpoint', config.cloud?.endpoint, 'recordings, backups and their metadata (caller, called, agent)'],
    ['cloud.api', config.cloud?.api, "the catalogue's answers (calls, parties, agents)"],
    ['cloud.replay', config.cloud?.replay, 'recordings played or downloaded'],
    ['cloud.activity.endpoint', config.cloud?.activity?.endpoint, 'backup-window jobs'],
    ['alerts.webhook', config.alerts.webhook, 'alerts (paths of the files they name, which often carry phone numbers)'],
  ];
  const notes: string[] = [];
  for (const [path, value, what] of urls) {
    if (value === undefined) continue;
    const url = URL.parse(value);
    if (url?.protocol !== 'http:' || isLoopback(value)) continue;
    notes.push(`warning: ${path} ${url.origin} is plain HTTP to another host: ${what} would cross the network unencrypted. Use an https:// URL (a TLS front such as the store's own, or a reverse proxy).`);
  }
  return notes;
}


/**
 * A note for each source the state directory holds records of that the configuration no longer
 * names: a recordings source renamed (the same directory) carries them over at the next pass;
 * any other is kept a week from the first pass without it (put back meanwhile, it goes on where
 * it was), then forgotten, and a new name is a new source.
 */
export async function unconfiguredNotes(config: AgentConfig): Promise<string[]> {
  const observations = new Observations(config.state);
  const renamed = await renamedSources(config, observations);
  return Observations.unconfigured(config.state, new Set(config.sources.map((s) => s.name))).map((name) => {
    const to = renamed.find((r) => r.from === name)?.to;
    if (to !== undefined) return `note: source ${to} reads the directory source ${name} read, which is not in this configuration: the next pass takes ${to} for ${name} renamed, and what ${name} shipped and had pending carries over to ${to} (nothing is shipped again).`;
    const removedAt = observations.removedAt(name);
    const until = new Date((removedAt ? Date.parse(removedAt) : Date.now()) + REMOVED_KEPT_DAYS * 86_400_000).toISOString().slice(0, 16).replace('T', ' ');
    return (
      `note: the state directory holds records of source ${name}, which is not in this configuration: they are kept until ${until} UTC (${REMOVED_KEPT_DAYS} days from the first pass without it; put back before then, it goes on where it was), then forgotten. If it was renamed, the new name is a new source (a recordings source is taken for it renamed only when it reads the same directory): ` +
      `everything still on its recorder is shipped again (new packs), and what ${name} had pending is no longer watched for loss. Keep the old name, or accept that.`
    );
  });
}
