import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { endianness, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

// Call audio for the demo recorder: 8 kHz mono 16-bit PCM, like a phone line.
// Speech is synthesized once per machine (espeak-ng, then sox down to 8 kHz and 300-3400 Hz)
// and cached; each recording is then assembled in pure Node from those phrases with its own
// voices, pauses and line noise, so a thousand files cost no thousand processes.

export const SAMPLE_RATE = 8000;
export type AudioPath = 'espeak-ng+sox' | 'synthetic';

export interface PhraseBank {
  path: AudioPath;
  sampleRate: number;
  phrases: readonly Int16Array[];
}

const run = promisify(execFile);

/** Bump when the phrases or the processing change: it is part of the cache key. */
const BANK_VERSION = 1;
const PHRASES: readonly { text: string; voice: string; pitch: number; speed: number }[] = [
  { text: 'Thank you for calling, my name is Alex. How can I help you today?', voice: 'en-gb', pitch: 40, speed: 165 },
  { text: 'Could you confirm the account number and the postcode, please?', voice: 'en-gb', pitch: 40, speed: 160 },
  { text: 'One moment while I look that up for you.', voice: 'en-gb', pitch: 45, speed: 170 },
  { text: "Hi, I'm calling about my last bill, it looks higher than usual.", voice: 'en-us+f2', pitch: 60, speed: 175 },
  { text: 'Yes, it is four seven one, two nine, eight three.', voice: 'en-us+f2', pitch: 62, speed: 150 },
  { text: "That's great, thanks very much for your help. Goodbye.", voice: 'en-us+f2', pitch: 58, speed: 170 },
];

// ---------------------------------------------------------------------------------------------
// Deterministic randomness.

/** mulberry32: small, fast, good enough for demo data; same seed, same sequence. */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Combines integers into one 32-bit seed (so a call's seed depends on site seed, batch, index). */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ Math.floor(p / 4294967296), 0x01000193) >>> 0;
    h ^= h >>> 13;
  }
  return h >>> 0;
}

// ---------------------------------------------------------------------------------------------
// WAV.

/** A canonical 44-byte-header RIFF/WAVE file: PCM, mono, 16-bit little-endian. */
export function makeWav(samples: Int16Array, sampleRate: number): Buffer {
  const dataBytes = samples.length * 2;
  const buf = Buffer.alloc(44 + dataBytes);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + dataBytes, 4);
  buf.write('WAVE', 8, 'ascii');
  buf.write('fmt ', 12, 'ascii');
  buf.writeUInt32LE(16, 16); // fmt chunk size
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // channels
  buf.writeUInt32LE(sampleRate, 24);
  buf.writeUInt32LE(sampleRate * 2, 28); // byte rate
  buf.writeUInt16LE(2, 32); // block align
  buf.writeUInt16LE(16, 34); // bits per sample
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(dataBytes, 40);
  if (endianness() === 'LE') Buffer.from(samples.buffer, samples.byteOffset, dataBytes).copy(buf, 44);
  else for (let i = 0; i < samples.length; i++) buf.writeInt16LE(samples[i] ?? 0, 44 + i * 2);
  return buf;
}

export interface ParsedWav {
  format: number;
  channels: number;
  sampleRate: number;
  byteRate: number;
  blockAlign: number;
  bitsPerSample: number;
  /** Interleaved samples (16-bit PCM only). */
  samples: Int16Array;
}

/** Reads a RIFF/WAVE file chunk by chunk; throws on anything malformed. */
export function parseWav(bytes: Uint8Array): ParsedWav {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not a RIFF/WAVE file');
  if (buf.readUInt32LE(4) !== buf.length - 8) throw new Error(`RIFF size ${buf.readUInt32LE(4)} does not match the file (${buf.length - 8})`);
  let fmt: Omit<ParsedWav, 'samples'> | undefined;
  for (let at = 12; at + 8 <= buf.length; ) {
    const id = buf.toString('ascii', at, at + 4);
    const size = buf.readUInt32LE(at + 4);
    const body = at + 8;
    if (body + size > buf.length) throw new Error(`chunk "${id}" runs past the end of the file`);
    if (id === 'fmt ') {
      fmt = {
        format: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        byteRate: buf.readUInt32LE(body + 8),
        blockAlign: buf.readUInt16LE(body + 12),
        bitsPerSample: buf.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!fmt) throw new Error('data chunk before fmt chunk');
      if (fmt.format !== 1 || fmt.bitsPerSample !== 16) throw new Error('only 16-bit PCM is supported');
      const samples = new Int16Array(size / 2);
      for (let i = 0; i < samples.length; i++) samples[i] = buf.readInt16LE(body + i * 2);
      return { ...fmt, samples };
    }
    at = body + size + (size % 2); // chunks are word-aligned
  }
  throw new Error('no data chunk');
}

