import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, mkdirSync, rmSync, readdirSync, writeFileSync, utimesSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import { parseManifest } from '../../core/manifest.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { readAll } from '../../agent/recover.ts';
import { Journal } from '../../agent/journal.ts';
import { leftView } from '../../agent/state/pending-view.ts';
import { LossLog } from '../../agent/state/loss-log.ts';
import { Observations } from '../../agent/state/observations.ts';
import { StateLockedError } from '../../agent/state/state-lock.ts';

// Random schedules of recorder writes, evictions (between passes and in the middle of one,
// whole batches or half of one), agent passes as cron runs them (a new process each time) and
// as a service (one process for many passes), crashes and restarts. Whatever the schedule,
// every recording the agent saw ends in exactly one state: shipped and catalogued once, or
// reported lost once; and every reported loss is real (the recorder deleted it unshipped).

type Step =
  | { k: 'write'; files: number; fresh: boolean }
  | { k: 'evict' }
  | { k: 'pass'; mode: 'cron' | 'service'; evictAt?: { op: number; half: boolean }; crashAt?: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('write' as const), files: fc.integer({ min: 1, max: 14 }), fresh: fc.boolean() }) },
  { weight: 2, arbitrary: fc.constant<Step>({ k: 'evict' }) },
  {
    weight: 4,
    arbitrary: fc.record(
      {
        k: fc.constant('pass' as const),
        mode: fc.constantFrom('cron' as const, 'service' as const),
        evictAt: fc.record({ op: fc.integer({ min: 1, max: 3 }), half: fc.boolean() }),
        crashAt: fc.integer({ min: 1, max: 4 }),
      },
      { requiredKeys: ['k', 'mode'] },
    ),
  },
);

class Recorder {
  private batch = 0;
  private inBatch = 10;
  private next = 0;
  readonly written = new Set<string>();
  readonly evicted = new Set<string>();
  constructor(readonly root: string) {}

  write(files: number, fresh: boolean): void {
    for (let i = 0; i < files; i++) {
      if (this.inBatch >= 10) {
        this.batch++;
        this.inBatch = 0;
        mkdirSync(join(this.root, this.dirName(this.batch)));
      }
      const dir = this.dirName(this.batch);
      const name = `r${String(this.next++).padStart(5, '0')}.wav`;
      const path = join(this.root, dir, name);
      writeFileSync(path, Buffer.alloc(200 + (this.next % 50), this.next % 251));
      const when = new Date(Date.now() - (fresh ? 0 : 3600_000));
      utimesSync(path, when, when);
      utimesSync(join(this.root, dir), when, when);
      this.inBatch++;
      this.written.add(`${dir}/${name}`);
    }
  }

  private dirName(n: number): string {
    return String(n).padStart(6, '0');
  }

  present(): string[] {
    return readdirSync(this.root).sort().flatMap((d) => readdirSync(join(this.root, d)).map((f) => `${d}/${f}`));
  }

  /** Deletes the oldest batch directory, or only the first half of its files, as `rm -r` does partway. */
  evictOldest(half = false): void {
    const oldest = readdirSync(this.root).sort()[0];
    if (!oldest) return;
    const dir = join(this.root, oldest);
    const files = readdirSync(dir).sort();
    const doomed = half ? files.slice(0, Math.ceil(files.length / 2)) : files;
    for (const f of doomed) {
      rmSync(join(dir, f));
      this.evicted.add(`${oldest}/${f}`);
    }
    if (!half || doomed.length === files.length) {
      rmSync(dir, { recursive: true });
      if (Number(oldest) === this.batch) this.inBatch = 10; // the recorder starts a new directory
    }
  }
}

class CrashError extends Error {
  override readonly name = 'CrashError';
}

/** The store as the agent sees it in one pass: evictions and a crash fire on the n-th pack write. */
function passStore(store: MemoryBlobStore, recorder: Recorder, s: Extract<Step, { k: 'pass' }>): { store: BlobStore; killed: () => boolean } {
  let tarOps = 0;
  let dead = false;
  const guard = (key: string) => {
    if (dead) throw new CrashError('the agent was killed');
    if (!key.endsWith('.tar')) return;
    tarOps++;
    if (s.evictAt?.op === tarOps) recorder.evictOldest(s.evictAt.half);
    if (s.crashAt === tarOps) {
      dead = true;
      throw new CrashError('the agent was killed');
    }
  };
  const wrapped = Object.assign(Object.create(store) as BlobStore, {
    put: async (key: string, body: Uint8Array, opts?: Parameters<BlobStore['put']>[2]) => (guard(key), store.put(key, body, opts)),
    createMultipart: async (key: string, opts?: Parameters<BlobStore['createMultipart']>[1]) => (guard(key), store.createMultipart(key, opts)),
  });
  return { store: wrapped, killed: () => dead };
}

