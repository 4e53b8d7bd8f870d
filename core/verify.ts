import { parseArtefactManifest } from './artefact.ts';
import { ArchivedError, messageOf } from './errors.ts';
import { parseManifest } from './manifest.ts';
import type { BlobStore } from './ports.ts';
import { inSample, sampleRank, scrubCandidates, type Candidate } from './scrub-pick.ts';
import { artefactCheck, packCheck, type ObjectCheck } from './verify-check.ts';
import { readSmallObject } from './read-small.ts';
import { putOnce, scrubKey, scrubPrefix } from './report-keys.ts';

// Scrub: re-read what is stored and check it against its commit record. A recordings pack is
// read once, start to end: its SHA-256 and every member's (and sidecar's) SHA-256 at the
// offsets its manifest gives. A backup, log segment or archive: its size and SHA-256. Nothing
// is trusted from the store's own metadata. The result is kept under reports/{site}/scrub/,
// where the daily report and the monthly attestation find it.
//
// The sample is picked from manifest keys (a LIST), and only the picked manifests are read, in a
// random order, so a run's GETs follow its sample, never the site's history. The scheduled scrub
// also bounds what it lists (`days`), what it reads (`maxBytes`, `glacierIrBytes`) and how long
// it runs (`timeUp`); a run cut short says so, and is never rendered as a complete one.

export { inSample } from './scrub-pick.ts';

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
  /** Pack manifests only of these days (YYYY-MM-DD, the layout's date): the scheduled scrub's share of the history. Absent: every day. */
  days?: string[];
  /** Reads at most this many bytes: a picked object larger than what is left ends the run (the rest counted in notRead). Absent: no limit. */
  maxBytes?: number;
  /** Reads at most this many bytes from GLACIER_IR (it charges per GB read); each picked object's class is asked first (HEAD). Absent: no limit, no HEAD. */
  glacierIrBytes?: number;
  /** True once the run must stop (the Lambda's remaining time): asked before each object; the result then says it was cut short. */
  timeUp?: () => boolean;
}

/** Picked objects a bounded run did not read, by reason. */
export interface NotRead {
  /** Over the run's byte budget (maxBytes). */
  overBudget: number;
  /** In GLACIER_IR, over the run's Glacier IR budget (glacierIrBytes). */
  glacierIr: number;
  /** Left when the run's time was up (timeUp). */
  deadline: number;
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
  /** Pack manifests were listed only for these days (absent: every day). */
  days?: string[];
  maxBytes?: number;
  glacierIrBytes?: number;
  /** Objects the site has (after since/source; with `days`, those of the days listed) and how many the sample picked. */
  candidates: number;
  picked?: number;
  /** Picked objects the run got to: read, or found missing or in an archive tier. */
  objects: number;
  members: number;
  bytes: number;
  problems: VerifyProblem[];
  /** Keys read and found whole. */
  verified: string[];
  /** Keys in an archive tier (Deep Archive): not readable without a recall, so not checked. */
  archived: string[];
  /** Picked objects not read (budget, Glacier IR budget, deadline); absent when every picked object was. */
  notRead?: NotRead;
  /** Why the run stopped before its sample was done (its time was up): such a run is never complete. */
  cutShort?: string;
}

interface Target {
  manifestKey: string;
  key: string;
  source: string;
  createdAt: string;
  size: number;
  check: ObjectCheck;
}

interface Picked extends Candidate {
  rank: number;
  target?: Target;
}

/** Objects kept in these classes cannot be read without a recall: counted as archived, never as damaged. */
const ARCHIVE_CLASSES = new Set(['DEEP_ARCHIVE', 'GLACIER']);
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

/** Parses `5%`, `0.05` or `100%` into a fraction in (0, 1]. */
export function parseSample(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  const value = match ? Number(match[1]) / (match[2] ? 100 : 1) : Number.NaN;
  if (!(value > 0 && value <= 1)) throw new RangeError(`--sample "${text}" must be a percentage in (0%, 100%] such as 5%, or a fraction in (0, 1]`);
  return value;
}

async function readTarget(blobs: Pick<BlobStore, 'get'>, c: Candidate): Promise<Target> {
  if (c.kind === 'pack') {
    const m = parseManifest(await readSmallObject(blobs, c.manifestKey, MAX_MANIFEST_BYTES, 'manifest'));
    return { manifestKey: c.manifestKey, key: m.packKey, source: m.source, createdAt: m.createdAt, size: m.pack.size, check: packCheck(m) };
  }
  const m = parseArtefactManifest(await readSmallObject(blobs, c.manifestKey, MAX_MANIFEST_BYTES, 'artefact manifest'));
  return { manifestKey: c.manifestKey, key: m.key, source: m.source, createdAt: m.createdAt, size: m.size, check: artefactCheck(m) };
}

const unreadable = (manifestKey: string, error: unknown): VerifyProblem => ({ key: manifestKey, manifestKey, reason: `manifest cannot be read: ${messageOf(error)}` });

