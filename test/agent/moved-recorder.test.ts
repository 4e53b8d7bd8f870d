import { describe, it, expect } from 'vitest';
import { cpSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { ManualClock } from '../../core/clock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { Alert } from '../../core/ports.ts';
import { CUT_SHORT_HOLD_MS } from '../../agent/sources/recordings.ts';
import { Journal } from '../../agent/journal.ts';
import { writeTree } from '../support/recorder-tree.ts';

// The recorder moved to a new PC as its manual says: the calls folder copied to the new server's
// call storage path, the agent's state directory copied along. A copy that does not keep file
// times (`cp -r`, a Windows Explorer copy) gives every recording a new time and the same bytes.

async function listKeys(store: MemoryBlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list(prefix)) keys.push(o.key);
  return keys;
}

/** Copies `from` to `to` as a copy that keeps no times does: every file and directory dated `at`. */
function copyWithoutTimes(from: string, to: string, at: Date): void {
  cpSync(from, to, { recursive: true, preserveTimestamps: false });
  for (const batch of readdirSync(to)) {
    for (const name of readdirSync(join(to, batch))) utimesSync(join(to, batch, name), at, at);
    utimesSync(join(to, batch), at, at);
  }
}

function site() {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-moved-'));
  const oldRoot = join(dir, 'old');
  const newRoot = join(dir, 'new');
  mkdirSync(oldRoot);
  writeTree(oldRoot, 3, 10);
  const config = (root: string) => parseAgentConfig(`site: site-a\nstate: ${join(dir, 'state')}\nsources:\n  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 10, settleSeconds: 1 }\n`);
  const store = new MemoryBlobStore();
  const alerts: Alert[] = [];
  const clock = new ManualClock(new Date());
  const pass = async (root: string) => {
    const agent = new Agent({ config: config(root), store, clock, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'read-back', retryDelayMs: () => 1 });
    try {
      return await agent.cycle();
    } finally {
      agent.close();
    }
  };
  return { oldRoot, newRoot, store, alerts, clock, pass, state: join(dir, 'state') };
}

