import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callMetadataSchema } from '../../core/manifest.ts';
import { createMetadataExtractor } from '../../core/metadata.ts';
import { SAMPLE_RATE, callWav, createRng, loadPhraseBank, makeWav, parseWav, synthesizeCall, type PhraseBank } from '../../scripts/demo/audio.ts';
import { SimulatedRecorder } from '../../scripts/demo/recorder.ts';
import { AGENTS, generateBatches, type GeneratedRecording } from '../../scripts/demo/site.ts';

const onPath = (cmd: string) => (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, cmd)));
const hasSpeechTools = onPath('espeak-ng') && onPath('sox');
const START = new Date('2024-03-31T00:20:00Z'); // the first calls straddle the UK clocks going forward

let work: string;
let bank: PhraseBank;
const logged: string[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ferry-demo-test-'));
  // Its own cache: the bank is loaded once per process and options, and other test files in
  // this process may have loaded the default one already (without this log).
  bank = await loadPhraseBank({ cacheDir: join(work, 'voice'), log: (line) => logged.push(line) });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const sha = (r: GeneratedRecording[]) => r.map((x) => x.sha256);

describe('audio', () => {
  it('writes a canonical PCM WAV header and reads it back', () => {
    const samples = Int16Array.from([0, 1, -1, 32767, -32768, 1234]);
    const wav = makeWav(samples, 8000);
    expect(wav.length).toBe(44 + 12);
    expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
    expect(wav.readUInt32LE(4)).toBe(36 + 12);
    expect(wav.toString('ascii', 8, 16)).toBe('WAVEfmt ');
    expect(wav.readUInt32LE(16)).toBe(16);
    expect(wav.toString('ascii', 36, 40)).toBe('data');
    expect(wav.readUInt32LE(40)).toBe(12);
    const parsed = parseWav(wav);
    expect(parsed).toMatchObject({ format: 1, channels: 1, sampleRate: 8000, byteRate: 16000, blockAlign: 2, bitsPerSample: 16 });
    expect([...parsed.samples]).toEqual([...samples]);
    expect(() => parseWav(wav.subarray(0, 50))).toThrow(/RIFF size/);
  });

  it.skipIf(!onPath('soxi'))('is read by sox as 8 kHz mono 16-bit of the right length', async () => {
    const file = join(work, 'one.wav');
    await writeFile(file, callWav(bank, { seconds: 2.5, seed: 1 }));
    const soxi = (flag: string) => execFileSync('soxi', [flag, file], { encoding: 'utf8' }).trim();
    expect(['-r', '-c', '-b', '-s', '-e'].map(soxi)).toEqual(['8000', '1', '16', '20000', 'Signed Integer PCM']);
  });

  it('takes the espeak-ng + sox path when both are installed, and says which once', () => {
    expect(bank.path).toBe(hasSpeechTools ? 'espeak-ng+sox' : 'synthetic');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/^demo audio: /);
    expect(bank.phrases.length).toBeGreaterThanOrEqual(6);
    expect(bank.sampleRate).toBe(SAMPLE_RATE);
  });

  it.each([false, true])('makes distinct, audible, deterministic calls of the requested length (synthetic: %s)', async (synthetic) => {
    const b = synthetic ? await loadPhraseBank({ synthetic: true, log: () => undefined }) : bank;
    const a = synthesizeCall(b, { samples: 24_000, seed: 11 });
    expect(a.length).toBe(24_000);
    expect(synthesizeCall(b, { samples: 24_000, seed: 11 })).toEqual(a);
    expect(synthesizeCall(b, { samples: 24_000, seed: 12 })).not.toEqual(a);
    const rms = Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
    expect(rms).toBeGreaterThan(300); // speech, not just line noise
    expect(rms).toBeLessThan(8000);
  });

  it('seeds its randomness', () => {
    const r1 = createRng(5);
    const r2 = createRng(5);
    const xs = Array.from({ length: 5 }, () => r1());
    expect(Array.from({ length: 5 }, () => r2())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });
});

describe('site generator', () => {
  it('writes ContactStore-like batches deterministically', async () => {
    const opts = { firstBatch: 41, batches: 2, perBatch: 5, seconds: [0.5, 1.5] as [number, number], start: START, seed: 3, bank };
    const a = await generateBatches({ root: join(work, 'det-a'), ...opts });
    const b = await generateBatches({ root: join(work, 'det-b'), ...opts });
    const c = await generateBatches({ root: join(work, 'det-c'), ...opts, seed: 4 });
    expect(a).toEqual(b);
    expect(sha(c)).not.toEqual(sha(a));
    expect(new Set(sha(a)).size).toBe(a.length);
    expect((await readdir(join(work, 'det-a'))).sort()).toEqual(['000041', '000042']);
    expect((await readdir(join(work, 'det-a', '000041'))).sort()).toEqual(
      ['000041000', '000041001', '000041002', '000041003', '000041004'].flatMap((id) => [`${id}.wav`, `${id}.xml`]),
    );
    for (const r of a) {
      const wav = await readFile(join(work, 'det-a', r.relativePath));
      expect(wav.length).toBe(r.bytes);
      const parsed = parseWav(wav);
      expect(parsed.samples.length / parsed.sampleRate).toBe(r.metadata.durationSec);
      expect(callMetadataSchema.parse(r.metadata)).toEqual(r.metadata);
      expect(AGENTS.map((x) => x.name)).toContain(r.metadata.agent);
    }
  });

  it.each(['xml', 'json'] as const)('%s sidecars read with the DEFAULT metadata config give the generator metadata exactly', async (kind) => {
    const root = join(work, `sidecar-${kind}`);
    const generated = await generateBatches({ root, firstBatch: 1, batches: 2, perBatch: 40, seconds: [1, 3], start: START, seed: 9, sidecar: kind, bank });
    const extractor = createMetadataExtractor();
    for (const g of generated) {
      const siblings = new Set(await readdir(join(root, g.batchDir)));
      const sidecarName = extractor.sidecarNameFor(g.fileName, siblings);
      expect(sidecarName).toBe(g.sidecarName);
      const bytes = await readFile(join(root, g.batchDir, g.sidecarName));
      const { meta, issues } = extractor.extract({ fileName: g.fileName, relativePath: g.relativePath, mtime: new Date(), sidecar: { name: g.sidecarName, bytes } });
      expect(issues).toEqual([]);
      expect(meta).toEqual(g.metadata);
    }
    const directions = new Set(generated.map((g) => g.metadata.direction));
    expect(directions).toEqual(new Set(['inbound', 'outbound', 'internal']));
    // A pool of numbers: some customers call more than once.
    const callers = generated.filter((g) => g.metadata.direction === 'inbound').map((g) => g.metadata.caller);
    expect(new Set(callers).size).toBeLessThan(callers.length);
    // Sidecars carry the site's local offset, which changes with DST.
    const text = (await readFile(join(root, generated[0]!.sidecarRelativePath), 'utf8')) + (await readFile(join(root, generated[generated.length - 1]!.sidecarRelativePath), 'utf8'));
    expect(text).toContain('+00:00');
    expect(text).toContain('+01:00');
  });

  it('writes odd file names that the extractor still pairs with their sidecars', async () => {
    const root = join(work, 'odd');
    const generated = await generateBatches({ root, firstBatch: 7, batches: 1, perBatch: 8, seconds: 0.5, start: START, seed: 1, oddNames: true, bank });
    const names = await readdir(join(root, '000007'));
    expect(names).toContain('appel-élève 000007000.wav');
    expect(names).toContain(`call "quoted" 'single' 000007001.xml`);
    expect(names).toContain('call #000007002 & co; 50%.wav');
    expect(names.some((n) => Buffer.byteLength(n) > 100)).toBe(true);
    expect(names.some((n) => /[^\x00-\x7f]/.test(n) && n.startsWith('通話'))).toBe(true);
    const extractor = createMetadataExtractor();
    for (const g of generated) {
      expect(names).toContain(g.fileName);
      const sidecarName = extractor.sidecarNameFor(g.fileName, new Set(names));
      expect(sidecarName).toBe(g.sidecarName);
      const bytes = await readFile(join(root, '000007', g.sidecarName));
      expect(extractor.extract({ fileName: g.fileName, relativePath: g.relativePath, mtime: new Date(), sidecar: { name: g.sidecarName, bytes } }).meta).toEqual(g.metadata);
    }
  });

  it('writes files one by one, each wav before its sidecar', async () => {
    const seen: string[] = [];
    await generateBatches({ root: join(work, 'order'), firstBatch: 1, batches: 1, perBatch: 2, seconds: 0.2, start: START, seed: 1, bank, onFile: (p) => void seen.push(p.slice(-13)) });
    expect(seen).toEqual(['000001000.wav', '000001000.xml', '000001001.wav', '000001001.xml']);
  });

  it('generates 1,000 recordings of ~30 KB in a few seconds (timing reported, not asserted)', async () => {
    const t0 = performance.now();
    const generated = await generateBatches({ root: join(work, 'bulk'), firstBatch: 1, batches: 10, perBatch: 100, seconds: 1.875, start: START, seed: 2, bank });
    const ms = performance.now() - t0;
    const bytes = generated.reduce((s, g) => s + g.bytes, 0);
    console.info(`demo: generated ${generated.length} recordings (${(bytes / 1e6).toFixed(1)} MB WAV, ${generated[0]?.bytes} B each) + sidecars in ${ms.toFixed(0)} ms via ${bank.path}`);
    expect(generated).toHaveLength(1000);
    expect(generated[0]?.bytes).toBe(30_044);
  });
});

describe('simulated recorder', () => {
  const small = { perBatch: 3, seconds: 0.2, bank, seed: 5 };

  it('evicts the oldest batch by number, with everything in it', async () => {
    const root = join(work, 'evict');
    // Written out of order, so directory mtimes do not give the answer.
    await generateBatches({ root, firstBatch: 10, batches: 1, perBatch: 2, seconds: 0.2, start: START, seed: 1, bank });
    await generateBatches({ root, firstBatch: 9, batches: 1, perBatch: 2, seconds: 0.2, start: START, seed: 1, bank });
    await generateBatches({ root, firstBatch: 100, batches: 1, perBatch: 2, seconds: 0.2, start: START, seed: 1, bank });
    const rec = new SimulatedRecorder({ root, ...small });
    expect(await rec.batches()).toEqual(['000009', '000010', '000100']);
    expect(await rec.evictOldest()).toBe('000009');
    expect(existsSync(join(root, '000009'))).toBe(false);
    expect(await rec.evictUntil((s) => s.batches.length <= 1)).toEqual(['000010']);
    expect(await rec.evictOldest()).toBe('000100');
    expect(await rec.evictOldest()).toBeUndefined();
    expect(await rec.state()).toEqual({ batches: [], bytes: 0 });
  });

  it('keeps at most keepBatches, numbering on from the newest', async () => {
    const root = join(work, 'keep');
    const rec = new SimulatedRecorder({ root, keepBatches: 2, ...small });
    const written = [];
    for (let i = 0; i < 4; i++) written.push(await rec.writeBatch());
    expect(written.map((w) => w.dir)).toEqual(['000001', '000002', '000003', '000004']);
    expect(written.map((w) => w.evicted)).toEqual([[], [], ['000001'], ['000002']]);
    expect(await rec.batches()).toEqual(['000003', '000004']);
    // Calls continue in time from batch to batch.
    expect(Date.parse(written[1]!.recordings[0]!.metadata.start)).toBeGreaterThan(Date.parse(written[0]!.recordings[2]!.metadata.start));
    const again = new SimulatedRecorder({ root, ...small });
    expect((await again.writeBatch()).dir).toBe('000005');
  });

  it('keeps the total under maxBytes, never evicting the newest batch', async () => {
    const root = join(work, 'bytes');
    const first = await new SimulatedRecorder({ root, ...small }).writeBatch();
    const files = await readdir(join(root, first.dir));
    let batchBytes = 0;
    for (const f of files) batchBytes += (await stat(join(root, first.dir, f))).size;
    const rec = new SimulatedRecorder({ root, maxBytes: Math.floor(batchBytes * 2.5), ...small });
    await rec.writeBatch();
    const third = await rec.writeBatch();
    expect(third.evicted).toEqual(['000001']);
    expect((await rec.state()).bytes).toBeLessThanOrEqual(batchBytes * 2.5);
    const tiny = new SimulatedRecorder({ root, maxBytes: 1, ...small });
    expect((await tiny.writeBatch()).evicted).toEqual(['000002', '000003']);
    expect(await tiny.batches()).toEqual(['000004']);
  });
});
