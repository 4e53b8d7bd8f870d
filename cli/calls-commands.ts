import { isTimeZone } from '../core/time-format.ts';
import { fetchFailureCause, InvalidInputError } from '../core/errors.ts';
import { RECORDING_ID_PATTERN } from '../core/ids.ts';
import { NAME_PATTERN } from '../core/layout.ts';
import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { CatalogueEntry } from '../core/ports.ts';
import type { RecallView } from '../core/recall-status.ts';
import { LISTENER_REFUSED_HEADER } from '../core/replay.ts';
import type { EndpointTarget } from './cloud.ts';
import { signedFetch } from '../adapters/sigv4.ts';
import { registerEraseCommand } from './erasure-commands.ts';
import { countCalls, printAllCalls, renderCalls, searchCallPages, stoppedText, type SearchOptions } from './calls-search.ts';

export { countCalls, exactHint, noMatchHints, numberHint, printAllCalls, renderCalls, searchCallPages, searchCalls, type SearchAnswer, type SearchTotal } from './calls-search.ts';
import { ApiError, apiFor, getJson, replayFor, signedGet } from './api-client.ts';

// The compliance officer's commands: search the catalogue and play a call, through the same
// HTTP endpoints as deployed (so the CLI sees exactly what they serve, audit included): the
// catalogue API, signed for execute-api, and the replay URL, signed for lambda.

/** SITE/RID (or RID and --site), both checked for their form: a link or a request for an id that cannot be one is refused here, not answered 400 later. */
function splitId(id: string, site?: string): { site: string; rid: string } {
  const slash = id.indexOf('/');
  let out: { site: string; rid: string };
  if (slash > 0) out = { site: id.slice(0, slash), rid: id.slice(slash + 1) };
  else if (!site) throw new InvalidInputError(`recording id "${id}" has no site: pass SITE/ID (as printed by \`ferry calls search\`) or --site`);
  else out = { site, rid: id };
  if (!NAME_PATTERN.test(out.site)) throw new InvalidInputError(`"${out.site}" in "${id}" is not a site name: 1-63 lowercase letters, digits or dashes`);
  if (!RECORDING_ID_PATTERN.test(out.rid)) throw new InvalidInputError(`"${out.rid}" in "${id}" is not a recording id (r and 23 lowercase hex digits, as \`ferry calls search\` prints it)`);
  return out;
}

/** `/sites/{site}/recordings/{rid}` of the catalogue API and the replay URL, for a SITE/RID (or RID and --site). */
function recordingPath(id: string, site?: string): string {
  const s = splitId(id, site);
  return `/sites/${encodeURIComponent(s.site)}/recordings/${encodeURIComponent(s.rid)}`;
}

/**
 * The replay's refusal as a sentence. A call whose pack is in a cold tier (409 ArchivedError)
 * is said to be archived, with the recall to ask for and how to follow it; any other refusal
 * gives the replay's message, not its JSON.
 */
export function replayRefused(status: number, text: string, call: { site: string; rid: string }, entry?: Pick<CatalogueEntry, 'meta'>): ApiError {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { message: text };
  }
  const said = typeof body.message === 'string' && body.message !== '' ? body.message : text || '(no message)';
  if (status !== 409 || body.error !== 'ArchivedError') return new ApiError(status, body, `replay answered ${status}: ${said}`);
  const id = `${call.site}/${call.rid}`;
  // The replay names the tier in its message ("… in the archive tier (DEEP_ARCHIVE) …").
  const tier = /archive tier \(([^)]+)\)/.exec(said)?.[1];
  const callId = entry?.meta.callId ? `call ${entry.meta.callId} (${id})` : `call ${id}`;
  return new ApiError(
    status,
    body,
    `${callId} is archived (${tier ?? 'archive tier'}) and cannot be played until it is recalled: recall it with \`ferry calls recall ${id}\`, follow it with \`ferry calls recall-status ${id}\`, and play it again once that says it is playable; nothing was written`,
  );
}

