import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import type { ArtefactSourceStatus } from '../../agent/artefact-runner.ts';
import { silentLogger } from '../../agent/log.ts';
import { collectStatus, renderStatus } from '../../cli/agent-commands.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { writeAt } from '../support/artefact-agent.ts';
import { binlogSegment } from '../support/binlog-bytes.ts';

// A DBA's `agent status` read "lost 2 backup/log version(s)" at the top and "cc-binlog … 1 lost"
// on the source's line. The source's line came from status.json, whose source status is taken as
// the source's share of the pass ends, and a binlog gap's purged segments are recorded lost after
// every source's share (settleGaps: a full shipped in the same pass may bridge it): the pass that
// found the gap showed it on the source's line only one pass later. The line also counted loss
// records, where the top counts versions: a gap of two segments is one record.

const T0 = 1_790_000_000;
const segName = (n: number) => `mysql-bin.${String(n).padStart(6, '0')}`;
function writeSegment(root: string, n: number, active = false): void {
  const start = T0 + n * 100;
  const events = [1, 2, 3].map((i) => ({ ts: start + 10 * i }));
  const last = start + 30 + (active ? 0 : 5);
  writeAt(join(root, segName(n)), binlogSegment({ startTs: start, events, ...(active ? { inUse: true } : { rotateTo: { name: segName(n + 1), ts: last } }) }), new Date(last * 1000));
}

describe("a binlog source's lost count", () => {
  it('agrees with the top line in the very pass that found a gap of two purged segments: 2 versions on both, in status.json and `agent status`', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-binlog-lost-'));
    const root = join(dir, 'binlogs');
    mkdirSync(root);
    // Segments 3 and 4 purged by the server before any pass saw them: a gap.
    for (const n of [1, 2, 5, 6]) writeSegment(root, n, n === 6);
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, `site: site-a\nstate: ${join(dir, 'state')}\nshipping: { partSizeMiB: 5, attempts: 1 }\nsources:\n  - { name: cc-binlog, type: binlog, path: ${root}, basename: mysql-bin, partialIntervalSeconds: 0 }\n`);
    const config = parseAgentConfig(readFileSync(file, 'utf8'), file);
    const agent = new Agent({ config, store: new MemoryBlobStore(), clock: new ManualClock(new Date()), log: silentLogger, notifier: { notify: async () => undefined }, verify: 'read-back', retryDelayMs: () => 1 });
    try {
      expect((await agent.cycle()).lost).toBe(2);
      const snapshot = agent.statusSnapshot();
      expect(snapshot.totals.lostArtefacts).toBe(2);
      expect((snapshot.sources[0] as ArtefactSourceStatus).lost).toBe(2);
    } finally {
      agent.close();
    }
    const status = await collectStatus(file);
    expect(status.totals.lostArtefacts).toBe(2);
    expect(status.artefactSources[0]).toMatchObject({ name: 'cc-binlog', lost: 2 });
    const text = renderStatus(status);
    expect(text).toMatch(/^lost\s+2 backup\/log version\(s\)$/m);
    expect(text).toMatch(/^cc-binlog \(binlog\) .*, 2 lost; GAP in segments 3-4/m);
  });

  it('says in `agent status` which full backup bridged a gap once its alert resolved, instead of "point-in-time restore cannot cross it"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-binlog-bridged-'));
    const root = join(dir, 'binlogs');
    const dumps = join(dir, 'dumps');
    mkdirSync(root);
    mkdirSync(dumps);
    for (const n of [1, 2, 5, 6]) writeSegment(root, n, n === 6);
    const file = join(dir, 'agent.yaml');
    writeFileSync(
      file,
      `site: site-a\nstate: ${join(dir, 'state')}\nshipping: { partSizeMiB: 5, attempts: 1 }\nsources:\n  - { name: full, type: rotated, profile: generic, patterns: ["*.sql"], path: ${dumps}, stableSeconds: 0 }\n  - { name: cc-binlog, type: binlog, path: ${root}, basename: mysql-bin, partialIntervalSeconds: 0 }\n`,
    );
    const config = parseAgentConfig(readFileSync(file, 'utf8'), file);
    const clock = new ManualClock(new Date());
    const pass = async () => {
      const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'read-back', retryDelayMs: () => 1 });
      try {
        await agent.cycle();
      } finally {
        agent.close();
      }
    };
    const store = new MemoryBlobStore();
    await pass();
    expect(renderStatus(await collectStatus(file))).toMatch(/^cc-binlog \(binlog\) .*; GAP in segments 3-4: point-in-time restore cannot cross it$/m);
    // The DBA takes a new full backup, as the gap's alert advised: the next pass ships it and resolves the alert.
    writeAt(join(dumps, 'full-after-gap.sql'), Buffer.alloc(5000, 7), clock.now());
    clock.advance(60_000);
    await pass();
    const text = renderStatus(await collectStatus(file));
    expect(text).not.toMatch(/GAP in segments/);
    expect(text).toMatch(/^cc-binlog \(binlog\) .*; gap in segments 3-4 bridged by full\/full-after-gap\.sql \(.*Z, offsite\): restore reaches every time after that full/m);
  });

  it("pages a gap's purged segments once, by the gap's alert, and by a loss alert only when the gap is bridged when found (its alert never raised)", async () => {
    const run = async (withFull: boolean) => {
      const dir = mkdtempSync(join(tmpdir(), 'ferry-binlog-paged-'));
      const root = join(dir, 'binlogs');
      const dumps = join(dir, 'dumps');
      mkdirSync(root);
      mkdirSync(dumps);
      for (const n of [1, 2, 5, 6]) writeSegment(root, n, n === 6);
      const clock = new ManualClock(new Date());
      // A full taken after the segments (their times are T0 on): it bridges the gap the moment it is found.
      if (withFull) writeAt(join(dumps, 'full.sql'), Buffer.alloc(5000, 7), clock.now());
      const config = parseAgentConfig(
        `site: site-a\nstate: ${join(dir, 'state')}\nshipping: { partSizeMiB: 5, attempts: 1 }\nsources:\n  - { name: full, type: rotated, profile: generic, patterns: ["*.sql"], path: ${dumps}, stableSeconds: 0 }\n  - { name: cc-binlog, type: binlog, path: ${root}, basename: mysql-bin, partialIntervalSeconds: 0 }\n`,
      );
      const alerts: string[] = [];
      const agent = new Agent({ config, store: new MemoryBlobStore(), clock, log: silentLogger, notifier: { notify: async (a) => void (a.severity === 'critical' && alerts.push(a.subject)) }, verify: 'read-back', retryDelayMs: () => 1 });
      try {
        expect((await agent.cycle()).lost).toBe(2);
      } finally {
        agent.close();
      }
      return alerts;
    };
    expect(await run(false)).toEqual(['binlog gap in cc-binlog: segments 3 to 4 missing']);
    expect(await run(true)).toEqual(['cc-binlog: mysql-bin.000003 to mysql-bin.000004 lost before shipping']);
  });
});
