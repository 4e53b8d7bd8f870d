import type { RecordingPlace } from '../core/replay.ts';
import { sigV4Signer, type SigningCredentials } from './sigv4.ts';

// Short-lived replay links: the replay Function URL uses IAM auth, so a browser can only play
// a recording from a SigV4-presigned URL, signed with the officer's own credentials and valid
// for a few minutes. A new link is minted for each listen.

export interface ReplayLinkOptions {
  /** The replay Function URL (stack output ReplayUrl). */
  replayUrl: string;
  region: string;
  site: string;
  rid: string;
  expiresInSeconds?: number;
  download?: boolean;
  credentials?: SigningCredentials;
  /** GET (default) or HEAD: a presigned link is valid for one method only. */
  method?: 'GET' | 'HEAD';
  /**
   * The officer the link is minted for (the console signs with its own role): part of the
   * signed query, so it cannot be changed, and written by replay into the audit line.
   */
  officer?: string;
  /**
   * Where the recording is, from its catalogue entry: signed into the query (`pack`, `offset`,
   * `length`) so the replay function opens the range alongside its lookup (it still serves
   * the bytes only when the entry says the same).
   */
  place?: RecordingPlace;
  /** Signing time (tests). */
  now?: Date;
}

export async function presignReplayLink(o: ReplayLinkOptions): Promise<string> {
  const expiresIn = o.expiresInSeconds ?? 300;
  if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > 3600) throw new RangeError(`link lifetime must be 1-3600 seconds (got ${o.expiresInSeconds})`);
  const base = new URL(o.replayUrl);
  const path = `${base.pathname.replace(/\/$/, '')}/sites/${encodeURIComponent(o.site)}/recordings/${encodeURIComponent(o.rid)}/audio`;
  const signer = sigV4Signer('lambda', o.region, o.credentials);
  const signed = await signer.presign(
    { method: o.method ?? 'GET', protocol: base.protocol, hostname: base.hostname, path, headers: { host: base.host }, query: { ...(o.download ? { download: '1' } : {}), ...(o.officer ? { officer: o.officer } : {}), ...placeQuery(o.place) } },
    { expiresIn, ...(o.now ? { signingDate: o.now } : {}) },
  );
  const url = new URL(`${base.protocol}//${base.host}${path}`);
  for (const [k, v] of Object.entries(signed.query ?? {})) url.searchParams.set(k, Array.isArray(v) ? v.join(',') : String(v));
  return url.toString();
}

function placeQuery(place: RecordingPlace | undefined): Record<string, string> {
  return place ? { pack: place.packKey, offset: String(place.offset), length: String(place.length) } : {};
}
