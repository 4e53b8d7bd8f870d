import { caseGroup } from './hold-commands.ts';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Command } from 'commander';
import { appendAudit } from '../core/audit-trail.ts';
import { erasureGate } from '../core/erasures.ts';
import { caseCallsPresent, MISSING_FROM_ARCHIVE, verifyBundle, writeCaseBundle, type ExportSummary } from '../core/case-export.ts';
import { InvalidInputError, NotFoundError, messageOf } from '../core/errors.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { storeTarget } from './store-target.ts';

// `ferry case export` and `ferry case verify`: the compliance officer's bundle with chain of
// custody (core/case-export.ts). Export runs where the officer is, with their credentials,
// streaming from S3 to a local file: no Lambda time or disk limit bounds a large case.

export interface ExportOptions {
  site: string;
  case?: string;
  rid?: string[];
  reason: string;
  out: string;
}

export interface ExportResult {
  file: string;
  bytes: number;
  sha256: string;
  recordings: number;
  root: string;
  auditSeq: number;
  /** Calls of the case the archive no longer holds: named in the custody report, not exported. */
  missing: string[];
  /** Calls of the case erased at a data subject's request: named in the custody report, not exported. */
  erased: string[];
}

/**
 * Writes the bundle to `{out}.partial`, audits the export (action `export`, with the bundle's
 * SHA-256), then renames it to `out`: a failed export leaves no file, and no bundle exists
 * that the trail does not record.
 */
