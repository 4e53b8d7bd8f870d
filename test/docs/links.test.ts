import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO } from './doc-commands.ts';

// Every relative link of the README and the docs leads somewhere: the file exists and, for
// `page.md#anchor`, the page has a heading (or an `<a id>`) with that anchor as GitHub makes it.

const PAGES = ['README.md', ...readdirSync(join(REPO, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** The lines of a page outside its code blocks, numbered from 1. */
function prose(page: string): [number, string][] {
  let fence = false;
  const lines: [number, string][] = [];
  readFileSync(join(REPO, page), 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (/^\s*```/.test(line)) fence = !fence;
      else if (!fence) lines.push([i + 1, line]);
    });
  return lines;
}

/** GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped, spaces as `-`; a repeat gets `-1`, `-2`, … */
function anchorsOf(page: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, line] of prose(page)) {
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const slug = heading
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

describe('the links of the README and the docs', () => {
  it('finds the anchors GitHub makes of headings', () => {
    expect(anchorsOf('docs/operations.md')).toContain('fleet-status-and-the-dead-mans-switch');
    expect(anchorsOf('docs/operations.md')).toContain('ferry-fleet-status');
    expect(anchorsOf('docs/deploy.md')).toContain('6-give-compliance-officers-access');
  });

  it('lead to files that exist and to anchors their pages have', () => {
    const broken: string[] = [];
    let links = 0;
    for (const page of PAGES) {
      for (const [n, line] of prose(page)) {
        for (const m of line.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
          const target = m[1]!;
          if (/^[a-z][a-z+.-]*:/i.test(target)) continue;
          links++;
          const [path, anchor] = target.split('#') as [string, string | undefined];
          const file = path === '' ? join(REPO, page) : resolve(dirname(join(REPO, page)), decodeURIComponent(path));
          if (!existsSync(file)) broken.push(`${page}:${n}: ${target}: no file ${relative(REPO, file)}`);
          else if (anchor !== undefined && file.endsWith('.md') && !anchorsOf(relative(REPO, file)).has(decodeURIComponent(anchor))) broken.push(`${page}:${n}: ${target}: ${relative(REPO, file)} has no heading with that anchor`);
        }
      }
    }
    expect(links).toBeGreaterThan(50);
    expect(broken).toEqual([]);
  });

  it('quote a command inside a code span with a longer fence (``…`ferry …`…``), not \\`ferry (GitHub ends the span at the backslash)', () => {
    const escaped = PAGES.flatMap((page) => prose(page).filter(([, line]) => /\\`[a-z]/i.test(line)).map(([n, line]) => `${page}:${n}: ${line.trim()}`));
    expect(escaped).toEqual([]);
  });
});
