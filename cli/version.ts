import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// Which Ferry this is: the package's version and the commit it was built from
// (`0.1.0+1f1df96`), so that an operator can tell which sites run which agent (the heartbeat's
// `agentVersion`, the fleet view) and what `ferry --version` prints. The single-file bundle has
// it written in at build time (scripts/build-agent.mjs); run from the sources, it is read from
// package.json and the checkout's .git, without running git (an agent start stays light).

declare const __FERRY_VERSION__: string | undefined;

const ROOT = join(import.meta.dirname, '..');

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The commit HEAD names in a checkout's .git (a branch's ref, loose or packed, or a detached HEAD), short; undefined outside a checkout. */
export function headCommit(root: string): string | undefined {
  const head = read(join(root, '.git', 'HEAD'))?.trim();
  if (!head) return undefined;
  const ref = /^ref: (.+)$/.exec(head)?.[1];
  const sha = ref === undefined ? head : (read(join(root, '.git', ref))?.trim() ?? read(join(root, '.git', 'packed-refs'))?.split('\n').find((l) => l.endsWith(` ${ref}`))?.split(' ')[0]);
  return sha && /^[0-9a-f]{40}$/.test(sha) ? sha.slice(0, 7) : undefined;
}

function sourceVersion(): string {
  let version = '0.0.0';
  try {
    version = (JSON.parse(read(join(ROOT, 'package.json')) ?? '{}') as { version?: string }).version ?? version;
  } catch {
    // a damaged package.json leaves the version unknown, not the agent stopped
  }
  const commit = headCommit(ROOT);
  return commit ? `${version}+${commit}` : version;
}

export const FERRY_VERSION: string = typeof __FERRY_VERSION__ === 'string' ? __FERRY_VERSION__ : sourceVersion();
