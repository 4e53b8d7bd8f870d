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

export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        source += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      const negate = body.startsWith('!');
      if (negate) body = body.slice(1);
      source += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else source += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 'is');
}

/** A matcher for a list of globs: true when any matches the name. */
export function globMatcher(globs: readonly string[]): (name: string) => boolean {
  const res = globs.map(globToRegExp);
  return (name) => res.some((re) => re.test(name));
}
