import { createHash } from 'node:crypto';
import { ARTEFACT_CLASS, artefactManifestPrefix, isArtefactManifestKey, isPackManifestKey, packManifestPeriodPrefix, sitePrefix } from './layout.ts';
import type { BlobStore } from './ports.ts';

// Which manifests a scrub may pick from, found by listing keys only: no manifest is read to be
// considered, so a run's GETs follow what it picks, never the site's history. The scheduled scrub
// lists a few days of pack manifests (pickScrubDays), not every day the site ever shipped.

/** A manifest's LastModified is taken to be no earlier than its createdAt less this (the agent's clock may run ahead of S3's). */
export const CLOCK_SLACK_MS = 86_400_000;

export interface Candidate {
  manifestKey: string;
  kind: 'pack' | 'artefact';
}

type Listed = Candidate & { lastModified?: Date };

export interface CandidateOptions {
  site: string;
  /** Pack manifests only under these days (YYYY-MM-DD); absent: every day. */
  days?: string[];
  /** Only this source: an artefact source is told by its manifests' keys; a pack source only by each manifest's body. */
  source?: string;
  /** Leaves out manifests written (LastModified) more than CLOCK_SLACK_MS before this ISO time: shipped before it. */
  since?: string;
}

/** A stable number in [0, 1) from seed and key: the same seed picks and orders the same keys. */
export function sampleRank(seed: string, key: string): number {
  return createHash('sha256').update(seed).update('\0').update(key).digest().readUInt32BE(0) / 2 ** 32;
}

/** Whether a key is in the sample: its rank against the fraction. */
export function inSample(seed: string, key: string, fraction: number): boolean {
  return fraction >= 1 || sampleRank(seed, key) < fraction;
}

/** `count` distinct days (YYYY-MM-DD), picked by the seed among the `windowDays` days that end with `today` (UTC), newest first. */
export function pickScrubDays(seed: string, today: Date, windowDays: number, count: number): string[] {
  const end = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
  const days = Array.from({ length: Math.max(0, Math.floor(windowDays)) }, (_, i) => new Date(end - i * 86_400_000).toISOString().slice(0, 10));
  const ranked = days.map((day) => ({ day, rank: sampleRank(seed, day) })).sort((a, b) => a.rank - b.rank);
  return ranked.slice(0, Math.max(0, count)).map((d) => d.day).sort().reverse();
}

async function* artefactCandidates(blobs: Pick<BlobStore, 'list'>, site: string, source?: string): AsyncIterable<Listed> {
  for (const dataClass of Object.values(ARTEFACT_CLASS)) {
    for await (const info of blobs.list(artefactManifestPrefix(site, dataClass, source))) {
      if (isArtefactManifestKey(info.key)) yield { manifestKey: info.key, kind: 'artefact', ...(info.lastModified ? { lastModified: info.lastModified } : {}) };
    }
  }
}

async function* packCandidates(blobs: Pick<BlobStore, 'list'>, site: string, days?: string[]): AsyncIterable<Listed> {
  const prefixes = days === undefined ? [`${sitePrefix('manifests', site)}recordings/`] : days.map((day) => packManifestPeriodPrefix(site, day));
  for (const prefix of prefixes) {
    for await (const info of blobs.list(prefix)) {
      if (isPackManifestKey(info.key)) yield { manifestKey: info.key, kind: 'pack', ...(info.lastModified ? { lastModified: info.lastModified } : {}) };
    }
  }
}

/**
 * The manifests a scrub may pick from, by listing alone. With `source`, the artefact manifests
 * of that source when it has any (its name is in their keys), else every pack manifest (a pack's
 * source is in its body: the caller reads each to tell).
 */
export async function* scrubCandidates(blobs: Pick<BlobStore, 'list'>, options: CandidateOptions): AsyncIterable<Candidate> {
  const since = options.since === undefined ? undefined : Date.parse(options.since) - CLOCK_SLACK_MS;
  const fresh = (c: Listed) => since === undefined || c.lastModified === undefined || c.lastModified.getTime() >= since;
  let artefacts = 0;
  for await (const c of artefactCandidates(blobs, options.site, options.source)) {
    artefacts += 1;
    if (fresh(c)) yield { manifestKey: c.manifestKey, kind: c.kind };
  }
  if (options.source !== undefined && artefacts > 0) return;
  for await (const c of packCandidates(blobs, options.site, options.days)) if (fresh(c)) yield { manifestKey: c.manifestKey, kind: c.kind };
}
