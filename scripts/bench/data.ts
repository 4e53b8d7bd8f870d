import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateBatches, batchDirName } from '../demo/site.ts';
import { loadPhraseBank, type PhraseBank } from '../demo/audio.ts';

// The data every tool ships: ContactStore-like batch directories, freshly generated per run.
// Small and large recordings come from the demo site generator (real 8 kHz WAVs with XML
// sidecars); the 200k-file tree is written directly with fs, since only its file count matters.

/** What is on disk, counted after generation: every tool is measured against these figures. */
export interface TreeFacts {
  root: string;
  batches: number;
  /** Recordings (the .wav files): the "files" of every figure. */
  recordings: number;
  /** Every regular file, recordings and sidecars: what a file-by-file copier turns into objects. */
  diskFiles: number;
  /** Bytes of every file (recordings and sidecars): the payload every tool must move. */
  bytes: number;
}

export const PER_BATCH = 100;

/** N recordings as whole batches of up to 100 (N is rounded up to a whole batch). */
export function batchShape(recordings: number): { batches: number; perBatch: number } {
  const perBatch = Math.min(PER_BATCH, recordings);
  return { batches: Math.ceil(recordings / perBatch), perBatch };
}

export function countTree(root: string): TreeFacts {
  const facts: TreeFacts = { root, batches: 0, recordings: 0, diskFiles: 0, bytes: 0 };
  for (const batch of readdirSync(root)) {
    facts.batches++;
    for (const name of readdirSync(join(root, batch))) {
      const st = statSync(join(root, batch, name));
      facts.diskFiles++;
      facts.bytes += st.size;
      if (name.toLowerCase().endsWith('.wav')) facts.recordings++;
    }
  }
  return facts;
}

let bank: Promise<PhraseBank> | undefined;

/**
 * Demo recordings of a fixed length: 1.875 s ≈ 30 KB, 131 s ≈ 2 MB (8 kHz, 16-bit), in batches
 * of 100, or of `perBatch` (the one-batch scenario puts them all in one).
 */
export async function generateRecordings(root: string, recordings: number, seconds: number, seed: number, perBatchOverride?: number): Promise<TreeFacts> {
  bank ??= loadPhraseBank({ log: () => undefined });
  const { batches, perBatch } = perBatchOverride ? { batches: Math.ceil(recordings / perBatchOverride), perBatch: perBatchOverride } : batchShape(recordings);
  mkdirSync(root, { recursive: true });
  await generateBatches({ root, firstBatch: 1, batches, perBatch, seconds, start: new Date('2025-01-06T08:00:00Z'), seed, sidecar: 'xml', bank: await bank });
  return countTree(root);
}

/** The file-name metadata the scan-memory tree carries instead of sidecars (agent YAML, flow style). */
export const TREE_METADATA_YAML = "{ sidecar: false, filename: { pattern: '^(?<callId>\\d+)_(?<start>\\d{8}T\\d{6})\\.wav$', startFormat: yyyyMMddTHHmmss } }";

function wavHeader(dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVEfmt ', 8, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(8000, 24);
  h.writeUInt32LE(16000, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/**
 * `recordings` small WAV files (`fileBytes` each, default 2 KB) in batches of 100, named
 * `<callId>_<yyyyMMddTHHmmss>.wav` so metadata comes from the name. Each body differs (the
 * call number is stamped into it) so no two members hash alike. Synchronous on purpose: for
 * tiny files it is the fastest way Node has, and nothing else runs meanwhile.
 */
export function generateTree(root: string, recordings: number, fileBytes = 2048): TreeFacts {
  const { batches, perBatch } = batchShape(recordings);
  const dataBytes = Math.max(16, fileBytes - 44);
  const body = Buffer.concat([wavHeader(dataBytes), Buffer.alloc(dataBytes)]);
  for (let i = 44; i < body.length; i += 2) body.writeInt16LE(Math.round(Math.sin(i / 7) * 800), i);
  const start = Date.parse('2025-01-06T08:00:00Z');
  for (let b = 1; b <= batches; b++) {
    const dir = join(root, batchDirName(b));
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < perBatch; i++) {
      const n = (b - 1) * perBatch + i;
      const callId = `${batchDirName(b)}${String(i).padStart(3, '0')}`;
      const at = new Date(start + n * 30_000).toISOString().replace(/[-:]/g, '').slice(0, 15);
      body.writeUInt32LE(n, 44);
      writeFileSync(join(dir, `${callId}_${at}.wav`), body);
    }
  }
  return { root, batches, recordings: batches * perBatch, diskFiles: batches * perBatch, bytes: batches * perBatch * body.length };
}
