import { isUtf8 as bufferIsUtf8 } from 'node:buffer';
import { globAtom } from '../../core/glob.ts';

// Paths of a tree snapshot: relative, `/`-separated, held as bytes so that names which are not
// valid UTF-8 (a Windows share copied by an old tool, a Latin-1 name) round-trip exactly. The
// one order every part agrees on (the walk, the index, the merge-join with the previous
// snapshot, the restore) is component-wise byte order: siblings sorted by name bytes, a
// directory before its contents. It is what a depth-first walk with sorted siblings produces.

const SLASH = 0x2f;

/**
 * Component-wise byte order: `a/b` < `a-c` (a directory's contents follow it), negative when a < b.
 * `aStart`, `aEnd` compare the path at `a[aStart..aEnd]` in place (a record of the local index).
 */
export function compareTreePaths(a: Uint8Array, b: Uint8Array, aStart = 0, aEnd = a.length): number {
  const length = aEnd - aStart;
  const n = Math.min(length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[aStart + i] === SLASH ? 0 : (a[aStart + i] as number);
    const y = b[i] === SLASH ? 0 : (b[i] as number);
    if (x !== y) return x - y;
  }
  return length - b.length;
}

/** True when the bytes are valid UTF-8 (so they decode and encode back to themselves). */
export function isUtf8(bytes: Buffer): boolean {
  return bufferIsUtf8(bytes);
}

/** The `path` / `pathBytes` pair of an index entry for raw path bytes. */
export function entryPath(bytes: Buffer): { path: string; pathBytes?: string } {
  const path = bytes.toString('utf8');
  return isUtf8(bytes) ? { path } : { path, pathBytes: bytes.toString('base64') };
}

/** The raw bytes of an index entry's path. */
export function entryPathBytes(entry: { path: string; pathBytes?: string }): Buffer {
  return entry.pathBytes !== undefined ? Buffer.from(entry.pathBytes, 'base64') : Buffer.from(entry.path, 'utf8');
}

/** A glob matching exactly `path` (relative, `/`-separated): `*`, `?` and `[` taken literally. */
export function literalTreeGlob(path: string): string {
  return path.replace(/[*?[]/g, '[$&]');
}

/**
 * Path globs for tree sources and restore `--include`: `*` and `?` match within one name, `**`
 * any number of whole directories (`**\/*.xml`, `meetings/**`), `[abc]` one of. Case-sensitive
 * unless told otherwise. A pattern without `/` matches the name at any depth (`*.tmp`).
 */
export function treeGlobToRegExp(glob: string, caseInsensitive = false): RegExp {
  const anyDepth = !glob.includes('/');
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      source += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else {
      const atom = globAtom(glob, i);
      source += atom.source;
      i = atom.end;
    }
  }
  return new RegExp(`^${anyDepth ? '(?:.*/)?' : ''}${source}$`, caseInsensitive ? 'is' : 's');
}

/** True when any glob matches the relative path (or, for a directory glob `dir/**`, the directory itself). */
export function treePathMatcher(globs: readonly string[], caseInsensitive = false): (path: string) => boolean {
  const res = globs.map((g) => treeGlobToRegExp(g, caseInsensitive));
  return (path) => res.some((re) => re.test(path));
}

