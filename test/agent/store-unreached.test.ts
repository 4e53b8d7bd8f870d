import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { TransientError } from '../../core/errors.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { Agent } from '../../agent/agent.ts';
import { AlertBook } from '../../agent/state/alert-book.ts';
import { silentLogger } from '../../agent/log.ts';
import { writeTree } from '../support/recorder-tree.ts';

// A branch line that drops: every backup, log and recordings source with work in a pass fails to
// ship it, and the heartbeat fails too. One cause, one page: the heartbeat's, after an hour, with
// what to do. Before, each file and each recordings source paged at once ("could not be shipped",
// nothing to do but wait), and each was resolved again minutes later when the line came back.

/** The store as the line lets it be reached: `down` fails every request, `uploads` only those of what the site ships (the heartbeat gets through); `refused` has the store answer those with a 403 worth asking again (RequestTimeTooSkewed). */
function line(store: MemoryBlobStore, state: { down: boolean; uploads: boolean; refused?: boolean }): BlobStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || prop === 'features') return value;
      return (...args: unknown[]) => {
        const key = typeof args[0] === 'string' ? args[0] : '';
        if (state.refused && !key.startsWith('heartbeats/') && prop !== 'list' && prop !== 'listMultipart' && prop !== 'head' && prop !== 'get') {
          const answer = Object.assign(new Error('The difference between the request time and the current time is too large.'), { name: 'RequestTimeTooSkewed', $metadata: { httpStatusCode: 403, requestId: 'R1' } });
          return Promise.reject(new TransientError(`S3 ${String(prop)} ${key}: RequestTimeTooSkewed: ${answer.message}`, { cause: answer }));
        }
        const cut = state.down || (state.uploads && !key.startsWith('heartbeats/'));
        if (cut && (prop === 'list' || prop === 'listMultipart'))
          return (async function* () {
            yield* [];
            throw new TransientError(`connect ECONNREFUSED 10.0.0.1:443 (${String(prop)})`);
          })();
        if (cut) return Promise.reject(new TransientError(`S3 ${String(prop)} ${key}: connect ECONNREFUSED 10.0.0.1:443`));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

function site() {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-unreached-'));
  const rec = join(dir, 'rec');
  const bak = join(dir, 'bak');
  mkdirSync(rec);
  mkdirSync(bak);
  const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: { attempts: 2, packConcurrency: 1 }
sources:
  - { name: cs, type: recordings, path: ${rec}, closeAfterFiles: 3, quietSeconds: 60, settleSeconds: 1 }
  - { name: db, type: rotated, profile: generic, patterns: ["*.bak"], path: ${bak}, stableSeconds: 60 }
`);
  const state: { down: boolean; uploads: boolean; refused?: boolean } = { down: false, uploads: false };
  const store = line(new MemoryBlobStore(), state);
  const clock = new ManualClock(new Date('2026-12-07T08:00:00Z'));
  const alerts: Alert[] = [];
  const pass = async () => {
    const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'etag', retryDelayMs: () => 1 });
    try {
      return await agent.cycle();
    } finally {
      agent.close();
    }
  };
  /** New work on the site: a batch of recordings and tonight's backup, both long settled. */
  const work = (batch: number) => {
    writeTree(rec, 1, 3, { firstBatch: batch, ageMs: 3_600_000, now: clock.now().getTime() });
    const file = join(bak, `full-${batch}.bak`);
    writeFileSync(file, Buffer.alloc(4096, batch));
    const old = new Date(clock.now().getTime() - 3_600_000);
    utimesSync(file, old, old);
  };
  return { config, state, clock, alerts, pass, work };
}

describe('a line down that keeps every source from the store', () => {
  it('pages once, by the heartbeat after an hour, not by each file and recordings source at once; nothing is resolved that was never told', async () => {
    const s = site();
    await s.pass();
    s.work(1);
    s.state.down = true;
    for (let i = 0; i < 3; i++) {
      s.clock.advance(15 * 60_000);
      expect((await s.pass()).failed).toBeGreaterThan(0);
    }
    expect(s.alerts).toEqual([]);
    s.clock.advance(20 * 60_000);
    await s.pass();
    expect(s.alerts.map((a) => `${a.severity} ${a.key}`)).toEqual(['critical heartbeat']);

    s.state.down = false;
    s.clock.advance(5 * 60_000);
    const back = await s.pass();
    expect(back).toMatchObject({ failed: 0, artefacts: 1 });
    expect(s.alerts.map((a) => `${a.severity} ${a.key}`)).toEqual(['critical heartbeat', 'info heartbeat']);
    expect(AlertBook.read(s.config.state)).toEqual([]);
  });
});

describe('a line that carries the heartbeat but drops every upload', () => {
  it('raises nothing for a day, then one critical alert for the file and one for the recordings source, saying since when, what to do and that it resolves by itself; both resolve once shipped', async () => {
    const s = site();
    await s.pass();
    s.work(1);
    s.state.uploads = true;
    const started = s.clock.now().getTime();
    await s.pass();
    for (let h = 2; h <= 22; h += 2) {
      s.clock.advance(2 * 3_600_000);
      await s.pass();
    }
    expect(s.alerts).toEqual([]);
    s.clock.advance(5 * 3_600_000);
    await s.pass();
    // The batch failed from the first pass on; the backup from the pass after, the first to find it settled.
    const since = new Date(started).toISOString();
    const fileSince = new Date(started + 2 * 3_600_000).toISOString();
    expect(s.alerts.map((a) => `${a.severity} ${a.key} ${a.subject}`)).toEqual([
      'critical ship-failed:cs cs: 1 batch(es) not offsite after 27 h: the store cannot be reached',
      'critical ship-failed:db:full-1.bak full-1.bak of db is not offsite after 25 h: the store cannot be reached',
    ]);
    const file = s.alerts[1]!.message;
    expect(file).toContain(`Every pass since ${fileSince} failed to ship full-1.bak of source db: the line failed. Last error: S3 `);
    expect(file).toContain('Look at the line to the store');
    expect(file).toContain('This alert resolves by itself once the file is offsite or no longer on the site.');
    expect(AlertBook.read(s.config.state).map((a) => a.raisedAt)).toEqual([since, fileSince]);

    s.state.uploads = false;
    s.clock.advance(5 * 60_000);
    await s.pass();
    expect(s.alerts.slice(2).map((a) => `${a.severity} ${a.subject}`).sort()).toEqual([
      'info resolved: cs: 1 batch(es) not offsite after 27 h: the store cannot be reached',
      'info resolved: full-1.bak of db is not offsite after 25 h: the store cannot be reached',
    ]);
  });

});

describe('a store that answers every upload with a refusal worth asking again', () => {
  it('pages at once, each file and recordings source as before: the store was reached, so it is not the line down waited out for a day', async () => {
    const s = site();
    await s.pass();
    s.work(1);
    s.state.refused = true;
    s.clock.advance(15 * 60_000);
    await s.pass();
    s.clock.advance(15 * 60_000);
    await s.pass();
    expect(s.alerts.map((a) => `${a.severity} ${a.key}`).sort()).toEqual(['warning ship-failed:cs', 'warning ship-failed:db:full-1.bak']);
    expect(s.alerts.map((a) => a.message).join('\n')).toContain('RequestTimeTooSkewed');
  });
});
