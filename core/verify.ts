import { createHash, type Hash } from 'node:crypto';
import { parseArtefactManifest, type ArtefactManifest } from './artefact.ts';
import { ArchivedError, messageOf } from './errors.ts';
import { isArtefactManifestKey, isPackManifestKey, sitePrefix } from './layout.ts';
import { parseManifest, type PackManifest, type TarSlice } from './manifest.ts';
import type { BlobStore } from './ports.ts';
import { readSmallObject } from './read-small.ts';
import { putOnce, scrubKey, scrubPrefix } from './report-keys.ts';

// Scrub: re-read what is stored and check it against its commit record. A recordings pack is
// read once, start to end: its SHA-256 and every member's (and sidecar's) SHA-256 at the
// offsets its manifest gives. A backup, log segment or archive: its size and SHA-256. Nothing
// is trusted from the store's own metadata. The result is kept under reports/{site}/scrub/,
// where the daily report and the monthly attestation find it.

export const SCRUB_FORMAT = 'ferry.scrub/1';

export interface VerifyOptions {
  site: string;
  /** Fraction of objects to read, (0, 1]; 1 reads everything. */
  sample?: number;
  /** Picks the sample: the same seed picks the same objects. Default: the start time. */
  seed?: string;
  /** Only objects whose manifest was written at or after this ISO time. */
  since?: string;
  source?: string;
  now?: () => Date;
  onProgress?: (progress: VerifyProgress) => void;
}

export interface VerifyProgress {
  objects: number;
  of: number;
  bytes: number;
  problems: number;
  key: string;
}

export interface VerifyProblem {
  /** The stored object (pack, backup, log segment, archive). */
  key: string;
  manifestKey: string;
  /** The member of a pack that does not match (its path in the tar), when one is named. */
  member?: string;
  reason: string;
}

export interface ScrubResult {
  format: typeof SCRUB_FORMAT;
  site: string;
  startedAt: string;
  finishedAt: string;
  sample: number;
  since?: string;
  source?: string;
  /** Objects the site has (after since/source), and how many were read. */
  candidates: number;
  objects: number;
  members: number;
  bytes: number;
  problems: VerifyProblem[];
  /** Keys read and found whole. */
  verified: string[];
  /** Keys in an archive tier (Deep Archive): not readable without a recall, so not checked. */
  archived: string[];
}

interface Target {
  manifestKey: string;
  key: string;
  source: string;
  createdAt: string;
  check: (body: AsyncIterable<Buffer | string | Uint8Array>) => Promise<{ problems: Omit<VerifyProblem, 'key' | 'manifestKey'>[]; members: number; bytes: number }>;
}

const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

/** Whether a key is in the sample: a stable hash of seed and key against the fraction. */
export function inSample(seed: string, key: string, fraction: number): boolean {
  if (fraction >= 1) return true;
  return createHash('sha256').update(seed).update('\0').update(key).digest().readUInt32BE(0) / 2 ** 32 < fraction;
}

/** Parses `5%`, `0.05` or `100%` into a fraction in (0, 1]. */
export function parseSample(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  const value = match ? Number(match[1]) / (match[2] ? 100 : 1) : Number.NaN;
  if (!(value > 0 && value <= 1)) throw new RangeError(`--sample "${text}" must be a percentage in (0%, 100%] such as 5%, or a fraction in (0, 1]`);
  return value;
}

function toBuffer(chunk: Buffer | string | Uint8Array): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
}

/** Checks a pack in one pass: whole-pack SHA-256 and each slice's SHA-256 at its offset. */
function packCheck(m: PackManifest): Target['check'] {
  return async (body) => {
    const slices: (TarSlice & { label: string })[] = [];
    for (const member of m.members) {
      slices.push({ ...member, label: member.path });
      if (member.sidecar) slices.push({ ...member.sidecar, label: `${member.path} (sidecar ${member.sidecar.name})` });
    }
    slices.sort((a, b) => a.offset - b.offset);
    const whole = createHash('sha256');
    const hashes = new Map<number, Hash>();
    let position = 0;
    for await (const raw of body) {
      const chunk = toBuffer(raw);
      whole.update(chunk);
      const end = position + chunk.length;
      slices.forEach((slice, i) => {
        const from = Math.max(slice.offset, position);
        const to = Math.min(slice.offset + slice.length, end);
        if (from >= to) return;
        let h = hashes.get(i);
        if (!h) hashes.set(i, (h = createHash('sha256')));
        h.update(chunk.subarray(from - position, to - position));
      });
      position = end;
    }
    const problems: Omit<VerifyProblem, 'key' | 'manifestKey'>[] = [];
    if (position !== m.pack.size) problems.push({ reason: `pack is ${position} bytes, its manifest says ${m.pack.size}` });
    slices.forEach((slice, i) => {
      const got = (hashes.get(i) ?? createHash('sha256')).digest('hex');
      if (got !== slice.sha256) problems.push({ member: slice.label, reason: `member SHA-256 ${got} differs from the manifest's ${slice.sha256}` });
    });
    const got = whole.digest('hex');
    if (got !== m.pack.sha256) problems.push({ reason: `pack SHA-256 ${got} differs from the manifest's ${m.pack.sha256}` });
    return { problems, members: slices.length, bytes: position };
  };
}

