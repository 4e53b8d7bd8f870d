import type { ArtefactSourceType } from '../core/layout.ts';
import { artefactManifestKey, artefactSourcePrefix, safeKeySegment } from '../core/layout.ts';
import { parseArtefactManifest } from '../core/artefact.ts';
import type { BlobStore } from '../core/ports.ts';
import type { FileStamp } from './journal.ts';
import { readAll } from './recover.ts';

// Whether versions a pass is about to call lost are offsite after all: a state directory put back
// to an older copy (a VM snapshot) saw them waiting and does not know they shipped after it, so
// its journal says nothing of them. Asked only when a loss is about to be recorded (rare): one
// listing of the source's objects, and a read of the manifest of each one whose name and size
// match. The manifest must name the version itself (name, size and mtime): a slot the site
// overwrites nightly holds versions of one name, often of one size, and an earlier one offsite
// says nothing of tonight's.

/** `name\tsize\tmtime` of a version (the key committedVersions answers with). */
export const versionKey = (f: Pick<FileStamp, 'name' | 'size' | 'mtimeMs'>): string => `${f.name}\t${f.size}\t${Math.trunc(f.mtimeMs)}`;

/** versionKey of each of `files` whose object and manifest (this name, size and mtime) the store holds; empty when the store cannot say. */
export async function committedVersions(store: Pick<BlobStore, 'list' | 'get'>, site: string, type: ArtefactSourceType, source: string, files: readonly FileStamp[]): Promise<Set<string>> {
  const found = new Set<string>();
  if (files.length === 0) return found;
  const wanted = new Map<string, FileStamp[]>();
  for (const f of files) wanted.set(`${safeKeySegment(f.name)}\t${f.size}`, [...(wanted.get(`${safeKeySegment(f.name)}\t${f.size}`) ?? []), f]);
  const prefix = artefactSourcePrefix(site, type, source);
  try {
    for await (const item of store.list(prefix)) {
      if (item.key.startsWith(`${prefix}partial/`)) continue;
      const base = item.key.slice(item.key.lastIndexOf('/') + 1);
      const dash = base.indexOf('-');
      const candidates = (dash > 0 ? wanted.get(`${base.slice(dash + 1)}\t${item.size}`) : undefined)?.filter((f) => !found.has(versionKey(f)));
      if (!candidates?.length) continue;
      // A data object without its manifest was never committed (a pass cut before it).
      const manifest = await readAll(store, artefactManifestKey(site, type, source, base.slice(0, dash)))
        .then(parseArtefactManifest)
        .catch(() => undefined);
      for (const f of candidates) if (manifest && manifest.name === f.name && manifest.size === f.size && Date.parse(manifest.mtime) === Math.trunc(f.mtimeMs)) found.add(versionKey(f));
    }
  } catch {
    return new Set();
  }
  return found;
}
