import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';

// Where in the file a configuration problem stands: the line of the setting a problem names by
// its path (`sources[1].quietSeconds: …` → the line of `quietSeconds:` in the second source), so
// that an administrator editing a long file by hand goes straight to it. A problem whose setting
// is absent (a required key left out) stands at the line of the nearest setting above it that is
// there (the source it belongs to); one whose whole section is absent has none.

type Segment = string | number;

/** `sources[1].quietSeconds` → ['sources', 1, 'quietSeconds']; undefined for text that is not such a path. */
export function pathOfProblem(problem: string): Segment[] | undefined {
  const m = /^([A-Za-z_][\w-]*(?:\[\d+\]|\.[A-Za-z_][\w-]*)*):/.exec(problem);
  if (!m) return undefined;
  const out: Segment[] = [];
  for (const part of (m[1] as string).matchAll(/([A-Za-z_][\w-]*)|\[(\d+)\]/g)) out.push(part[2] !== undefined ? Number(part[2]) : (part[1] as string));
  return out;
}

/** The first unknown key a problem names (`unknown key(s) "packConcurency" …`), whose own line is the one to show. */
function unknownKeyOf(problem: string): string | undefined {
  return /: unknown key\(s\) "([^"]+)"/.exec(problem)?.[1];
}

/**
 * The line (1-based) of each problem in the YAML `text`, or undefined where the problem names no
 * setting of the file (or the text is not YAML).
 */
export function problemLines(text: string, problems: readonly string[]): (number | undefined)[] {
  const counter = new LineCounter();
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, { lineCounter: counter });
  } catch {
    return problems.map(() => undefined);
  }
  if (doc.errors.length > 0) return problems.map(() => undefined);
  const lineAt = (node: Node | null | undefined) => (node?.range ? counter.linePos(node.range[0]).line : undefined);
  return problems.map((problem) => {
    const path = pathOfProblem(problem);
    if (!path) return undefined;
    const unknown = unknownKeyOf(problem);
    if (unknown !== undefined) path.push(unknown);
    let node: unknown = doc.contents;
    // A setting not in the file at all (a whole section left out) has no line.
    let line: number | undefined;
    for (const [i, segment] of path.entries()) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === segment);
        if (!pair) break;
        // The key's line: where the setting is written (its value may start on the next line).
        line = lineAt(pair.key as Node) ?? line;
        node = pair.value;
        // A key written with no value: its line is the answer.
        if (node === null && i === path.length - 1) break;
      } else if (isSeq(node) && typeof segment === 'number') {
        const item = node.items[segment];
        if (item === undefined) break;
        node = item;
        line = lineAt(item as Node) ?? line;
      } else break;
    }
    return line;
  });
}
