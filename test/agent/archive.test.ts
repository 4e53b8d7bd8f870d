import { describe, it, expect } from 'vitest';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseArtefactManifest, type ArtefactManifest } from '../../core/artefact.ts';
import { archiveSpanFromName, ARCHIVE_DEFAULT_NAME_PATTERN } from '../../core/artefact-sources.ts';
import type { BlobStore } from '../../core/ports.ts';
import { readAll } from '../../agent/recover.ts';
import { artefactSite, artefactAgent, artefactManifests, writeAt, bytesOf } from '../support/artefact-agent.ts';
import { selectionNotes } from '../../cli/check-notes.ts';
import { renderBackups } from '../../cli/backups-commands.ts';
import type { ArtefactEntry } from '../../core/ports.ts';

const MIN = 60_000;

function publishedInOrder(store: MemoryBlobStore): { store: BlobStore; published: ArtefactManifest[] } {
  const published: ArtefactManifest[] = [];
  const wrapped: BlobStore = Object.assign(Object.create(store) as BlobStore, {
    put: async (...a: Parameters<BlobStore['put']>) => {
      const r = await store.put(...a);
      if (a[0].startsWith('manifests/')) published.push(parseArtefactManifest(a[1]));
      return r;
    },
  });
  return { store: wrapped, published };
}

