// A restore drill applied to a real scratch MariaDB: the fetched plan's own apply.sh loads the
// full backup, then the check query must answer with what the backup holds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDrill, scratchClient } from '../../cli/drill-commands.ts';
import { rebuildCatalogue } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { min, publishArtefact } from '../support/artefact-fixtures.ts';
import { startMariaDb, type MariaDb } from '../support/mariadb.ts';

let db: MariaDb;
const blobs = new MemoryBlobStore();
const catalogue = new MemoryCatalogue();
const now = () => new Date('2026-03-01T12:00:00.000Z');

beforeAll(async () => {
  db = await startMariaDb();
  // Re-runnable, as a drill against the same scratch server is.
  const dump = 'CREATE DATABASE IF NOT EXISTS drill;\nCREATE TABLE IF NOT EXISTS drill.calls (id INT PRIMARY KEY);\nINSERT IGNORE INTO drill.calls VALUES (1),(2),(3);\n';
  await publishArtefact(blobs, { source: 'db', sourceType: 'rotated', role: 'full', name: 'full.sql', body: Buffer.from(dump), takenAt: min(0) });
  await rebuildCatalogue({ blobs, catalogue });
}, 120_000);

afterAll(async () => {
  await db?.stop();
});

describe('restore drill on a scratch MariaDB', () => {
  it('applies the fetched plan with its apply.sh and the check query answers with the backup\'s rows', async () => {
    const result = await runDrill({ blobs, catalogue }, { site: 'site-a', source: 'db', now, scratch: { dsn: `mariadb://root@localhost?socket=${db.socket}`, check: 'SELECT COUNT(*) FROM drill.calls' } });
    expect(result.problems).toEqual([]);
    expect(result.applied).toEqual({ dsn: `mariadb://root@localhost?socket=${db.socket}`, check: 'SELECT COUNT(*) FROM drill.calls', result: '3' });
    expect(await db.query('SELECT id FROM drill.calls ORDER BY id')).toEqual([['1'], ['2'], ['3']]);
  }, 60_000);

  it('fails the drill when the check query fails, saying so', async () => {
    const result = await runDrill({ blobs, catalogue }, { site: 'site-a', source: 'db', now, scratch: { dsn: `mariadb://root@localhost?socket=${db.socket}`, check: 'SELECT COUNT(*) FROM drill.missing' } });
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([expect.stringMatching(/^check query failed on the scratch database: .*drill\.missing/)]);
  }, 60_000);

  it('refuses a scratch database that is not a mariadb:// or mysql:// URL, and keeps a password off the command line', () => {
    expect(() => scratchClient('postgres://x@y')).toThrow('--scratch-db "postgres://x@y" must start with mariadb:// or mysql://');
    expect(scratchClient('mysql://app:s3cret@db.example:3307')).toEqual({ command: 'mysql --no-defaults --user=app --host=db.example --port=3307', env: { MYSQL_PWD: 's3cret' } });
  });
});
