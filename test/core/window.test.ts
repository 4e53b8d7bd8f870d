import { describe, expect, it } from 'vitest';
import { causeText, formatDuration, subjectLine } from '../../core/alert-text.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { judgeWindow, verifyWindow, windowReport, MAX_REPORTED_MANIFESTS, type VerifyResult, type WindowRun } from '../../core/window.ts';
import { DEFAULT_WORKFLOW_CONFIG } from '../../core/workflow-config.ts';

// The window's verify and judgement, pure (verify over a memory store).

const NOW = new Date('2026-03-01T06:00:00.000Z');
const START = '2026-03-01T02:00:00.000Z';
const report = (over: Partial<ReturnType<typeof windowReport>> = {}) => ({ ...windowReport('site-a', new Date(START), NOW, { packs: 2, recordings: 200, bytes: 10, failed: 0, lost: 0, manifests: ['manifests/site-a/recordings/2026/03/01/p1.json', 'manifests/site-a/recordings/2026/03/01/p2.json'] }), ...over });
const verified: VerifyResult = { expected: 2, checked: 2, found: 2, missing: [], missingCount: 0, unaccounted: 0, unchecked: 0 };
const base: WindowRun = { site: 'site-a', startedAt: START, mode: 'scheduled', execution: 'arn:exec' };

describe('verifyWindow', () => {
  it('finds the reported manifests, flags missing ones and keys outside the site', async () => {
    const blobs = new MemoryBlobStore();
    await blobs.put('manifests/site-a/recordings/2026/03/01/p1.json', Buffer.from('{}'));
    await blobs.put('manifests/site-b/recordings/2026/03/01/p9.json', Buffer.from('{}'));
    const result = await verifyWindow({ blobs }, 'site-a', report({ packs: 4, manifests: ['manifests/site-a/recordings/2026/03/01/p1.json', 'manifests/site-a/recordings/2026/03/01/p2.json', 'manifests/site-b/recordings/2026/03/01/p9.json'] }));
    expect(result).toEqual({ expected: 4, checked: 3, found: 1, missing: ['manifests/site-a/recordings/2026/03/01/p2.json', 'manifests/site-b/recordings/2026/03/01/p9.json'], missingCount: 2, unaccounted: 1, unchecked: 0 });
  });

  it('caps the manifest list of a report and counts the rest as unchecked, not missing', async () => {
    const many = Array.from({ length: MAX_REPORTED_MANIFESTS + 5 }, (_, i) => `manifests/site-a/recordings/2026/03/01/p${i}.json`);
    const r = windowReport('site-a', new Date(START), NOW, { packs: many.length, recordings: 0, bytes: 0, failed: 0, lost: 0, manifests: many });
    expect(r.manifests).toHaveLength(MAX_REPORTED_MANIFESTS);
    expect(r.manifestsTruncated).toBe(true);
    const blobs = new MemoryBlobStore();
    for (const k of r.manifests) await blobs.put(k, Buffer.from('{}'));
    expect(await verifyWindow({ blobs }, 'site-a', r)).toMatchObject({ found: MAX_REPORTED_MANIFESTS, unaccounted: 0, unchecked: 5, missingCount: 0 });
  });
});

