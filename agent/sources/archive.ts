import type { ArchiveSourceConfig } from '../../core/config.ts';
import { archiveSpanFromName } from '../../core/artefact-sources.ts';
import { globMatcher } from '../../core/glob.ts';
import type { ArtefactWork, Span } from '../ship-artefact.ts';
import type { SiteFile } from './files.ts';
import type { StabilityTracker } from './stability.ts';
import type { ArtefactPlan, IsShipped } from './rotated.ts';

// Closed archive files (rostrvm's `Voice Recording <from> <to>.sdb`, Email/SMS/Chat Archive):
// shipped once complete (stable across the window), oldest span first, with the covered span
// read from the name. An archive appended to after it shipped is new content: a new artefact.

export function archiveSelector(source: Pick<ArchiveSourceConfig, 'patterns'>): (name: string) => boolean {
  return globMatcher(source.patterns);
}

function spanOf(source: ArchiveSourceConfig, f: SiteFile): { span: Span; spanSource: 'name' | 'file-times' } {
  const named = archiveSpanFromName(source, f.name, f.mtimeMs);
  if (named) return { span: named, spanSource: 'name' };
  const from = f.birthtimeMs > 0 && f.birthtimeMs <= f.mtimeMs ? f.birthtimeMs : f.mtimeMs;
  return { span: { from: new Date(from), to: new Date(f.mtimeMs) }, spanSource: 'file-times' };
}

export function planArchive(source: ArchiveSourceConfig, files: readonly SiteFile[], tracker: StabilityTracker, isShipped: IsShipped, nowMs: number): ArtefactPlan & { unnamed: string[] } {
  const pending = files
    .filter((f) => !isShipped(f.name, f.size, f.mtimeMs))
    .map((f) => ({ f, ...spanOf(source, f) }))
    .sort((a, b) => a.span.from.getTime() - b.span.from.getTime() || (a.f.name < b.f.name ? -1 : a.f.name > b.f.name ? 1 : 0));
  const ready = pending.filter(({ f }) => tracker.isStable(f, nowMs, source.stableSeconds, source.minAgeSeconds));
  return {
    ready: ready.map(({ f, span, spanSource }): ArtefactWork => ({
      sourceType: 'archive',
      source: source.name,
      root: source.path,
      stamp: { name: f.name, size: f.size, mtimeMs: f.mtimeMs },
      role: 'archive',
      span,
      spanSource,
    })),
    waiting: pending.filter((p) => !ready.includes(p)).map((p) => p.f),
    unnamed: pending.filter((p) => p.spanSource === 'file-times').map((p) => p.f.name),
  };
}