// ---------------------------------------------------------------------------------------------
// The phrase bank: espeak-ng + sox once per machine, or synthetic "speech" in pure Node.

async function onPath(command: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      await access(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

function defaultCacheDir(): string {
  const key = createHash('sha256').update(JSON.stringify({ BANK_VERSION, PHRASES, SAMPLE_RATE })).digest('hex').slice(0, 12);
  return join(tmpdir(), 'ferry-demo-voice', key);
}

function toInt16(raw: Buffer): Int16Array {
  const out = new Int16Array(Math.floor(raw.length / 2));
  for (let i = 0; i < out.length; i++) out[i] = raw.readInt16LE(i * 2);
  return out;
}

/** One phrase: cached raw s16le at 8 kHz; made with a temp name and renamed, so parallel runs are safe. */
async function speakPhrase(dir: string, index: number): Promise<Int16Array> {
  const file = join(dir, `phrase-${index}.s16`);
  try {
    return toInt16(await readFile(file));
  } catch {
    // not cached yet
  }
  const p = PHRASES[index];
  if (!p) throw new RangeError(`no phrase ${index}`);
  const tag = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  const wav = join(dir, `.phrase-${index}-${tag}.wav`);
  const raw = join(dir, `.phrase-${index}-${tag}.s16`);
  try {
    await run('espeak-ng', ['-v', p.voice, '-p', String(p.pitch), '-s', String(p.speed), '-w', wav, p.text]);
    // Telephone band (300-3400 Hz), 8 kHz mono 16-bit, normalised to -3 dBFS.
    await run('sox', [wav, '-t', 'raw', '-r', String(SAMPLE_RATE), '-e', 'signed-integer', '-b', '16', '-c', '1', raw, 'sinc', '300-3400', 'gain', '-n', '-3']);
    await rename(raw, file);
  } finally {
    await rm(wav, { force: true });
    await rm(raw, { force: true });
  }
  return toInt16(await readFile(file));
}

/** Voiced "syllables" (harmonics of a wandering pitch under a formant-ish tilt) and a few fricatives. */
function syntheticPhrase(index: number): Int16Array {
  const rng = createRng(mixSeed(0x5eed, index));
  const out = new Float32Array(Math.round((1.2 + rng() * 1.2) * SAMPLE_RATE));
  const f0Base = index < 3 ? 115 : 205; // agent, then caller
  let pos = Math.round(0.05 * SAMPLE_RATE);
  while (pos < out.length) {
    const len = Math.round((0.09 + rng() * 0.16) * SAMPLE_RATE);
    const voiced = rng() > 0.15;
    const formant = 500 + rng() * 1800;
    const f0 = f0Base * (0.9 + rng() * 0.2);
    for (let j = 0; j < len && pos + j < out.length; j++) {
      const env = Math.sin((Math.PI * j) / len) ** 2;
      const t = (pos + j) / SAMPLE_RATE;
      let s = 0;
      if (voiced) {
        const f = f0 * (1 + 0.05 * Math.sin(2 * Math.PI * 3 * t));
        for (let k = 1; k * f < 3400; k++) s += Math.sin(2 * Math.PI * k * f * t) / (k * (1 + Math.abs(k * f - formant) / 400));
      } else {
        s = (rng() * 2 - 1) * 0.25;
      }
      out[pos + j] = s * env;
    }
    pos += len + Math.round((0.02 + rng() * 0.1) * SAMPLE_RATE);
  }
  let peak = 0;
  for (const v of out) peak = Math.max(peak, Math.abs(v));
  return Int16Array.from(out, (v) => Math.round((v / (peak || 1)) * 23_000));
}

export interface PhraseBankOptions {
  /** Where synthesized phrases are cached (default: under the OS temp dir, keyed by content). */
  cacheDir?: string;
  /** Force the pure-Node tones even when espeak-ng and sox are installed. */
  synthetic?: boolean;
  /** Told once which path was taken (default: stderr). */
  log?: (line: string) => void;
}

const banks = new Map<string, Promise<PhraseBank>>();

/** Loads (once per process and options) the phrases every recording is assembled from. */
export function loadPhraseBank(opts: PhraseBankOptions = {}): Promise<PhraseBank> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const key = `${opts.synthetic ? 'synthetic' : 'auto'}|${cacheDir}`;
  let bank = banks.get(key);
  if (!bank) {
    const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    bank = buildBank(cacheDir, opts.synthetic === true, log);
    banks.set(key, bank);
  }
  return bank;
}

async function buildBank(cacheDir: string, forceSynthetic: boolean, log: (line: string) => void): Promise<PhraseBank> {
  const synthetic = (why: string): PhraseBank => {
    log(`demo audio: synthetic tones and noise (${why})`);
    return { path: 'synthetic', sampleRate: SAMPLE_RATE, phrases: PHRASES.map((_, i) => syntheticPhrase(i)) };
  };
  if (forceSynthetic) return synthetic('asked for');
  const [espeak, sox] = await Promise.all([onPath('espeak-ng'), onPath('sox')]);
  if (!espeak || !sox) return synthetic(`${[!espeak && 'espeak-ng', !sox && 'sox'].filter(Boolean).join(' and ')} not on PATH`);
  try {
    await mkdir(cacheDir, { recursive: true });
    const phrases = await Promise.all(PHRASES.map((_, i) => speakPhrase(cacheDir, i)));
    log(`demo audio: espeak-ng + sox speech, 8 kHz 300-3400 Hz (phrases cached in ${cacheDir})`);
    return { path: 'espeak-ng+sox', sampleRate: SAMPLE_RATE, phrases };
  } catch (e) {
    return synthetic(`espeak-ng/sox failed: ${(e as Error).message.split('\n')[0]}`);
  }
}

// ---------------------------------------------------------------------------------------------
// One call.

/**
 * A call of exactly `samples` samples: two parties taking turns with phrases from the bank,
 * each party with its own pitch (resampling rate) and level, over this call's line noise.
 * Pure and deterministic for a given bank and seed.
 */
export function synthesizeCall(bank: PhraseBank, opts: { samples: number; seed: number }): Int16Array {
  const rng = createRng(opts.seed);
  const n = Math.max(0, Math.floor(opts.samples));
  const out = new Float32Array(n);
  // Line noise: low-passed white noise at a per-call level.
  const noise = 20 + rng() * 80;
  let lp = 0;
  for (let i = 0; i < n; i++) {
    lp += 0.3 * (rng() * 2 - 1 - lp);
    out[i] = lp * noise;
  }
  const parties = [0, 1].map(() => ({ rate: 0.92 + rng() * 0.16, gain: 0.3 + rng() * 0.35 }));
  let speaker = rng() < 0.8 ? 0 : 1; // the agent usually speaks first
  let pos = Math.round((0.1 + rng() * 0.5) * bank.sampleRate);
  while (pos < n && bank.phrases.length > 0) {
    const phrase = bank.phrases[Math.floor(rng() * bank.phrases.length)] ?? new Int16Array(0);
    const { rate, gain } = parties[speaker] ?? { rate: 1, gain: 0.5 };
    const len = Math.floor((phrase.length - 1) / rate);
    const end = Math.min(len, n - pos);
    for (let j = 0; j < end; j++) {
      const src = j * rate;
      const i0 = Math.floor(src);
      const f = src - i0;
      out[pos + j] = (out[pos + j] ?? 0) + ((phrase[i0] ?? 0) * (1 - f) + (phrase[i0 + 1] ?? 0) * f) * gain;
    }
    pos += len + Math.round((0.2 + rng() * 0.9) * bank.sampleRate);
    if (rng() < 0.8) speaker = 1 - speaker;
  }
  const fade = Math.min(n, Math.round(0.02 * bank.sampleRate)); // no click at the hang-up
  for (let j = 0; j < fade; j++) out[n - 1 - j] = (out[n - 1 - j] ?? 0) * (j / fade);
  const pcm = new Int16Array(n);
  for (let i = 0; i < n; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(out[i] ?? 0)));
  return pcm;
}

/** A WAV file of a call lasting `seconds` (rounded to whole samples). */
export function callWav(bank: PhraseBank, opts: { seconds: number; seed: number }): Buffer {
  return makeWav(synthesizeCall(bank, { samples: Math.round(opts.seconds * bank.sampleRate), seed: opts.seed }), bank.sampleRate);
}
