import { credentialsUnusable } from '../adapters/s3-errors.ts';
import { FerryError, IntegrityError, TransientError, messageOf } from '../core/errors.ts';
import { formatBytes } from '../core/format-bytes.ts';
import type { Alert, BlobStore } from '../core/ports.ts';
import { cutOnTheWay, dnsFailure } from './network-cut.ts';
import type { StreamUploader } from './stream-uploader.ts';
import { readUploadProgress, recordedUploads, type UploadProgress } from './upload-progress.ts';
import { resumeLost } from './upload-resume.ts';
import type { AlertBook } from './state/alert-book.ts';

// A big upload whose line fails (connections reset, the store's name not resolving, the store unreachable or not answering, after
// the SDK's retries and the uploader's own resends, agent/network-cut.ts) is left open at the
// store, as a killed run's is, instead of aborted: the parts the store acknowledged stay, and the
// next run (or the next attempt of this one) goes on with the upload from its record
// (agent/upload-resume.ts), sending only the rest. On a 3 Mbit/s uplink that drops several times
// a day, a 1.5 GB full (about 70 minutes of unbroken line) is otherwise never offsite. A failure
// the store answers as final (a refusal by policy, a request at fault, NoSuchUpload, InvalidPart), a file
// that changed, a damaged part, still ends the upload: the next shipping starts afresh. Credentials
// the store no longer takes (a key deleted in a rotation, an expired session) keep it too: the
// next pass, with the new credentials, goes on with it; the refusal is alerted as any other.

