import { messageOf } from '../../core/errors.ts';
import type { ContentIndex } from './content-index.ts';
import { readJsonlGz } from './jsonl-gz.ts';
import { indexTap, listSnapshots, readManifest } from './offsite-snapshots.ts';
import type { TreeSnapshotContext } from './snapshot-context.ts';

// A tree source whose state directory took no snapshot of it yet, while the store holds its
// snapshots (a host rebuilt or reinstalled, its state directory lost; a share's agent moved to
// another host): with an empty content index every file would be packed again, a second copy of
// the whole share in the store. The newest snapshot offsite says where each content already is
// (its manifest's packs, its index's SHA-256, pack and offset per file): they seed the content
// index, so only content the store does not hold is packed. Its index is checked against the
// manifest's SHA-256 before anything is recorded. Cost, once: one LIST of the source's snapshot
// manifests (a new source's first snapshot too), and, when there is one, a GET of the newest
// manifest and of its index.

interface IndexEntry {
  type?: string;
  sha256?: string;
  pack?: number;
  offset?: number;
}

/** Seeds `content` from the source's newest snapshot offsite when it knows no pack; what it recorded, or undefined when nothing was there. */
export async function seedFromOffsite(ctx: TreeSnapshotContext, content: ContentIndex, present: ReadonlySet<string>): Promise<{ packs: number; contents: number } | undefined> {
  if (content.allPacks().length > 0) return undefined;
  const { store, site, source } = ctx;
  const [newest] = await listSnapshots(store, site, source.name, 1);
  if (!newest) return undefined;
  const manifest = await readManifest(store, newest.manifestKey);
  const members = manifest.packs.map(() => new Map<string, number>());
  const { tap, seen } = indexTap();
  const { body } = await store.get(manifest.index.key);
  body.on('error', (error) => tap.destroy(error));
  for await (const line of readJsonlGz(body.pipe(tap))) {
    const e = line as IndexEntry;
    if (e.type !== 'file' || typeof e.sha256 !== 'string' || typeof e.pack !== 'number' || typeof e.offset !== 'number') continue;
    members[e.pack]?.set(e.sha256, e.offset);
  }
  const { size, sha256: sha } = seen();
  if (size !== manifest.index.size || sha !== manifest.index.sha256) {
    ctx.log?.warn('the newest tree snapshot offsite has an index other than its manifest says: not used, every file is packed', { source: source.name, index: manifest.index.key, error: `${size} bytes sha256 ${sha}` });
    return undefined;
  }
  let packs = 0;
  let contents = 0;
  manifest.packs.forEach((pack, no) => {
    const held = members[no]!;
    // A pack the purge took since is not pointed at: its content is packed again if met.
    if (held.size === 0 || !present.has(pack.key)) return;
    content.commitPack({ no, key: pack.key, size: pack.size, sha256: pack.sha256 }, [...held].map(([hex, offset]) => ({ sha256: Buffer.from(hex, 'hex'), offset })));
    packs++;
    contents += held.size;
  });
  ctx.log?.info('tree content index taken from the newest snapshot offsite (this state directory took none of the source yet)', { source: source.name, snapshot: manifest.snapshotId, packs, contents });
  return { packs, contents };
}

/** seedFromOffsite, its failure logged and not fatal: the snapshot then packs every file, as before. */
export async function seedOrWarn(ctx: TreeSnapshotContext, content: ContentIndex, present: ReadonlySet<string>): Promise<void> {
  try {
    await seedFromOffsite(ctx, content, present);
  } catch (error) {
    ctx.log?.warn('the newest tree snapshot offsite could not be read: every file is packed', { source: ctx.source.name, error: messageOf(error) });
  }
}