/**
 * The sample, in the order the run reads it (random by the seed, so a budget or a deadline cuts a
 * random share). Only keys are listed; a manifest is read here only when `source` names a pack
 * source, whose name is in each manifest's body alone (`ferry verify --source`).
 */
async function pickSample(blobs: Pick<BlobStore, 'list' | 'get'>, options: VerifyOptions, seed: string, sample: number, problems: VerifyProblem[]) {
  const picked: Picked[] = [];
  let candidates = 0;
  for await (const c of scrubCandidates(blobs, options)) {
    let target: Target | undefined;
    if (options.source !== undefined && c.kind === 'pack') {
      try {
        target = await readTarget(blobs, c);
      } catch (error) {
        problems.push(unreadable(c.manifestKey, error));
        continue;
      }
      if (target.source !== options.source) continue;
    }
    candidates += 1;
    if (inSample(seed, c.manifestKey, sample)) picked.push({ ...c, rank: sampleRank(`${seed}\0order`, c.manifestKey), ...(target ? { target } : {}) });
  }
  return { candidates, picked: picked.sort((a, b) => a.rank - b.rank) };
}

class ScrubRun {
  members = 0;
  bytes = 0;
  glacierIrBytes = 0;
  objects = 0;
  readonly problems: VerifyProblem[] = [];
  readonly verified: string[] = [];
  readonly archived: string[] = [];
  readonly notRead: NotRead = { overBudget: 0, glacierIr: 0, deadline: 0 };

  constructor(private readonly blobs: Pick<BlobStore, 'get'> & Partial<Pick<BlobStore, 'head'>>, private readonly options: VerifyOptions) {}

  /**
   * Whether the run's budgets let it read t: 'read'; 'done' (found missing or archived); not this
   * one ('over': larger than the whole budget, 'glacier': over the Glacier IR budget); or 'stop'
   * (the budget is spent: neither this nor any later one).
   */
  private async admit(t: Target): Promise<'read' | 'done' | 'over' | 'glacier' | 'stop'> {
    const { maxBytes, glacierIrBytes } = this.options;
    if (maxBytes !== undefined && t.size > maxBytes) return 'over';
    if (maxBytes !== undefined && this.bytes + t.size > maxBytes) return 'stop';
    if (glacierIrBytes === undefined) return 'read';
    if (!this.blobs.head) throw new TypeError('a scrub with a Glacier IR budget needs a store that can HEAD objects');
    const info = await this.blobs.head(t.key);
    if (!info) {
      this.problems.push({ key: t.key, manifestKey: t.manifestKey, reason: `cannot be read: no object ${t.key} in the bucket` });
      return 'done';
    }
    if (ARCHIVE_CLASSES.has(info.storageClass ?? '')) {
      this.archived.push(t.key);
      return 'done';
    }
    if (info.storageClass !== 'GLACIER_IR') return 'read';
    if (this.glacierIrBytes + t.size > glacierIrBytes) return 'glacier';
    this.glacierIrBytes += t.size;
    return 'read';
  }

  private async read(t: Target): Promise<void> {
    try {
      const { body } = await this.blobs.get(t.key);
      const result = await t.check(body);
      this.members += result.members;
      this.bytes += result.bytes;
      if (result.problems.length === 0) this.verified.push(t.key);
      for (const p of result.problems) this.problems.push({ key: t.key, manifestKey: t.manifestKey, ...p });
    } catch (error) {
      if (error instanceof ArchivedError) this.archived.push(t.key);
      else this.problems.push({ key: t.key, manifestKey: t.manifestKey, reason: `cannot be read: ${messageOf(error)}` });
    }
  }

  /** Reads the picks in order until they, the budget or the time run out; returns how many picks turned out outside since. */
  async run(picked: Picked[]): Promise<{ outside: number; cutShort?: string }> {
    const since = this.options.since === undefined ? undefined : Date.parse(this.options.since);
    let outside = 0;
    for (const [i, p] of picked.entries()) {
      if (this.options.timeUp?.()) {
        this.notRead.deadline = picked.length - i;
        return { outside, cutShort: `the run's time was up after ${i} of ${picked.length} picked object(s)` };
      }
      let t = p.target;
      if (!t) {
        try {
          t = await readTarget(this.blobs, p);
        } catch (error) {
          this.objects += 1;
          this.problems.push(unreadable(p.manifestKey, error));
          continue;
        }
      }
      if (since !== undefined && Date.parse(t.createdAt) < since) {
        outside += 1;
        continue;
      }
      const admitted = await this.admit(t);
      if (admitted === 'stop') {
        this.notRead.overBudget = picked.length - i;
        break;
      }
      if (admitted === 'over') this.notRead.overBudget += 1;
      else if (admitted === 'glacier') this.notRead.glacierIr += 1;
      else this.objects += 1;
      if (admitted === 'read') await this.read(t);
      this.options.onProgress?.({ objects: i + 1, of: picked.length, bytes: this.bytes, problems: this.problems.length, key: t.key });
    }
    return { outside };
  }
}

