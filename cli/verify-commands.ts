import type { Command } from 'commander';
import { parseSample, recordScrub, renderScrub, verifySite } from '../core/verify.ts';
import { assertName } from '../core/layout.ts';
import { catalogueTarget } from './catalogue-commands.ts';
import { InvalidInputError } from '../core/errors.ts';
import { recordOrSay } from './record-result.ts';
import type { BlobStore } from '../core/ports.ts';
import { treeSnapshotManifestPrefix } from '../core/layout.ts';

// `ferry verify`: the scrub. Re-reads a site's stored packs and backups (or a sample) and
// checks every member against its manifest; exits 1 on any mismatch, naming the object and
// the member; keeps the result where the daily report and the attestation find it.

function parseSince(text: string): string {
  const ms = Date.parse(text);
  if (Number.isNaN(ms) || !/^\d{4}-\d{2}-\d{2}/.test(text)) throw new RangeError(`--since "${text}" must be an ISO date or date-time, e.g. 2026-03-01 or 2026-03-01T06:00:00Z`);
  return new Date(ms).toISOString();
}

/** Why `--source` has nothing to scrub: a tree source (checked file by file by `restore tree`), or no such source. */
export async function noSuchSource(blobs: Pick<BlobStore, 'list'>, site: string, source: string): Promise<string> {
  for await (const _ of blobs.list(treeSnapshotManifestPrefix(site, source))) {
    return `source ${source} of site ${site} is a tree source (a file share): verify reads recording packs and backups. A tree's every file is checked against its SHA-256 when it is restored: \`ferry restore tree --site ${site} --source ${source} --to SCRATCH_DIR\` checks the newest snapshot whole. Nothing was recorded.`;
  }
  return `site ${site} has no source ${source} with recordings or backups offsite (\`ferry backups list --site ${site}\` and \`ferry snapshots list --site ${site}\` name its sources). Nothing was recorded.`;
}

export function registerVerifyCommands(program: Command): void {
  program
    .command('verify')
    .description("re-read a site's stored packs and backups and check every member against its manifest (SHA-256); exit 1 on any damage")
    .requiredOption('--site <site>', 'site')
    .option('--sample <fraction>', 'read this share of the objects, e.g. 5% (100%: all of them)', '100%')
    .option('--since <time>', 'only objects shipped at or after this time (ISO)')
    .option('--source <name>', 'only this source')
    .option('--json', 'JSON output')
    .action(async (opts: { site: string; sample: string; since?: string; source?: string; json?: boolean }) => {
      assertName('site', opts.site);
      const sample = parseSample(opts.sample);
      const since = opts.since === undefined ? undefined : parseSince(opts.since);
      const { blobs } = catalogueTarget();
      const tty = process.stderr.isTTY;
      const result = await verifySite(blobs, {
        site: opts.site,
        sample,
        ...(since ? { since } : {}),
        ...(opts.source ? { source: opts.source } : {}),
        onProgress: (p) => {
          if (tty) process.stderr.write(`\r\x1b[K${p.objects}/${p.of} object(s), ${p.bytes} bytes, ${p.problems} problem(s)`);
          else if (p.objects % 100 === 0 || p.objects === p.of) process.stderr.write(`${p.objects}/${p.of} object(s) read, ${p.problems} problem(s)\n`);
        },
      });
      if (tty) process.stderr.write('\r\x1b[K');
      // A source with nothing to scrub is a mistake to name, not a clean scrub to record.
      if (opts.source && result.candidates === 0 && !since) throw new InvalidInputError(await noSuchSource(blobs, opts.site, opts.source));
      const key = await recordOrSay(() => recordScrub(blobs, result), 'the scrub', `reports/${opts.site}/scrub/`);
      process.stdout.write(opts.json ? `${JSON.stringify({ ...result, ...(key ? { recordedAt: key } : {}) }, null, 2)}\n` : `${renderScrub(result)}${key ? `recorded: ${key}\n` : ''}`);
      process.exitCode = result.problems.length > 0 || !key ? 1 : 0;
    });
}
