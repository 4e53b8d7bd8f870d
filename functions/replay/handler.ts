import middy from '@middy/core';
import { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { RECORDING_ID_PATTERN } from '../../core/ids.ts';
import { InvalidInputError } from '../../core/errors.ts';
import { erasureGate } from '../../core/erasures.ts';
import { coalescedLookups, LISTENER_REFUSED_HEADER, openRecording, rememberRecordings, replaySiteOf, type OpenRecordingDeps, type RecordingPlace } from '../../core/replay.ts';
import type { Audit } from '../shared/audit.ts';
import { cloudDeps, rangeReaderFromEnv } from '../shared/deps.ts';
import { asHandler, lazyHandler, type Handler } from '../shared/lambda.ts';
import { httpErrors } from '../shared/errors.ts';
import { queryEncoding } from '../shared/query-encoding.ts';
import { header, json, principalOf, type HttpEvent, type HttpResult } from '../shared/http.ts';
import type { Log } from '../shared/log.ts';
import { emfCount, type Count } from '../shared/metrics.ts';
import { siteSchema } from '../shared/params.ts';
import { streamed, replayPathParameters } from '../shared/streaming.ts';

// Replay: GET|HEAD /sites/{site}/recordings/{rid}/audio[?download=1] with optional Range.
// Streams one member out of its pack by byte range (core/replay.ts never reads outside it).
// Invoked through a site's alias (its own Function URL), it serves that site's recordings only.

export interface ReplayHandlerDeps extends OpenRecordingDeps {
  audit: Audit;
  clock: Clock;
  log?: Log;
  count?: Count;
  /**
   * The console function's role (CONSOLE_ROLE_NAME): the only caller whose `officer` is taken
   * (it signs that name into the links it mints for a signed-in officer). Undefined: no check
   * (a handler built without a deployment).
   */
  consoleRole?: string;
  /**
   * The sites' listener roles (LISTENER_ROLE_NAMES): they search and play calls, and a download
   * (`download=1`, the copy an officer takes out) is refused them, as the console refuses its
   * listeners a download link.
   */
  listenerRoles?: readonly string[];
}

/** The role name of an IAM principal: `arn:…:iam::…:role/NAME` or `arn:…:sts::…:assumed-role/NAME/SESSION`. */
export function roleNameOf(principal: string | undefined): string | undefined {
  const m = principal === undefined ? null : /^arn:[^:]+:(?:iam::\d*:role\/(?:.*\/)?([^/]+)|sts::\d*:assumed-role\/([^/]+)\/.+)$/.exec(principal);
  return m ? (m[1] ?? m[2]) : undefined;
}

const byteCount = z.string().regex(/^(0|[1-9][0-9]{0,14})$/, 'must be a whole number of bytes').transform(Number);

const requestSchema = z.object({
  site: siteSchema,
  rid: z.string({ required_error: 'is required' }).regex(RECORDING_ID_PATTERN, 'must be a recording id (r + 23 hex digits)'),
  download: z.enum(['1', 'true', '0', 'false'], { message: 'must be 1, true, 0 or false' }).optional(),
  // Set by the console in the links it signs (part of the signature, so not changeable by the holder).
  officer: z.string().min(1, 'must not be empty').max(128, 'must be at most 128 characters').optional(),
  // Where the recording is, also signed in by the console (core/replay.ts: the range is opened
  // there alongside the lookup, and used only if the catalogue's entry says the same).
  pack: z.string().min(1, 'must not be empty').max(1024, 'must be at most 1024 characters').optional(),
  offset: byteCount.optional(),
  length: byteCount.optional(),
});

/** The query parameters replay reads (the request's fields but the path's); any other (but a presign's X-Amz-*) is refused. */
const QUERY_NAMES = Object.keys(requestSchema.shape).filter((name) => name !== 'site' && name !== 'rid');

function placeOf(q: { pack?: string; offset?: number; length?: number }): RecordingPlace | undefined {
  const given = [q.pack, q.offset, q.length].filter((v) => v !== undefined).length;
  if (given === 0) return undefined;
  if (given !== 3) throw new InvalidInputError('pack, offset and length: give all three (where the recording is) or none', { field: 'pack, offset, length' });
  return { packKey: q.pack!, offset: q.offset!, length: q.length! };
}

/** How long a listen recorded by this execution environment covers its caller's further ranges of the same call (seeks, a long play's later parts). */
export const PLAY_COVER_MS = 60 * 60 * 1000;
const PLAYS_REMEMBERED = 10_000;

export function createHandler(deps: ReplayHandlerDeps): Handler<HttpEvent, HttpResult> {
  // The listens this execution environment recorded: caller and call → when. A range that does
  // not start at byte 0 is covered by one of them; any other (a first range at byte 1, a play
  // that landed on another environment) records a listen of its own. More records than plays
  // at worst, never a play without one.
  const listened = new Map<string, number>();
  const coveredListen = (key: string, now: number): boolean => {
    const at = listened.get(key);
    return at !== undefined && now - at < PLAY_COVER_MS;
  };
  const remember = (key: string, now: number) => {
    listened.delete(key);
    listened.set(key, now);
    if (listened.size > PLAYS_REMEMBERED) listened.delete(listened.keys().next().value!);
  };
  // A listen whose record could not be written covers nothing: the next range records its own (or is refused).
  const forget = (key: string, now: number) => {
    if (listened.get(key) === now) listened.delete(key);
  };
  const chain = middy(async (event: HttpEvent, context: { invokedFunctionArn?: string }): Promise<HttpResult> => {
    const method = event.requestContext.http.method.toUpperCase();
    const path = replayPathParameters(event);
    const query = event.queryStringParameters ?? {};
    // A mistyped parameter (`Download=1`) is refused, naming it: served as it reads, the copy would be a listen, not a download.
    const unknown = Object.keys(query).filter((name) => !QUERY_NAMES.includes(name) && !/^X-Amz-/i.test(name));
    if (unknown.length > 0) throw new InvalidInputError(`${unknown.join(', ')}: unknown parameter (allowed: ${QUERY_NAMES.join(', ')}, and a presigned link's X-Amz-*)`, { field: unknown.join(', ') });
    const known = Object.fromEntries(QUERY_NAMES.map((name) => [name, query[name]]));
    const { site, rid, download, officer, ...placed } = requestSchema.parse({ site: path.site, rid: path.rid, ...known });
    const place = placeOf(placed);
    // An officer's name is the console's to give (signed into the links it mints): a caller that
    // signs its own request cannot file its listen under a console user's name.
    if (officer !== undefined && deps.consoleRole !== undefined && roleNameOf(principalOf(event)) !== deps.consoleRole) {
      throw new InvalidInputError('officer: only the compliance console names an officer (it signs the name into the links it mints); leave it out', { field: 'officer' });
    }
    // A site's replay URL (its alias) is what IAM grants that site's roles: it serves that site only.
    const boundTo = replaySiteOf(context?.invokedFunctionArn);
    if (boundTo !== undefined && boundTo !== site) {
      return json(403, { error: 'ForbiddenError', message: `this replay URL serves site ${boundTo} only, not ${site}` });
    }
    const asDownload = download === '1' || download === 'true';
    const role = roleNameOf(principalOf(event));
    if (asDownload && role !== undefined && deps.listenerRoles?.includes(role)) {
      // The role is named in a header too: `ferry calls link --download` asks with HEAD (no body) before it mints a link.
      return json(403, { error: 'ForbiddenError', message: `the listener role of a site may play its calls, not download them (download=${download}): a download needs the site's officer role; play the call through a listen link instead (\`ferry calls link\` without --download)`, role }, { [LISTENER_REFUSED_HEADER]: role });
    }
    // Audited when bytes go out; HEAD and 416 disclose no audio and are not audited. A player
    // fetches one play in several ranges (and seeks), so a listen is recorded once per play:
    // by the response that starts at byte 0, and by any other range unless a listen of the same
    // caller and call recorded here in the last hour covers it (a copy taken from byte 1 on is
    // a listen too). A download is recorded whenever bytes go out. The record is written while
    // the pack's range is opened; the bytes wait for it. If the range then cannot be read (a
    // purged pack), the listen stays recorded as attempted.
    let audited = false;
    const principal = principalOf(event);
    const audit = (headers: Record<string, string>) => {
      const now = deps.clock.now();
      const key = JSON.stringify([principal ?? null, officer ?? null, site, rid]);
      if (!asDownload) {
        if (!startsAtZero(headers) && coveredListen(key, now.getTime())) return undefined;
        remember(key, now.getTime());
      }
      audited = true;
      const unrecorded = (error: unknown): never => {
        if (!asDownload) forget(key, now.getTime());
        throw error;
      };
      try {
        return Promise.resolve(deps.audit({ at: now.toISOString(), action: asDownload ? 'download' : 'listen', site, rid, principal, ...(officer ? { officer } : {}) })).catch(unrecorded);
      } catch (error) {
        return unrecorded(error);
      }
    };
    const result = await openRecording(deps, site, rid, header(event, 'range'), {
      headOnly: method === 'HEAD',
      disposition: asDownload ? 'attachment' : 'inline',
      ifRange: header(event, 'if-range'),
      ifNoneMatch: header(event, 'if-none-match'),
      audit,
      ...(place ? { place } : {}),
    });
    if (audited) (deps.count ?? emfCount)('Replays', site);
    return { statusCode: result.status, headers: result.headers, body: result.body ?? '' };
  }).use(httpErrors({ log: deps.log })).use(queryEncoding());
  return asHandler(chain);
}

/** LISTENER_ROLE_NAMES: a JSON array of role names (the stack sets it); absent: none. */
export function listenerRolesFrom(env: Record<string, string | undefined>): string[] {
  const raw = env.LISTENER_ROLE_NAMES;
  if (raw === undefined || raw === '') return [];
  const parsed = z.array(z.string().min(1)).safeParse(JSON.parse(raw));
  if (!parsed.success) throw new Error(`LISTENER_ROLE_NAMES: must be a JSON array of role names, not ${raw}`);
  return parsed.data;
}

/** True for a full body (200) or a partial one starting at the first byte. */
function startsAtZero(headers: Record<string, string>): boolean {
  const range = headers['Content-Range'];
  return range === undefined || range.startsWith('bytes 0-');
}

// Deployed behind a Function URL with response streaming (API Gateway cannot stream).
// A play's ranged requests look its entry up once per execution environment, concurrent plays'
// lookups in one request (core/replay.ts).
export const handler = streamed(
  lazyHandler(() => {
    const deps = cloudDeps();
    // Each request is one ranged GET of a pack, made without the SDK's per-call machinery; the
    // lookups of concurrent first plays go to the table together.
    // An erasure is looked up on every request, beside the (remembered) entry: never remembered, so a call erased a moment ago answers 410 at once.
    return createHandler({ ...deps, blobs: rangeReaderFromEnv(process.env), catalogue: erasureGate(rememberRecordings(coalescedLookups(deps.catalogue), deps.clock), deps.erasures), ...(process.env.CONSOLE_ROLE_NAME ? { consoleRole: process.env.CONSOLE_ROLE_NAME } : {}), listenerRoles: listenerRolesFrom(process.env) });
  }),
);

/** The same factory under a name that says which function it builds (for composition roots). */
export const createReplayHandler = createHandler;