/**
 * Re-reads a sample of a site's stored packs and artefacts (all of them with sample 1) and checks
 * each against its manifest. Reads only the manifests it picks, and with budgets or a deadline
 * stops when they run out.
 */
export async function verifySite(blobs: Pick<BlobStore, 'list' | 'get'> & Partial<Pick<BlobStore, 'head'>>, options: VerifyOptions): Promise<ScrubResult> {
  const now = options.now ?? (() => new Date());
  const startedAt = now().toISOString();
  const sample = options.sample ?? 1;
  const seed = options.seed ?? startedAt;
  const run = new ScrubRun(blobs, options);
  const { candidates, picked } = await pickSample(blobs, options, seed, sample, run.problems);
  const { outside, cutShort } = await run.run(picked);
  const notRead = run.notRead.overBudget + run.notRead.glacierIr + run.notRead.deadline > 0 ? run.notRead : undefined;
  return {
    format: SCRUB_FORMAT,
    site: options.site,
    startedAt,
    finishedAt: now().toISOString(),
    sample,
    ...(options.since === undefined ? {} : { since: options.since }),
    ...(options.source === undefined ? {} : { source: options.source }),
    ...(options.days === undefined ? {} : { days: options.days }),
    ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
    ...(options.glacierIrBytes === undefined ? {} : { glacierIrBytes: options.glacierIrBytes }),
    candidates: candidates - outside,
    picked: picked.length - outside,
    objects: run.objects,
    members: run.members,
    bytes: run.bytes,
    problems: run.problems,
    verified: run.verified,
    archived: run.archived,
    ...(notRead ? { notRead } : {}),
    ...(cutShort ? { cutShort } : {}),
  };
}

/** Keeps a scrub result where the daily report and the attestation find it; returns its key. */
export async function recordScrub(blobs: Pick<BlobStore, 'put'>, result: ScrubResult): Promise<string> {
  return putOnce(blobs, scrubKey(result.site, result.startedAt), Buffer.from(`${JSON.stringify(result, null, 1)}\n`), 'application/json');
}

/** Every scrub result of a site (of one day YYYY-MM-DD or month YYYY-MM, when given), oldest first. */
export async function readScrubs(blobs: Pick<BlobStore, 'list' | 'get'>, site: string, period?: string): Promise<ScrubResult[]> {
  const out: ScrubResult[] = [];
  for await (const info of blobs.list(scrubPrefix(site, period))) {
    if (!info.key.endsWith('.json')) continue;
    const parsed = JSON.parse((await readSmallObject(blobs, info.key, 64 * 1024 * 1024, 'scrub result')).toString('utf8')) as ScrubResult;
    if (parsed.format === SCRUB_FORMAT) out.push(parsed);
  }
  return out.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

function notReadLines(r: ScrubResult): string[] {
  const lines: string[] = [];
  const n = r.notRead;
  if (n?.overBudget) lines.push(`  ${n.overBudget} picked object(s) not read: over the run's byte budget (${r.maxBytes} bytes); later runs pick others`);
  if (n?.glacierIr) lines.push(`  ${n.glacierIr} picked object(s) in Glacier IR not read: over the run's Glacier IR budget (${r.glacierIrBytes} bytes; each GB read there is charged)`);
  if (r.cutShort) lines.push(`  cut short: ${r.cutShort}; ${n?.deadline ?? 0} picked object(s) not read`);
  return lines;
}

export function renderScrub(r: ScrubResult): string {
  const pct = `${Math.round(r.sample * 1000) / 10}%`;
  // `objects` are those the run got to; the ones in an archive tier among them were not read.
  const read = r.objects - r.archived.length;
  const pickedCount = r.picked ?? r.objects;
  const verdict = r.problems.length > 0 ? 'DAMAGED' : r.cutShort ? 'INCOMPLETE' : read === 0 && r.candidates > 0 ? 'NOT CHECKED' : 'OK';
  const picked = read === pickedCount ? '' : `, ${pickedCount} picked`;
  const days = r.days ? `; packs of ${r.days.length} day(s)` : '';
  const lines = [`${verdict}: ${r.site}: read ${read} of ${r.candidates} object(s) (sample ${pct}${days}${picked}), ${r.members} member(s), ${r.bytes} bytes; ${r.problems.length} problem(s)`];
  if (r.archived.length > 0) lines.push(`  ${r.archived.length} object(s) in an archive tier were not read (recall them first to check them)`);
  lines.push(...notReadLines(r));
  if (pickedCount === 0 && r.candidates > 0) lines.push(`  the sample (${pct} of ${r.candidates}) picked no object: give a larger --sample to check some`);
  for (const p of r.problems) lines.push(`  ${p.key}${p.member ? ` member ${p.member}` : ''}: ${p.reason}`);
  return `${lines.join('\n')}\n`;
}
