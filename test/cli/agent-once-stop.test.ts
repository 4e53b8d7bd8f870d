import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onceSummary } from '../../cli/agent-commands.ts';
import { onStopSignals } from '../../cli/interrupt.ts';
import { emptyReport } from '../../agent/agent-types.ts';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { localS3AgentConfig, spawnFerry, untilLogged } from '../support/local-s3-agent.ts';

// `agent run --once` stopped by a person (Ctrl-C) or by cron's `timeout` (SIGTERM) in the middle
// of a long catch-up: it says at once that it is stopping, takes no new batch, and says what it left.

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
    const file = localS3AgentConfig(join(dir, 'agent.yaml'), s3, { site: 'site-a', state: join(dir, 'state'), root: rec, closeAfterFiles: 5, extra: 'shipping: { packConcurrency: 1 }\nbandwidth: { default: 25KiB/s }\n' });
    const env = { ...process.env, FERRY_HOME: dir };
    const run = spawnFerry(['agent', 'run', '--once', '--config', file, '--json-logs'], env);
    expect(await untilLogged(run, '"pack published"')).toBe(true);
    const sent = Date.now();
    run.child.kill('SIGTERM');
    const code = await run.exited;
    const stopping = run.lines.find((l) => l.text.includes('stopping: no new batch is taken'));
    expect(stopping, run.lines.map((l) => l.text).join('\n')).toBeDefined();
    expect(stopping!.at - sent).toBeLessThan(2000);
    const done = JSON.parse(run.lines.find((l) => l.text.includes('"pass complete"'))!.text) as { packs: number };
    expect(done.packs).toBeLessThan(40);
    expect(code).toBe(0);
    // A second signal does not wait for the uploads in flight.
    const again = spawnFerry(['agent', 'run', '--once', '--config', file, '--json-logs'], env);
    expect(await untilLogged(again, '"pack published"')).toBe(true);
    again.child.kill('SIGINT');
    // A repeat within a second is the same request (a Ctrl-C reaches the launcher too, which passes it on):
    // the second comes more than a second after the agent took the first (said it is stopping), not
    // after the test sent it (a loaded agent may take the first late, and the two a second apart as one).
    expect(await untilLogged(again, 'stopping: no new batch is taken')).toBe(true);
    await new Promise((r) => setTimeout(r, 1200));
    again.child.kill('SIGINT');
    expect(await again.exited).toBe(130);
    expect(again.lines.some((l) => l.text.includes('stopped at once'))).toBe(true);
  }, 90_000);

  it('stops cleanly, not at once, on one Ctrl-C at a terminal through the launcher (the command and the launcher that passes it on both get it)', async () => {
    const rec = join(dir, 'rec-launcher');
    mkdirSync(rec);
    writeTree(rec, 20, 5, { size: 20_000 });
    const file = localS3AgentConfig(join(dir, 'agent-launcher.yaml'), s3, { site: 'site-b', state: join(dir, 'state-launcher'), root: rec, closeAfterFiles: 5, extra: 'shipping: { packConcurrency: 1 }\nbandwidth: { default: 25KiB/s }\n' });
    // FERRY_NODE makes bin/ferry.mjs hand the command to another Node, as a system Node 20 does.
    const run = spawnFerry(['agent', 'run', '--once', '--config', file, '--json-logs'], { ...process.env, FERRY_HOME: dir, FERRY_NODE: process.execPath }, { group: true });
    expect(await untilLogged(run, '"pack published"')).toBe(true);
    process.kill(-run.child.pid!, 'SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.lines.some((l) => l.text.includes('stopping: no new batch is taken'))).toBe(true);
    expect(run.lines.some((l) => l.text.includes('stopped at once'))).toBe(false);
  }, 90_000);

  it("takes a signal within a second of the first as the same request (a Ctrl-C reaches the command and the launcher that passes it on), and a later one as a second", async () => {
    const calls: [string, boolean][] = [];
    const off = onStopSignals((signal, again) => void calls.push([signal, again]));
    try {
      process.emit('SIGINT', 'SIGINT');
      process.emit('SIGINT', 'SIGINT');
      expect(calls).toEqual([['SIGINT', false]]);
      await new Promise((r) => setTimeout(r, 1100));
      process.emit('SIGTERM', 'SIGTERM');
      expect(calls).toEqual([['SIGINT', false], ['SIGTERM', true]]);
    } finally {
      off();
    }
  });

  it('names every kind of thing a pass shipped, and what a stop left', () => {
    const r = { ...emptyReport(), packs: 2, recordings: 200, bytes: 2048, artefacts: 3, artefactBytes: 5 * 1024 * 1024, manifests: ['manifests/s/trees/meetings/2026/12/05/s0123456789abcdef0123456.json'] };
    r.sources = [{ name: 'cs', type: 'recordings', backlog: { batches: 80, recordings: 8000, bytes: 1 }, lastScan: '' }];
    expect(onceSummary(r, true)).toBe('shipped 2 pack(s), 200 recording(s), 2.0 KB; 3 backup/log/archive file(s), 5.2 MB; 1 file-share snapshot(s); failed 0; lost 0; stopped early: 80 batch(es) left for the next run');
    expect(onceSummary({ ...emptyReport() })).toBe('shipped 0 pack(s), 0 recording(s), 0 B; failed 0; lost 0');
  });
});
