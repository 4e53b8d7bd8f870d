import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_CONFIG, deepArchiveRetentionProblem, parseDeploymentConfig, type DeploymentConfig } from '../infra/config.ts';
import { tiersByClass } from '../infra/lifecycle-tiers.ts';
import { ConfigError } from '../core/errors.ts';
import { yamlProblem } from '../core/config.ts';
import { estimateCost, CODEC_BYTES_PER_SECOND, type Codec, type CostEstimate, type CostInput } from '../core/cost.ts';
import { priceTable, priceTableAgeWarning, priceTableNames } from '../core/cost-prices.ts';
import { backupRetention } from './cost-deployment.ts';
import { purgeIntervalDays } from '../infra/config-costs.ts';
import { priceStored, priceStoredBySite, type StoredBySite, type StoredCost } from '../core/cost-stored.ts';
import { storedPrefixes } from '../core/site-prefixes.ts';
import { printable } from '../core/printable.ts';
import { catalogueTarget, checkSiteOption } from './catalogue-commands.ts';

// `ferry cost estimate`: the deployment's tiers (its config's lifecycle, the same data the CDK
// rules and the local S3 use) and one site's volumes, priced from a dated table in core/prices/.

interface EstimateOptions {
  config?: string;
  site?: string;
  callsPerDay: string;
  codec: string;
  avgSeconds: string;
  retentionDays?: string;
  backupGbPerDay: string;
  backupRetentionDays?: string;
  binlogGbPerDay: string;
  binlogSegmentsPerDay: string;
  partialIntervalSeconds: string;
  partialLockDays?: string;
  recordingsPerPack: string;
  partSizeMib: string;
  prices?: string;
  json?: boolean;
}

export function registerCostCommands(program: Command): void {
  const cost = program.command('cost').description('what a site costs to keep offsite');
  cost
    .command('estimate')
    .description('storage, request and retrieval cost by tier, per month and over the retention, from a dated price table')
    .option('--config <file>', 'deployment configuration (JSON or YAML; default: the built-in two-site deployment)')
    .option('--site <name>', "site whose retention is used (default: the config's first site)")
    .option('--calls-per-day <n>', 'recorded calls a day', '10000')
    .option('--codec <codec>', `recording codec: ${Object.keys(CODEC_BYTES_PER_SECOND).join(' | ')}`, 'g711')
    .option('--avg-seconds <s>', 'average recording length', '180')
    .option('--retention-days <d>', "recordings' retention (default: the site's retentionDays)")
    .option('--backup-gb-per-day <x>', 'database backups and logs shipped a day, GB', '0')
    .option('--backup-retention-days <d>', "how long backups are kept (default: what the site's purge keeps: keepFullCycles fulls, the lock, the purge interval; refused when the deployment keeps them otherwise)")
    .option('--binlog-gb-per-day <x>', 'binlog written a day, GB (its segments and partials are priced on their own lines)', '0')
    .option('--binlog-segments-per-day <n>', 'segments the binlog closes a day (1: rotated daily, e.g. by the nightly dump)', '1')
    .option('--partial-interval-seconds <s>', "the binlog source's partialIntervalSeconds (0: no partials)", '300')
    .option('--partial-lock-days <d>', "Object Lock days of a partial (default: the deployment's binlogs.partialLockDays; 0: the bucket's default)")
    .option('--recordings-per-pack <n>', 'recordings per pack (the source closeAfterFiles)', '100')
    .option('--part-size-mib <n>', 'upload part size (shipping.partSizeMiB)', '8')
    .option('--prices <name>', `price table (${priceTableNames().join(', ')}; default the newest)`)
    .option('--json', 'machine-readable output')
    .action((opts: EstimateOptions) => {
      const deployment = loadDeployment(opts.config);
      const site = opts.site === undefined ? deployment.sites[0]! : deployment.sites.find((s) => s.name === opts.site);
      if (!site) throw new ConfigError([`--site ${opts.site}: not in the deployment (sites: ${deployment.sites.map((s) => s.name).join(', ')})`]);
      const tiers = tiersByClass(deployment.lifecycle);
      const backups = backupRetention(deployment, site, opts.backupRetentionDays === undefined ? undefined : number(opts.backupRetentionDays, '--backup-retention-days'));
      const input: CostInput = {
        callsPerDay: number(opts.callsPerDay, '--calls-per-day'),
        codec: codec(opts.codec),
        avgSeconds: number(opts.avgSeconds, '--avg-seconds'),
        retentionDays: opts.retentionDays === undefined ? site.retentionDays : number(opts.retentionDays, '--retention-days'),
        backupGbPerDay: number(opts.backupGbPerDay, '--backup-gb-per-day'),
        backupRetentionDays: backups.days,
        recordingsPerPack: number(opts.recordingsPerPack, '--recordings-per-pack'),
        partSizeMiB: number(opts.partSizeMib, '--part-size-mib'),
        ...binlogInput(deployment, site, opts, backups.days),
        tiers: { recordings: tiers.recordings, backups: tiers.backups },
      };
      const { name, table } = priceTable(opts.prices);
      let estimate: CostEstimate;
      try {
        estimate = estimateCost(input, table);
      } catch (error) {
        if (error instanceof RangeError) throw new ConfigError(error.message.split('; '));
        throw error;
      }
      // The deployment check refuses such a retention; an estimate with --retention-days says why it costs more.
      const archive = deepArchiveRetentionProblem(input.retentionDays, deployment.lifecycle.packsToDeepArchiveDays);
      const warnings = [...(archive ? [`retention ${archive}`] : []), ...estimate.lifecycleWarnings, ...estimate.unpriced];
      const stale = priceTableAgeWarning(table, new Date());
      if (stale) warnings.push(stale);
      const prices = { table: name, region: table.region, asOf: table.asOf, currency: table.currency, sources: table.sources };
      if (opts.json) process.stdout.write(`${JSON.stringify({ site: site.name, input, backupRetention: backups.text, prices, warnings, ...estimate }, null, 2)}\n`);
      else process.stdout.write(renderEstimate(site.name, input, prices, estimate, backups.text) + warnings.map((w) => `WARNING ${w}\n`).join(''));
    });
  registerCostNow(cost);
}

