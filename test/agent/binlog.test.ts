import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFileSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import type { ArtefactManifest } from '../../core/artefact.ts';
import { parseArtefactManifest } from '../../core/artefact.ts';
import type { BlobStore } from '../../core/ports.ts';
import { readAll } from '../../agent/recover.ts';
import { detectBasename, findGaps, parseIndex } from '../../agent/sources/binlog.ts';
import { artefactSite, artefactAgent, artefactManifests, writeAt, bytesOf } from '../support/artefact-agent.ts';
import { binlogSegment } from '../support/binlog-bytes.ts';
import { startMariaDb, findMariaDbTool, type MariaDb } from '../support/mariadb.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/binlog');
const T0 = 1_790_000_000; // UTC seconds
const iso = (s: number) => new Date(s * 1000).toISOString();
const name = (n: number, base = 'mysql-bin') => `${base}.${String(n).padStart(6, '0')}`;

function binlogSite(extra = '') {
  return artefactSite(`  - { name: binlog, type: binlog, path: "{root}", basename: mysql-bin, partialIntervalSeconds: 300${extra} }`);
}

/** Writes segment n (closed unless `active`) with events at T0 + n*100 + offsets; mtime at its last event. */
function writeSegment(root: string, n: number, options: { active?: boolean; events?: number } = {}): void {
  const start = T0 + n * 100;
  const events = Array.from({ length: options.events ?? 3 }, (_, i) => ({ ts: start + 10 * (i + 1) }));
  const last = start + 10 * events.length + (options.active ? 0 : 5);
  const bytes = binlogSegment({ startTs: start, events, ...(options.active ? { inUse: true } : { rotateTo: { name: name(n + 1), ts: last } }) });
  writeAt(join(root, name(n)), bytes, new Date(last * 1000));
}

function writeIndex(root: string, numbers: number[]): void {
  writeFileSync(join(root, 'mysql-bin.index'), numbers.map((n) => `./${name(n)}\n`).join(''));
}

