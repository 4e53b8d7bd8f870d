import type { RecordingsSourceConfig } from '../core/config.ts';
import type { Alert } from '../core/ports.ts';
import type { FileStamp } from './journal.ts';
import { hasExtension } from './sources/recordings.ts';
import { layoutDepth } from './sources/scan.ts';

// Recordings a recordings source does not ship, though the recorder wrote them: where the agent
// does not look (above the batch directories, in a folder inside one), or of a type it was not
// told of (a recorder upgraded to write .opus beside the .wav it wrote for years). Either is
// never shipped, and is lost without a word when the recorder evicts it, so both are alerted.

/**
 * How old a file must be to be taken for a recording the source does not ship: not a temporary
 * file about to be renamed, nor audio still being written (a call recorded as .wav that the
 * recorder turns into the listed .mp3 when it ends).
 */
const TEMPORARY_MS = 60_000;

/** Extensions audio is written under by recorders and telephony systems. */
export const AUDIO_EXTENSIONS: readonly string[] = ['.wav', '.mp3', '.ogg', '.oga', '.opus', '.gsm', '.flac', '.m4a', '.aac', '.amr', '.awb', '.wma', '.au', '.snd', '.vox', '.spx', '.webm', '.mka', '.aif', '.aiff', '.caf', '.g711', '.g722', '.g723', '.g726', '.g729', '.sln', '.ul', '.al', '.pcm', '.raw'];

function extensionOf(name: string): string | undefined {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot).toLowerCase() : undefined;
}

/**
 * Files of a batch directory that look like recordings the source does not ship: an audio
 * extension not in `extensions` (nor in another source's on the same root, which ships them),
 * or any file beside a sidecar that no shipped recording of that base name goes with (a
 * recording whose sidecar came, under an extension nobody listed). Tallied over a pass.
 */
export class UnconfiguredRecordings {
  /** Files found, by extension, each with the first one's path. */
  readonly byExtension = new Map<string, { files: number; example: string }>();
  readonly batches: string[] = [];
  private batchCount = 0;
  private readonly sidecarExtensions: string[];
  private readonly elsewhere: Set<string>;

  constructor(
    private readonly source: RecordingsSourceConfig,
    /** The extensions other recordings sources on the same root ship. */
    shippedByOthers: readonly string[] = [],
    /** This machine's time: a file is counted only once TEMPORARY_MS old. */
    private readonly nowMs = Date.now(),
  ) {
    this.sidecarExtensions = source.metadata.sidecar.enabled ? source.metadata.sidecar.extensions.map((e) => e.toLowerCase()) : [];
    this.elsewhere = new Set(shippedByOthers.map((e) => e.toLowerCase()));
  }

  /** Looks at one batch directory's files (names, as the scan listed them). */
  see(batch: string, files: ReadonlyMap<string, FileStamp>): void {
    const shippedBases = new Set<string>();
    const sidecarBases = new Set<string>();
    for (const name of files.keys()) {
      const ext = extensionOf(name);
      if (hasExtension(name, this.source.extensions)) shippedBases.add(name.slice(0, name.length - (ext?.length ?? 0)));
      else if (ext && this.sidecarExtensions.includes(ext)) sidecarBases.add(name.slice(0, name.length - ext.length));
    }
    let found = 0;
    for (const name of files.keys()) {
      const ext = extensionOf(name);
      if (!ext || hasExtension(name, this.source.extensions) || this.sidecarExtensions.includes(ext) || this.elsewhere.has(ext)) continue;
      const base = name.slice(0, name.length - ext.length);
      // Beside a recording of its name that ships, it is that call in another form (the .wav a recorder converts to the listed .mp3).
      if (shippedBases.has(base) || this.nowMs - (files.get(name)?.mtimeMs ?? 0) < TEMPORARY_MS) continue;
      if (!AUDIO_EXTENSIONS.includes(ext) && !sidecarBases.has(base)) continue;
      found++;
      const tally = this.byExtension.get(ext);
      if (tally) tally.files++;
      else this.byExtension.set(ext, { files: 1, example: `${batch}/${name}` });
    }
    if (found === 0) return;
    this.batchCount++;
    if (this.batches.length < 5) this.batches.push(batch);
  }

