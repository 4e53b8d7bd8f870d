import { describe, it, expect } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { artefactSite, artefactAgent, artefactManifests, writeAt, bytesOf } from '../support/artefact-agent.ts';

// A site host rebuilt from scratch: same site and configuration, an empty state directory, the
// site's disks re-attached. What the store already holds is not a reason to stop shipping.

const T0 = 1_790_000_000; // UTC seconds
const segment = (n: number) => `rtmbinlog.${String(n).padStart(6, '0')}`;

describe('a rebuilt host (empty state directory)', () => {
  it('ships a binlog source\'s new segments although a segment already offsite is described otherwise now (its neighbour purged)', async () => {
    const site = artefactSite(`  - { name: rtm, type: binlog, path: "{root}", basename: rtmbinlog }`);
    // Segments the agent cannot read as binlog v4 (encrypted, say): their spans come from file times.
    for (const n of [1, 2, 3]) writeAt(join(site.root, segment(n)), bytesOf(500, n), new Date((T0 + n * 100) * 1000));
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date((T0 + 1000) * 1000));
    const before = artefactAgent(site.config, store, { clock });
    expect(await before.agent.cycle()).toMatchObject({ failed: 0 });
    before.agent.close();

    // The host dies; by the time it is rebuilt (hours later) the server purged segment 1 and wrote 4 and 5.
    clock.advance(3 * 3_600_000);
    rmSync(join(site.root, segment(1)));
    for (const n of [4, 5]) writeAt(join(site.root, segment(n)), bytesOf(500, n), new Date((T0 + n * 100) * 1000));
    const rebuilt = artefactAgent({ ...site.config, state: join(site.dir, 'state-rebuilt') }, store, { clock });
    const report = await rebuilt.agent.cycle();
    expect(report.failed).toBe(0);
    const finals = (await artefactManifests(store)).filter((m) => !m.partial).map((m) => m.name).sort();
    expect(finals).toEqual([segment(1), segment(2), segment(3), segment(4)]);
    expect(rebuilt.alerts.filter((a) => a.severity !== 'info').map((a) => a.subject)).toEqual([]);
    expect((await rebuilt.agent.cycle()).failed).toBe(0);
    rebuilt.agent.close();
  });
});
