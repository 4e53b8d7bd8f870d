import { createHash } from 'node:crypto';

// Identifiers are derived from content, never random: a batch shipped twice after a crash
// lands on the same pack key and the same catalogue keys, which is what makes recovery idempotent.

function digest(parts: string[], length: number): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, length);
}

/** One recording: same site, same path and same bytes is the same recording. */
export function recordingId(site: string, relativePath: string, sha256: string): string {
  return `r${digest([site, relativePath, sha256], 23)}`;
}

/** One pack: the batch directory and the exact member list (name, size, mtime) it was cut from. */
export function packId(site: string, source: string, batchPath: string, members: { path: string; size: number; mtimeMs: number }[]): string {
  const parts = [site, source, batchPath, ...members.map((m) => `${m.path}\t${m.size}\t${Math.trunc(m.mtimeMs)}`)];
  return `p${digest(parts, 23)}`;
}

export const RECORDING_ID_PATTERN = /^r[0-9a-f]{23}$/;