export async function exportCase(target: ReturnType<typeof storeTarget>, opts: ExportOptions, clock: Clock = systemClock): Promise<ExportResult> {
  if (opts.case === undefined && (opts.rid ?? []).length === 0) throw new InvalidInputError('give --case <id> or at least one --rid <rid>');
  let rids = opts.rid ?? [];
  let missing: string[] = [];
  let erased: string[] = [];
  // An erased call is never exported: a listed one is refused (410), a case's is left out and named.
  const catalogue = erasureGate(target.catalogue, target.erasures);
  if (opts.case !== undefined) {
    const members = await target.caseMembers(opts.site, opts.case);
    if (!members) throw new NotFoundError(`case: no case ${opts.case} in site ${opts.site}`);
    // Calls of the case the archive no longer holds (purged) are named in the custody report, not a reason to export nothing.
    const split = await caseCallsPresent(catalogue, opts.site, members.filter((m) => !rids.includes(m)));
    missing = split.missing;
    erased = split.erased;
    rids = [...new Set([...split.present, ...rids])];
    if (rids.length === 0) throw new NotFoundError(`case: none of the ${members.length} call(s) of case ${opts.case} is in the archive any more (${MISSING_FROM_ARCHIVE})`);
  }
  const out = resolve(opts.out);
  if (await stat(out).then(() => true, () => false)) throw new InvalidInputError(`out: ${out} exists; a bundle is never overwritten`);
  const partial = `${out}.partial`;
  const principal = await target.principal();
  const at = clock.now();
  const file = createWriteStream(partial, { fd: await openPartial(partial) });
  const tee = new PassThrough({ highWaterMark: 1 << 20 });
  const hash = createHash('sha256');
  tee.on('data', (c: Buffer) => hash.update(c));
  tee.pipe(file);
  let summary: ExportSummary;
  try {
    summary = await writeCaseBundle({ blobs: target.blobs, catalogue }, { site: opts.site, rids, caseId: opts.case, reason: opts.reason, principal, at, ...(missing.length ? { missing } : {}), ...(erased.length ? { erased } : {}) }, tee);
    tee.end();
    await finished(file);
    const fh = await open(partial, 'r+');
    await fh.sync().finally(() => fh.close());
  } catch (error) {
    // The tee may still hold chunks on their way to the file: stop them, close the file (its late
    // errors are this failure's, already reported), then remove the partial bundle.
    tee.unpipe(file);
    tee.on('error', () => undefined).destroy();
    file.on('error', () => undefined);
    await new Promise<void>((done) => {
      if (file.closed) done();
      else file.once('close', () => done()).destroy();
    });
    await rm(partial, { force: true });
    throw error;
  }
  const sha256 = hash.digest('hex');
  try {
    const record = await appendAudit(target, {
      at: at.toISOString(),
      action: 'export',
      site: opts.site,
      principal,
      detail: { ...(opts.case ? { case: opts.case } : {}), reason: opts.reason, bundle: basename(out), sha256, bytes: summary.bytes, rids, ...(missing.length ? { missing } : {}), ...(erased.length ? { erased } : {}) },
    });
    await rename(partial, out);
    return { file: out, bytes: summary.bytes, sha256, recordings: rids.length, root: summary.root, auditSeq: record.seq, missing, erased };
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

/**
 * Creates `{out}.partial` for writing. One left by an export that was stopped (killed, the
 * machine down) is this command's own unfinished file: it is replaced, never a reason to fail.
 * A path that cannot be written is named as the --out problem it is, not thrown as an fs error.
 */
async function openPartial(partial: string): Promise<FileHandle> {
  const left = await lstat(partial).catch(() => undefined);
  if (left && !left.isFile()) throw new InvalidInputError(`out: ${partial} exists and is not a file: move it away to export here`);
  if (left) await rm(partial, { force: true });
  try {
    return await open(partial, 'wx', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? `${dirname(partial)} does not exist` : code === 'EACCES' || code === 'EPERM' ? `${dirname(partial)} cannot be written (permission denied)` : code === 'ENOTDIR' ? 'a parent of this path is a file' : messageOf(error);
    throw new InvalidInputError(`out: ${resolve(partial.slice(0, -'.partial'.length))}: ${why}`);
  }
}

/** Verifies a bundle file offline; exit code 1 and each bad file named on failure. */
export async function verifyBundleFile(path: string): Promise<Awaited<ReturnType<typeof verifyBundle>> & { sha256: string }> {
  const size = (await stat(path)).size;
  const fh = await open(path, 'r');
  try {
    const whole = createHash('sha256');
    const verdict = await verifyBundle(async (position, length) => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, position);
      return buf.subarray(0, bytesRead);
    }, size);
    for await (const chunk of fh.createReadStream({ start: 0, autoClose: false })) whole.update(chunk as Buffer);
    return { ...verdict, sha256: whole.digest('hex') };
  } finally {
    await fh.close();
  }
}

export function registerCaseCommands(program: Command): void {
  const group = caseGroup(program);
  group
    .command('export')
    .description('export recordings (a case, or chosen ids) into one bundle: recordings, catalogue records, SHA-256 manifest, custody report')
    .requiredOption('--site <site>', 'the site of the recordings')
    .option('--case <id>', "a case's members (legal hold cases)")
    .option('--rid <rid...>', 'recording ids, after one --rid (as case create takes them) or --rid repeated')
    .requiredOption('--reason <text>', 'why the export is made (kept in the custody report and the audit trail)')
    .requiredOption('--out <file>', 'the bundle to write (a tar; refused if it exists)')
    .option('--json', 'JSON output')
    .action(async (opts: ExportOptions & { json?: boolean }) => {
      const target = storeTarget();
      try {
        const r = await exportCase(target, opts);
        const gone = r.missing.length ? `  ${r.missing.length} call(s) of the case not exported, no longer in the archive (named in custody.json): ${r.missing.slice(0, 5).join(', ')}${r.missing.length > 5 ? ', …' : ''}\n` : '';
        const erased = r.erased.length ? `  ${r.erased.length} call(s) of the case not exported, erased at a data subject's request (named in custody.json): ${r.erased.slice(0, 5).join(', ')}${r.erased.length > 5 ? ', …' : ''}\n` : '';
        process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : `exported ${r.recordings} recording(s) to ${r.file}\n  ${r.bytes} bytes, SHA-256 ${r.sha256}\n${gone}${erased}  audited as record ${r.auditSeq} of site ${opts.site}'s trail\n  check it any time with: ferry case verify ${r.file} --sha256 ${r.sha256}\n`);
      } finally {
        target.close();
      }
    });
  group
    .command('verify')
    .description("re-check every file's SHA-256 in a bundle, offline; exit 1 naming each bad file")
    .argument('<bundle>', 'the bundle file')
    .option('--sha256 <hex>', "the bundle's own SHA-256 as the export printed it (and the audit trail keeps)")
    .option('--json', 'JSON output')
    .action(async (path: string, opts: { sha256?: string; json?: boolean }) => {
      const verdict = await verifyBundleFile(path);
      // Pasted from the console or the trail, a hash often brings spaces with it: they are not part of it.
      const expected = opts.sha256?.trim().toLowerCase();
      if (expected !== undefined && !/^[0-9a-f]{64}$/.test(expected)) throw new InvalidInputError(`--sha256: ${JSON.stringify(opts.sha256)} is not a SHA-256 (64 hex digits)`);
      if (expected !== undefined && expected !== verdict.sha256) {
        verdict.problems.unshift({ path: basename(path), problem: `the bundle's SHA-256 is ${verdict.sha256}, not ${expected}` });
        verdict.ok = false;
      }
      if (opts.json) process.stdout.write(`${JSON.stringify(verdict, null, 2)}\n`);
      else if (verdict.ok) process.stdout.write(`OK: ${verdict.checked} file(s) of ${verdict.root} match the manifest; bundle SHA-256 ${verdict.sha256}\n`);
      else {
        process.stdout.write(`BAD: ${verdict.problems.length} problem(s) in ${path}\n`);
        for (const p of verdict.problems) process.stdout.write(`  ${p.path}: ${p.problem}\n`);
      }
      process.exitCode = verdict.ok ? 0 : 1;
    });
}
