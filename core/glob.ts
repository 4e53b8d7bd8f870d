// File-name globs for artefact sources: `*` (any run of characters), `?` (one character),
// `[abc]` / `[!abc]` / `[a-z]` (one of / none of). They match a bare file name, never a path.
// Matching is case-insensitive: the protected systems mostly run on Windows, where
// `CVP_BACKUP_DATA` and `cvp_backup_data` are the same file.

export function globProblem(glob: string): string | undefined {
  if (glob.length === 0) return 'a pattern cannot be empty';
  if (/[\\/]/.test(glob)) return `"${glob}" contains a path separator; patterns match file names directly in the source's path`;
  const open = glob.indexOf('[');
  if (open >= 0 && glob.indexOf(']', open + 1) < 0) return `"${glob}" has an unclosed "["`;
  return undefined;
}

/**
 * The regular expression for the glob character at `i` when it is neither `*` nor `?`: a
 * `[class]` (`[!…]` negated), a `[` with no `]` after it as itself, any other character as itself.
 * `end` is the index of the class's `]` (else `i`).
 */
export function globAtom(glob: string, i: number): { source: string; end: number } {
  const c = glob[i] as string;
  if (c === '[') {
    const end = glob.indexOf(']', i + 2);
    if (end < 0) return { source: '\\[', end: i };
    let body = glob.slice(i + 1, end);
    const negate = body.startsWith('!');
    if (negate) body = body.slice(1);
    return { source: `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`, end };
  }
  return { source: c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), end: i };
}

export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else {
      const atom = globAtom(glob, i);
      source += atom.source;
      i = atom.end;
    }
  }
  return new RegExp(`^${source}$`, 'is');
}

/** A matcher for a list of globs: true when any matches the name. */
export function globMatcher(globs: readonly string[]): (name: string) => boolean {
  const res = globs.map(globToRegExp);
  return (name) => res.some((re) => re.test(name));
}