/** Records the order in which artefact manifests are published. */
function recording(store: MemoryBlobStore): { store: BlobStore; published: ArtefactManifest[] } {
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

const finals = (ms: ArtefactManifest[]) => ms.filter((m) => !m.partial).map((m) => m.sequence);

describe('binlog source', () => {
  it('ships closed segments in ascending order and the active one only as a partial', async () => {
    const site = binlogSite();
    for (const n of [3, 1, 4, 2]) writeSegment(site.root, n, { active: n === 4 });
    writeIndex(site.root, [1, 2, 3, 4]);
    const { store, published } = recording(new MemoryBlobStore());
    const h = artefactAgent(site.config, store, { clock: new ManualClock(new Date((T0 + 1000) * 1000)) });
    expect(await h.agent.cycle()).toMatchObject({ artefacts: 4, failed: 0 });
    expect(published.map((m) => [m.sequence, m.partial])).toEqual([[1, false], [2, false], [3, false], [4, true]]);
    for (const m of published) expect(m).toMatchObject({ sourceType: 'binlog', role: 'segment', series: 'mysql-bin', spanSource: 'events' });
    expect(published[1]!.span).toEqual({ from: iso(T0 + 200), to: iso(T0 + 235) });
    expect(published[3]!.key).toMatch(/^logs\/site-a\/binlog\/partial\//);
    expect(published[0]!.key).not.toMatch(/partial/);
    expect((await h.agent.cycle()).artefacts).toBe(0); // nothing new; the partial waits for growth and its interval
    expect(h.agent.statusSnapshot().sources[0]).toMatchObject({ type: 'binlog', gaps: [], backlog: { files: 0 }, lastShipped: { sequence: 4, partial: true } });
    h.agent.close();
  });

  it('while the server rotates (a new file the index does not list yet), waits for the segment still open', async () => {
    const site = binlogSite();
    for (const n of [1, 2, 3]) writeSegment(site.root, n, { active: n === 3 });
    writeIndex(site.root, [1, 2]);
    const { store, published } = recording(new MemoryBlobStore());
    const h = artefactAgent(site.config, store);
    await h.agent.cycle();
    expect(published.map((m) => [m.sequence, m.partial])).toEqual([[1, false]]);
    h.agent.close();
  });

  it('reports a gap in the numbering once, by log, alert and status, ships around it and never fills it', async () => {
    const site = binlogSite();
    for (const n of [1, 2, 4, 5, 6]) writeSegment(site.root, n, { active: n === 6 });
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store);
    await h.agent.cycle();
    await h.agent.cycle();
    expect(finals(await artefactManifests(store)).sort()).toEqual([1, 2, 4, 5]);
    expect(h.agent.statusSnapshot().sources[0]).toMatchObject({ gaps: [{ from: 3, to: 3 }] });
    const gapAlerts = h.alerts.filter((a) => a.subject.includes('gap'));
    expect(gapAlerts).toHaveLength(1);
    expect(gapAlerts[0]).toMatchObject({ severity: 'critical', details: { from: 3, to: 3 } });
    expect(gapAlerts[0]!.message).toMatch(/Point-in-time restore cannot cross/);
    h.agent.close();
  });

  it('reports segments the server purged before they were shipped as a gap', async () => {
    const site = binlogSite();
    for (const n of [1, 2, 3, 4]) writeSegment(site.root, n, { active: n === 4 });
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store);
    await h.agent.cycle(); // 1-3 shipped, 4 active
    // The agent is away; the server rotates to 7 and purges everything before 6.
    for (const n of [1, 2, 3, 4]) rmSync(join(site.root, name(n)));
    for (const n of [6, 7]) writeSegment(site.root, n, { active: n === 7 });
    await h.agent.cycle();
    expect(h.agent.statusSnapshot().sources[0]).toMatchObject({ gaps: [{ from: 4, to: 5 }] });
    expect(h.alerts.some((a) => a.subject.includes('segments 4 to 5'))).toBe(true);
    expect(finals(await artefactManifests(store)).sort()).toEqual([1, 2, 3, 6]);
    h.agent.close();
  });

  it('does not hold the next partial back behind one dated ahead of the clock (the clock was a day fast, then set right)', async () => {
    const site = binlogSite();
    const clock = new ManualClock(new Date((T0 + 1000) * 1000 + 86_400_000));
    writeSegment(site.root, 1);
    writeSegment(site.root, 2, { active: true, events: 2 });
    writeIndex(site.root, [1, 2]);
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store, { clock });
    await h.agent.cycle(); // the partial is dated a day ahead
    clock.set(new Date((T0 + 1000) * 1000)); // NTP sets the clock right
    writeSegment(site.root, 2, { active: true, events: 4 });
    expect((await h.agent.cycle()).artefacts).toBe(1);
    h.agent.close();
  });

  it('ships the active segment as partials at most every interval while it grows, then the final once it closes', async () => {
    const site = binlogSite();
    const clock = new ManualClock(new Date((T0 + 1000) * 1000));
    writeSegment(site.root, 1);
    writeSegment(site.root, 2, { active: true, events: 2 });
    writeIndex(site.root, [1, 2]);
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store, { clock });
    const seg2 = () => statSync(join(site.root, name(2))).size;
    await h.agent.cycle();
    const firstSize = seg2();
    writeSegment(site.root, 2, { active: true, events: 4 }); // grows
    clock.advance(100_000);
    expect((await h.agent.cycle()).artefacts).toBe(0); // grown, but the interval has not passed
    clock.advance(201_000);
    expect((await h.agent.cycle()).artefacts).toBe(1);
    clock.advance(400_000);
    expect((await h.agent.cycle()).artefacts).toBe(0); // interval passed, but no growth
    writeSegment(site.root, 2, { events: 5 }); // closes: ROTATE written, in-use flag cleared
    writeSegment(site.root, 3, { active: true, events: 1 });
    writeIndex(site.root, [1, 2, 3]);
    await h.agent.cycle();
    const ms = (await artefactManifests(store)).filter((m) => m.sequence === 2);
    const partials = ms.filter((m) => m.partial).sort((a, b) => a.size - b.size);
    const final = ms.filter((m) => !m.partial);
    expect(partials.map((m) => m.size)).toEqual([firstSize, partials[1]!.size]);
    expect(partials[1]!.size).toBeGreaterThan(firstSize);
    expect(partials.map((m) => m.span)).toEqual([
      { from: iso(T0 + 200), to: iso(T0 + 220) },
      { from: iso(T0 + 200), to: iso(T0 + 240) },
    ]);
    for (const p of partials) expect(p.key).toMatch(/\/partial\//);
    expect(final).toHaveLength(1);
    expect(final[0]).toMatchObject({ partial: false, size: seg2(), span: { from: iso(T0 + 200), to: iso(T0 + 255) } });
    expect((await artefactManifests(store)).some((m) => m.sequence === 3 && m.partial)).toBe(true);
    h.agent.close();
  });

  it('reads spans from real MariaDB segments (committed fixture) and ships them byte for byte', async () => {
    const site = binlogSite();
    const json = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Record<string, { from: string; to: string }>;
    const expected = Object.fromEntries(Object.entries(json).map(([k, v]) => [k, { from: v.from, to: v.to }]));
    for (const n of ['mysql-bin.000001', 'mysql-bin.000002']) copyFileSync(join(FIXTURES, n), join(site.root, n));
    writeIndex(site.root, [1, 2]);
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store);
    await h.agent.cycle();
    const ms = await artefactManifests(store);
    const span = (m: ArtefactManifest) => ({ from: m.span!.from.replace('.000', ''), to: m.span!.to.replace('.000', '') });
    const m1 = ms.find((m) => m.sequence === 1)!;
    const m2 = ms.find((m) => m.sequence === 2)!;
    expect({ partial: m1.partial, spanSource: m1.spanSource, ...span(m1) }).toEqual({ partial: false, spanSource: 'events', ...expected['mysql-bin.000001'] });
    expect({ partial: m2.partial, spanSource: m2.spanSource, ...span(m2) }).toEqual({ partial: true, spanSource: 'events', ...expected['mysql-bin.000002'] });
    expect(m1.takenAt).toBe(m1.span!.to);
    expect((await readAll(store, m1.key)).equals(readFileSync(join(FIXTURES, 'mysql-bin.000001')))).toBe(true);
    h.agent.close();
  });

  it('falls back to file times for segments it cannot read, and detects the base name on its own', async () => {
    const site = artefactSite(`  - { name: rtm, type: binlog, path: "{root}" }`);
    writeAt(join(site.root, 'aria_log.00000001'), 'not a binlog series', new Date((T0 - 50) * 1000));
    for (const n of [1, 2, 3]) writeAt(join(site.root, name(n, 'rtmbinlog')), bytesOf(500, n), new Date((T0 + n * 100) * 1000));
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store);
    await h.agent.cycle();
    const ms = (await artefactManifests(store)).filter((m) => !m.partial).sort((a, b) => a.sequence! - b.sequence!);
    expect(ms.map((m) => [m.name, m.series, m.spanSource])).toEqual([
      ['rtmbinlog.000001', 'rtmbinlog', 'file-times'],
      ['rtmbinlog.000002', 'rtmbinlog', 'file-times'],
    ]);
    // A segment's span runs from the previous segment's last write (when it closed) to its own.
    expect(ms[1]!.span).toEqual({ from: iso(T0 + 100), to: iso(T0 + 200) });
    expect(h.opened.some((p) => p.includes('aria_log'))).toBe(false);
    h.agent.close();
  });

  it('names, index files and gaps', () => {
    expect(detectBasename(['aria_log.00000001', 'mysql-bin.000001', 'mysql-bin.index', 'relay-bin.000001', 'ibdata1'])).toEqual({ basename: 'mysql-bin' });
    expect(detectBasename(['rtmbinlog57.000007', 'rtmbinlog57.000008'])).toEqual({ basename: 'rtmbinlog57' });
    expect(detectBasename(['a-bin.000001', 'b-bin.000001'])).toMatchObject({ problem: expect.stringMatching(/several segment series found \(a-bin, b-bin\); set basename/) });
    expect(detectBasename(['ibdata1'])).toMatchObject({ problem: expect.stringMatching(/no binlog segments/) });
    expect(parseIndex('./mysql-bin.000001\r\n/var/lib/mysql/mysql-bin.000002\n.\\mysql-bin.000010\nother.000003\n', 'mysql-bin')).toEqual([1, 2, 10]);
    expect(findGaps([7, 1, 2, 5, 8])).toEqual([{ from: 3, to: 4 }, { from: 6, to: 6 }]);
    expect(findGaps([])).toEqual([]);
  });
});

