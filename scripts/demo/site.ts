import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { CallMetadata } from '../../core/manifest.ts';
import { formatIsoWithOffset } from '../../core/time-format.ts';
import { callWav, createRng, loadPhraseBank, mixSeed, type PhraseBank } from './audio.ts';

// A ContactStore-like recordings tree: `root/000123/` batch directories of recordings, each
// `<name>.wav` beside a sidecar `<name>.xml` (or .json) the default metadata config reads.
// Files are written one by one straight into the batch directory, as a recorder does: the
// agent, not this generator, must tell when a batch is closed.

export const BATCH_DIGITS = 6;
export const CODEC = 'L16/8000';

export const AGENTS: readonly { name: string; extension: string }[] = [
  { name: 'Alice Martin', extension: '2001' },
  { name: 'Bilal Khan', extension: '2002' },
  { name: 'Chloé Dubois', extension: '2003' },
  { name: 'Dmitri Ivanov', extension: '2004' },
  { name: 'Emma Walsh', extension: '2005' },
  { name: 'Farah Haddad', extension: '2006' },
  { name: 'George Okafor', extension: '2007' },
  { name: "Siobhán O'Neill", extension: '2008' },
];
/** The site's own numbers (DDIs); the first is also its outgoing CLI. Ofcom drama range. */
export const SITE_NUMBERS: readonly string[] = ['+442079460000', '+442079460123', '+442079460456'];

/** How the demo recorder spells directions (the metadata extractor normalises them). */
const DIRECTION_WORDS = { inbound: 'Incoming', outbound: 'Outgoing', internal: 'Internal' } as const;
type Direction = keyof typeof DIRECTION_WORDS;

/** Odd but legal file names, for robustness: spaces, quotes, '#', '&', unicode, a > 100-byte name. */
const ODD_NAMES: readonly ((id: string) => string)[] = [
  (id) => `appel-élève ${id}`,
  (id) => `call "quoted" 'single' ${id}`,
  (id) => `call #${id} & co; 50%`,
  (id) => ` leading  and double  spaces ${id}`,
  (id) => `通話録音-${id}`,
  (id) => `long-${'x'.repeat(110)}-${id}`,
];

export interface GenerateOptions {
  root: string;
  firstBatch: number;
  batches: number;
  perBatch: number;
  /** Call length in seconds, fixed or uniform in [min, max]; rounded to whole ms (default [1.5, 4.5]). */
  seconds?: number | [number, number];
  /** Start of the first call; later calls follow 5-90 s apart. */
  start: Date;
  seed: number;
  sidecar?: 'xml' | 'json';
  /** Give the first few recordings of each batch odd file names. */
  oddNames?: boolean;
  /** Zone of the offsets written in sidecars (default Europe/London). */
  timezone?: string;
  /** Phrase bank (default: loadPhraseBank()). */
  bank?: PhraseBank;
  /** Called after each file is written (tests use it to interleave with the agent). */
  onFile?: (path: string) => void | Promise<void>;
}

export interface GeneratedRecording {
  batch: number;
  /** Batch directory name, e.g. '000007'. */
  batchDir: string;
  fileName: string;
  /** Relative to root, '/'-separated, e.g. '000007/000007042.wav'. */
  relativePath: string;
  sidecarName: string;
  sidecarRelativePath: string;
  bytes: number;
  sha256: string;
  /** What the sidecar says, normalised as the metadata extractor returns it. */
  metadata: Required<CallMetadata>;
}

export function batchDirName(batch: number): string {
  return String(batch).padStart(BATCH_DIGITS, '0');
}

/** A customer pool per site seed: a few dozen numbers, so several calls share a number. */
function customerPool(seed: number): string[] {
  const rng = createRng(mixSeed(seed, 0xc0ffee));
  return Array.from({ length: 30 }, (_, i) => {
    const tail = String(Math.floor(rng() * 1000)).padStart(3, '0');
    if (i % 3 === 2) return `+447700900${tail}`; // mobile (drama range)
    return i % 5 === 4 ? `+33142680${tail}` : `+441632960${tail}`;
  });
}

function pick<T>(rng: () => number, items: readonly T[]): T {
  const item = items[Math.floor(rng() * items.length)];
  if (item === undefined) throw new RangeError('empty pool');
  return item;
}

function callParties(rng: () => number, customers: readonly string[]) {
  const r = rng();
  const direction: Direction = r < 0.6 ? 'inbound' : r < 0.9 ? 'outbound' : 'internal';
  const agentIndex = Math.floor(rng() * AGENTS.length);
  const agent = AGENTS[agentIndex] ?? AGENTS[0]!;
  const customer = pick(rng, customers);
  if (direction === 'inbound') return { direction, agent, caller: customer, called: pick(rng, SITE_NUMBERS) };
  if (direction === 'outbound') return { direction, agent, caller: SITE_NUMBERS[0]!, called: customer };
  const other = AGENTS[(agentIndex + 1 + Math.floor(rng() * (AGENTS.length - 1))) % AGENTS.length]!;
  return { direction, agent, caller: agent.extension, called: other.extension };
}

function xmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

/** The sidecar a ContactStore-like recorder would write for one call. */
export function sidecarDocument(kind: 'xml' | 'json', meta: Required<CallMetadata>, extra: { fileName: string; extension: string; timezone: string }): string {
  const start = formatIsoWithOffset(new Date(meta.start), extra.timezone);
  const end = formatIsoWithOffset(new Date(meta.end), extra.timezone);
  const direction = DIRECTION_WORDS[meta.direction as Direction] ?? meta.direction;
  if (kind === 'json') {
    const doc = {
      Recording: { Version: 1, File: extra.fileName, CallId: meta.callId, StartTime: start, EndTime: end, Duration: meta.durationSec, Agent: meta.agent, AgentExtension: extra.extension, Caller: meta.caller, Called: meta.called, Direction: direction, Codec: meta.codec },
    };
    return `${JSON.stringify(doc, null, 2)}\n`;
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<Recording version="1" file="${xmlEscape(extra.fileName)}">`,
    `  <CallId>${xmlEscape(meta.callId)}</CallId>`,
    `  <StartTime>${start}</StartTime>`,
    `  <EndTime>${end}</EndTime>`,
    `  <Duration>${meta.durationSec}</Duration>`,
    `  <Agent extension="${extra.extension}">${xmlEscape(meta.agent)}</Agent>`,
    `  <Caller>${meta.caller}</Caller>`,
    `  <Called>${meta.called}</Called>`,
    `  <Direction>${direction}</Direction>`,
    `  <Codec>${meta.codec}</Codec>`,
    '</Recording>',
    '',
  ].join('\n');
}

function callSeconds(rng: () => number, seconds: GenerateOptions['seconds']): number {
  const [min, max] = typeof seconds === 'number' ? [seconds, seconds] : (seconds ?? [1.5, 4.5]);
  return Math.round((min + rng() * (max - min)) * 1000) / 1000;
}

/** Writes `batches` batch directories from `firstBatch` on; returns every recording in write order. */
export async function generateBatches(opts: GenerateOptions): Promise<GeneratedRecording[]> {
  const bank = opts.bank ?? (await loadPhraseBank());
  const kind = opts.sidecar ?? 'xml';
  const timezone = opts.timezone ?? 'Europe/London';
  const customers = customerPool(opts.seed);
  const out: GeneratedRecording[] = [];
  let at = opts.start.getTime();
  for (let batch = opts.firstBatch; batch < opts.firstBatch + opts.batches; batch++) {
    const batchDir = batchDirName(batch);
    await mkdir(join(opts.root, batchDir), { recursive: true });
    for (let i = 0; i < opts.perBatch; i++) {
      const rng = createRng(mixSeed(opts.seed, batch, i));
      const callId = `${batchDir}${String(i).padStart(3, '0')}`;
      const seconds = callSeconds(rng, opts.seconds);
      const parties = callParties(rng, customers);
      const meta: Required<CallMetadata> = {
        callId,
        start: new Date(at).toISOString(),
        end: new Date(at + Math.round(seconds * 1000)).toISOString(),
        durationSec: seconds,
        agent: parties.agent.name,
        caller: parties.caller,
        called: parties.called,
        direction: parties.direction,
        codec: CODEC,
      };
      at += Math.round(5 + rng() * 85) * 1000;
      const odd = opts.oddNames ? ODD_NAMES[i] : undefined;
      const base = odd ? odd(callId) : callId;
      const fileName = `${base}.wav`;
      const sidecarName = `${base}.${kind}`;
      const wav = callWav(bank, { seconds, seed: mixSeed(opts.seed, batch, i, 0xa0d10) });
      const sidecar = sidecarDocument(kind, meta, { fileName, extension: parties.agent.extension, timezone });
      // Audio first, then its sidecar: a recorder writes the metadata when the call ends.
      for (const [name, body] of [[fileName, wav], [sidecarName, sidecar]] as const) {
        const path = join(opts.root, batchDir, name);
        await writeFile(path, body);
        await opts.onFile?.(path);
      }
      out.push({
        batch,
        batchDir,
        fileName,
        relativePath: posix.join(batchDir, fileName),
        sidecarName,
        sidecarRelativePath: posix.join(batchDir, sidecarName),
        bytes: wav.length,
        sha256: createHash('sha256').update(wav).digest('hex'),
        metadata: meta,
      });
    }
  }
  return out;
}
