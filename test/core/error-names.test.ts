import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { FUNCTION_BUNDLE, esbuildOptions } from '../../infra/function-bundling.ts';
import { ERROR_SAMPLES } from '../support/error-samples.ts';

// Error names are what Step Functions' ErrorEquals, Lambda's errorType and the HTTP error
// middleware match on. The functions deploy minified, so a name taken from the class at run
// time (new.target.name) would be whatever the minifier called it: each class carries its
// name as a literal, and this holds in a minified bundle even without keepNames.

const ROOT = join(import.meta.dirname, '..', '..');
const SOURCE_DIRS = ['core', 'adapters', 'agent', 'functions', 'local', 'cli', 'infra', 'scripts'];

/** Every exported class in the source tree whose ancestry reaches Error. */
function exportedErrorClasses(): string[] {
  const parents = new Map<string, string>();
  const exported = new Set<string>();
  for (const dir of SOURCE_DIRS) {
    for (const file of readdirSync(join(ROOT, dir), { recursive: true }).map(String)) {
      if (!file.endsWith('.ts')) continue;
      const text = readFileSync(join(ROOT, dir, file), 'utf8');
      for (const m of text.matchAll(/^(export )?(?:abstract )?class (\w+)(?:<[^>]*>)? extends (\w+)/gm)) {
        parents.set(m[2]!, m[3]!);
        if (m[1]) exported.add(m[2]!);
      }
    }
  }
  const isError = (name: string, depth = 0): boolean =>
    name === 'Error' || (depth < 20 && parents.has(name) && isError(parents.get(name)!, depth + 1));
  return [...exported].filter((c) => isError(c)).sort();
}

async function bundledNames(options: { keepNames: boolean }): Promise<{ cls: string; name: string }[]> {
  const dir = join(ROOT, 'node_modules', '.cache', 'ferry-test');
  mkdirSync(dir, { recursive: true });
  const outfile = join(dir, `error-samples-${options.keepNames ? 'kept' : 'minified'}.mjs`);
  const entryPoints = [join(ROOT, 'test', 'support', 'error-samples.ts')];
  await build({ ...esbuildOptions({ keepNames: options.keepNames }), sourcemap: false, packages: 'external', entryPoints, outfile, logLevel: 'error' });
  const bundle = (await import(`${pathToFileURL(outfile).href}?t=${Date.now()}`)) as { sampleNames(): { cls: string; name: string }[] };
  return bundle.sampleNames();
}

describe('error names', () => {
  const expected = ERROR_SAMPLES.map((s) => ({ cls: s.cls, name: s.name }));

  it('the samples cover every exported error class of the source tree', () => {
    expect(ERROR_SAMPLES.map((s) => s.cls).sort()).toEqual(exportedErrorClasses());
  });

  it('every error class declares its name as a string literal (no name taken from the class at run time)', () => {
    const offenders: string[] = [];
    for (const dir of SOURCE_DIRS) {
      for (const file of readdirSync(join(ROOT, dir), { recursive: true }).map(String)) {
        const path = join(ROOT, dir, file);
        if (file.endsWith('.ts') && /new\.target\.name|this\.constructor\.name/.test(readFileSync(path, 'utf8'))) offenders.push(relative(ROOT, path));
      }
    }
    expect(offenders).toEqual([]);
  });

  it('each error carries its intended name when run from source', () => {
    expect(ERROR_SAMPLES.map((s) => ({ cls: s.cls, name: s.make().name }))).toEqual(expected);
  });

  it('each error keeps its name in a minified bundle built without keepNames', async () => {
    expect(await bundledNames({ keepNames: false })).toEqual(expected);
  });

  it('each error keeps its name in a bundle built with the functions’ own options', async () => {
    expect(await bundledNames({ keepNames: FUNCTION_BUNDLE.keepNames })).toEqual(expected);
  });
});