describe('binlog source against a live MariaDB', () => {
  let db: MariaDb;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  beforeAll(async () => {
    db = await startMariaDb();
  });
  afterAll(async () => {
    await db?.stop();
  });

  it('says how to install MariaDB when a tool is missing (the helper never skips)', () => {
    expect(() => findMariaDbTool('mariadbd-not-installed')).toThrow(/MariaDB is not installed: "mariadbd-not-installed" was not found.*Run scripts\/setup-system.sh/);
  });

  /** First and last event time of a segment as mariadb-binlog prints them (TZ=UTC). */
  async function eventTimes(path: string): Promise<{ from: string; to: string }> {
    const text = (await db.run('mariadb-binlog', ['--no-defaults', path])).toString('utf8');
    const times = [...text.matchAll(/^#(\d{2})(\d{2})(\d{2}) +(\d{1,2}):(\d{2}):(\d{2}) server id/gm)].map((m) => `20${m[1]}-${m[2]}-${m[3]}T${m[4]!.padStart(2, '0')}:${m[5]}:${m[6]}.000Z`).sort();
    return { from: times[0]!, to: times.at(-1)! };
  }

  it('ships the server\'s closed segments with the spans mariadb-binlog reads, and the active one as a partial', async () => {
    await db.exec('CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, note VARCHAR(40));');
    await db.exec("INSERT INTO shop.orders VALUES (1, 'a');");
    await sleep(1100);
    await db.exec("INSERT INTO shop.orders VALUES (2, 'b');");
    await db.flushBinaryLogs();
    await sleep(1100);
    await db.exec("UPDATE shop.orders SET note = 'c' WHERE id = 1;");
    await db.flushBinaryLogs();
    await db.exec("INSERT INTO shop.orders VALUES (3, 'd');");
    const site = artefactSite(`  - { name: mariadb, type: binlog, path: "${db.datadir}" }`);
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store);
    await h.agent.cycle();
    const segments = db.binlogSegments();
    expect(segments).toHaveLength(3);
    const ms = await artefactManifests(store);
    for (const [i, path] of segments.entries()) {
      const m = ms.find((x) => x.sequence === i + 1)!;
      expect(m, path).toBeDefined();
      expect(m.partial).toBe(i === 2);
      expect(m.spanSource).toBe('events');
      const shipped = await readAll(store, m.key);
      if (!m.partial) expect(shipped.equals(readFileSync(path))).toBe(true);
      // The shipped bytes are a binlog mariadb-binlog reads, with the same first and last event.
      const copy = join(tmpdir(), `ferry-shipped-${process.pid}-${i}`);
      writeFileSync(copy, shipped);
      try {
        expect(m.span).toEqual(await eventTimes(copy));
      } finally {
        rmSync(copy, { force: true });
      }
    }
    // The server closes the active segment: its final ships.
    await db.flushBinaryLogs();
    await h.agent.cycle();
    const after = await artefactManifests(store);
    const final3 = after.find((m) => m.sequence === 3 && !m.partial)!;
    expect(final3.span).toEqual(await eventTimes(segments[2]!));
    expect(after.some((m) => m.sequence === 4 && m.partial)).toBe(true);
    expect(h.agent.statusSnapshot().sources[0]).toMatchObject({ gaps: [] });
    h.agent.close();
  });

  it('records in a full dump\'s manifest the binlog position the dump was taken at (--master-data)', async () => {
    await db.exec("CREATE DATABASE IF NOT EXISTS crm; CREATE TABLE crm.calls (id INT); INSERT INTO crm.calls VALUES (1);");
    const dump = await db.run('mariadb-dump', [...db.clientArgs(), '--master-data=2', '--single-transaction', '--databases', 'crm']);
    const [[file, pos]] = (await db.query('SHOW MASTER STATUS')) as [[string, string]];
    const site = artefactSite(`  - { name: rostrvm, type: rotated, profile: rostrvm, path: "{root}", stableSeconds: 0 }`);
    writeAt(join(site.root, 'rostrvm_1011_1.rbk'), dump, new Date(Date.now() - 60_000));
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store);
    await h.agent.cycle();
    const [m] = await artefactManifests(store);
    expect(m).toMatchObject({ role: 'full', slot: 'rostrvm_1011_1.rbk', position: { logFile: file, logPos: Number(pos) } });
    h.agent.close();
  });
});