describe('archive source', () => {
  it('ships rostrvm voice, email, SMS and chat archives once complete, oldest span first, with the span from the name', async () => {
    const site = artefactSite(`  - { name: media, type: archive, path: "{root}" }`);
    const clock = new ManualClock(new Date('2024-02-01T12:00:00Z'));
    const old = new Date('2024-01-20T00:00:00Z');
    const files: Record<string, Buffer> = {
      'Voice Recording 2024-01-05 09.00.00 2024-01-12 09.00.00.sdb': bytesOf(70_000, 1),
      'Email Archive 20240101000000 20240105000000.sdb': bytesOf(5_000, 2),
      'SMS Archive 2024-01-02_08-30 2024-01-03_17-45.sdb': bytesOf(3_000, 3),
      'Chat Archive 2024-01-04 2024-01-06.sdb': bytesOf(4_000, 4),
    };
    for (const [n, b] of Object.entries(files)) writeAt(join(site.root, n), b, old);
    writeAt(join(site.root, 'notes.txt'), 'not an archive', old);
    writeAt(join(site.root, 'Voice Recording.tmp'), 'not an archive', old);
    const { store, published } = publishedInOrder(new MemoryBlobStore());
    const h = artefactAgent(site.config, store, { clock });
    expect((await h.agent.cycle()).artefacts).toBe(0); // first sight: inside the stability window (default 120 s)
    expect(h.agent.statusSnapshot().sources[0]).toMatchObject({ type: 'archive', backlog: { files: 4 } });
    clock.advance(2 * MIN);
    expect((await h.agent.cycle()).artefacts).toBe(4);
    expect(published.map((m) => [m.name.split(' ')[0], m.span])).toEqual([
      ['Email', { from: '2024-01-01T00:00:00.000Z', to: '2024-01-05T00:00:00.000Z' }],
      ['SMS', { from: '2024-01-02T08:30:00.000Z', to: '2024-01-03T17:45:00.000Z' }],
      // A day as its end covers that day whole.
      ['Chat', { from: '2024-01-04T00:00:00.000Z', to: '2024-01-06T23:59:59.999Z' }],
      ['Voice', { from: '2024-01-05T09:00:00.000Z', to: '2024-01-12T09:00:00.000Z' }],
    ]);
    for (const m of published) {
      expect(m).toMatchObject({ sourceType: 'archive', role: 'archive', spanSource: 'name', takenAt: m.span!.to });
      expect(m.key).toMatch(/^archives\/site-a\/media\//);
      expect((await readAll(store, m.key)).equals(files[m.name]!)).toBe(true);
    }
    expect(h.opened.some((p) => p.endsWith('.txt') || p.endsWith('.tmp'))).toBe(false);
    const opened = h.opened.length;
    clock.advance(10 * MIN);
    expect((await h.agent.cycle()).artefacts).toBe(0);
    expect(h.opened.length).toBe(opened); // shipped archives are not read again
    h.agent.close();
  });

  it('does not ship an archive still being written; an archive appended to after it shipped is a new artefact', async () => {
    const site = artefactSite(`  - { name: media, type: archive, path: "{root}", stableSeconds: 120 }`);
    const clock = new ManualClock(new Date());
    const file = join(site.root, 'Voice Recording 2024-03-01 00.00.00 2024-03-08 00.00.00.sdb');
    writeAt(file, bytesOf(10_000, 5), clock.now());
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store, { clock });
    for (let i = 0; i < 3; i++) {
      await h.agent.cycle();
      clock.advance(MIN);
      appendFileSync(file, bytesOf(1000, 6 + i)); // the archiver is still writing
    }
    expect(await artefactManifests(store)).toEqual([]);
    expect(h.opened).toEqual([]);
    await h.agent.cycle();
    clock.advance(2 * MIN);
    expect((await h.agent.cycle()).artefacts).toBe(1);
    appendFileSync(file, bytesOf(500, 20)); // the next day's run appends before the size limit is reached
    await h.agent.cycle();
    clock.advance(2 * MIN);
    expect((await h.agent.cycle()).artefacts).toBe(1);
    const ms = await artefactManifests(store);
    expect(ms.map((m) => m.size).sort()).toEqual([13_000, 13_500]);
    expect(new Set(ms.map((m) => m.key)).size).toBe(2);
    h.agent.close();
  });

  it('reads names in the site time zone and with a configured pattern and format; an unreadable name falls back to file times', async () => {
    const site = artefactSite(`  - name: media
    type: archive
    path: "{root}"
    patterns: ["*.sdb"]
    namePattern: '^Rec (?<from>\\d{2}-\\d{2}-\\d{4} \\d{2}\\.\\d{2}) to (?<to>\\d{2}-\\d{2}-\\d{4} \\d{2}\\.\\d{2})\\.sdb$'
    timeFormat: dd-MM-yyyy HH.mm
    timezone: Europe/London
    stableSeconds: 0`);
    const mtime = new Date('2024-07-03T10:00:00Z');
    writeAt(join(site.root, 'Rec 01-07-2024 10.00 to 02-07-2024 18.30.sdb'), 'summer', mtime);
    writeAt(join(site.root, 'Rec unknown.sdb'), 'no dates', mtime);
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store, { clock: new ManualClock(new Date('2024-07-04T00:00:00Z')) });
    await h.agent.cycle();
    const ms = await artefactManifests(store);
    expect(ms.find((m) => m.name.startsWith('Rec 01'))).toMatchObject({ spanSource: 'name', span: { from: '2024-07-01T09:00:00.000Z', to: '2024-07-02T17:30:00.000Z' } });
    expect(ms.find((m) => m.name === 'Rec unknown.sdb')).toMatchObject({ spanSource: 'file-times', span: { to: mtime.toISOString() } });
    h.agent.close();
  });

  it('reads a time in the hour the clocks went back: a from as its earlier occurrence, a to as the later one when the file was written after it (so the span holds the calls of the second such hour), else the earlier', async () => {
    const site = artefactSite(`  - { name: media, type: archive, path: "{root}", timezone: Europe/London, stableSeconds: 0 }`);
    // London, 25 October 2026: 01:00-02:00 happens twice (BST, 00:00-01:00Z; then GMT, 01:00-02:00Z).
    writeAt(join(site.root, 'Voice Recording 2026-10-25 00.00.00 2026-10-25 01.30.00.sdb'), 'closed in the second 01:30', new Date('2026-10-25T01:31:00Z'));
    writeAt(join(site.root, 'Voice Recording 2026-10-24 23.00.00 2026-10-25 01.20.00.sdb'), 'closed in the first 01:20', new Date('2026-10-25T00:21:00Z'));
    writeAt(join(site.root, 'Voice Recording 2026-10-25 01.45.00 2026-10-25 01.10.00.sdb'), 'from the first 01:45 to the second 01:10', new Date('2026-10-25T01:11:00Z'));
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store, { clock: new ManualClock(new Date('2026-10-26T00:00:00Z')) });
    await h.agent.cycle();
    const spans = Object.fromEntries((await artefactManifests(store)).map((m) => [m.name, [m.spanSource, m.span?.from, m.span?.to]]));
    expect(spans).toEqual({
      'Voice Recording 2026-10-25 00.00.00 2026-10-25 01.30.00.sdb': ['name', '2026-10-24T23:00:00.000Z', '2026-10-25T01:30:00.000Z'],
      'Voice Recording 2026-10-24 23.00.00 2026-10-25 01.20.00.sdb': ['name', '2026-10-24T22:00:00.000Z', '2026-10-25T00:20:00.000Z'],
      'Voice Recording 2026-10-25 01.45.00 2026-10-25 01.10.00.sdb': ['name', '2026-10-25T00:45:00.000Z', '2026-10-25T01:10:00.000Z'],
    });
    h.agent.close();
  });

  it('parses the default rostrvm names in their usual spellings, and refuses a span that ends before it starts', () => {
    const src = { namePattern: ARCHIVE_DEFAULT_NAME_PATTERN, timeFormat: 'auto', timezone: 'UTC' };
    const span = (n: string) => {
      const s = archiveSpanFromName(src, n);
      return s && [s.from.toISOString(), s.to.toISOString()];
    };
    expect(span('Voice Recording 2024-01-05 09.00.00 2024-01-12 09.00.00.sdb')).toEqual(['2024-01-05T09:00:00.000Z', '2024-01-12T09:00:00.000Z']);
    expect(span('voice recording 2024-01-05T0900 2024-01-05T1000.SDB')).toEqual(['2024-01-05T09:00:00.000Z', '2024-01-05T10:00:00.000Z']);
    expect(span('Chat Archive 20240105 20240106.sdb')).toEqual(['2024-01-05T00:00:00.000Z', '2024-01-06T23:59:59.999Z']);
    // In a zone with summer time, the day a week's archive ends on is whole there too (the clocks went back on 27 October).
    expect(archiveSpanFromName({ ...src, timezone: 'Europe/London' }, 'Voice Recording 20241021 20241027.sdb')?.to.toISOString()).toBe('2024-10-27T23:59:59.999Z');
    expect(archiveSpanFromName({ ...src, timezone: 'Europe/London' }, 'Voice Recording 20240713 20240719.sdb')?.to.toISOString()).toBe('2024-07-19T22:59:59.999Z');
    expect(span('Voice Recording 2024-13-05 2024-01-06.sdb')).toBeUndefined();
    expect(span('Voice Recording 2024-01-06 2024-01-05.sdb')).toBeUndefined();
    expect(span('Fax Archive 2024-01-05 2024-01-06.sdb')).toBeUndefined();
  });

  it('names an archive whose name the pattern does not read (a day-first UK name) in agent check, and backups list marks its span as file times', async () => {
    const site = artefactSite(`  - { name: media, type: archive, path: "{root}", timezone: Europe/London }`);
    writeAt(join(site.root, 'Voice Recording 15-07-2026 00.00.00 15-07-2026 23.59.59.sdb'), 'day first', new Date('2026-11-01T03:00:00Z'));
    writeAt(join(site.root, 'Voice Recording 20260713 20260719.sdb'), 'year first', new Date('2026-11-01T03:00:00Z'));
    const notes = await selectionNotes(site.config);
    expect(notes).toEqual([expect.stringMatching(/^warning: source media: 1 archive\(s\) whose name is not read as the span it covers \(Voice Recording 15-07-2026 00\.00\.00 15-07-2026 23\.59\.59\.sdb\): catalogued with their file times/)]);
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date('2026-11-02T00:00:00Z'));
    const h = artefactAgent(site.config, store, { clock });
    await h.agent.cycle(); // first sight: inside the stability window
    clock.advance(3 * MIN);
    expect((await h.agent.cycle()).artefacts).toBe(2);
    h.agent.close();
    const entries = (await artefactManifests(store)).map((m) => ({ ...m, artefactId: m.name, manifestKey: 'k', createdAt: m.takenAt }) as unknown as ArtefactEntry);
    const listing = renderBackups(entries);
    expect(listing).toMatch(/Voice Recording 15-07-2026 00\.00\.00 15-07-2026 23\.59\.59\.sdb +2026-11-01 03:00:00Z → 2026-11-01 03:00:00Z \(file times: name not read\)/);
    expect(listing).toMatch(/Voice Recording 20260713 20260719\.sdb +2026-07-12 23:00:00Z → 2026-07-19 22:59:59Z  /);
  });
});
