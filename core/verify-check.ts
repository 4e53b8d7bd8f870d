import { createHash, type Hash } from 'node:crypto';
import type { ArtefactManifest } from './artefact.ts';
import type { PackManifest, TarSlice } from './manifest.ts';

// What a scrub checks of one stored object, read once start to end: a pack's SHA-256 and each
// member's (and sidecar's) at the offsets its manifest gives; an artefact's size and SHA-256.

export interface CheckProblem {
  /** The member of a pack that does not match (its path in the tar), when one is named. */
  member?: string;
  reason: string;
}

export type ObjectCheck = (body: AsyncIterable<Buffer | string | Uint8Array>) => Promise<{ problems: CheckProblem[]; members: number; bytes: number }>;

function toBuffer(chunk: Buffer | string | Uint8Array): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
}

/** Checks a pack in one pass: whole-pack SHA-256 and each slice's SHA-256 at its offset. */
export function packCheck(m: PackManifest): ObjectCheck {
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
    const problems: CheckProblem[] = [];
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

export function artefactCheck(m: ArtefactManifest): ObjectCheck {
  return async (body) => {
    const h = createHash('sha256');
    let size = 0;
    for await (const raw of body) {
      const chunk = toBuffer(raw);
      h.update(chunk);
      size += chunk.length;
    }
    const problems: CheckProblem[] = [];
    if (size !== m.size) problems.push({ reason: `${m.role} is ${size} bytes, its manifest says ${m.size}` });
    const got = h.digest('hex');
    if (got !== m.sha256) problems.push({ reason: `${m.role} SHA-256 ${got} differs from the manifest's ${m.sha256}` });
    return { problems, members: 1, bytes: size };
  };
}