/** A shipping stopped by its line with its upload left open for the next run: not a loss, not a refusal. */
export class UploadKeptError extends TransientError {
  override readonly name: string = 'UploadKeptError';
  constructor(
    message: string,
    /** Bytes of the parts the store holds, and of the whole file; since when the upload is under way, how many times the line stopped it. */
    readonly upload: { stored: number; size: number; since: string; stops: number; reason: string },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Why `error` leaves the upload worth going on with (the line, or the store unavailable for a
 * while); undefined when the store answered it as final or the bytes are at fault.
 */
export function lineFailure(error: unknown): string | undefined {
  if (!(error instanceof FerryError) || !error.retryable || error instanceof IntegrityError || resumeLost(error)) return undefined;
  if (!(error instanceof TransientError)) return undefined;
  const cause = error.cause as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  const status = cause?.$metadata?.httpStatusCode ?? 0;
  const name = cause?.name ?? cause?.Code ?? '';
  // Throttled (S3's 503 SlowDown, another store's 429): the store is up and asks for fewer requests.
  if (status === 429 || THROTTLED.has(name)) return `the store asked to slow down (${[name, status > 0 ? `HTTP ${status}` : ''].filter(Boolean).join(', ')})`;
  if (status >= 500) return `the store was unavailable (HTTP ${status})`;
  const dns = dnsFailure(error);
  if (dns) return `the store's name did not resolve (DNS ${dns})`;
  if (cutOnTheWay(error) || /timed out|timeout|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|ECONN|socket/i.test(messageOf(error))) return 'the line failed';
  // Another answer worth asking again (RequestTimeTooSkewed, a torn request body): the store was reached.
  return status > 0 ? `${STORE_ANSWERED} HTTP ${status}${name ? ` ${name}` : ''}` : 'the store could not be reached';
}

/** How lineFailure begins the reason of a failure the store answered (a 4xx worth asking again): it was reached. */
export const STORE_ANSWERED = 'the store answered';

const THROTTLED = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequestsException']);

/**
 * After a failed upload: left open, its record kept, when the line failed and the store holds
 * parts of it that a later run can go on with (a record to go on from, a store that checks parts
 * at completion, no retention date of its own fixed at creation); else aborted as before. Returns
 * what the shipping throws: an UploadKeptError saying where it stopped, or `error` itself.
 */
export async function keepOrAbort(
  error: unknown,
  uploader: StreamUploader,
  progress: UploadProgress | undefined,
  o: { store: Pick<BlobStore, 'features'>; size: number; ownLock: boolean },
): Promise<unknown> {
  const why = lineFailure(error);
  const resumable = progress !== undefined && !o.ownLock && ((o.store.features.md5ETags ?? false) || o.store.features.verifiesChecksums);
  if (why && resumable && (await uploader.settle()) !== undefined) {
    const kept = progress.stopped(why);
    if (kept !== undefined) {
      await uploader.abort(true);
      return new UploadKeptError(`${stoppedAt(kept.stored, o.size)}: ${why}; the next run resumes (${messageOf(error)})`, { ...kept, size: o.size, reason: why }, { cause: error });
    }
  }
  // Credentials the store no longer takes (the key deleted while the pass shipped, a session
  // expired): the abort would be refused as well, and the parts already stored are as good for
  // the next pass with good credentials. Kept, and the refusal itself thrown for its alert.
  if (credentialsUnusable(error) && resumable && (await uploader.settle()) !== undefined && progress.stopped(CREDENTIALS_REFUSED) !== undefined) {
    await uploader.abort(true);
    return error;
  }
  await uploader.abort().catch(() => undefined);
  return error;
}

/** The reason a kept upload's record gives when the credentials stopped it. */
export const CREDENTIALS_REFUSED = "the store refused the credentials it was signed with";

/** The UploadKeptError in `error`'s causes, if any. */
export function keptUpload(error: unknown): UploadKeptError | undefined {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) if (e instanceof UploadKeptError) return e;
  return undefined;
}

/** `stopped at 640.0 MB of 1.5 GB`. */
export function stoppedAt(stored: number, size: number): string {
  return `stopped at ${formatBytes(stored)} of ${formatBytes(size)}`;
}

/** Hours an upload may stay under way, stopped by the line run after run, before it is alerted: a day without the nightly full offsite. */
export const STALLED_UPLOAD_HOURS = 24;

/**
 * The alert of a file whose upload the line has kept stopping for longer than
 * STALLED_UPLOAD_HOURS; undefined before then (each stop on its own is no alert: the next run
 * resumes). Keyed by source and name (`upload-stalled:{source}:{name}`), resolved once it is offsite.
 */
export function stalledUploadAlert(site: string, file: { source: string; name: string }, kept: UploadKeptError, now: Date): (Omit<Alert, 'key'> & { key: string }) | undefined {
  const hours = (now.getTime() - Date.parse(kept.upload.since)) / 3_600_000;
  if (!(hours >= STALLED_UPLOAD_HOURS)) return undefined;
  const { stored, size, since, stops } = kept.upload;
  return {
    key: `upload-stalled:${file.source}:${file.name}`,
    severity: 'critical',
    site,
    subject: `${file.name} of ${file.source} is not offsite after ${Math.floor(hours)} h: its upload keeps stopping on the line`,
    message: `The upload of ${file.name} began ${since} and has ${stoppedAt(stored, size)}, stopped by the line ${stops} time(s) (each attempt of a run counts); each run goes on from there, but the backup is not offsite yet. Look at the uplink (or give the agent a window when it holds: bandwidth, backup windows); the bucket's lifecycle rule aborts an upload not completed within its AbortIncompleteMultipartUpload days, and it then starts again from the first byte.`,
    details: { source: file.source, name: file.name, stored, size, since, stops },
  };
}

/**
 * Resolves the alerts of `source`'s files no longer on the site (`present`: the names its scan
 * found): an upload stalled on the line (`upload-stalled`) or a file that could not be shipped or
 * was held back (`ship-failed`). A file rotated away or removed before it got offsite has nothing
 * left to ship, its kept upload is given up at the next pass's start (agent/recover.ts), and a
 * version removed before it was shipped is reported as lost on its own. Without this such an
 * alert, raised by a shipping and resolved only once its file is offsite, stayed open for ever.
 */
export async function resolveStalledGone(alerts: Pick<AlertBook, 'resolveOthers'>, site: string, source: string, present: readonly string[]): Promise<void> {
  for (const kind of ['upload-stalled', 'ship-failed']) {
    const prefix = `${kind}:${source}:`;
    const what = kind === 'upload-stalled' ? 'its upload is given up' : 'nothing of it is left to ship';
    await alerts.resolveOthers(prefix, new Set(present.map((name) => `${prefix}${name}`)), site, (a) => `${a.key.slice(prefix.length)} of source ${source} is no longer on the site: ${what} (a version removed before it was shipped is reported as lost).`);
  }
}

/** Whether the state directory keeps an upload of `source`'s file `name` that the line stopped (its record left for the next run). */
export function stillKept(state: string, source: string, name: string): boolean {
  return recordedUploads(state).some((id) => {
    const p = readUploadProgress(state, id);
    return p?.stoppedAt !== undefined && p.source === source && p.name === name;
  });
}
