import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import type { Alert, Notifier } from '../../core/ports.ts';
import { NotDeliveredError } from '../../core/errors.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { LossLog, type LossEntry } from '../../agent/state/loss-log.ts';
import { lossAlerts } from '../../agent/state/loss-alert.ts';
import { writeTree } from '../support/recorder-tree.ts';

// A recorder that evicts many unshipped batches at once (a burst between two cron runs) is one
// event: the agent pages once for it, per source, while every loss stays recorded on its own.

function site(sources = ['cs']) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-loss-alerts-'));
  const roots = Object.fromEntries(sources.map((name) => [name, join(dir, name)]));
  for (const root of Object.values(roots)) mkdirSync(root);
  const text = `
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 1, partConcurrency: 1, attempts: 2 }
sources:
${sources.map((name) => `  - { name: ${name}, type: recordings, path: ${roots[name]}, closeAfterFiles: 10, quietSeconds: 600, settleSeconds: 1 }`).join('\n')}
`;
  return { roots, config: parseAgentConfig(text) };
}

/** One cron run: a fresh agent on the shared state directory, one pass, closed. */
async function cronPass(config: AgentConfig, store: MemoryBlobStore, notifier: Notifier) {
  const agent = new Agent({ config, store, clock: new ManualClock(new Date()), log: silentLogger, notifier, verify: 'read-back', retryDelayMs: () => 1 });
  try {
    return { report: await agent.cycle(), status: agent.statusSnapshot() };
  } finally {
    agent.close();
  }
}

const into = (alerts: Alert[]): Notifier => ({ notify: async (a) => void alerts.push(a) });
const lossAlertsOf = (alerts: Alert[]) => alerts.filter((a) => a.key?.startsWith('loss:'));
const evict = (root: string, from: number, to: number) => {
  for (let b = from; b <= to; b++) rmSync(join(root, String(b).padStart(6, '0')), { recursive: true });
};
/** Batches of 4 recordings written 10 s ago: open (fewer than closeAfterFiles, not quiet), so pending, not shipped. */
const openBatches = (root: string, count: number) => writeTree(root, count, 4, { ageMs: 10_000 });

describe('loss alerts of a pass', () => {
  it('a pass that finds 12 batches evicted raises one critical alert for the source, counting batches and recordings, naming the oldest and newest batch, the first paths and the command that lists them all', async () => {
    const s = site();
    const root = s.roots.cs!;
    openBatches(root, 13);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    expect((await cronPass(s.config, store, into(alerts))).report.lost).toBe(0);
    evict(root, 1, 12); // a burst between two cron runs; 000013 stays, so the root is not empty
    const second = await cronPass(s.config, store, into(alerts));
    expect(second.report.lost).toBe(48);
    const sent = lossAlertsOf(alerts);
    expect(sent).toHaveLength(1);
    const [alert] = sent;
    expect(alert).toMatchObject({ severity: 'critical', site: 'site-a', subject: 'cs: 12 batch(es), 48 recording(s) lost before shipping (000001 to 000012)' });
    expect(alert!.message).toContain('12 batch(es) of source cs, 000001 to 000012, were lost before they could be shipped: 48 recording(s). Why: deleted by the recorder before it was shipped.');
    expect(alert!.message).toContain(`First: ${join(root, '000001', 'c000001-0.wav')}, `);
    expect(alert!.message).toContain('(48 in all)');
    expect(alert!.message).toContain('`ferry agent status --losses` lists them all');
    expect(alert!.details).toMatchObject({ source: 'cs', batches: 12, recordings: 48, oldest: '000001', newest: '000012', lossRecords: 12 });
    // Every loss stays recorded on its own, counted as before, and marked alerted.
    const log = new LossLog(s.config.state, { readOnly: true });
    expect(log.all().map((l) => l.batch)).toEqual(Array.from({ length: 12 }, (_, i) => String(i + 1).padStart(6, '0')));
    expect([...(alert!.details!.lossIds as string[])].sort()).toEqual(log.all().map((l) => l.id).sort());
    expect(log.unalerted()).toEqual([]);
    expect(second.status.totals).toMatchObject({ lostBatches: 12, lostRecordings: 48 });
    expect(second.status.lossRecords).toBe(12);
  });

  it('a pass that finds one lost batch alerts it as before: its recordings named, keyed by the loss record', async () => {
    const s = site();
    const root = s.roots.cs!;
    openBatches(root, 2);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    await cronPass(s.config, store, into(alerts));
    evict(root, 1, 1);
    const second = await cronPass(s.config, store, into(alerts));
    const loss = second.status.recentLosses.at(-1)!;
    expect(lossAlertsOf(alerts)).toEqual([
      {
        severity: 'critical',
        site: 'site-a',
        key: `loss:${loss.id}`,
        subject: '4 recording(s) lost before shipping',
        message: `Batch 000001 of source cs: c000001-0.wav, c000001-1.wav, c000001-2.wav, c000001-3.wav were deleted by the recorder before it was shipped. It was last seen on ${loss.lastSeen}. Check the agent's backlog and bandwidth; the recorder's disk may be too small for the shipping rate. \`ferry agent status --losses\` lists every lost recording.`,
        details: { ...loss },
      },
    ]);
  });

  it('losses found by two successive cron runs are two alerts, the second naming only its own batches', async () => {
    const s = site();
    const root = s.roots.cs!;
    openBatches(root, 7);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    await cronPass(s.config, store, into(alerts));
    evict(root, 1, 3);
    await cronPass(s.config, store, into(alerts));
    evict(root, 4, 6);
    await cronPass(s.config, store, into(alerts));
    await cronPass(s.config, store, into(alerts)); // nothing new: nothing sent
    expect(lossAlertsOf(alerts).map((a) => a.subject)).toEqual(['cs: 3 batch(es), 12 recording(s) lost before shipping (000001 to 000003)', 'cs: 3 batch(es), 12 recording(s) lost before shipping (000004 to 000006)']);
  });

  it('a pass that finds losses in two sources raises one alert for each', async () => {
    const s = site(['cs', 'ivr']);
    openBatches(s.roots.cs!, 4);
    openBatches(s.roots.ivr!, 4);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    await cronPass(s.config, store, into(alerts));
    evict(s.roots.cs!, 1, 3);
    evict(s.roots.ivr!, 1, 2);
    await cronPass(s.config, store, into(alerts));
    expect(lossAlertsOf(alerts).map((a) => a.subject).sort()).toEqual(['cs: 3 batch(es), 12 recording(s) lost before shipping (000001 to 000003)', 'ivr: 2 batch(es), 8 recording(s) lost before shipping (000001 to 000002)']);
  });

  it("a burst's alert that no hook took is sent by the next cron run as one alert, then not again", async () => {
    const s = site();
    const root = s.roots.cs!;
    openBatches(root, 6);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    await cronPass(s.config, store, into(alerts));
    evict(root, 1, 5);
    const refused: Alert[] = [];
    const failing: Notifier = {
      notify: async (a) => {
        refused.push(a);
        throw new NotDeliveredError('alert command "page" exited 1');
      },
    };
    expect((await cronPass(s.config, store, failing)).report.lost).toBe(20);
    expect(lossAlertsOf(refused)).toHaveLength(1);
    await cronPass(s.config, store, into(alerts));
    await cronPass(s.config, store, into(alerts));
    expect(lossAlertsOf(alerts).map((a) => a.subject)).toEqual(['cs: 5 batch(es), 20 recording(s) lost before shipping (000001 to 000005)']);
    expect(new LossLog(s.config.state, { readOnly: true }).unalerted()).toEqual([]);
  });
});

