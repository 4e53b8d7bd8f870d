import { describe, it, expect } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal } from '../../agent/journal.ts';
import { artefactNameKey } from '../../agent/artefact-ledger.ts';

// The journal's artefact state survives a restart and a compaction: shipped versions (by file
// state and by content), in-flight artefacts with their open uploads, totals and losses.

const dir = () => mkdtempSync(join(tmpdir(), 'ferry-ledger-'));
const art = (id: string, name: string, extra: Partial<{ size: number; mtimeMs: number; sha256: string; partial: boolean; sequence: number }> = {}) => ({
  artefactId: id,
  source: 'db',
  name,
  size: 100,
  mtimeMs: 1000,
  sha256: id.padEnd(64, '0'),
  key: `logs/site-a/db/${id}`,
  manifestKey: `manifests/site-a/logs/db/${id}.json`,
  partial: false,
  ...extra,
});

describe('journal: artefacts', () => {
  it('survives a reopen: shipped versions, in-flight artefacts and their uploads, totals', async () => {
    const d = dir();
    const j = new Journal(d);
    await j.artefactBegin(art('a1', 'mysql-bin.000001', { sequence: 1 }));
    await j.artefactPublished('a1', '2026-01-01T00:00:00.000Z');
    await j.artefactBegin(art('a2', 'mysql-bin.000002', { sequence: 2, partial: true }));
    await j.uploadStarted('a2', 'u1');
    await j.lost({ source: 'db', batch: 'x.bak', files: ['x.bak'], reason: 'gone', at: '2026-01-01T00:00:00.000Z', kind: 'artefact' });
    j.close();
    const k = new Journal(d);
    expect(k.artefacts.shipped('db', 'mysql-bin.000001', 100, 1000)).toMatchObject({ artefactId: 'a1', sequence: 1 });
    expect(k.artefacts.shipped('db', 'mysql-bin.000001', 100, 1001)).toBeUndefined();
    expect(k.artefacts.withContent('db', 'mysql-bin.000001', 'a1'.padEnd(64, '0'))).toMatchObject({ artefactId: 'a1' });
    expect(k.inflightArtefacts()).toEqual([{ ...art('a2', 'mysql-bin.000002', { sequence: 2, partial: true }), uploads: ['u1'] }]);
    expect(k.totals).toMatchObject({ artefacts: 1, artefactBytes: 100, lostArtefacts: 1, lostBatches: 0, lostRecordings: 0 });
    k.close();
  });

  it('compaction forgets versions of files gone from the site but keeps the newest and the highest sequence', async () => {
    const d = dir();
    const j = new Journal(d);
    for (const n of [1, 2, 3]) {
      await j.artefactBegin(art(`a${n}`, `mysql-bin.00000${n}`, { sequence: n }));
      await j.artefactPublished(`a${n}`, `2026-01-0${n}T00:00:00.000Z`);
    }
    await j.artefactBegin(art('p1', 'x.bak'));
    await j.artefactPublished('p1', '2026-01-01T12:00:00.000Z');
    await j.compact(new Set(), new Set([artefactNameKey('db', 'mysql-bin.000002')]));
    j.close();
    const k = new Journal(d);
    expect(k.artefacts.records('db').map((r) => r.artefactId).sort()).toEqual(['a2', 'a3']);
    expect(k.totals).toMatchObject({ artefacts: 4 });
    k.close();
  });

  it('keeps through a compaction the newest full of each name shape with its format, what a later version is judged against, though the files are gone', async () => {
    const d = dir();
    const j = new Journal(d);
    const ship = async (id: string, name: string, format: string, at: string) => {
      await j.artefactBegin({ ...art(id, name), format });
      await j.artefactPublished(id, at);
    };
    await ship('f1', 'shop-20260301.sql', 'dump:pg_dump', '2026-03-01T02:00:00.000Z');
    await ship('f2', 'shop-20260302.sql', 'dump:pg_dump', '2026-03-02T02:00:00.000Z');
    await ship('g1', 'globals.sql', 'text', '2026-03-02T02:01:00.000Z');
    await ship('b1', 'ocs.bak', 'mtf', '2026-03-01T03:00:00.000Z');
    await j.compact(new Set(), new Set());
    j.close();
    const k = new Journal(d);
    expect(k.artefacts.records('db').map((r) => [r.name, r.format]).sort()).toEqual([['globals.sql', 'text'], ['ocs.bak', 'mtf'], ['shop-20260302.sql', 'dump:pg_dump']]);
    k.close();
  });
});

