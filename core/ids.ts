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

/**
 * A call written at a path an earlier call of the site shipped from, with the very same bytes (a
 * recorder that restarted its numbering; an empty or header-only WAV, a recorded announcement,
 * silence) and a sidecar of its own: its sidecar's SHA-256 tells the two calls apart. The agent
 * gives it only where the recording's name shipped from its batch before under another file time,
 * so the calls of every other recording keep recordingId (and the ids catalogues hold already).
 * The same file with the same sidecar sent again gets the same id: a reship is still idempotent.
 */
export function rewrittenCallId(site: string, relativePath: string, sha256: string, sidecarSha256: string): string {
  return `r${digest([site, relativePath, sha256, `sidecar:${sidecarSha256}`], 23)}`;
}

/** The ids a manifest member may carry: recordingId, or, with a sidecar, rewrittenCallId. */
export function memberIdsAllowed(site: string, member: { path: string; sha256: string; sidecar?: { sha256: string } }): string[] {
  const plain = recordingId(site, member.path, member.sha256);
  return member.sidecar ? [plain, rewrittenCallId(site, member.path, member.sha256, member.sidecar.sha256)] : [plain];
}

/** One pack: the batch directory and the exact member list (name, size, mtime) it was cut from. */
export function packId(site: string, source: string, batchPath: string, members: { path: string; size: number; mtimeMs: number }[]): string {
  const parts = [site, source, batchPath, ...members.map((m) => `${m.path}\t${m.size}\t${Math.trunc(m.mtimeMs)}`)];
  return `p${digest(parts, 23)}`;
}

export const RECORDING_ID_PATTERN = /^r[0-9a-f]{23}$/;
