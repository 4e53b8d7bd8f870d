#!/usr/bin/env node
// Entry point of the `ferry` command.
// The agent is a long-running service on the recorder's site: it runs from a prebuilt bundle
// (`npm run build`, run by `npm install`), which starts in a fraction of the time and memory of
// compiling TypeScript at start-up. The bundle is used only when it is newer than every
// source file, so a changed tree never runs stale code. Everything else runs from source.
import { statSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

// The AWS SDK warns on Node 20 about future releases; the pinned versions support it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const bundle = join(root, 'dist', 'ferry-agent.mjs');

function bundleIsFresh() {
  let built;
  try {
    built = statSync(bundle).mtimeMs;
  } catch {
    return false;
  }
  for (const dir of ['core', 'adapters', 'agent', 'cli', 'functions', 'local']) {
    for (const name of readdirSync(join(root, dir), { recursive: true })) {
      if (String(name).endsWith('.ts') && statSync(join(root, dir, String(name))).mtimeMs > built) return false;
    }
  }
  return true;
}

let main;
if (args.find((a) => !a.startsWith('-')) === 'agent' && process.env.FERRY_FROM_SOURCE === undefined && bundleIsFresh()) {
  ({ main } = await import(bundle));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/main.ts'));
}
process.exitCode = await main(args);
