import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The one definition of how a Lambda handler is bundled. The CDK NodejsFunctions
// (infra/functions.ts, infra/workflows/build.ts) and the local cloud (local/function-bundles.ts)
// both build from it, so what runs locally is byte for byte the code that deploys.
// No aws-cdk-lib here: the local cloud reads it at run time without the CDK installed.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export const FUNCTION_NAMES = ['ingest', 'catalogue', 'artefacts', 'replay', 'console', 'holds', 'export', 'export-failed', 'lock', 'window', 'purge', 'recall', 'deadman', 'fleet', 'report', 'audit-seal'] as const;
export type BundledFunctionName = (typeof FUNCTION_NAMES)[number];

/** Node major of the Lambda runtime (nodejs22.x); the tools run on the same major (package.json `node`). */
export const FUNCTION_NODE_MAJOR = 22;

/** Entry file of a function folder (`functions/{name}/handler.ts`), exporting `handler`. */
export function functionEntry(name: BundledFunctionName): string {
  return join(ROOT, 'functions', name, 'handler.ts');
}

/** The esbuild options of every function bundle, in esbuild's own terms. */
export const FUNCTION_BUNDLE = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: `node${FUNCTION_NODE_MAJOR}`,
  mainFields: ['module', 'main'],
  minify: true,
  // Minified names would reach Step Functions and logs; error names are literals too (core/errors.ts).
  keepNames: true,
  sourcemap: true,
  // The SDK is bundled, not taken from the runtime: the versions in package-lock.json are the ones tested.
  external: [] as string[],
  // ESM output with CommonJS dependencies inside: give them a `require`.
  banner: "import { createRequire as __ferryCreateRequire } from 'node:module'; const require = __ferryCreateRequire(import.meta.url);",
} as const;

/** FUNCTION_BUNDLE as esbuild's `build()` takes it (the CDK passes the same values as CLI flags). */
export function esbuildOptions(overrides: { keepNames?: boolean } = {}) {
  const { banner, ...rest } = FUNCTION_BUNDLE;
  return { ...rest, mainFields: [...rest.mainFields], external: [...rest.external], banner: { js: banner }, ...overrides };
}
