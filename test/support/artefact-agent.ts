import { mkdtempSync, mkdirSync, writeFileSync, utimesSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import { parseArtefactManifest, type ArtefactManifest } from '../../core/artefact.ts';
import { isArtefactManifestKey } from '../../core/layout.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { Agent, type AgentDeps } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { readAll } from '../../agent/recover.ts';

// Harness for artefact-source tests: a site directory, a config with one source, an agent on a
// ManualClock whose every file open is recorded, and readers for what reached the store.

export interface ArtefactSite {
  dir: string;
  /** The source's directory. */
  root: string;
  config: AgentConfig;
}

/** `source` is the YAML of one source (indented under `sources:`), `{root}` replaced by its path. */
export function artefactSite(source: string, shipping = '{ partSizeMiB: 5, attempts: 3 }'): ArtefactSite {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-art-'));
  const root = join(dir, 'site');
  mkdirSync(root);
  const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: ${shipping}
sources:
${source.replaceAll('{root}', root)}
`);
  return { dir, root, config };
}

export interface Harness {
  agent: Agent;
  clock: ManualClock;
  alerts: Alert[];
  /** Every path the agent opened, in order. */
  opened: string[];
  /** Closes every file the agent still holds open, as the OS does for a process that died. */
  closeFiles(): Promise<void>;
}

export function artefactAgent(config: AgentConfig, store: BlobStore, options: { clock?: ManualClock; openFile?: AgentDeps['openFile']; log?: AgentDeps['log'] } = {}): Harness {
  const clock = options.clock ?? new ManualClock(new Date());
  const alerts: Alert[] = [];
  const opened: string[] = [];
  const handles: FileHandle[] = [];
  const agent = new Agent({
    config,
    store,
    clock,
    log: options.log ?? silentLogger,
    notifier: { notify: async (a) => void alerts.push(a) },
    verify: 'read-back',
    retryDelayMs: () => 1,
    openFile: async (path, flags) => {
      opened.push(path);
      const handle = await (options.openFile ?? open)(path, flags);
      handles.push(handle);
      return handle;
    },
  });
  const closeFiles = async () => void (await Promise.allSettled(handles.map((h) => h.close())));
  return { agent, clock, alerts, opened, closeFiles };
}

/** Writes a file and sets its mtime (and atime) to `at`. */
export function writeAt(path: string, bytes: Uint8Array | string, at: Date): void {
  writeFileSync(path, bytes);
  utimesSync(path, at, at);
}

/** Artefact manifests in the store, in key order. */
export async function artefactManifests(store: BlobStore): Promise<ArtefactManifest[]> {
  const out: ArtefactManifest[] = [];
  for await (const o of store.list('manifests/')) if (isArtefactManifestKey(o.key)) out.push(parseArtefactManifest(await readAll(store, o.key)));
  return out;
}

/** Every object key under a prefix, but the agent's heartbeats (one per pass, and the day's first kept apart: written whatever was shipped). */
export async function keys(store: BlobStore, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) if (!/^heartbeats(-daily)?\//.test(o.key)) out.push(o.key);
  return out;
}

export async function openUploads(store: BlobStore): Promise<string[]> {
  const out: string[] = [];
  for await (const u of store.listMultipart('')) out.push(u.key);
  return out;
}

/** Deterministic bytes of a given size, different per seed. */
export function bytesOf(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}
