import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// The `ferry …` command lines the README and the docs show an administrator: in code blocks (a
// line that starts with the command, `\` continuations joined, the comment after `#` dropped) and
// in inline code spans that start with `ferry `. The single-file agent's and the cron line's
// `…/ferry-agent.mjs agent run …` count as `ferry agent run …`. Each is read as a synopsis:
// `[…]` optional, `(a | b)` one of, a lone `…` for words left out.

export const REPO = join(import.meta.dirname, '../..');

/** The pages an administrator follows (docs/benchmarks.md is a log of measurements, not instructions). */
export const DOC_PAGES = ['README.md', 'docs/operations.md', 'docs/restore.md', 'docs/file-shares.md', 'docs/deploy.md', 'docs/install-windows.md', 'docs/console.md', 'docs/parity.md'];

export interface DocCommand {
  /** `docs/restore.md:24`, where the line is. */
  where: string;
  /** The words after `ferry`, as written. */
  text: string;
  /** A line of a code block: typed as it stands. */
  block: boolean;
  /** The first cell of a row of a table (the README's command table): a whole command line. */
  tableRow: boolean;
}

const INVOCATION = /^(?:\$\s+)?(?:ferry|\.\/bin\/ferry\.mjs|npm run ferry --|node\s+\S*ferry-agent\.mjs)\s+(.*)$/;
const AGENT_FILE = /\S*ferry-agent\.mjs\s+(agent\s.*)$/;

export function docCommands(page: string): DocCommand[] {
  const lines = readFileSync(join(REPO, page), 'utf8').split('\n');
  const found: DocCommand[] = [];
  let fence = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^\s*```/.test(line)) {
      fence = !fence;
      continue;
    }
    if (fence) {
      const at = i;
      let joined = line.trim();
      while (joined.endsWith('\\') && i + 1 < lines.length) joined = `${joined.slice(0, -1).trimEnd()} ${lines[++i]!.trim()}`;
      const m = INVOCATION.exec(joined.replace(/\s+#.*$/, '')) ?? AGENT_FILE.exec(joined.replace(/\s+#.*$/, ''));
      if (m) found.push({ where: `${page}:${at + 1}`, text: m[1]!, block: true, tableRow: false });
      continue;
    }
    for (const m of line.matchAll(/`((?:ferry|\.\/bin\/ferry\.mjs) [^`]+)`/g)) {
      const tableRow = line.startsWith(`| ${m[0]} |`);
      found.push({ where: `${page}:${i + 1}`, text: m[1]!.replace(/^\S+\s+/, '').replace(/\\\|/g, '|'), block: false, tableRow });
    }
  }
  return found;
}

/** A word, or a group: `[…]` (optional) or `(…)` of alternatives split at a lone `|`. */
export type Part = string | { optional: boolean; alternatives: Part[][] };

/**
 * The words of a command line up to the first shell operator (`|`, `>`, `&&`, `;` outside a
 * group), quotes removed, `<placeholder with spaces>` one word, groups nested.
 */
export function synopsis(text: string): Part[] {
  const words: string[] = [];
  const re = /'([^']*)'|"([^"]*)"|(<[^>]*>)|([[\]()])|(\S+?)(?=[\s\])]|$)|(\S)/g;
  for (const m of text.matchAll(re)) words.push(m[1] ?? m[2] ?? m[3] ?? m[4] ?? m[5] ?? m[6]!);
  let i = 0;
  const sequence = (close?: string): Part[][] => {
    const alternatives: Part[][] = [[]];
    while (i < words.length) {
      const w = words[i++]!;
      if (w === close) return alternatives;
      if (close === undefined && (w === '|' || w.startsWith('>') || w === '2>&1' || w === '&&' || w === ';')) break;
      if (w === '|') alternatives.push([]);
      else if (w === '[' || w === '(') alternatives.at(-1)!.push({ optional: w === '[', alternatives: sequence(w === '[' ? ']' : ')') });
      else alternatives.at(-1)!.push(w);
    }
    return alternatives;
  };
  return sequence()[0]!;
}

/**
 * The command lines a synopsis stands for: the shortest (no optional group), the longest (every
 * group, its first alternative) and each alternative of each group on its own.
 */
export function expansions(parts: Part[]): string[][] {
  const groups: Exclude<Part, string>[] = [];
  const collect = (ps: Part[]) => {
    for (const p of ps) {
      if (typeof p === 'string') continue;
      groups.push(p);
      p.alternatives.forEach(collect);
    }
  };
  collect(parts);
  const render = (ps: Part[], choose: (g: Exclude<Part, string>) => number): string[] =>
    ps.flatMap((p) => {
      if (typeof p === 'string') return [p];
      const k = choose(p);
      return k < 0 ? [] : render(p.alternatives[k]!, choose);
    });
  const shortest = (g: Exclude<Part, string>) => (g.optional ? -1 : 0);
  const lines = [render(parts, shortest), render(parts, () => 0)];
  for (const g of groups) for (let k = 0; k < g.alternatives.length; k++) lines.push(render(parts, (h) => (h === g ? k : shortest(h))));
  return lines;
}