function registerCostNow(cost: Command): void {
  cost
    .command('now')
    .description("what the objects in the bucket cost to keep this month, per site or one site's by data class: each object's size and storage class, listed, priced from the same table as the estimate")
    .option('--site <name>', 'one site, by data class and storage class (default: every site found in the bucket, one line each, and the total)')
    .option('--prices <name>', `price table (${priceTableNames().join(', ')}; default the newest)`)
    .option('--json', 'machine-readable output')
    .action(async (opts: { site?: string; prices?: string; json?: boolean }) => {
      if (opts.site !== undefined) checkSiteOption(opts.site);
      const { name, table } = priceTable(opts.prices);
      const { blobs } = catalogueTarget();
      const prices = { table: name, region: table.region, asOf: table.asOf, currency: table.currency, sources: table.sources };
      if (opts.site === undefined) {
        const every = await priceStoredBySite(blobs.list(''), table);
        if (opts.json) process.stdout.write(`${JSON.stringify({ ...every, prices }, null, 2)}\n`);
        else process.stdout.write(renderStoredBySite(every, prices) + every.all.unpriced.map((w) => `WARNING ${w}\n`).join(''));
        return;
      }
      const site = opts.site;
      async function* listed() {
        for (const prefix of storedPrefixes(site)) yield* blobs.list(prefix);
      }
      const stored = await priceStored(site, listed(), table);
      if (opts.json) process.stdout.write(`${JSON.stringify({ ...stored, prices }, null, 2)}\n`);
      else process.stdout.write(renderStored(stored, prices) + stored.unpriced.map((w) => `WARNING ${w}\n`).join(''));
    });
}

const NOT_IN_IT = [
  'Not in it: requests and transitions (the AWS bill or Cost Explorer has them), early-deletion charges, the catalogue',
  'table (its size: the DynamoDB console), noncurrent versions, the parts of uploads still open (billed in Standard,',
  "never listed: an interrupted upload's, kept for the agent to go on with, until lifecycle.abortIncompleteMultipartDays",
  'ends it; `aws s3api list-multipart-uploads` lists them). The listing costs one LIST request per 1,000 objects.',
];

function table(head: string[], rows: string[][], left: number): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [fmt(head), ...rows.map(fmt)];
}

const money = (v: number | undefined) => (v === undefined ? 'unpriced' : usd(v));

