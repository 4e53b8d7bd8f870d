import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, version as esbuildVersion } from 'esbuild';
import { FUNCTION_BUNDLE, FUNCTION_NAMES, esbuildOptions, functionEntry, type BundledFunctionName } from '../infra/function-bundling.ts';

// The function bundles the local cloud runs: built from infra/function-bundling.ts, the very
// options the CDK NodejsFunctions deploy with (minified, keepNames, node22, ESM, SDK bundled),
// into a cache directory. A bundle is rebuilt only when one of its input files or the options
// changed, so a start after the first costs a few file stats.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Where bundles go unless told otherwise (inside node_modules: bare imports resolve, git ignores it). */
const BUNDLE_CACHE = join(ROOT, 'node_modules', '.cache', 'ferry-functions');

interface Stamp {
  key: string;
  inputs: Record<string, { size: number; mtimeMs: number }>;
}

/**
 * What a cached bundle was built for besides its inputs: the options, esbuild's version and the
 * checkout. Two checkouts can share one cache (a node_modules linked into a second clone);
 * without the checkout in the key, one would run the other's bundles, since each stamp's inputs
 * are the other checkout's files, unchanged.
 */
export function bundleCacheKey(root = ROOT): string {
  return createHash('sha256').update(JSON.stringify({ FUNCTION_BUNDLE, esbuildVersion, root })).digest('hex');
}

/**
 * This checkout's bundle directory in the cache: one per key, so that two checkouts sharing a
 * node_modules never write the same file. Without it, a local cloud of one checkout that started
 * a function after the other rebuilt it loaded the other's code.
 */
export const DEFAULT_BUNDLE_DIR = join(BUNDLE_CACHE, bundleCacheKey().slice(0, 16));

/** Whole files only: tests and processes building at once never load a half-written bundle. */
function writeAtomically(path: string, contents: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
}

function isFresh(stampFile: string, key: string): boolean {
  let stamp: Stamp;
  try {
    stamp = JSON.parse(readFileSync(stampFile, 'utf8')) as Stamp;
  } catch {
    return false;
  }
  if (stamp.key !== key) return false;
  for (const [file, seen] of Object.entries(stamp.inputs)) {
    try {
      const st = statSync(file);
      if (st.size !== seen.size || st.mtimeMs !== seen.mtimeMs) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** Builds made or checked in this process, by output file: each bundle is built at most once per process. */
const built = new Map<string, Promise<void>>();

async function buildOne(name: BundledFunctionName, dir: string, key: string): Promise<void> {
  const outfile = join(dir, name, 'index.mjs');
  const stampFile = join(dir, name, 'inputs.json');
  if (isFresh(stampFile, key)) return;
  const entryPoints = [functionEntry(name)];
  const how = { metafile: true, write: false, absWorkingDir: ROOT, logLevel: 'error' } as const;
  const result = await build({ ...esbuildOptions(), entryPoints, outfile, ...how });
  // The source map first, so a loaded bundle always finds its own map.
  const isMap = (f: { path: string }) => f.path.endsWith('.map');
  const ordered = [...result.outputFiles.filter(isMap), ...result.outputFiles.filter((f) => !isMap(f))];
  for (const file of ordered) writeAtomically(file.path, file.contents);
  const inputs: Stamp['inputs'] = {};
  for (const input of Object.keys(result.metafile.inputs)) {
    const file = resolve(ROOT, input);
    const st = statSync(file);
    inputs[file] = { size: st.size, mtimeMs: st.mtimeMs };
  }
  writeAtomically(stampFile, JSON.stringify({ key, inputs } satisfies Stamp));
}

/**
 * Builds (or reuses) the bundle of each named function; returns the path of each `.mjs`.
 * Every bundle exports `handler`, exactly as Lambda loads it. Within one process a bundle is
 * built (or found fresh) once: the workflow and API functions of a local cloud share it.
 */
export async function buildFunctionBundles(
  names: readonly BundledFunctionName[] = FUNCTION_NAMES,
  options: { dir?: string } = {},
): Promise<Record<BundledFunctionName, string>> {
  const dir = options.dir ?? DEFAULT_BUNDLE_DIR;
  mkdirSync(dir, { recursive: true });
  const paths = {} as Record<BundledFunctionName, string>;
  const key = bundleCacheKey();
  for (const name of names) {
    const outfile = join(dir, name, 'index.mjs');
    paths[name] = outfile;
    let building = built.get(outfile);
    if (!building) {
      building = buildOne(name, dir, key);
      built.set(outfile, building);
      // A failed build is tried again by the next caller.
      building.catch(() => built.delete(outfile));
    }
    await building;
  }
  return paths;
}