  /** The alert of what was found; none when nothing was. */
  alert(site: string): Omit<Alert, 'key'> | undefined {
    if (this.byExtension.size === 0) return undefined;
    const s = this.source;
    const exts = [...this.byExtension.keys()].sort();
    const files = [...this.byExtension.values()].reduce((n, t) => n + t.files, 0);
    const each = exts.map((e) => `${e}: ${this.byExtension.get(e)!.files} (e.g. ${this.byExtension.get(e)!.example})`).join('; ');
    const inBatches = `${this.batchCount} batch director${this.batchCount === 1 ? 'y' : 'ies'} (${this.batches.join(', ')}${this.batchCount > this.batches.length ? ', …' : ''})`;
    return {
      severity: 'critical',
      site,
      subject: `${s.name}: recordings of a type not in extensions are not shipped (${exts.join(', ')})`,
      message: `${files} file(s) in ${inBatches} of ${s.path} look like recordings but have an extension this source does not ship (extensions: [${s.extensions.join(', ')}]): ${each}. They are not shipped, and are lost when the recorder removes them. If the recorder now writes its calls in this format (an upgrade), add it: extensions: [${[...s.extensions, ...exts].join(', ')}]; the next pass ships them.`,
      details: { source: s.name, path: s.path, extensions: s.extensions, found: Object.fromEntries(exts.map((e) => [e, this.byExtension.get(e)!.files])), batches: this.batchCount, examples: exts.map((e) => this.byExtension.get(e)!.example) },
    };
  }
}

/**
 * The alert of a source's recordings outside the batch directories (`misplaced`: each place,
 * with the first recording found there); none when there are none. When the layout on disk puts
 * every place's recordings in batch directories at one depth (layoutDepth: a stray call in the
 * month directory of 2026/12/000001/ is at depth 3, not 2), the message names it as the
 * `batchDepth` to set, or says they lie beside the batch directories when that is batchDepth;
 * when unsure (depths that differ, a directory that cannot be listed), it names none.
 */
export function misplacedAlert(site: string, source: RecordingsSourceConfig, misplaced: ReadonlyMap<string, string>): Omit<Alert, 'key'> | undefined {
  if (misplaced.size === 0) return undefined;
  const places = [...misplaced.keys()];
  const shown = places.slice(0, 10).map((p) => (misplaced.get(p) === p ? p : `${p} (${misplaced.get(p)})`));
  const isRecording = (name: string) => hasExtension(name, source.extensions);
  const depths = new Set([...misplaced.values()].slice(0, 10).map((example) => layoutDepth(source.path, example, isRecording)));
  const [depth] = depths;
  const levels = (n: number) => `${n} level${n === 1 ? '' : 's'}`;
  const sure = depths.size === 1 && depth !== undefined && depth > 0;
  const hint =
    sure && depth !== source.batchDepth
      ? ` They belong to batch directories ${levels(depth)} below the root, and the agent looks for recordings only in batch directories ${levels(source.batchDepth)} below it (batchDepth: ${source.batchDepth}): if the recorder writes its batches ${levels(depth)} down, set batchDepth: ${depth}; otherwise move them into a batch directory.`
      : sure
        ? ` The recorder's batch directories are where batchDepth says (${levels(source.batchDepth)} below ${source.path}); these lie outside them (a call written there before it is moved into its batch, or a stray copy): move them into a batch directory.`
        : ` The agent looks for recordings only in batch directories ${levels(source.batchDepth)} below ${source.path} (batchDepth: ${source.batchDepth}): move them into one, or set batchDepth to the recorder's layout.`;
  return {
    severity: 'critical',
    site,
    subject: `${source.name}: recordings outside the batch directories are not shipped`,
    message: `Recordings lie where the agent does not look for them, in ${places.length} place${places.length === 1 ? '' : 's'}: ${shown.join(', ')}${places.length > shown.length ? `, and ${places.length - shown.length} more` : ''}. They are not shipped, and are lost when the recorder removes them.${hint}`,
    details: { source: source.name, path: source.path, batchDepth: source.batchDepth, places: places.length, examples: places.slice(0, 10).map((p) => misplaced.get(p)) },
  };
}
