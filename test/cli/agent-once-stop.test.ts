import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onceSummary } from '../../cli/agent-commands.ts';
import { emptyReport } from '../../agent/agent-types.ts';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { writeTree } from '../support/recorder-tree.ts';

// `agent run --once` stopped by a person (Ctrl-C) or by cron's `timeout` (SIGTERM) in the middle
// of a long catch-up: it says at once that it is stopping, takes no new batch, and says what it left.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
let dir: string;
let s3: LocalS3;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-once-stop-'));
  s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: ['ferry-data'] });
});
afterAll(async () => {
  await s3.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('agent run --once, stopped', () => {
  it('says at once that it is stopping on the first signal, takes no new batch, ends within seconds naming what it left, and a second signal stops at once (130)', async () => {
    const rec = join(dir, 'rec');
    mkdirSync(rec);
    writeTree(rec, 40, 5, { size: 20_000 });
    const file = join(dir, 'agent.yaml');
    writeFileSync(
      file,
      `site: site-a
state: ${join(dir, 'state')}
cloud: { bucket: ferry-data, endpoint: "${s3.endpoint}", credentials: { accessKeyId: ${s3.credentials.accessKeyId}, secretAccessKey: ${s3.credentials.secretAccessKey} } }
shipping: { packConcurrency: 1 }
bandwidth: { default: 100KiB/s }
sources:
  - { name: cs, type: recordings, path: ${rec}, closeAfterFiles: 5, quietSeconds: 60, settleSeconds: 1 }
`,
    );
    const child = spawn(process.execPath, [BIN, 'agent', 'run', '--once', '--config', file, '--json-logs'], { env: { ...process.env, FERRY_HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const lines: { at: number; text: string }[] = [];
    for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on('line', (text) => lines.push({ at: Date.now(), text }));
    for (let i = 0; i < 300 && !lines.some((l) => l.text.includes('"pack published"')); i++) await new Promise((r) => setTimeout(r, 100));
    const sent = Date.now();
    child.kill('SIGTERM');
    const code = await exited;
    const stopping = lines.find((l) => l.text.includes('stopping: no new batch is taken'));
    expect(stopping, lines.map((l) => l.text).join('\n')).toBeDefined();
    expect(stopping!.at - sent).toBeLessThan(2000);
    const done = JSON.parse(lines.find((l) => l.text.includes('"pass complete"'))!.text) as { packs: number; more?: boolean };
    expect(done.packs).toBeLessThan(40);
    expect(code).toBe(0);
    // A second signal does not wait for the uploads in flight.
    const again = spawn(process.execPath, [BIN, 'agent', 'run', '--once', '--config', file, '--json-logs'], { env: { ...process.env, FERRY_HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    const againExited = new Promise<number | null>((resolve) => again.on('exit', (c) => resolve(c)));
    const againLines: string[] = [];
    for (const stream of [again.stdout, again.stderr]) createInterface({ input: stream }).on('line', (text) => againLines.push(text));
    for (let i = 0; i < 300 && !againLines.some((l) => l.includes('"pack published"')); i++) await new Promise((r) => setTimeout(r, 100));
    again.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 200));
    again.kill('SIGINT');
    expect(await againExited).toBe(130);
    expect(againLines.some((l) => l.includes('stopped at once'))).toBe(true);
  }, 90_000);

  it('names every kind of thing a pass shipped, and what a stop left', () => {
    const r = { ...emptyReport(), packs: 2, recordings: 200, bytes: 2048, artefacts: 3, artefactBytes: 5 * 1024 * 1024, manifests: ['manifests/s/trees/meetings/2026/12/05/s0123456789abcdef0123456.json'] };
    r.sources = [{ name: 'cs', type: 'recordings', backlog: { batches: 80, recordings: 8000, bytes: 1 }, lastScan: '' }];
    expect(onceSummary(r, true)).toBe('shipped 2 pack(s), 200 recording(s), 2.0 KB; 3 backup/log/archive file(s), 5.2 MB; 1 file-share snapshot(s); failed 0; lost 0; stopped early: 80 batch(es) left for the next run');
    expect(onceSummary({ ...emptyReport() })).toBe('shipped 0 pack(s), 0 recording(s), 0 B; failed 0; lost 0');
  });
});