async function run(steps: Step[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-3states-'));
  const recorder = new Recorder(join(dir, 'rec'));
  mkdirSync(recorder.root);
  const config: AgentConfig = parseAgentConfig(`
site: site-p
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 2, partConcurrency: 1, attempts: 1 }
sources:
  - { name: rec, type: recordings, path: ${join(dir, 'rec')}, closeAfterFiles: 10, quietSeconds: 600, settleSeconds: 0 }
`);
  const store = new MemoryBlobStore();
  const alerts: Alert[] = [];
  const seen = new Set<string>();
  const clock = new ManualClock(new Date());
  let service: { agent: Agent; current: { store: BlobStore } } | undefined;
  const newAgent = (current: { store: BlobStore }) =>
    new Agent({
      config,
      store: Object.assign(Object.create(store) as BlobStore, {
        put: (k: string, b: Uint8Array, o?: Parameters<BlobStore['put']>[2]) => current.store.put(k, b, o),
        createMultipart: (k: string, o?: Parameters<BlobStore['createMultipart']>[1]) => current.store.createMultipart(k, o),
      }),
      clock,
      log: silentLogger,
      notifier: { notify: async (a) => void alerts.push(a) },
      verify: 'read-back',
      retryDelayMs: () => 0,
    });

  const pass = async (s: Extract<Step, { k: 'pass' }>) => {
    const faults = passStore(store, recorder, s);
    if (s.mode === 'cron' && service) {
      // A cron run while the service runs on the same state directory is refused, and changes nothing.
      let refused: unknown;
      try {
        newAgent({ store: faults.store }).close();
      } catch (error) {
        refused = error;
      }
      expect(refused, 'a second agent on the same state directory').toBeInstanceOf(StateLockedError);
      return;
    }
    for (const p of recorder.present()) seen.add(p); // a pass scans before it writes anything
    clock.advance(1000);
    const current = service?.current ?? { store: faults.store };
    current.store = faults.store;
    const agent = service?.agent ?? newAgent(current);
    await agent.cycle();
    if (faults.killed() || s.mode === 'cron') {
      // A killed process keeps nothing but its files (everything it wrote was synced); the OS closes its files.
      agent.close();
      service = undefined;
    } else service = { agent, current };
  };

  for (const s of steps) {
    if (s.k === 'write') recorder.write(s.files, s.fresh);
    else if (s.k === 'evict') recorder.evictOldest();
    else await pass(s);
  }
  service?.agent.close(); // the operator stops the service
  service = undefined;
  // The recorder stops; two hours later every batch is quiet: a few healthy cron passes drain it.
  clock.advance(2 * 3600_000);
  for (let i = 0; i < 2; i++) await pass({ k: 'pass', mode: 'cron' });

  const shipped = new Map<string, number>();
  for await (const o of store.list('manifests/')) for (const m of parseManifest(await readAll(store, o.key)).members) shipped.set(m.path, (shipped.get(m.path) ?? 0) + 1);
  const lossLog = new LossLog(config.state, { readOnly: true });
  const lost = new Map<string, number>();
  for (const l of lossLog.all()) for (const f of l.files) lost.set(`${l.batch}/${f.name}`, (lost.get(`${l.batch}/${f.name}`) ?? 0) + 1);

  // Still pending: what the agent holds as seen and unshipped, as `ferry agent status` counts it
  // (the last walk's view, less what the journal shipped and the loss log recorded since): left
  // only when the root ended up empty, which the agent treats as an unmounted share (alerted,
  // nothing called lost).
  const journal = new Journal(config.state, { readOnly: true });
  const view = new Observations(config.state).pending('rec', leftView(journal, lossLog, 'rec'));
  journal.close();
  const pending = new Set([...(view?.batches ?? [])].flatMap(([b, files]) => files.map((f) => `${b}/${f.name}`)));
  if (pending.size > 0) expect(recorder.present()).toEqual([]);
  for (const r of recorder.written) {
    const state = { shipped: shipped.get(r) ?? 0, lost: lost.get(r) ?? 0, pending: pending.has(r) ? 1 : 0 };
    if (seen.has(r)) expect({ r, ...state, one: state.shipped + state.lost + state.pending }).toEqual({ r, ...state, one: 1 });
    else expect({ r, ...state }).toEqual({ r, shipped: 0, lost: 0, pending: 0 }); // never seen: nothing to report
    if (state.lost > 0) expect(recorder.evicted.has(r)).toBe(true); // every loss is real
  }
  for (const p of [...shipped.keys(), ...lost.keys()]) expect(recorder.written.has(p)).toBe(true);
  // Each loss record was alerted once (alone, or in its pass's alert for its source), and nothing else was alerted as critical.
  const critical = alerts.filter((a) => a.severity === 'critical').map((a) => a.key ?? '');
  const told = alerts.filter((a) => a.severity === 'critical' && a.key?.startsWith('loss:')).flatMap((a) => (a.details?.lossIds as string[] | undefined) ?? [a.key!.slice('loss:'.length)]);
  expect(told.sort()).toEqual(lossLog.all().map((l) => l.id).sort());
  // A simulated kill leaves the pass running against a store that refuses everything, so its
  // heartbeat fails and is alerted; a real kill -9 writes nothing at all.
  expect(critical.filter((k) => !k.startsWith('loss:') && k !== 'source-empty:rec' && k !== 'heartbeat')).toEqual([]);
  expect(existsSync(join(config.state, 'observations.json'))).toBe(true);
}

describe('every recording ends in exactly one of three states', () => {
  it('holds for random schedules of writes, evictions, cron and service passes, crashes and restarts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 3, maxLength: 14 }), async (steps) => {
        await run(steps);
      }),
      { numRuns: 40, seed: Number(process.env.FERRY_PROPERTY_SEED ?? 8), endOnFailure: true },
    );
  }, 120_000);
});