/** Every site of the bucket, one line each with its total, then every site's data by class. */
export function renderStoredBySite(s: StoredBySite, prices: { table: string; asOf: string; region: string }): string {
  const siteRow = (c: StoredCost) => [c.site, c.total.objects.toLocaleString('en-US'), gb(c.total.bytes / 2 ** 30), gb(c.lines.reduce((n, l) => n + l.billedGb, 0)), usd(c.total.storagePerMonth), c.unpriced.length > 0 ? 'some unpriced' : ''];
  const sites = table(['site', 'objects', 'stored GB', 'billed GB', '$/month storage', ''], [...s.sites.map(siteRow), siteRow({ ...s.all, site: 'all sites' })], 1);
  const classes = table(['data', 'class', 'objects', 'stored GB', 'billed GB', '$/month storage'], s.all.lines.map((l) => [l.dataClass, l.storageClass, l.objects.toLocaleString('en-US'), gb(l.bytes / 2 ** 30), gb(l.billedGb), money(l.storagePerMonth)]), 2);
  const outside = s.outside.objects === 0 ? [] : [`${s.outside.objects.toLocaleString('en-US')} object(s) (${gb(s.outside.bytes / 2 ** 30)} GB) under no site's prefix, not priced: e.g. ${s.outside.examples.map((k) => JSON.stringify(printable(k))).join(', ')}`];
  return [
    `every site in the bucket: what it holds now (current versions, listed); prices ${prices.table} (${prices.region}, as of ${prices.asOf}, USD)`,
    '',
    ...sites,
    '',
    'all sites by data and storage class:',
    ...classes,
    '',
    `storage per month at this size   $${usd(s.all.total.storagePerMonth)}  (${s.all.total.objects.toLocaleString('en-US')} objects in ${s.sites.length} site(s))`,
    ...(s.sites.length === 0 ? ["no object under any site's prefixes ({class}/{site}/): nothing shipped yet, or another bucket than the agents'"] : []),
    ...outside,
    'one site by data class: `ferry cost now --site S`; a site retired from the deployment is listed while it has objects.',
    ...NOT_IN_IT,
    '',
  ].join('\n');
}

export function renderStored(s: StoredCost, prices: { table: string; asOf: string; region: string }): string {
  const rows = s.lines.map((l) => [l.dataClass, l.storageClass, l.objects.toLocaleString('en-US'), gb(l.bytes / 2 ** 30), gb(l.billedGb), money(l.storagePerMonth)]);
  return [
    `site ${s.site}: what the bucket holds now (current versions, listed); prices ${prices.table} (${prices.region}, as of ${prices.asOf}, USD)`,
    '',
    ...table(['data', 'class', 'objects', 'stored GB', 'billed GB', '$/month storage'], rows, 2),
    '',
    `storage per month at this size   $${usd(s.total.storagePerMonth)}  (${s.total.objects.toLocaleString('en-US')} objects)`,
    ...(s.total.objects === 0 ? [`no object under the prefixes of site ${s.site} ({class}/${s.site}/): a site that has not shipped yet, or another name than its agents' \`site\``] : []),
    'compare with the storage column of `ferry cost estimate` for the same site at this age.',
    ...NOT_IN_IT,
    '',
  ].join('\n');
}

/**
 * The binlog inputs: closed segments kept as long as the fulls (the purge keeps those the kept
 * fulls need); a partial kept its lock plus half the purge interval (the purge deletes it at its
 * first run after its lock, a newer partial existing), the bucket's lock when partials have none.
 */
function binlogInput(deployment: DeploymentConfig, site: DeploymentConfig['sites'][number], opts: EstimateOptions, backupDays: number): Pick<CostInput, 'binlogs'> {
  const gbPerDay = number(opts.binlogGbPerDay, '--binlog-gb-per-day');
  if (gbPerDay === 0) return {};
  const lockDays = deployment.objectLock.defaultRetentionDays;
  const given = opts.partialLockDays === undefined ? deployment.binlogs.partialLockDays : number(opts.partialLockDays, '--partial-lock-days');
  const partialLock = given > 0 && given < lockDays ? given : lockDays;
  const purgeEvery = site.schedule ? purgeIntervalDays(site.schedule.purgeCron) : 7;
  return {
    binlogs: {
      gbPerDay,
      segmentsPerDay: number(opts.binlogSegmentsPerDay, '--binlog-segments-per-day'),
      partialIntervalSeconds: number(opts.partialIntervalSeconds, '--partial-interval-seconds'),
      segmentDays: Math.max(backupDays, lockDays),
      partialDays: partialLock + purgeEvery / 2,
    },
  };
}

