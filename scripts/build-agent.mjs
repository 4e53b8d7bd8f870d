// Builds the single-file agent (`npm run build`): cli/agent-entry.ts and everything it imports, in
// one ES module that Node.js 22 runs alone (docs/operations.md, "A site host needs no npm install").
// Usage: node scripts/build-agent.mjs --outfile=dist/ferry-agent.mjs
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = fileURLToPath(new URL('..', import.meta.url));

/** `0.1.0+1f1df96`: package.json's version and the checkout's commit (the version alone outside a git checkout). */
function ferryVersion() {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const commit = spawnSync('git', ['rev-parse', '--short=7', 'HEAD'], { cwd: root, encoding: 'utf8' });
  return commit.status === 0 && /^[0-9a-f]{7}$/.test(commit.stdout.trim()) ? `${version}+${commit.stdout.trim()}` : version;
}
const outfile = process.argv.slice(2).find((a) => a.startsWith('--outfile='))?.slice('--outfile='.length);
if (!outfile) {
  console.error('usage: node scripts/build-agent.mjs --outfile=PATH');
  process.exit(2);
}

/**
 * Built-in modules taken with `require`, not imported as ES modules. Importing one as an ES module
 * reads every export to build its facade, lazy ones included: `node:http`'s WebSocket getter
 * loads undici, which the agent never uses (50 ms in a bare `node`; 18 ms of an agent start,
 * whose other modules load part of the same). `node:net` and `node:https` cost less, in the same
 * way. The SDK's HTTP handler imports them so.
 */
const REQUIRED_BUILTINS = /^node:(http|https|net|tls)$/;

const builtinsByRequire = {
  name: 'builtins-by-require',
  setup(b) {
    b.onResolve({ filter: REQUIRED_BUILTINS }, (args) => (args.namespace === 'builtin' ? { path: args.path, external: true } : { path: args.path, namespace: 'builtin' }));
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

await build({
  absWorkingDir: root,
  entryPoints: ['cli/agent-entry.ts'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  mainFields: ['module', 'main'],
  outfile,
  logLevel: 'warning',
  // The bundle's CommonJS modules (and the built-ins above) need a `require`.
  banner: { js: "import{createRequire as __ferryRequire}from'node:module';const require=__ferryRequire(import.meta.url);" },
  plugins: [builtinsByRequire],
  // Which Ferry this is (cli/version.ts): the package's version and the commit built.
  define: { __FERRY_VERSION__: JSON.stringify(ferryVersion()) },
});
