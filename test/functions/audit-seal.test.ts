import { describe, expect, it } from 'vitest';
import { MemoryAuditLedger } from '../../core/audit-ledger.ts';
import { appendAudit, appendAuditEvents, auditRecordKey, type AuditEvent } from '../../core/audit-trail.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { BlobStore } from '../../core/ports.ts';
import { createHandler, loadAuditSealDeps } from '../../functions/audit-seal/handler.ts';

// The scheduled audit sealer's handler on the in-memory ledger and bucket: records a writer left
// in the ledger only (its runtime frozen before the background seal) are copied by the next run.

const event = (site: string, i: number): AuditEvent => ({ at: new Date(Date.UTC(2026, 3, 1, 12, 0, i)).toISOString(), action: 'listen', site, rid: `r${i}`, principal: 'officer' });

/** The bucket, counting the puts and refusing those under a site's audit/ prefix while `refuse` names it. */
class Bucket extends MemoryBlobStore {
  puts: string[] = [];
  refuse?: string;
  override async put(...args: Parameters<BlobStore['put']>): ReturnType<BlobStore['put']> {
    const [key] = args;
    if (this.refuse && key.startsWith(`audit/${this.refuse}/`)) throw new Error('the bucket is unreachable');
    this.puts.push(key);
    return super.put(...args);
  }
}

async function setup() {
  const ledger = new MemoryAuditLedger();
  const blobs = new Bucket();
  // site-a and site-b: written to the ledger, never sealed (the writer stopped after its answer).
  await appendAuditEvents({ ledger }, [event('site-a', 1), event('site-a', 2), event('site-a', 3)]);
  await appendAuditEvents({ ledger }, [event('site-b', 1), event('site-b', 2)]);
  // site-c: written and sealed at once.
  await appendAudit({ ledger, blobs }, event('site-c', 1));
  blobs.puts = [];
  const logs: { level: string; message: string; detail?: Record<string, unknown> }[] = [];
  const counts: { name: string; site?: string; value?: number }[] = [];
  const handler = createHandler({
    sites: ['site-a', 'site-b', 'site-c'],
    ledger,
    blobs,
    log: (level, message, detail) => logs.push({ level, message, detail }),
    count: (name, site, value) => counts.push({ name, site, value }),
  });
  return { ledger, blobs, logs, counts, handler };
}

describe('the scheduled audit sealer (functions/audit-seal)', () => {
  it('copies the records left in the ledger only to audit/{site}/{seq}.json, raises each site mark and counts AuditRecordsSealed', async () => {
    const { ledger, blobs, counts, handler } = await setup();
    const { outcomes } = await handler({ source: 'aws.events' });
    expect(outcomes).toEqual([
      { site: 'site-a', sealedBefore: 0, sealedTo: 3 },
      { site: 'site-b', sealedBefore: 0, sealedTo: 2 },
      { site: 'site-c', sealedBefore: 1, sealedTo: 1 },
    ]);
    expect(blobs.puts.sort()).toEqual([auditRecordKey('site-a', 1), auditRecordKey('site-a', 2), auditRecordKey('site-a', 3), auditRecordKey('site-b', 1), auditRecordKey('site-b', 2)].sort());
    expect([await ledger.sealed('site-a'), await ledger.sealed('site-b')]).toEqual([3, 2]);
    expect(counts).toEqual([
      { name: 'AuditRecordsSealed', site: 'site-a', value: 3 },
      { name: 'AuditRecordsSealed', site: 'site-b', value: 2 },
    ]);
  });

  it('leaves an already sealed site unchanged: no object written, its mark as it was, nothing counted', async () => {
    const { ledger, blobs, counts, handler } = await setup();
    await handler({});
    blobs.puts = [];
    counts.length = 0;
    const { outcomes } = await handler({});
    expect(outcomes.map((o) => 'sealedTo' in o && o.sealedTo)).toEqual([3, 2, 1]);
    expect(blobs.puts).toEqual([]);
    expect(counts).toEqual([]);
    expect(await ledger.sealed('site-c')).toBe(1);
  });

  it("seals the next site when one site's seal fails, logs and counts the failure, then fails the run with AuditSealFailedError naming it", async () => {
    const { ledger, blobs, logs, counts, handler } = await setup();
    blobs.refuse = 'site-a';
    const error = await handler({}).then(() => undefined, (e: unknown) => e as Error);
    expect(error?.name).toBe('AuditSealFailedError');
    expect(error?.message).toMatch(/1 of 3 site\(s\): site-a \(Error: the bucket is unreachable\)/);
    expect(await ledger.sealed('site-a')).toBe(0);
    expect(await ledger.sealed('site-b')).toBe(2);
    expect(blobs.puts.filter((k) => k.startsWith('audit/site-b/'))).toHaveLength(2);
    expect(logs.filter((l) => l.level === 'error')).toEqual([{ level: 'error', message: 'audit seal failed', detail: { site: 'site-a', sealedTo: 0, error: 'Error: the bucket is unreachable' } }]);
    expect(counts).toContainEqual({ name: 'AuditSealFailures', site: 'site-a', value: undefined });
    // The next run, the bucket back, seals what the failed one left.
    blobs.refuse = undefined;
    await handler({});
    expect(await ledger.sealed('site-a')).toBe(3);
  });

  it('refuses to start without FLEET_SITES, naming the variable', () => {
    expect(() => loadAuditSealDeps({ BUCKET: 'ferry-data', TABLE: 'ferry-catalogue' })).toThrow(/FLEET_SITES/);
  });
});
