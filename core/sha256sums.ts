// A `SHA256SUMS` file in the format GNU coreutils' `sha256sum` writes and `sha256sum -c` reads,
// so whoever is handed a case bundle (counsel, a regulator) checks it with the tools their
// system has, without Ferry: `hash␠␠relative/path` per line, LF-terminated. A path holding a
// backslash, a newline or a carriage return is written as coreutils 9 writes it: the line starts
// with `\` and those characters become `\\`, `\n` and `\r` (an unescaped newline would split the
// line in two, and `-c` would then check neither half).

export const SHA256SUMS = 'SHA256SUMS';

/** One line of a SHA256SUMS file for `path` (relative, `/`-separated) with hex digest `sha256`. */
export function sha256sumLine(sha256: string, path: string): string {
  if (!/[\\\n\r]/.test(path)) return `${sha256}  ${path}\n`;
  const escaped = path.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
  return `\\${sha256}  ${escaped}\n`;
}

/** The whole file for these files, in their order. */
export function sha256sums(files: readonly { path: string; sha256: string }[]): string {
  return files.map((f) => sha256sumLine(f.sha256, f.path)).join('');
}
