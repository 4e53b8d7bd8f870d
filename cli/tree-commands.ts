import { basename } from 'node:path';
import { interruptible } from './interrupt.ts';
import { shellQuote } from '../core/restore-commands.ts';
import { printable, shellWord } from './printable.ts';
import { literalTreeGlob } from '../agent/tree/paths.ts';
import type { Command } from 'commander';
import { InvalidInputError } from '../core/errors.ts';
import type { CloudOptions } from './api-client.ts';
import { bytePrinter, formatBytes } from './progress.ts';
import { fetchStore } from './restore-commands.ts';
import { checkAtText } from './at-time.ts';
import { findSnapshot, listSnapshots, readManifest, restoreTree, streamTreeFile, type Store, type TreeRestoreProgress, type TreeRestoreReport } from './tree-restore.ts';
import { firstSnapshot, treeSourcesOf } from './tree-snapshots.ts';
import type { SnapshotSummary, TreeSnapshotManifest } from '../core/tree-manifest.ts';
import { snapshotFilesFooter, writeOut, writeSnapshotFiles } from './tree-files.ts';
import { countChange, diffFooter, diffHeader, diffJsonLine, diffLine, diffSnapshots, emptyTotals } from './tree-diff.ts';

// `ferry restore tree` and `ferry snapshots list`: tree sources (file shares) restored from the
// store alone, with the same store and credentials as `ferry restore fetch` (a DR site: its own
// config, read-only on the primary's prefixes). Exit 3: no snapshot at or before T.

export const EXIT_NO_SNAPSHOT = 3;

interface TreeRestoreCliOptions extends CloudOptions {
  site: string;
  source: string;
  at?: string;
  to?: string;
  include?: string[];
  stdout?: string;
  json?: boolean;
}

/** `--at`: ISO 8601 with a zone (a time without one is ambiguous across sites), or `now`. */
export function parseAt(at: string | undefined, now = new Date()): Date {
  if (at === undefined || at === 'now') return now;
  const t = new Date(checkAtText(at));
  if (Number.isNaN(t.getTime())) throw new InvalidInputError(`--at ${JSON.stringify(at)} is not an ISO 8601 time`);
  return t;
}

function progressPrinter(stream: NodeJS.WriteStream = process.stderr): { update(p: TreeRestoreProgress): void; end(): void } {
  return bytePrinter((p: TreeRestoreProgress) => ({ bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, finished: p.filesDone === p.filesTotal, label: `file ${p.filesDone}/${p.filesTotal} ${printable(p.path.slice(-60))}` }), stream);
}

export function renderTreeRestore(r: TreeRestoreReport): string {
  const lines = [
    `restored snapshot ${r.snapshotId} (taken ${r.takenAt}) into ${r.dir}, every file verified against its SHA-256:`,
    `  files     ${r.files.restored} restored, ${r.files.present} already there and verified`,
    `  dirs      ${r.dirs}`,
    `  links     ${r.symlinks}`,
    `  download  ${formatBytes(r.bytesDownloaded)} in ${r.gets} ranged GET(s)`,
    ...r.problems.map((p) => `  NOT RESTORED ${printable(p.path)}: ${printable(p.problem)}`),
  ];
  const left = r.leftOut;
  if (left) lines.push(...leftOutLines(left, r.snapshotId));
  const u = r.unfinishedBefore;
  if (u) lines.push(`  UNFINISHED BEFORE  ${r.dir} held an unfinished restore of another snapshot, ${u.snapshotId} (taken ${u.takenAt}, begun ${u.startedAt}); this restore took its place (what that one wrote is under REPLACED where it differs from this snapshot and, after a whole restore, under NOT IN THE SNAPSHOT where this snapshot does not hold it, its .ferry-part files too)`);
  const replaced = r.replaced;
  if (replaced) {
    lines.push(`  REPLACED  ${replaced.count} file(s) ${r.dir} already held with other content than this snapshot's (files of its own, another snapshot's) were replaced by the snapshot's (restore into an empty directory to keep what a directory holds):`);
    for (const p of replaced.paths) lines.push(`    ${printable(p)}`);
    if (replaced.count > replaced.paths.length) lines.push(`    … and ${replaced.count - replaced.paths.length} more`);
  }
  const extra = r.notInSnapshot;
  if (extra) {
    lines.push(`  NOT IN THE SNAPSHOT  ${extra.count} path(s) ${r.dir} already held are not in this snapshot and were left as they were (restore into an empty directory for the snapshot alone):`);
    for (const p of extra.paths) lines.push(`    ${printable(p)}`);
    if (extra.count > extra.paths.length) lines.push(`    … and ${extra.count - extra.paths.length} more`);
  }
  return `${lines.join('\n')}\n`;
}

