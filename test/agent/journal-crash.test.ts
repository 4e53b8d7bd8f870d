import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { parseManifest } from '../../core/manifest.ts';
import type { BlobStore } from '../../core/ports.ts';
import { buildStore } from '../../cli/build-agent.ts';
import { readAll } from '../../agent/recover.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { countingPacks, journalCrashAgent } from '../support/journal-crash.ts';

// The journal's lines are synced through the thread pool while other packs go on. A crash
// between a line's write and its sync loses the line (it never reached the disk), and the step
// it guards must not have been taken: the restarted agent then ships every batch exactly once.
// The first agent runs in a process of its own that kills itself (SIGKILL) right there
// (test/support/journal-crash-child.ts): nothing of it goes on after the crash, as after a
// kill -9 or a power cut, so whatever the restart finds is what the crash left.

const REPO = join(import.meta.dirname, '../..');
const CHILD = join(REPO, 'test/support/journal-crash-child.ts');
// The first agent's process loads the agent and the SDK through tsx: seconds of CPU, 20 s on two loaded cores.
const CHILD_TEST_MS = 90_000;
let s3: LocalS3;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-journal-crash-'));
  s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: ['ferry-data'] });
});
afterAll(async () => {
  await s3?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A site of three batches of ten recordings, shipping to the local S3; each test has its own. */
function site(name: string) {
  const root = join(dir, name, 'recorder');
  mkdirSync(root, { recursive: true });
  writeTree(root, 3, 10);
  const configFile = join(dir, name, 'agent.yaml');
  writeFileSync(configFile, `
site: ${name}
state: ${join(dir, name, 'state')}
cloud: { bucket: ferry-data, endpoint: "${s3.endpoint}", credentials: { accessKeyId: ${s3.credentials.accessKeyId}, secretAccessKey: ${s3.credentials.secretAccessKey} } }
shipping: { partSizeMiB: 5, packConcurrency: 2, partConcurrency: 2, attempts: 3 }
sources:
  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 10, quietSeconds: 60, settleSeconds: 1 }
`);
  const config = parseAgentConfig(readFileSync(configFile, 'utf8'), configFile);
  return { name, configFile, config, store: buildStore(config).store, journalFile: join(config.state, 'journal.jsonl') };
}

async function manifests(store: BlobStore, name: string) {
  const out = [];
  for await (const o of store.list(`manifests/${name}/`)) out.push(parseManifest(await readAll(store, o.key)));
  return out;
}

/**
 * A site whose first agent, in its own process, died (SIGKILL) at the first sync of a line
 * holding `line`: the site, and the packs that agent sent (`sent`, to which the restarted
 * agent's `spy` adds its own).
 */
async function killedAt(name: string, line: string) {
  const s = site(name);
  const sentFile = join(dir, name, 'first-sent.txt');
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, s.configFile, line, sentFile], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) stream.on('data', (d: Buffer) => (output += d.toString()));
  const signal = await new Promise<string | null>((resolve, reject) => child.on('error', reject).on('exit', (_code, sig) => resolve(sig)));
  expect(signal, `the first agent was to die at the sync of ${line}; it said:\n${output}`).toBe('SIGKILL');
  const sent = existsSync(sentFile) ? readFileSync(sentFile, 'utf8').split('\n').filter(Boolean) : [];
  return { s, sent, spy: countingPacks(s.store, (key) => sent.push(key)) };
}

describe('journal crash safety', () => {
  it('killed between the begin line’s write and its sync: nothing was sent for the pack, and the restart ships each batch once', async () => {
    const { s, sent, spy } = await killedAt('begin', '"e":"begin"');
    expect(sent).toEqual([]);
    expect(readFileSync(s.journalFile, 'utf8')).not.toContain('"e":"begin"');

    const second = journalCrashAgent(s.config, spy);
    expect(await second.cycle()).toMatchObject({ packs: 3, recordings: 30, failed: 0 });
    const ms = await manifests(s.store, s.name);
    expect(ms.map((m) => m.batch.path).sort()).toEqual(['000001', '000002', '000003']);
    expect(ms.every((m) => m.superseded === undefined)).toBe(true);
    expect(sent).toHaveLength(3);
    second.close();
  }, CHILD_TEST_MS);

  it('killed between the published line’s write and its sync: the restart finds the manifest and does not ship that pack again', async () => {
    const { s, sent, spy } = await killedAt('published', '"e":"published"');
    expect(readFileSync(s.journalFile, 'utf8')).not.toContain('"e":"published"');
    // What was published when the agent died: at least the pack whose published line was lost.
    const before = new Map((await manifests(s.store, s.name)).map((m) => [m.batch.path, m.packKey]));
    expect(before.size).toBeGreaterThanOrEqual(1);
    const sentByFirst = [...sent];

    const second = journalCrashAgent(s.config, spy);
    expect(second.statusSnapshot().inflight).toBeGreaterThanOrEqual(1);
    const report = await second.cycle();
    expect(report.failed).toBe(0);
    const ms = await manifests(s.store, s.name);
    expect(ms.map((m) => m.batch.path).sort()).toEqual(['000001', '000002', '000003']);
    // Every pack was sent once: the ones published before the crash (the one whose published line
    // was lost among them) were recovered, not re-shipped; their manifests are those of the crash.
    expect(new Set(sent).size).toBe(sent.length);
    for (const m of ms) if (before.has(m.batch.path)) expect({ batch: m.batch.path, packKey: m.packKey, superseded: m.superseded }).toEqual({ batch: m.batch.path, packKey: before.get(m.batch.path) });
    // The other pack worker's pack, when the crash came after its PUT and before its manifest, is
    // shipped again on its next attempt key, and its manifest names the dead attempt (purged with it).
    for (const m of ms.filter((m) => m.superseded !== undefined)) expect(sentByFirst, m.batch.path).toEqual(expect.arrayContaining(m.superseded ?? []));
    expect(second.statusSnapshot()).toMatchObject({ inflight: 0, totals: { packs: 3, recordings: 30 } });
    second.close();
  }, CHILD_TEST_MS);
});
