import type { RotatedSourceConfig } from '../../core/config.ts';
import { isCvpLive } from '../../core/artefact-sources.ts';
import { globMatcher } from '../../core/glob.ts';
import type { ArtefactWork } from '../ship-artefact.ts';
import type { SiteFile } from './files.ts';
import type { StabilityTracker } from './stability.ts';

// Rotated full backups: files a vendor tool writes and overwrites in place (rostrvm's
// `rostrvm_<ver>_<n>.rbk` slots cycling over CYCLE n, Cisco CVP's `cvp_backup_data.old`, SQL
// `.bak` dumps, LCSCmd XML exports). A version ships once it is complete (stable across the
// window), oldest first; the same name with the same size and mtime is not looked at again.

export interface ArtefactPlan {
  /** Complete versions to ship now, in shipping order. */
  ready: ArtefactWork[];
  /** Versions not shipped and not complete yet (still being written, or inside the window). */
  waiting: SiteFile[];
}

export type IsShipped = (name: string, size: number, mtimeMs: number) => boolean;

/**
 * Which names the source may touch. Whatever the profile and patterns, Cisco CVP's live backup
 * is never selected: copying it locks it and blocks the next backup. The config already refuses
 * a cvp pattern that would match it; this is the second lock on the same door, for every profile
 * (no other product names a file exactly so).
 */
export function rotatedSelector(source: Pick<RotatedSourceConfig, 'patterns'>): (name: string) => boolean {
  const match = globMatcher(source.patterns);
  return (name) => !isCvpLive(name) && match(name);
}

const byAge = (a: SiteFile, b: SiteFile) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export function planRotated(source: RotatedSourceConfig, files: readonly SiteFile[], tracker: StabilityTracker, isShipped: IsShipped, nowMs: number): ArtefactPlan {
  const pending = files.filter((f) => !isShipped(f.name, f.size, f.mtimeMs)).sort(byAge);
  const ready = pending.filter((f) => tracker.isStable(f, nowMs, source.stableSeconds, source.minAgeSeconds));
  return {
    ready: ready.map((f) => ({
      sourceType: 'rotated',
      source: source.name,
      root: source.path,
      stamp: { name: f.name, size: f.size, mtimeMs: f.mtimeMs },
      role: 'full',
      profile: source.profile,
      slot: f.name,
      sniffPosition: true,
    })),
    waiting: pending.filter((f) => !ready.includes(f)),
  };
}
