import type { ArtefactSourceType } from '../core/layout.ts';
import { artefactManifestKey, artefactSourcePrefix, safeKeySegment } from '../core/layout.ts';
import type { BlobStore } from '../core/ports.ts';
import type { FileStamp } from './journal.ts';

// Whether versions a pass is about to call lost are offsite after all: a state directory put back
// to an older copy (a VM snapshot) saw them waiting and does not know they shipped after it, so
// its journal says nothing of them. Asked only when a loss is about to be recorded (rare): one
// listing of the source's objects, and a HEAD of the manifest of each one that matches.

/** `name\tsize` of each of `files` whose object (same name, same size) and manifest the store holds; empty when the store cannot say. */
export async function committedVersions(store: Pick<BlobStore, 'list' | 'head'>, site: string, type: ArtefactSourceType, source: string, files: readonly FileStamp[]): Promise<Set<string>> {
  const found = new Set<string>();
  if (files.length === 0) return found;
  const wanted = new Map(files.map((f) => [`${safeKeySegment(f.name)}\t${f.size}`, f]));
  const prefix = artefactSourcePrefix(site, type, source);
  try {
    for await (const item of store.list(prefix)) {
      if (item.key.startsWith(`${prefix}partial/`)) continue;
      const base = item.key.slice(item.key.lastIndexOf('/') + 1);
      const dash = base.indexOf('-');
      const f = dash > 0 ? wanted.get(`${base.slice(dash + 1)}\t${item.size}`) : undefined;
      if (!f || found.has(`${f.name}\t${f.size}`)) continue;
      // A data object without its manifest was never committed (a pass cut before it).
      if (await store.head(artefactManifestKey(site, type, source, base.slice(0, dash)))) found.add(`${f.name}\t${f.size}`);
    }
  } catch {
    return new Set();
  }
  return found;
}
