import type { ArtefactSourceConfig } from '../../core/config.ts';
import { archiveSelector } from './archive.ts';
import { segmentSelector } from './binlog.ts';
import { rotatedSelector } from './rotated.ts';

/**
 * The names an artefact source ships from its directory: a rotated source's profile and
 * patterns, an archive's patterns, a binlog's segments of `basename` (the detected one, else
 * the configured one). The pass's scan and `agent check` judge with the same rule.
 */
export function artefactSelector(source: ArtefactSourceConfig, basename?: string): (name: string) => boolean {
  if (source.type === 'rotated') return rotatedSelector(source);
  if (source.type === 'archive') return archiveSelector(source);
  const base = basename ?? source.basename;
  if (base === undefined) throw new Error(`source ${source.name}: no binlog basename to select segments by`);
  return segmentSelector(base);
}