describe('a calls folder copied to a new PC without its file times, the state directory copied along', () => {
  it('sends no pack again, reads none back, stores nothing again and raises no alert that the recordings changed; later batches ship as before', async () => {
    const { oldRoot, newRoot, store, alerts, clock, pass } = site();
    expect(await pass(oldRoot)).toMatchObject({ packs: 3, recordings: 30 });
    const stored = await listKeys(store, 'recordings/');
    copyWithoutTimes(oldRoot, newRoot, new Date(clock.now().getTime() - 10 * 60_000));
    // Nor is any pack read back (that would download the recorder's disk to save sending it).
    const get = store.get.bind(store);
    const packsRead: string[] = [];
    store.get = (key, ...rest) => (key.startsWith('recordings/') && packsRead.push(key), get(key, ...rest));
    clock.advance(60_000);
    const moved = await pass(newRoot);
    expect(moved).toMatchObject({ packs: 0, recordings: 0, bytes: 0, failed: 0, lost: 0, found: { packs: 3, recordings: 30 } });
    expect(packsRead).toEqual([]);
    expect(await listKeys(store, 'recordings/')).toEqual(stored);
    expect(alerts.filter((a) => a.key?.startsWith('reshipped:cs:'))).toEqual([]);
    clock.advance(60_000);
    expect(await pass(newRoot)).toMatchObject({ packs: 0, recordings: 0, failed: 0 });
    // The recorder carries on on the new PC: its next batch ships.
    writeTree(newRoot, 1, 10, { firstBatch: 4, now: clock.now().getTime() });
    clock.advance(60_000);
    expect(await pass(newRoot)).toMatchObject({ packs: 1, recordings: 10, failed: 0 });
  });

  it('sends nothing again when the copied recordings are touched once more (a second move, a scanner), and raises no alert that they changed', async () => {
    const { oldRoot, newRoot, store, alerts, clock, pass } = site();
    await pass(oldRoot);
    const stored = await listKeys(store, 'recordings/');
    copyWithoutTimes(oldRoot, newRoot, new Date(clock.now().getTime() - 10 * 60_000));
    clock.advance(60_000);
    expect(await pass(newRoot)).toMatchObject({ packs: 0, found: { packs: 3, recordings: 30 } });
    const again = join(newRoot, '..', 'again');
    copyWithoutTimes(newRoot, again, new Date(clock.now().getTime() - 5 * 60_000));
    clock.advance(60_000);
    expect(await pass(again)).toMatchObject({ packs: 0, recordings: 0, failed: 0, found: { packs: 3, recordings: 30 } });
    expect(await listKeys(store, 'recordings/')).toEqual(stored);
    expect(alerts.filter((a) => a.key?.startsWith('reshipped:cs:'))).toEqual([]);
  });

  it('killed between the journal lines of a batch found offsite: the restart counts it found, not shipped, and sends nothing', async () => {
    const { oldRoot, newRoot, store, clock, pass, state } = site();
    await pass(oldRoot);
    const stored = await listKeys(store, 'recordings/');
    copyWithoutTimes(oldRoot, newRoot, new Date(clock.now().getTime() - 10 * 60_000));
    clock.advance(60_000);
    expect(await pass(newRoot)).toMatchObject({ packs: 0, found: { packs: 3, recordings: 30 } });
    // The lines that said the batches were found never reached the disk (kill -9 right after their begin lines).
    const file = join(state, 'journal.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    const kept = lines.filter((l) => !(JSON.parse(l) as { e: string; found?: 1 }).found);
    expect(lines.length - kept.length).toBe(3);
    writeFileSync(file, `${kept.join('\n')}\n`);
    clock.advance(60_000);
    expect(await pass(newRoot)).toMatchObject({ packs: 0, recordings: 0, failed: 0 });
    expect(await listKeys(store, 'recordings/')).toEqual(stored);
    const totals = new Journal(state, { readOnly: true }).totals;
    expect(totals).toMatchObject({ packs: 3, recordings: 30, foundPacks: 3, foundRecordings: 30 });
  });

  it('ships again the batch of a recording whose bytes differ from what shipped (same name and size), and only that batch', async () => {
    const { oldRoot, newRoot, store, clock, pass } = site();
    await pass(oldRoot);
    const before = (await listKeys(store, 'recordings/')).length;
    const at = new Date(clock.now().getTime() - 10 * 60_000);
    copyWithoutTimes(oldRoot, newRoot, at);
    const changed = join(newRoot, '000002', readdirSync(join(newRoot, '000002')).find((n) => n.endsWith('.wav'))!);
    writeFileSync(changed, readFileSync(changed).map((b) => b ^ 0x5a));
    utimesSync(changed, at, at);
    clock.advance(60_000);
    expect(await pass(newRoot)).toMatchObject({ packs: 1, recordings: 10, found: { packs: 2, recordings: 20 } });
    expect((await listKeys(store, 'recordings/')).length).toBe(before + 1);
  });

  it('does not ship a recording the copy has written only part of, even when the copy stalls past the stability window; the batch is found offsite once it is whole', async () => {
    const { oldRoot, newRoot, store, clock, pass } = site();
    await pass(oldRoot);
    const stored = await listKeys(store, 'recordings/');
    const at = new Date(clock.now().getTime() - 20 * 60_000);
    copyWithoutTimes(oldRoot, newRoot, at);
    // The copy stalled 20 minutes ago in the middle of one recording of batch 000002.
    const name = readdirSync(join(newRoot, '000002')).find((n) => n.endsWith('.wav'))!;
    const whole = readFileSync(join(oldRoot, '000002', name));
    writeFileSync(join(newRoot, '000002', name), whole.subarray(0, whole.length >> 1));
    utimesSync(join(newRoot, '000002', name), at, at);
    clock.advance(60_000);
    // The rest of 000002 is found offsite now; the half-written recording waits.
    expect(await pass(newRoot)).toMatchObject({ packs: 0, recordings: 0, found: { packs: 3, recordings: 29 } });
    expect(await listKeys(store, 'recordings/')).toEqual(stored);
    // The copy goes on and writes the rest.
    writeFileSync(join(newRoot, '000002', name), whole);
    const done = new Date(clock.now().getTime() - 5 * 60_000);
    utimesSync(join(newRoot, '000002', name), done, done);
    clock.advance(60_000);
    expect(await pass(newRoot)).toMatchObject({ packs: 0, recordings: 0, failed: 0, found: { packs: 1, recordings: 1 } });
    expect(await listKeys(store, 'recordings/')).toEqual(stored);
  });

  it('ships a recording that stays shorter than the one of its name shipped before, once it has been unchanged a day (nothing is held for ever)', async () => {
    const { oldRoot, store, clock, pass } = site();
    await pass(oldRoot);
    const before = (await listKeys(store, 'recordings/')).length;
    // A recording of batch 000003 rewritten shorter (a recorder whose numbering restarted writes a new call under an old name).
    const name = readdirSync(join(oldRoot, '000003')).find((n) => n.endsWith('.wav'))!;
    writeFileSync(join(oldRoot, '000003', name), Buffer.alloc(100, 1));
    const at = new Date(clock.now().getTime() - 10 * 60_000);
    utimesSync(join(oldRoot, '000003', name), at, at);
    clock.advance(60_000);
    expect(await pass(oldRoot)).toMatchObject({ packs: 0, recordings: 0 });
    clock.advance(CUT_SHORT_HOLD_MS);
    expect(await pass(oldRoot)).toMatchObject({ packs: 1, recordings: 1, lost: 0 });
    expect((await listKeys(store, 'recordings/')).length).toBe(before + 1);
  });

  it('sends nothing for a batch the copy stopped in between two files past its quiet time, nor for the rest of it once copied', async () => {
    const { oldRoot, newRoot, store, alerts, clock, pass } = site();
    await pass(oldRoot);
    const stored = await listKeys(store, 'recordings/');
    const at = new Date(clock.now().getTime() - 20 * 60_000);
    copyWithoutTimes(oldRoot, newRoot, at);
    // The copy stopped 20 minutes ago (past the batch's quiet time) after the first 6 recordings of 000003 and their sidecars.
    const later = readdirSync(join(newRoot, '000003')).filter((n) => n.endsWith('.wav')).sort().slice(6);
    for (const name of later) for (const f of [name, name.replace(/\.wav$/, '.json')]) rmSync(join(newRoot, '000003', f));
    utimesSync(join(newRoot, '000003'), at, at);
    clock.advance(60_000);
    expect(await pass(newRoot)).toMatchObject({ packs: 0, recordings: 0, failed: 0, found: { packs: 3, recordings: 26 } });
    copyWithoutTimes(oldRoot, join(newRoot, '..', 'rest'), new Date(clock.now().getTime() - 5 * 60_000));
    for (const name of later) for (const f of [name, name.replace(/\.wav$/, '.json')]) cpSync(join(newRoot, '..', 'rest', '000003', f), join(newRoot, '000003', f), { preserveTimestamps: true });
    clock.advance(60_000);
    expect(await pass(newRoot)).toMatchObject({ packs: 0, recordings: 0, failed: 0, found: { packs: 1, recordings: 4 } });
    expect(await listKeys(store, 'recordings/')).toEqual(stored);
    expect(alerts.filter((a) => a.key?.startsWith('reshipped:cs:'))).toEqual([]);
  });

  it('sends nothing again for a batch the old PC shipped after its state directory was copied, once the copy of the calls arrives without times', async () => {
    const { oldRoot, newRoot, store, clock, pass, state } = site();
    await pass(oldRoot);
    const copied = `${state}-copy`;
    cpSync(state, copied, { recursive: true, preserveTimestamps: true });
    // The old PC records one more batch and its agent's last cron pass ships it, after the state directory was copied.
    writeTree(oldRoot, 1, 10, { firstBatch: 4, now: clock.now().getTime() });
    clock.advance(60_000);
    expect(await pass(oldRoot)).toMatchObject({ packs: 1, recordings: 10 });
    const stored = await listKeys(store, 'recordings/');
    rmSync(state, { recursive: true });
    cpSync(copied, state, { recursive: true, preserveTimestamps: true });
    copyWithoutTimes(oldRoot, newRoot, new Date(clock.now().getTime() - 10 * 60_000));
    clock.advance(60_000);
    expect(await pass(newRoot)).toMatchObject({ packs: 0, recordings: 0, lost: 0, found: { packs: 4, recordings: 40 } });
    expect(await listKeys(store, 'recordings/')).toEqual(stored);
  });
});

describe('recordings shorter than the ones of their names already offsite, held back', () => {
  it('says so at once as a warning naming the batch while a copy stalls in a file, and resolves it once the copy completes', async () => {
    const { oldRoot, newRoot, alerts, clock, pass } = site();
    await pass(oldRoot);
    const at = new Date(clock.now().getTime() - 20 * 60_000);
    copyWithoutTimes(oldRoot, newRoot, at);
    const name = readdirSync(join(newRoot, '000002')).find((n) => n.endsWith('.wav'))!;
    const whole = readFileSync(join(oldRoot, '000002', name));
    writeFileSync(join(newRoot, '000002', name), whole.subarray(0, whole.length >> 1));
    utimesSync(join(newRoot, '000002', name), at, at);
    clock.advance(60_000);
    expect(await pass(newRoot)).toMatchObject({ packs: 0, failed: 0 });
    const held = alerts.filter((a) => a.key === 'cut-short:cs');
    expect(held.map((a) => a.severity)).toEqual(['warning']);
    expect(held[0]!.subject).toBe('cs: 1 recordings shorter than the ones of their names already offsite');
    expect(held[0]!.details).toMatchObject({ files: 1, batches: ['000002'] });
    // Still held at the next pass: the alert stays open (not resolved, not sent again).
    clock.advance(60_000);
    expect(await pass(newRoot)).toMatchObject({ packs: 0, failed: 0 });
    expect(alerts.filter((a) => a.key === 'cut-short:cs').map((a) => a.severity)).toEqual(['warning']);
    writeFileSync(join(newRoot, '000002', name), whole);
    const done = new Date(clock.now().getTime() - 5 * 60_000);
    utimesSync(join(newRoot, '000002', name), done, done);
    clock.advance(60_000);
    expect(await pass(newRoot)).toMatchObject({ packs: 0, failed: 0, found: { packs: 1, recordings: 1 } });
    expect(alerts.filter((a) => a.key === 'cut-short:cs').map((a) => a.severity)).toEqual(['warning', 'info']);
  });

  it('raises a critical alert and fails the pass at once when every recording of the recorder shrank (files truncated), not a day later when they ship', async () => {
    const { oldRoot, store, alerts, clock, pass } = site();
    await pass(oldRoot);
    const stored = await listKeys(store, 'recordings/');
    const at = new Date(clock.now().getTime() - 10 * 60_000);
    for (const batch of readdirSync(oldRoot)) {
      for (const name of readdirSync(join(oldRoot, batch)).filter((n) => n.endsWith('.wav'))) {
        writeFileSync(join(oldRoot, batch, name), readFileSync(join(oldRoot, batch, name)).subarray(0, 64));
        utimesSync(join(oldRoot, batch, name), at, at);
      }
    }
    clock.advance(60_000);
    expect(await pass(oldRoot)).toMatchObject({ packs: 0, recordings: 0, failed: 1 });
    expect(await listKeys(store, 'recordings/')).toEqual(stored);
    const held = alerts.filter((a) => a.key === 'cut-short:cs');
    expect(held.map((a) => a.severity)).toEqual(['critical']);
    expect(held[0]!.details).toMatchObject({ files: 30, batches: ['000001', '000002', '000003'] });
  });

  it('ships at once a recording that never shipped from the batch holding one held back, so that the recorder evicting the batch within the day loses none', async () => {
    const { oldRoot, store, clock, pass } = site();
    await pass(oldRoot);
    const before = (await listKeys(store, 'recordings/')).length;
    const at = new Date(clock.now().getTime() - 10 * 60_000);
    // A recorder whose numbering restarted writes into batch 000003 again: a call under an old name, shorter, and a new one.
    const name = readdirSync(join(oldRoot, '000003')).find((n) => n.endsWith('.wav'))!;
    writeFileSync(join(oldRoot, '000003', name), Buffer.alloc(100, 1));
    writeFileSync(join(oldRoot, '000003', 'new-call.wav'), Buffer.alloc(3000, 2));
    for (const f of [name, 'new-call.wav']) utimesSync(join(oldRoot, '000003', f), at, at);
    clock.advance(60_000);
    expect(await pass(oldRoot)).toMatchObject({ packs: 1, recordings: 1, failed: 0 });
    expect((await listKeys(store, 'recordings/')).length).toBe(before + 1);
    // Evicted within the day: the new call is offsite; only the one held back is gone, recorded
    // as what it is (a shorter copy of a recording offsite, or a new call under an old name), not a certain loss.
    rmSync(join(oldRoot, '000003'), { recursive: true });
    clock.advance(60_000);
    expect(await pass(oldRoot)).toMatchObject({ packs: 0, lost: 0 });
  });

  it('records a recording held back as cut short that the recorder evicts within the day as a warning saying what it is (this shorter copy never shipped, the longer one is offsite), not a certain loss', async () => {
    const { oldRoot, newRoot, alerts, clock, pass, state } = site();
    await pass(oldRoot);
    const at = new Date(clock.now().getTime() - 20 * 60_000);
    copyWithoutTimes(oldRoot, newRoot, at);
    // The copy stalled in the middle of one recording of batch 000002.
    const name = readdirSync(join(newRoot, '000002')).find((n) => n.endsWith('.wav'))!;
    const whole = readFileSync(join(oldRoot, '000002', name));
    writeFileSync(join(newRoot, '000002', name), whole.subarray(0, whole.length >> 1));
    utimesSync(join(newRoot, '000002', name), at, at);
    clock.advance(60_000);
    expect(await pass(newRoot)).toMatchObject({ packs: 0, found: { packs: 3, recordings: 29 } });
    alerts.length = 0;
    // The new PC's recorder evicts the batch before the hold ends.
    rmSync(join(newRoot, '000002'), { recursive: true });
    clock.advance(60_000);
    expect(await pass(newRoot)).toMatchObject({ packs: 0, lost: 0 });
    const losses = alerts.filter((a) => /gone|lost/.test(a.subject));
    expect(losses).toEqual([expect.objectContaining({ severity: 'warning', subject: '1 recording(s) gone while held back: shorter than the one of their name already offsite' })]);
    expect(losses[0]!.message).toContain('this shorter copy never shipped; the longer one is offsite');
    expect(losses[0]!.message).toMatch(/copies cut short of recordings already offsite and nothing is lost/);
    const log = readFileSync(join(state, 'losses.jsonl'), 'utf8');
    expect(log).toContain('"cutShort":true');
  });

  it('records a recording held back as cut short at the last pass as a warning when the next pass comes after the hold would have ended (a daily cron), not a certain loss', async () => {
    const { oldRoot, newRoot, alerts, clock, pass } = site();
    await pass(oldRoot);
    const at = new Date(clock.now().getTime() - 20 * 60_000);
    copyWithoutTimes(oldRoot, newRoot, at);
    const name = readdirSync(join(newRoot, '000002')).find((n) => n.endsWith('.wav'))!;
    const whole = readFileSync(join(oldRoot, '000002', name));
    writeFileSync(join(newRoot, '000002', name), whole.subarray(0, whole.length >> 1));
    utimesSync(join(newRoot, '000002', name), at, at);
    clock.advance(60_000);
    expect(await pass(newRoot)).toMatchObject({ packs: 0, found: { packs: 3, recordings: 29 } });
    alerts.length = 0;
    // Evicted while held back; the next pass runs a day later, past the hold.
    rmSync(join(newRoot, '000002'), { recursive: true });
    clock.advance(25 * 3600_000);
    expect(await pass(newRoot)).toMatchObject({ lost: 0 });
    const losses = alerts.filter((a) => /gone|lost/.test(a.subject));
    expect(losses).toEqual([expect.objectContaining({ severity: 'warning', subject: '1 recording(s) gone while held back: shorter than the one of their name already offsite' })]);
  });
});