describe('the text of a grouped loss alert', () => {
  const entry = (over: Partial<LossEntry> & Pick<LossEntry, 'id' | 'batch' | 'files'>): LossEntry => ({ source: 'cs', kind: 'recordings', reason: 'deleted by the recorder before it was shipped', at: '2026-12-06T17:18:41.000Z', ...over });
  const file = (path: string) => ({ name: path.split('/').at(-1)!, size: 0, mtimeMs: 0, path });

  it('counts batches lost unseen apart from the named recordings, in batch order (numbers by value)', () => {
    const out = lossAlerts('site-a', [
      entry({ id: 'l2', batch: '000010', files: [file('/rec/000010/a.wav'), file('/rec/000010/b.wav')] }),
      entry({ id: 'l1', batch: '000008–000009', unseen: true, reason: 'written and evicted by the recorder without any pass seeing them', files: [file('/rec/000008'), file('/rec/000009')] }),
    ]);
    expect(out).toHaveLength(1);
    expect(out[0]!.ids).toEqual(['l2', 'l1']);
    expect(out[0]!.alert.subject).toBe('cs: 3 batch(es), 2 recording(s) lost before shipping (000008 to 000010)');
    expect(out[0]!.alert.message).toContain('2 recording(s), and 2 batch(es) no pass saw (how many recordings they held is not known).');
    expect(out[0]!.alert.message).toContain('First: /rec/000008, /rec/000009, /rec/000010/a.wav, /rec/000010/b.wav.');
  });

  it('keeps losses that may have shipped before (a warning) apart from the certain ones (critical)', () => {
    const out = lossAlerts('site-a', [
      entry({ id: 'l1', batch: '000001', files: [file('/rec/000001/a.wav')] }),
      entry({ id: 'l2', batch: '000002', files: [file('/rec/000002/a.wav')] }),
      entry({ id: 'l3', batch: '000003', shippedBefore: true, files: [file('/rec/000003/a.wav')] }),
    ]);
    expect(out.map((o) => [o.alert.severity, o.ids])).toEqual([['critical', ['l1', 'l2']], ['warning', ['l3']]]);
  });

  it("names an artefact source's lost files by their oldest and newest", () => {
    const seg = (n: number) => ({ name: `mysql-bin.${String(n).padStart(6, '0')}`, size: 100, mtimeMs: 1, path: `/var/lib/mysql/mysql-bin.${String(n).padStart(6, '0')}` });
    const out = lossAlerts('site-a', [
      { id: 'a2', source: 'binlog', kind: 'artefact', batch: 'mysql-bin.000012', files: [seg(12)], reason: 'purged by the server before it was shipped', at: 'x' },
      { id: 'a1', source: 'binlog', kind: 'artefact', batch: 'mysql-bin.000009 to mysql-bin.000011', files: [seg(9), seg(10), seg(11)], reason: 'purged by the server before it was shipped', at: 'x' },
    ]);
    expect(out.map((o) => o.alert.subject)).toEqual(['binlog: 4 file(s) lost before shipping (mysql-bin.000009 to mysql-bin.000012)']);
  });
});