describe('judgeWindow', () => {
  it('FULL: no alert, a clean record', () => {
    const { record, alert } = judgeWindow({ ...base, lock: { site: 'site-a', holder: 'arn:exec', operation: 'backup', acquiredAt: START, heartbeatAt: START, token: 4, reentered: false }, report: report(), verify: verified, release: { site: 'site-a', token: 4, outcome: 'released' } }, NOW, DEFAULT_WORKFLOW_CONFIG);
    expect(alert).toBeUndefined();
    expect(record).toEqual({ site: 'site-a', startedAt: START, finishedAt: NOW.toISOString(), state: 'finished', outcome: 'FULL', mode: 'scheduled', reasons: [], packs: 2, recordings: 200, bytes: 10, failed: 0, lost: 0, manifestsMissing: 0, lockToken: 4, execution: 'arn:exec' });
  });

  it('missed window: FAILED, a critical alert naming the holder, since when, and what to do', () => {
    const heldBy = { site: 'site-a', holder: 'arn:purge-exec', operation: 'purge' as const, acquiredAt: '2026-03-01T01:30:00.000Z', heartbeatAt: '2026-03-01T05:00:00.000Z', token: 3 };
    const { record, alert } = judgeWindow({ ...base, lockError: { Error: 'LockHeldError', Cause: JSON.stringify({ errorType: 'LockHeldError', errorMessage: 'lock of site site-a is held by arn:purge-exec' }) }, heldBy }, NOW, DEFAULT_WORKFLOW_CONFIG);
    expect(record.outcome).toBe('FAILED');
    expect(record.reasons).toEqual(['missed: site lock busy (lock of site site-a is held by arn:purge-exec)']);
    expect(alert?.severity).toBe('critical');
    expect(alert?.message.split('\n')).toEqual([
      'What failed: the scheduled backup window could not get the site lock (tried every 10 min for 4 h (25 attempts)); held by arn:purge-exec (purge) since 2026-03-01T01:30:00.000Z, last sign of life 2026-03-01T05:00:00.000Z',
      'Site: site-a',
      'Since: 2026-03-01T02:00:00.000Z (4 h ago)',
      'What to do:',
      '  - check that the purge holding the lock (arn:purge-exec) is still running; let it finish if it is',
      '  - if it is stuck, stop it in Step Functions; the lock is cleared automatically once older than 12 h (at 2026-03-01T17:00:00.000Z)',
      '  - then start the backup window of site site-a on demand',
      '  - no backup ran in this window: the next scheduled window runs as usual',
      'Execution: arn:exec',
    ]);
  });

  it('missed window with the lock free again by the time of the alert', () => {
    const { alert } = judgeWindow({ ...base, mode: 'on-demand', lockError: { Error: 'LockHeldError' }, heldBy: null }, NOW, DEFAULT_WORKFLOW_CONFIG);
    expect(alert?.subject).toBe('Ferry site-a: backup window not started - site lock busy');
    expect(alert?.message).toContain('the lock is free now');
  });

  it('PARTIAL for failed batches, losses, missing or unaccounted manifests', () => {
    const cases: [ReturnType<typeof report>, VerifyResult][] = [
      [report({ failed: 1 }), verified],
      [report({ lost: 2 }), verified],
      [report(), { ...verified, found: 1, missing: ['x'], missingCount: 1 }],
      [report(), { ...verified, unaccounted: 1 }],
    ];
    for (const [r, v] of cases) {
      const { record, alert } = judgeWindow({ ...base, report: r, verify: v }, NOW, DEFAULT_WORKFLOW_CONFIG);
      expect(record.outcome).toBe('PARTIAL');
      expect(alert?.severity).toBe('warning');
    }
  });

  it('FAILED with a specific text for heartbeat loss, task timeout and agent errors', () => {
    const failedWith = (Error: string, Cause?: string) => judgeWindow({ ...base, error: { Error, Cause } }, NOW, DEFAULT_WORKFLOW_CONFIG).alert!;
    expect(failedWith('States.HeartbeatTimeout').subject).toContain('agent stopped responding');
    expect(failedWith('States.Timeout').subject).toContain('agent did not finish in time');
    expect(failedWith('DiskFullError', 'no space left').message).toContain('the agent ran the backup job failed: DiskFullError: no space left');
  });

  it('notes a lock lost during the run and a lock that could not be released', () => {
    const { record, alert } = judgeWindow({ ...base, report: report(), verify: verified, release: { site: 'site-a', token: 4, outcome: 'held-by-other', holder: 'arn:other' }, releaseError: undefined }, NOW, DEFAULT_WORKFLOW_CONFIG);
    expect(record.outcome).toBe('FULL');
    expect(record.reasons[0]).toContain('now held by arn:other');
    expect(alert?.subject).toBe('Ferry site-a: backup window outlived its lock');
    const unreleased = judgeWindow({ ...base, report: report(), verify: verified, releaseError: { Error: 'TransientError', Cause: 'throttled' } }, NOW, DEFAULT_WORKFLOW_CONFIG);
    expect(unreleased.record.reasons[0]).toContain('cleared once older than 12 h');
  });
});

describe('alert text helpers', () => {
  it('reads a Lambda error cause, formats durations, keeps SNS subjects legal', () => {
    expect(causeText({ Error: 'X', Cause: '{"errorType":"X","errorMessage":"boom","trace":[]}' })).toBe('boom');
    expect(causeText({ Error: 'States.Timeout' })).toBe('States.Timeout');
    expect([formatDuration(45_000), formatDuration(600_000), formatDuration(4 * 3_600_000), formatDuration(90 * 60_000 + 7_200_000), formatDuration(72 * 3_600_000)]).toEqual(['45 s', '10 min', '4 h', '3 h 30 min', '3.0 days']);
    const subject = subjectLine(`Ferry — ${'x'.repeat(200)}\nsecond line é`);
    expect(subject.length).toBeLessThanOrEqual(100);
    expect(subject).toMatch(/^[\x20-\x7e]+$/);
  });
});