function artefactCheck(m: ArtefactManifest): Target['check'] {
  return async (body) => {
    const h = createHash('sha256');
    let size = 0;
    for await (const raw of body) {
      const chunk = toBuffer(raw);
      h.update(chunk);
      size += chunk.length;
    }
    const problems: Omit<VerifyProblem, 'key' | 'manifestKey'>[] = [];
    if (size !== m.size) problems.push({ reason: `${m.role} is ${size} bytes, its manifest says ${m.size}` });
    const got = h.digest('hex');
    if (got !== m.sha256) problems.push({ reason: `${m.role} SHA-256 ${got} differs from the manifest's ${m.sha256}` });
    return { problems, members: 1, bytes: size };
  };
}

/** Re-reads a site's stored packs and artefacts (or a sample) and checks each against its manifest. */
export async function verifySite(blobs: Pick<BlobStore, 'list' | 'get'>, options: VerifyOptions): Promise<ScrubResult> {
  const now = options.now ?? (() => new Date());
  const startedAt = now().toISOString();
  const sample = options.sample ?? 1;
  const seed = options.seed ?? startedAt;
  const problems: VerifyProblem[] = [];
  const verified: string[] = [];
  const archived: string[] = [];
  const targets: Target[] = [];

  for await (const info of blobs.list(sitePrefix('manifests', options.site))) {
    const manifestKey = info.key;
    try {
      if (isPackManifestKey(manifestKey)) {
        const m = parseManifest(await readSmallObject(blobs, manifestKey, MAX_MANIFEST_BYTES, 'manifest'));
        targets.push({ manifestKey, key: m.packKey, source: m.source, createdAt: m.createdAt, check: packCheck(m) });
      } else if (isArtefactManifestKey(manifestKey)) {
        const m = parseArtefactManifest(await readSmallObject(blobs, manifestKey, MAX_MANIFEST_BYTES, 'artefact manifest'));
        targets.push({ manifestKey, key: m.key, source: m.source, createdAt: m.createdAt, check: artefactCheck(m) });
      }
    } catch (error) {
      problems.push({ key: manifestKey, manifestKey, reason: `manifest cannot be read: ${messageOf(error)}` });
    }
  }

  const since = options.since === undefined ? undefined : Date.parse(options.since);
  const chosen = targets.filter(
    (t) => (options.source === undefined || t.source === options.source) && (since === undefined || Date.parse(t.createdAt) >= since),
  );
  const candidates = chosen.length;
  const picked = chosen.filter((t) => inSample(seed, t.key, sample));
  let members = 0;
  let bytes = 0;
  let done = 0;
  for (const t of picked) {
    try {
      const { body } = await blobs.get(t.key);
      const result = await t.check(body);
      members += result.members;
      bytes += result.bytes;
      if (result.problems.length === 0) verified.push(t.key);
      for (const p of result.problems) problems.push({ key: t.key, manifestKey: t.manifestKey, ...p });
    } catch (error) {
      if (error instanceof ArchivedError) archived.push(t.key);
      else problems.push({ key: t.key, manifestKey: t.manifestKey, reason: `cannot be read: ${messageOf(error)}` });
    }
    done += 1;
    options.onProgress?.({ objects: done, of: picked.length, bytes, problems: problems.length, key: t.key });
  }
  return {
    format: SCRUB_FORMAT,
    site: options.site,
    startedAt,
    finishedAt: now().toISOString(),
    sample,
    ...(options.since === undefined ? {} : { since: options.since }),
    ...(options.source === undefined ? {} : { source: options.source }),
    candidates,
    objects: picked.length,
    members,
    bytes,
    problems,
    verified,
    archived,
  };
}

/** Keeps a scrub result where the daily report and the attestation find it; returns its key. */
export async function recordScrub(blobs: Pick<BlobStore, 'put'>, result: ScrubResult): Promise<string> {
  return putOnce(blobs, scrubKey(result.site, result.startedAt), Buffer.from(`${JSON.stringify(result, null, 1)}\n`), 'application/json');
}

/** Every scrub result of a site (of one day, when given), oldest first. */
export async function readScrubs(blobs: Pick<BlobStore, 'list' | 'get'>, site: string, day?: string): Promise<ScrubResult[]> {
  const out: ScrubResult[] = [];
  for await (const info of blobs.list(scrubPrefix(site, day))) {
    if (!info.key.endsWith('.json')) continue;
    const parsed = JSON.parse((await readSmallObject(blobs, info.key, 64 * 1024 * 1024, 'scrub result')).toString('utf8')) as ScrubResult;
    if (parsed.format === SCRUB_FORMAT) out.push(parsed);
  }
  return out.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

export function renderScrub(r: ScrubResult): string {
  const pct = `${Math.round(r.sample * 1000) / 10}%`;
  // `objects` are those the sample picked; the ones in an archive tier among them were not read.
  const read = r.objects - r.archived.length;
  const verdict = r.problems.length > 0 ? 'DAMAGED' : read === 0 && r.candidates > 0 ? 'NOT CHECKED' : 'OK';
  const picked = read === r.objects ? '' : `, ${r.objects} picked`;
  const lines = [`${verdict}: ${r.site}: read ${read} of ${r.candidates} object(s) (sample ${pct}${picked}), ${r.members} member(s), ${r.bytes} bytes; ${r.problems.length} problem(s)`];
  if (r.archived.length > 0) lines.push(`  ${r.archived.length} object(s) in an archive tier were not read (recall them first to check them)`);
  if (read === 0 && r.candidates > 0 && r.archived.length === 0) lines.push(`  the sample (${pct} of ${r.candidates}) picked no object: give a larger --sample to check some`);
  for (const p of r.problems) lines.push(`  ${p.key}${p.member ? ` member ${p.member}` : ''}: ${p.reason}`);
  return `${lines.join('\n')}\n`;
}