/** Downloads one recording to `out` (via a temporary name) and checks its SHA-256 against the catalogue. */
export async function playCall(id: string, opts: { out: string; site?: string; api?: string; replayUrl?: string; config?: string }): Promise<{ bytes: number; sha256: string; entry: CatalogueEntry }> {
  const path = recordingPath(id, opts.site);
  // A copy is never written over a file that is there (as case export's bundle never is).
  if (await stat(opts.out).then(() => true, () => false)) throw new InvalidInputError(`--out ${opts.out} exists: a recording is never written over a file; choose another name or move it away`);
  // Checked before the download, which the audit trail records whether or not the file can be written.
  const parent = dirname(resolve(opts.out));
  if (!(await stat(parent).then((st) => st.isDirectory(), () => false))) throw new InvalidInputError(`--out ${opts.out}: ${parent} is not a directory that exists: create it, or choose another path`);
  const entry = await getJson<CatalogueEntry>(apiFor(opts), path);
  // A copy written to a file is a download, audited as one (a listen is a play).
  const res = await signedGet(replayFor(opts), `${path}/audio?download=1`, 'lambda');
  if (!res.ok || !res.body) throw replayRefused(res.status, await res.text(), splitId(id, opts.site), entry);
  const tmp = `${opts.out}.part`;
  const hash = createHash('sha256');
  let bytes = 0;
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (c: Buffer) => {
    hash.update(c);
    bytes += c.length;
  });
  try {
    // Owner-only, as case export's bundle: a recording is personal data, and the umask often gives every local user read.
    await pipeline(body, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
    const sha256 = hash.digest('hex');
    if (sha256 !== entry.sha256) throw new Error(`downloaded recording does not match the catalogue (sha256 ${sha256.slice(0, 12)}…, expected ${entry.sha256.slice(0, 12)}…)`);
    await rename(tmp, opts.out);
    return { bytes, sha256, entry };
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** A link a browser can play: SigV4-presigned for the replay URL (the stack's, or the local cloud's). */
export async function replayLink(id: string, opts: { site?: string; replayUrl?: string; region?: string; expires?: string; download?: boolean; config?: string }): Promise<{ url: string; warning?: string }> {
  const { site, rid } = splitId(id, opts.site);
  const replay = replayFor(opts);
  const { presignReplayLink } = await import('../adapters/replay-link.ts');
  const expiresInSeconds = opts.expires === undefined ? 300 : Number(opts.expires);
  if (!Number.isInteger(expiresInSeconds) || expiresInSeconds < 1 || expiresInSeconds > 3600) throw new InvalidInputError(`--expires ${JSON.stringify(opts.expires)}: a link lives 1 to 3600 whole seconds`);
  const region = opts.region ?? replay.region;
  const warning = opts.download ? await downloadAllowed({ ...replay, region }, site, rid) : undefined;
  const url = await presignReplayLink({ replayUrl: replay.url, region, site, rid, expiresInSeconds, download: opts.download, credentials: replay.credentials });
  return { url, ...(warning ? { warning } : {}) };
}

/**
 * Refuses a download link that replay would refuse when it is opened, before it is minted: a
 * HEAD with `download=1`, signed with the same credentials, is answered as the link would be
 * (nothing is sent and nothing audited). A site's listener role plays calls and is refused a
 * download; any other 403 (another site's replay URL, a policy) is said with replay's status.
 * Any other answer (a call archived now may be recalled before the link expires) mints the link.
 * So does no answer (no network here, replay not reached): a link is signed offline, as a listen
 * link is, and is only refused for what replay said; the warning returned says it was not checked.
 */
async function downloadAllowed(replay: EndpointTarget, site: string, rid: string): Promise<string | undefined> {
  const path = `/sites/${encodeURIComponent(site)}/recordings/${encodeURIComponent(rid)}/audio?download=1`;
  let res: Response;
  try {
    res = await signedFetch(`${replay.url}${path}`, { service: 'lambda', region: replay.region, credentials: replay.credentials, method: 'HEAD' });
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return `the replay URL at ${replay.url} could not be reached to check the download link (${fetchFailureCause(error)}): minted unchecked; if these credentials are a site's listener role, replay refuses it when opened. Check the URL (cloud.replay / --replay-url) and the network`;
  }
  if (res.status !== 403) return undefined;
  const role = res.headers.get(LISTENER_REFUSED_HEADER);
  const id = `${site}/${rid}`;
  if (role) {
    throw new InvalidInputError(
      `--download: these credentials are the listener role ${role} of a site, which may play its calls but not download them: replay would refuse the link when opened, so none was minted. Play the call with a listen link (\`ferry calls link ${id}\` without --download); a download needs the site's officer role`,
    );
  }
  const kind = res.headers.get('x-amzn-errortype');
  throw new InvalidInputError(`--download: replay refuses these credentials a download of call ${id} (403${kind ? ` ${kind}` : ''}), so the link would be refused when opened; none was minted. A download needs the officer role of site ${site}, through that site's replay URL`);
}

export interface RecallStarted {
  site: string;
  rid: string;
  packKey: string;
  execution: string;
  message: string;
}

/** Asks the catalogue API to recall a call whose pack is in the archive tier; the workflow notifies when it plays. */
export async function recallCall(id: string, opts: { site?: string; api?: string; config?: string }): Promise<RecallStarted> {
  const path = recordingPath(id, opts.site);
  const api = apiFor(opts);
  const url = `${api.url}${path}/recall`;
  const res = await signedFetch(url, { service: 'execute-api', region: api.region, credentials: api.credentials, method: 'POST' });
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { message: text };
  }
  const said = typeof body.message === 'string' ? body.message : text;
  if (!res.ok) throw new ApiError(res.status, body, `catalogue API answered ${res.status}: ${said}`);
  return body as unknown as RecallStarted;
}

/** The recall of a call's pack as the catalogue API answers it (`GET …/recordings/{rid}/recall`). */
export type RecallStatus = { site: string; rid: string; packKey: string } & RecallView;

export async function recallStatusOf(id: string, opts: { site?: string; api?: string; config?: string }): Promise<RecallStatus> {
  const path = recordingPath(id, opts.site);
  return getJson<RecallStatus>(apiFor(opts), `${path}/recall`);
}

/** One line an operator reads: where the recall stands and what to do next. */
export function renderRecallStatus(s: RecallStatus): string {
  const call = `${s.site}/${s.rid}`;
  switch (s.state) {
    case 'none':
      return s.expiredAt
        ? `${call}: no recall in progress; the last restored copy stopped being playable at ${s.expiredAt} (\`ferry calls recall ${call}\` to recall it again)\n`
        : `${call}: no recall requested (\`ferry calls recall ${call}\` if the call is in the archive tier)\n`;
    case 'restoring':
      return `${call}: recall in progress since ${s.requestedAt ?? '?'}${s.requester ? ` (requested by ${s.requester})` : ''}; ${s.polls ?? 0} check(s) so far${s.updatedAt ? `, last at ${s.updatedAt}` : ''}\n`;
    case 'available':
      return `${call}: recalled, playable${s.availableUntil ? ` until ${s.availableUntil}` : ''} (\`ferry calls play ${call} --out FILE\`)\n`;
    case 'gave-up':
      return `${call}: the recall gave up after ${s.polls ?? 0} check(s)${s.updatedAt ? ` (last at ${s.updatedAt})` : ''}; request it again with \`ferry calls recall ${call}\`\n`;
  }
}

export function registerCallsCommands(program: Command): void {
  const calls = program.command('calls').description('find and play recorded calls from the catalogue');
  calls
    .command('search')
    .description('search recordings of one site')
    .requiredOption('--site <site>', 'site name')
    .option('--from <time>', 'calls starting at or after (ISO 8601)')
    .option('--to <time>', 'calls starting at or before (ISO 8601)')
    .option('--agent <agent>', 'agent who took the call')
    .option('--number <number>', 'caller or called number')
    .option('--call-id <id>', 'call id')
    .option('--direction <direction>', 'inbound, outbound or internal')
    .option('--min-duration <seconds>', 'calls at least this long (whole seconds)')
    .option('--max-duration <seconds>', 'calls at most this long (whole seconds)')
    .option('--sort <order>', 'start (default), -start, duration or -duration')
    .option('--limit <n>', 'page size (1-1000)')
    .option('--all', 'follow every page')
    .option('--json', 'JSON output')
    .option('--tz <zone>', "show starts in this IANA zone (a site's, e.g. America/New_York) and read a --from/--to without an offset in it")
    .option('--api <url>', 'catalogue API base URL')
    .option('-c, --config <file>', 'agent config whose cloud to use')
    .action(async (opts: SearchOptions) => {
      if (opts.tz !== undefined && !isTimeZone(opts.tz)) throw new InvalidInputError(`--tz: unknown time zone "${opts.tz}"; use an IANA name such as America/New_York, Europe/London or UTC`);
      if (opts.all) return void (await printAllCalls(opts, process.stdout));
      const { items, more, stopped, filters } = await searchCallPages(opts);
      if (opts.json) {
        // JSON is the page alone, one request: a script that wants the total asks GET …/recordings/count.
        if (stopped) process.stderr.write(`ferry: ${items.length} recording(s) shown: ${stoppedText(items.length, stopped.read, opts.limit)}; --all reads on\n`);
        else if (more) process.stderr.write(`ferry: ${items.length} recording(s) shown; more match: --all lists every one\n`);
        return void process.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
      }
      // The table says which calls of how many: the count asked once the page is in (not for a stopped page: it would stop too).
      const total = more && !stopped ? await countCalls(opts, filters) : undefined;
      process.stdout.write(renderCalls(items, more, opts, { total, stopped }));
    });
  calls
    .command('link')
    .description('a short-lived link that plays one recording in a browser (SigV4-presigned for the cloud replay URL)')
    .argument('<id>', 'SITE/RID as printed by `ferry calls search`')
    .option('--site <site>', 'site, when ID has none')
    .option('--expires <seconds>', 'link lifetime in seconds (1-3600)', '300')
    .option('--download', 'a download link instead of a listen link')
    .option('--replay-url <url>', 'the replay Function URL (stack output ReplayUrl; or FERRY_REPLAY_URL)')
    .option('--region <region>', 'AWS region of the replay URL (default: from its host name, else AWS_REGION)')
    .option('-c, --config <file>', 'agent config whose cloud to use')
    .action(async (id: string, opts: { site?: string; expires?: string; download?: boolean; replayUrl?: string; region?: string; config?: string }) => {
      const link = await replayLink(id, opts);
      if (link.warning) process.stderr.write(`ferry: warning: ${link.warning}\n`);
      process.stdout.write(`${link.url}\n`);
    });
  calls
    .command('recall')
    .description('recall a call whose pack is in the archive tier (Deep Archive); a notice follows when it can be played')
    .argument('<id>', 'SITE/RID as printed by `ferry calls search`')
    .option('--site <site>', 'site, when ID has none')
    .option('--api <url>', 'catalogue API base URL')
    .option('-c, --config <file>', 'agent config whose cloud to use')
    .action(async (id: string, opts: { site?: string; api?: string; config?: string }) => {
      const r = await recallCall(id, opts);
      process.stdout.write(`${r.message}\nexecution ${r.execution}\n`);
    });
  calls
    .command('recall-status')
    .description("where a call's recall stands: none, restoring, available (until when) or gave-up")
    .argument('<id>', 'SITE/RID as printed by `ferry calls search`')
    .option('--site <site>', 'site, when ID has none')
    .option('--api <url>', 'catalogue API base URL')
    .option('--json', 'JSON output')
    .option('-c, --config <file>', 'agent config whose cloud to use')
    .action(async (id: string, opts: { site?: string; api?: string; json?: boolean; config?: string }) => {
      const s = await recallStatusOf(id, opts);
      process.stdout.write(opts.json ? `${JSON.stringify(s, null, 2)}\n` : renderRecallStatus(s));
    });
  calls
    .command('play')
    .description('download one recording (byte-identical to the original) to a file')
    .argument('<id>', 'SITE/RID as printed by `ferry calls search`')
    .requiredOption('--out <file>', 'where to write the audio')
    .option('--site <site>', 'site, when ID has none')
    .option('--api <url>', 'catalogue API base URL')
    .option('--replay-url <url>', 'the replay Function URL (stack output ReplayUrl; or FERRY_REPLAY_URL)')
    .option('-c, --config <file>', 'agent config whose cloud to use')
    .action(async (id: string, opts: { out: string; site?: string; api?: string; replayUrl?: string; config?: string }) => {
      const r = await playCall(id, opts);
      process.stdout.write(`wrote ${opts.out}: ${r.bytes} bytes, ${r.entry.contentType}, sha256 ${r.sha256} (matches the catalogue)\n`);
    });
  registerEraseCommand(calls);
}