/** The restore's LEFT OUT section: each path with why, and the --at of the newest earlier snapshot that holds it, or how far back none did. */
function leftOutLines(left: NonNullable<TreeRestoreReport['leftOut']>, snapshotId: string): string[] {
  const lines = [`  LEFT OUT OF THE SNAPSHOT  ${left.count} path(s) the agent could not take when it made this snapshot, so not restored (\`ferry snapshots list --problems\` names every one):`];
  for (const p of left.paths) lines.push(`    ${printable(p.path)}: ${printable(p.problem)}${p.earlier ? `; snapshot ${p.earlier.snapshotId}, taken ${p.earlier.takenAt}, holds it: --at ${p.earlier.takenAt} --include ${shellWord(literalTreeGlob(p.path))}` : ''}`);
  if (left.count > left.paths.length) lines.push(`    … and ${left.count - left.paths.length} more`);
  const missing = left.paths.filter((p) => !p.earlier).length;
  if (missing === 0) return lines;
  const s = left.searched;
  const which = missing === left.paths.length ? (left.paths.length === 1 ? 'it' : 'any of them') : `the other ${missing}`;
  if (s.failed !== undefined) lines.push(`    (earlier snapshots could not be searched for ${which}: ${s.failed}; \`ferry snapshots list\` lists them, for --at)`);
  else if (s.looked === 0) lines.push(s.more ? `    (earlier snapshots were not searched for ${which}: their indexes are too large to read for a hint; \`ferry snapshots list\` lists them, for --at)` : `    (no snapshot before ${snapshotId}: none holds ${which})`);
  else lines.push(`    (none of the ${s.looked} snapshot(s) before it, back to ${s.oldestLooked}, holds ${which}${s.more ? '; older ones were not searched' : ''})`);
  return lines;
}

export function renderSnapshots(rows: SnapshotSummary[]): string {
  if (rows.length === 0) return 'no snapshots\n';
  const table = [
    // `shipped by`: the host whose agent took the snapshot (after a failover, the secondary's); not recorded before 2026-12-07.
    ['taken', 'source', 'snapshot', 'files', 'bytes', 'added', 'problems', 'shipped by'],
    ...rows.map((s) => [s.takenAt, s.source, s.snapshotId, String(s.files), formatBytes(s.bytesTotal), formatBytes(s.bytesAdded), String(s.problems), printable(s.shippedBy?.host ?? 'not recorded')]),
  ];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  // A snapshot that changed most files (ransomware?) is named below the table, with the restore point before it.
  const mass = rows.flatMap((s) => (s.massChange ? [`MASS CHANGE ${s.takenAt} ${s.source}: ${s.massChange.changed} of ${s.massChange.previousFiles} files changed${s.massChange.snapshots ? ` over ${s.massChange.snapshots} snapshots of a day` : ''} (ransomware or a mass rewrite?); the snapshot before it was taken ${s.massChange.parentTakenAt}; \`ferry snapshots diff --site ${s.site} --source ${s.source} --since ${s.massChange.parentTakenAt} --at ${s.takenAt}\` lists what changed`] : []));
  return `${[...table.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()), ...mass].join('\n')}\n`;
}