function loadDeployment(file: string | undefined): DeploymentConfig {
  if (file === undefined) return parseDeploymentConfig(DEFAULT_CONFIG);
  const text = readFileSync(file, 'utf8');
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true }); // JSON is YAML too
  } catch (error) {
    throw new ConfigError([yamlProblem(text, `--config ${file}`, error)]);
  }
  try {
    return parseDeploymentConfig(raw);
  } catch (error) {
    throw new ConfigError([`--config ${file}: ${(error as Error).message}`]);
  }
}

function number(text: string, option: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw new ConfigError([`${option}: "${text}" is not a number`]);
  // Beyond any site (a trillion calls a day, or a call a million years long), the estimate's sums overflow to $NaN.
  if (Math.abs(n) > 1e12) throw new ConfigError([`${option}: ${text} is beyond any site this estimates (at most 1e12)`]);
  return n;
}

function codec(text: string): Codec {
  if (text in CODEC_BYTES_PER_SECOND) return text as Codec;
  throw new ConfigError([`--codec: "${text}" is not one of ${Object.keys(CODEC_BYTES_PER_SECOND).join(', ')}`]);
}

const usd = (v: number) => (v === 0 ? '0' : v < 0.01 ? v.toPrecision(2) : v.toFixed(2));
const gb = (v: number) => (v < 10 ? v.toFixed(2) : Math.round(v).toLocaleString('en-US'));

function binlogText(input: CostInput): string[] {
  const b = input.binlogs;
  if (!b) return [];
  const perDay = b.partialIntervalSeconds > 0 ? 86_400 / b.partialIntervalSeconds : 0;
  const copies = (perDay * b.gbPerDay) / b.segmentsPerDay / 2;
  const partials = perDay > 0 ? `; a partial every ${b.partialIntervalSeconds} s: ${Math.round(perDay)} a day, ${gb(copies)} GB/day of whole-prefix copies, each kept about ${b.partialDays} days (its lock and half the purge interval)` : '; no partials';
  return [`binlogs ${b.gbPerDay} GB/day in ${b.segmentsPerDay} segment(s) a day, closed segments kept ${b.segmentDays} days${partials}`];
}

export function renderEstimate(site: string, input: CostInput, prices: { table: string; asOf: string; region: string; sources: string[] }, e: CostEstimate, backupsKept = `${input.backupRetentionDays} days`): string {
  const head = ['data', 'class', 'age (days)', 'objects', 'billed GB', '$/month storage', '$/month requests', `$ over ${input.retentionDays} d`, '$ replay one', '$ retrieve all'];
  const rows = e.lines.map((l) => [
    l.dataClass,
    l.storageClass,
    `${l.fromDay}-${l.toDay}`,
    Math.round(l.objects).toLocaleString('en-US'),
    gb(l.billedGb),
    usd(l.storagePerMonth),
    usd(l.requestsPerMonth),
    usd(l.overRetention),
    l.replayOne === undefined ? '' : usd(l.replayOne),
    usd(l.retrieveAll),
  ]);
  rows.push(['catalogue', 'DynamoDB', '', '', '', usd(e.catalogue.perMonth), '', usd(e.catalogue.overRetention), '', '']);
  rows.push(['ingest', 'Lambda+GET', '', '', '', '', usd(e.functions.perMonth), usd(e.functions.overRetention), '', '']);
  const v = e.volumes;
  return [
    `site ${site}: ${input.callsPerDay} calls/day × ${input.avgSeconds} s ${input.codec} = ${gb(v.recordingsGbPerDay)} GB/day in ${v.packsPerDay} pack(s) of ${input.recordingsPerPack} (${Math.round(v.packBytes).toLocaleString('en-US')} B each); backups ${input.backupGbPerDay} GB/day`,
    `recordings kept ${input.retentionDays} days; prices ${prices.table} (${prices.region}, as of ${prices.asOf}, USD)`,
    `backups kept ${backupsKept}`,
    ...binlogText(input),
    '',
    ...table(head, rows, 3),
    '',
    `total per month (steady state)          $${usd(e.total.perMonth)}`,
    `total per year (12 months, steady state)  $${usd(e.total.perYear)}`,
    `total over the first ${input.retentionDays} days (${(input.retentionDays / 365).toFixed(1)} years, from an empty bucket)  $${usd(e.total.overRetention)}`,
    `prices from ${prices.sources.join(', ')}; check them there before quoting`,
    'not included (size them apart):',
    ...e.notIncluded.map((n) => `  - ${n}`),
    '',
  ].join('\n');
}
