import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

// `ferry start` (npm start) must run on the product's dependencies alone: an install with
// --omit=dev has no aws-cdk-lib, vitest or asl tooling of the tests. This follows the import
// graph of the start path (static and literal dynamic imports, as esbuild resolves them) from
// bin/ferry.mjs and from the functions' runtime, and lists every package it reaches.

const ROOT = join(import.meta.dirname, '..', '..');
type PackageJson = { dependencies: Record<string, string>; devDependencies: Record<string, string> };
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;

function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/')) return undefined;
  const bare = specifier.replace(/^node:/, '');
  if (specifier.startsWith('node:') || builtinModules.includes(bare.split('/')[0]!)) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

async function packagesReached(entries: string[]): Promise<string[]> {
  const result = await build({
    entryPoints: entries.map((e) => join(ROOT, e)),
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    write: false,
    outdir: join(ROOT, 'node_modules', '.cache', 'ferry-test', 'start-graph'),
    metafile: true,
    logLevel: 'silent',
  });
  const reached = new Set<string>();
  for (const input of Object.values(result.metafile.inputs)) {
    for (const imported of input.imports) {
      const name = imported.external ? packageOf(imported.path) : undefined;
      if (name) reached.add(name);
    }
  }
  return [...reached].sort();
}

describe('ferry start dependencies', () => {
  it('every package the start path imports is a dependency, none only a devDependency', async () => {
    const reached = await packagesReached(['bin/ferry.mjs', 'local/lambda-runtime.mjs']);
    expect(reached).toContain('aws-local-stepfunctions');
    expect(reached).toContain('esbuild');
    expect(reached.filter((name) => !(name in pkg.dependencies))).toEqual([]);
  });

  it('the start path does not reach the CDK (the state machines come from the generated file)', async () => {
    const reached = await packagesReached(['bin/ferry.mjs']);
    expect(reached.filter((name) => name in pkg.devDependencies)).toEqual([]);
    expect(reached).not.toContain('aws-cdk-lib');
  });
});
