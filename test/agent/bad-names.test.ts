import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { parseAgentConfig } from '../../core/config.ts';
import type { Alert } from '../../core/ports.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { artefactAgent, artefactSite, writeAt, bytesOf } from '../support/artefact-agent.ts';

// Names that are not UTF-8 (an old Windows tool's Latin-1 `é`): read as UTF-8 they become
// U+FFFD, name no file, and were dropped as "gone" without a word. Now each is reported, shown
// with its bytes, alerted, counted as not shipped (exit 1), never called lost, and the rest ships.

const latin1 = (path: string) => Buffer.from(path, 'latin1');
const old = new Date(Date.now() - 3600_000);

describe('names that are not UTF-8', () => {
  it('in a recordings root: the file and the batch directory are alerted with their bytes and not shipped; the rest of the batch ships; nothing is lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-bad-names-'));
    const rec = join(dir, 'rec');
    writeTree(rec, 1, 2, { size: 500 });
    writeFileSync(latin1(join(rec, '000001', 'caf\xe9_call.wav')), Buffer.alloc(400, 1));
    utimesSync(latin1(join(rec, '000001', 'caf\xe9_call.wav')), old, old);
    mkdirSync(latin1(join(rec, 'Queue_Fran\xe7ais')));
    writeFileSync(latin1(join(rec, 'Queue_Fran\xe7ais', 'a.wav')), Buffer.alloc(400, 2));
    const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
sources:
  - { name: cs, type: recordings, path: ${rec}, closeAfterFiles: 2, quietSeconds: 60, settleSeconds: 1 }
`);
    const alerts: Alert[] = [];
    const agent = new Agent({ config, store: new MemoryBlobStore(), clock: { now: () => new Date() }, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'etag', retryDelayMs: () => 1 });
    const report = await agent.cycle();
    agent.close();
    expect(report).toMatchObject({ packs: 1, recordings: 2, lost: 0, failed: 2 });
    expect(alerts.map((a) => [a.severity, a.subject]).sort()).toEqual([
      ['critical', 'cs: name is not valid UTF-8: 000001/caf\\xe9_call.wav'],
      ['critical', 'cs: name is not valid UTF-8: Queue_Fran\\xe7ais'],
    ]);
    expect(alerts[0]!.message).toMatch(/Rename it to UTF-8/);
  });

  it('in a rotated backup source: the selected file is alerted with its bytes and not shipped, the next pass does not alert it again', async () => {
    const s = artefactSite(`  - { name: db, type: rotated, profile: generic, patterns: ["*.bak"], path: "{root}", stableSeconds: 0 }`);
    writeAt(join(s.root, 'nightly.bak'), bytesOf(2000, 1), old);
    writeFileSync(latin1(join(s.root, 'sauvegarde_\xe9t\xe9.bak')), bytesOf(2000, 2));
    utimesSync(latin1(join(s.root, 'sauvegarde_\xe9t\xe9.bak')), old, old);
    writeFileSync(latin1(join(s.root, 'notes_\xe9.txt')), 'not selected');
    const h = artefactAgent(s.config, new MemoryBlobStore());
    const first = await h.agent.cycle();
    expect(first).toMatchObject({ artefacts: 1, lost: 0, failed: 1 });
    expect(h.alerts.map((a) => a.subject)).toEqual(['db: name is not valid UTF-8: sauvegarde_\\xe9t\\xe9.bak']);
    await h.agent.cycle();
    expect(h.alerts).toHaveLength(1);
    h.agent.close();
  });
});