/** The paths each snapshot left out or skipped (`snapshots list --problems`): the manifest names up to 100, its count says how many in all. */
export function renderSnapshotProblems(rows: (SnapshotSummary & { problemPaths: { path: string; problem: string }[] })[]): string {
  const lines: string[] = [];
  for (const r of rows) {
    if (r.problems === 0) continue;
    lines.push('', `${r.takenAt} ${r.source} ${r.snapshotId}: ${r.problems} path(s) left out or skipped`);
    for (const p of r.problemPaths) lines.push(`  ${printable(p.path)}: ${printable(p.problem)}`);
    if (r.problems > r.problemPaths.length) lines.push(`  … and ${r.problems - r.problemPaths.length} more (the manifest names the first ${r.problemPaths.length}; the agent's log names every one)`);
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/**
 * The newest snapshot of the source at or before `at`, or EXIT_NO_SNAPSHOT when the first was
 * taken later (said on stderr). A source name with no snapshot at all is refused instead, naming
 * the site's tree sources: a script that takes exit 3 for "too early" would try later times forever.
 */
async function snapshotAt(blobs: Store, site: string, source: string, at: Date, stderr: NodeJS.WritableStream): Promise<{ manifest: TreeSnapshotManifest } | number> {
  const found = await findSnapshot(blobs, site, source, at);
  if (found) return found;
  const first = await firstSnapshot(blobs, site, source);
  if (!first) {
    const sources = await treeSourcesOf(blobs, site);
    throw new InvalidInputError(`site ${site} has no snapshot of a tree source named ${source}: ${sources.length > 0 ? `its tree sources are ${sources.join(', ')}` : 'it has no tree snapshots at all (does --site name the primary site, and can this configuration read it?)'}`);
  }
  stderr.write(`ferry: no snapshot of source ${source} of site ${site} taken at or before ${at.toISOString()}: the first was taken at ${first.takenAt} (\`ferry snapshots list --site ${site}\` lists them)\n`);
  return EXIT_NO_SNAPSHOT;
}

/** Runs `ferry snapshots files`: the paths of the snapshot a restore at `--at` would use. */
export async function runSnapshotFiles(opts: CloudOptions & { site: string; source: string; at?: string; include?: string[]; json?: boolean }, blobs: Store, out: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): Promise<number> {
  const found = await snapshotAt(blobs, opts.site, opts.source, parseAt(opts.at), out.stderr);
  if (typeof found === 'number') return found;
  const totals = await writeSnapshotFiles(blobs, found.manifest, { include: opts.include, json: opts.json }, out.stdout);
  if (!opts.json) out.stdout.write(snapshotFilesFooter(totals, found.manifest, (opts.include?.length ?? 0) > 0));
  return 0;
}

/**
 * Runs `ferry snapshots diff`: what changed from the snapshot a restore at `--since` would use
 * (default: the one before the newer) to the one at `--at`. EXIT_NO_SNAPSHOT when either time is
 * before the first snapshot; a first snapshot with no `--since` is refused (nothing before it).
 */
export async function runSnapshotDiff(opts: { site: string; source: string; at?: string; since?: string; include?: string[]; json?: boolean }, blobs: Store, out: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): Promise<number> {
  const at = parseAt(opts.at);
  const newer = await snapshotAt(blobs, opts.site, opts.source, at, out.stderr);
  if (typeof newer === 'number') return newer;
  const olderAt = opts.since === undefined ? new Date(Date.parse(newer.manifest.takenAt) - 1) : parseAt(opts.since);
  if (olderAt.getTime() > at.getTime()) throw new InvalidInputError(`--since ${opts.since} is after --at ${opts.at ?? 'now'}: --since names the older snapshot`);
  const older = opts.since === undefined ? await findSnapshot(blobs, opts.site, opts.source, olderAt) : await snapshotAt(blobs, opts.site, opts.source, olderAt, out.stderr);
  if (typeof older === 'number') return older;
  if (!older) {
    throw new InvalidInputError(`snapshot ${newer.manifest.snapshotId} (taken ${newer.manifest.takenAt}) is the first of source ${opts.source}: there is nothing before it to compare with (\`ferry snapshots files\` lists what it holds)`);
  }
  if (older.manifest.snapshotId === newer.manifest.snapshotId) {
    // No snapshot was taken between the two times: nothing to compare, said rather than a silent zero.
    out.stderr.write(`ferry: --since ${opts.since} and --at ${opts.at ?? 'now'} both name snapshot ${newer.manifest.snapshotId} (taken ${newer.manifest.takenAt}): none was taken between them, so there is no change to show (\`ferry snapshots list --site ${opts.site} --source ${opts.source}\` lists the snapshots' times)\n`);
    return 0;
  }
  const totals = emptyTotals();
  if (!opts.json) await writeOut(out.stdout, diffHeader(older.manifest, newer.manifest));
  for await (const change of diffSnapshots(blobs, older.manifest, newer.manifest, opts.include)) {
    countChange(totals, change);
    await writeOut(out.stdout, opts.json ? diffJsonLine(change) : diffLine(change));
  }
  if (!opts.json) await writeOut(out.stdout, diffFooter(totals));
  return 0;
}

/** Runs `ferry restore tree` against a store (the CLI's, or a test's). */
export async function runTreeRestore(opts: TreeRestoreCliOptions, blobs: Store, out: { stdout: NodeJS.WritableStream; stderr: NodeJS.WriteStream }): Promise<number> {
  const at = parseAt(opts.at);
  if (!opts.to && !opts.stdout) throw new InvalidInputError('say where to restore: --to <dir> for the tree (or the --include part of it), or --stdout <path> for one file');
  if (opts.to && opts.stdout) throw new InvalidInputError('--to and --stdout cannot be used together');
  // A deck or a recording written to the operator's terminal is noise that can reset or garble it (restic's dump refuses the same).
  if (opts.stdout && (out.stdout as NodeJS.WriteStream).isTTY) {
    throw new InvalidInputError(`--stdout writes the file's bytes to standard output, which is a terminal here: redirect it to a file (--stdout ${shellQuote(opts.stdout)} > ${shellQuote(basename(opts.stdout.replace(/\/+$/, '')) || 'file')}) or pipe it to a program`);
  }
  const found = await snapshotAt(blobs, opts.site, opts.source, at, out.stderr);
  if (typeof found === 'number') return found;
  if (opts.stdout) {
    const entry = await streamTreeFile(blobs, found.manifest, opts.stdout, out.stdout);
    // Which snapshot the bytes came from, on standard error (standard output holds the file): `--at` picks the newest at or before T, and after a failover the day matters.
    out.stderr.write(`ferry: ${printable(entry.path)} (${formatBytes(entry.size)}, SHA-256 verified) from snapshot ${found.manifest.snapshotId} taken ${found.manifest.takenAt}\n`);
    return 0;
  }
  const bar = opts.json ? undefined : progressPrinter(out.stderr);
  const injected = process.env.FERRY_TEST_FREE_BYTES;
  try {
    const report = await interruptible((signal) => restoreTree({ blobs, manifest: found.manifest, to: opts.to!, include: opts.include, freeBytes: injected === undefined ? undefined : Number(injected), onProgress: (p) => bar?.update(p), signal }), 'restore tree');
    bar?.end();
    out.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderTreeRestore(report));
    return report.problems.length > 0 ? 1 : 0;
  } catch (error) {
    bar?.end();
    throw error;
  }
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerTreeRestoreCommand(restore: Command): void {
  restore
    .command('tree')
    .description('restore a tree source (file share) as it was at T: the newest snapshot at or before T, verified, resumable')
    .requiredOption('--site <site>', 'site whose tree to restore (a DR site names the primary)')
    .requiredOption('--source <name>', 'the tree source')
    .option('--at <time>', 'ISO 8601 time with a zone (e.g. 2026-03-01T14:05:00+01:00), or now', 'now')
    .option('--to <dir>', 'directory to restore into (created if needed; nothing is written outside it)')
    .option('--include <glob>', 'restore only matching paths (`*` within a name, `**` across directories); repeatable', collect)
    .option('--stdout <path>', 'stream this one file to standard output instead of restoring the tree')
    .option('--json', 'JSON report')
    .option('-c, --config <file>', 'agent config whose cloud to use (a DR site: its own)')
    .action(async (opts: TreeRestoreCliOptions) => {
      process.exitCode = await runTreeRestore(opts, fetchStore(opts), { stdout: process.stdout, stderr: process.stderr });
    });
}

export function registerSnapshotsCommands(program: Command): void {
  const snapshots = program.command('snapshots').description('snapshots of tree sources (file shares)');
  snapshots
    .command('list')
    .description('every snapshot of the site (or of one source), oldest first, from the store')
    .requiredOption('--site <site>', 'site (a DR site names the primary)')
    .option('--source <name>', 'only this tree source')
    .option('--problems', 'also name the paths each snapshot left out or skipped, and why')
    .option('--limit <n>', 'only the newest N snapshots (still oldest first)')
    .option('--json', 'JSON output')
    .option('-c, --config <file>', 'agent config whose cloud to use')
    .action(async (opts: CloudOptions & { site: string; source?: string; json?: boolean; problems?: boolean; limit?: string }) => {
      const limit = opts.limit === undefined ? undefined : Number(opts.limit);
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new InvalidInputError(`--limit: "${opts.limit}" must be a whole number, at least 1`);
      const store = fetchStore(opts);
      const rows = await listSnapshots(store, opts.site, opts.source, limit);
      if (!opts.problems) return void process.stdout.write(opts.json ? `${JSON.stringify(rows, null, 2)}\n` : renderSnapshots(rows));
      const withPaths = await Promise.all(rows.map(async (r) => ({ ...r, problemPaths: r.problems > 0 ? (await readManifest(store, r.manifestKey)).problems : [] })));
      process.stdout.write(opts.json ? `${JSON.stringify(withPaths, null, 2)}\n` : renderSnapshots(withPaths) + renderSnapshotProblems(withPaths));
    });
  snapshots
    .command('files')
    .description('the paths a snapshot holds (mode, size, mtime, path), read from its index: the snapshot a restore at --at would use')
    .requiredOption('--site <site>', 'site (a DR site names the primary)')
    .requiredOption('--source <name>', 'the tree source')
    .option('--at <time>', 'ISO 8601 time with a zone (e.g. 2026-03-01T14:05:00+01:00), or now', 'now')
    .option('--include <glob>', 'only matching paths (`*` within a name, `**` across directories; a directory lists what it holds); repeatable', collect)
    .option('--json', 'JSON Lines: one object a path (path, type, mode, size, mtime, sha256, target)')
    .option('-c, --config <file>', 'agent config whose cloud to use (a DR site: its own)')
    .action(async (opts: CloudOptions & { site: string; source: string; at?: string; include?: string[]; json?: boolean }) => {
      process.exitCode = await runSnapshotFiles(opts, fetchStore(opts), { stdout: process.stdout, stderr: process.stderr });
    });
  snapshots
    .command('diff')
    .description('what changed between two snapshots, path by path (+ added, - removed, M content, T type, m mode), read from their indexes')
    .requiredOption('--site <site>', 'site (a DR site names the primary)')
    .requiredOption('--source <name>', 'the tree source')
    .option('--at <time>', 'the newer snapshot: the one a restore at this time would use (ISO 8601 with a zone, or now)', 'now')
    .option('--since <time>', 'the older snapshot: the one a restore at this time would use (default: the snapshot before the newer one)')
    .option('--include <glob>', 'only matching paths (`*` within a name, `**` across directories; a directory takes what it holds); repeatable', collect)
    .option('--json', 'JSON Lines: one object a change (change, path, before, after)')
    .option('-c, --config <file>', 'agent config whose cloud to use (a DR site: its own)')
    .action(async (opts: CloudOptions & { site: string; source: string; at?: string; since?: string; include?: string[]; json?: boolean }) => {
      process.exitCode = await runSnapshotDiff(opts, fetchStore(opts), { stdout: process.stdout, stderr: process.stderr });
    });
}
