import { describe, it, expect } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { AlertBook } from '../../agent/state/alert-book.ts';
import { artefactSite, artefactAgent, writeAt } from '../support/artefact-agent.ts';

// A backup that could not be shipped (here a dump job that died half way: its file never ends
// with the tool's last line) and that then leaves the site (the job's clean-up removes the partial
// file, a rotation deletes it) has nothing left to ship. Its `ship-failed` alert, resolved only by
// shipping the file, stayed open for ever: listed by `agent status`, carried by every heartbeat.

const MIN = 60_000;

describe('the ship-failed alert of a backup file that leaves the site', () => {
  it('is resolved by the next pass that does not find the file, saying it is no longer on the site, and is no longer listed as open', async () => {
    const site = artefactSite(`  - { name: shop-db, type: rotated, profile: generic, patterns: ["*.sql"], path: "{root}", stableSeconds: 20 }`);
    const clock = new ManualClock(new Date());
    const h = artefactAgent(site.config, new MemoryBlobStore(), { clock });
    const file = join(site.root, 'nightly.sql');
    writeAt(file, `-- MariaDB dump 10.19\n${'INSERT INTO t VALUES (1);\n'.repeat(1000)}`, new Date(clock.now().getTime() - MIN));
    try {
      await h.agent.cycle();
      clock.advance(30_000);
      expect(await h.agent.cycle()).toMatchObject({ artefacts: 0, failed: 1 });
      expect(h.alerts.map((a) => a.key)).toEqual(['ship-failed:shop-db:nightly.sql']);

      rmSync(file); // the dump job's clean-up removes its partial file
      clock.advance(5 * MIN);
      await h.agent.cycle();
      const resolved = h.alerts.filter((a) => a.key === 'ship-failed:shop-db:nightly.sql').at(-1);
      expect(resolved).toMatchObject({ severity: 'info', subject: 'resolved: nightly.sql could not be shipped' });
      expect(resolved!.message).toBe('nightly.sql of source shop-db is no longer on the site: nothing of it is left to ship (a version removed before it was shipped is reported as lost).');
      expect(AlertBook.read(site.config.state).map((a) => a.key)).toEqual([]);
    } finally {
      h.agent.close();
    }
  });
});
