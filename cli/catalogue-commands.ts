import type { Command } from 'commander';
import { rebuildCatalogue, type RebuildReport } from '../core/ingest.ts';
import { createDynamoClients, createS3Client } from '../adapters/aws-clients.ts';
import { S3BlobStore } from '../adapters/s3-blob-store.ts';
import { DynamoCatalogue } from '../adapters/dynamo-catalogue.ts';
import { DynamoHoldStore } from '../adapters/dynamo-holds.ts';
import { copyHoldsToBucket, restoreHoldsFromBucket, type HoldsRestored } from '../core/hold-mirror.ts';
import { readLocalCloud, NoCloudError } from './cloud.ts';
import { InvalidInputError } from '../core/errors.ts';
import { NAME_PATTERN, sitePrefix } from '../core/layout.ts';
import { DynamoErasureStore } from '../adapters/dynamo-erasures.ts';

// `ferry catalogue rebuild`: the catalogue is a cache of the manifests; this rebuilds it from
// S3 alone (after a table loss, or into a DR region's fresh table).

export function catalogueTarget(env: NodeJS.ProcessEnv = process.env) {
  if (env.FERRY_BUCKET && env.FERRY_TABLE) {
    const region = env.AWS_REGION ?? 'us-east-1';
    const s3 = createS3Client({ region, endpoint: env.AWS_ENDPOINT_URL_S3 });
    const { doc } = createDynamoClients({ region, endpoint: env.AWS_ENDPOINT_URL_DYNAMODB });
    const standIn = env.AWS_ENDPOINT_URL_S3 !== undefined;
    return { blobs: new S3BlobStore(s3, env.FERRY_BUCKET, standIn ? { features: { verifiesChecksums: false, conditionalPut: false, md5ETags: true } } : undefined), catalogue: new DynamoCatalogue(doc, env.FERRY_TABLE), holds: new DynamoHoldStore(doc, env.FERRY_TABLE), erasures: new DynamoErasureStore(doc, env.FERRY_TABLE) };
  }
  const local = readLocalCloud(env);
  if (!local) {
    // These commands read the bucket and the catalogue table directly, as an operator does: not the API.
    const missing = ['FERRY_BUCKET', 'FERRY_TABLE'].filter((v) => !env[v]);
    throw new NoCloudError(
      `this command reads the data bucket and the catalogue table directly: set ${missing.join(' and ')} (the stack outputs DataBucketName and CatalogueTableName; AWS credentials from the standard chain, an operator's role), or start the local cloud with \`ferry start\``,
    );
  }
  const s3 = createS3Client({ region: local.region, endpoint: local.s3, credentials: local.credentials });
  const { doc } = createDynamoClients({ region: local.region, endpoint: local.dynamo, credentials: local.credentials });
  return { blobs: new S3BlobStore(s3, local.bucket, { features: { verifiesChecksums: false, conditionalPut: false, md5ETags: true } }), catalogue: new DynamoCatalogue(doc, local.table), holds: new DynamoHoldStore(doc, local.table), erasures: new DynamoErasureStore(doc, local.table) };
}

/** A `--site` value of the commands that read the bucket and the table directly: refused, naming it, unless it is a site name. */
export function checkSiteOption(site: string): void {
  if (!NAME_PATTERN.test(site)) throw new InvalidInputError(`--site ${JSON.stringify(site)} is not a site name: 1-63 lowercase letters, digits or dashes`);
}

export function renderRebuild(r: RebuildReport & { holds?: HoldsRestored; copied?: { holds: number; cases: number } }): string {
  const copied = r.copied && r.copied.holds + r.copied.cases > 0 ? ` (${r.copied.holds} hold record(s) and ${r.copied.cases} case(s) only in the table copied to it)` : '';
  const held = r.holds ? `; ${r.holds.holds} legal hold record(s) and ${r.holds.cases} case(s) from the bucket${copied}` : '';
  const failed = [...r.failed, ...(r.holds?.failed ?? []).map((f) => ({ key: f.key, reason: f.error }))];
  const gone = r.forgotten ? `; ${r.forgotten} entr${r.forgotten === 1 ? 'y' : 'ies'} forgotten (their manifest and pack are gone: purged after the table's restore point)` : '';
  const purging = r.purgedMeanwhile ? `; ${r.purgedMeanwhile} manifest(s) purged while rebuilt (what was written of them forgotten again)` : '';
  const lines = [`rebuilt ${r.ok} manifest(s), ${r.recordings} recording(s), ${r.artefacts} artefact(s), ${r.snapshots} tree snapshot(s)${held}${gone}${purging}; ${failed.length} failed`];
  if (r.holds) lines.push('  (export and recall status records are not in the bucket: an export or recall under way when the table was lost is started again)');
  r = { ...r, failed };
  for (const f of r.failed.slice(0, 20)) lines.push(`  ${f.key}: ${f.reason}`);
  if (r.failed.length > 20) lines.push(`  … and ${r.failed.length - 20} more`);
  return `${lines.join('\n')}\n`;
}

export function registerCatalogueCommands(program: Command): void {
  const catalogue = program.command('catalogue').description('maintain the catalogue');
  catalogue
    .command('rebuild')
    .description('rebuild catalogue entries from the manifests in S3')
    .option('--site <site>', 'only this site')
    .option('--json', 'JSON output')
    .action(async (opts: { site?: string; json?: boolean }) => {
      if (opts.site !== undefined) checkSiteOption(opts.site);
      const target = catalogueTarget();
      const tty = process.stderr.isTTY;
      const report = await rebuildCatalogue(target, {
        site: opts.site,
        onProgress: (p) => {
          if (tty && p.done % 10 === 0) process.stderr.write(`\r${p.done} manifest(s)…`);
        },
      });
      if (tty) process.stderr.write('\r\x1b[K');
      // Legal holds and cases: written to the bucket as well as the table (core/hold-mirror.ts), put back from there.
      const holds = await restoreHoldsFromBucket(target.blobs, target.holds, opts.site);
      // Holds placed before they were kept in the bucket (an upgrade): copied there now.
      const copied = { holds: 0, cases: 0 };
      for (const site of report.sites ?? []) {
        const c = await copyHoldsToBucket(target.holds, target.blobs, site);
        copied.holds += c.holds;
        copied.cases += c.cases;
      }
      const full = { ...report, holds, copied };
      process.stdout.write(opts.json ? `${JSON.stringify(full, null, 2)}\n` : renderRebuild(full));
      // A site with no manifest at all is a misspelt name (or the wrong bucket), not a catalogue in order.
      const nothing = opts.site !== undefined && report.ok === 0 && report.failed.length === 0;
      if (nothing) process.stderr.write(`ferry: no manifests found under ${sitePrefix('manifests', opts.site!)} in this bucket: is the site name right?\n`);
      process.exitCode = report.failed.length > 0 || holds.failed.length > 0 || nothing ? 1 : 0;
    });
}
