import { heartbeatSignals } from '../core/report-signals.ts';
import type { Command } from 'commander';
import { createS3Client } from '../adapters/aws-clients.ts';
import { s3LegalHoldReader, s3RetentionReader } from '../adapters/s3-retention.ts';
import { attestMonth, renderAttestationCsv, renderAttestationMarkdown, storeAttestation, type Retention } from '../core/attest.ts';
import { ConfigError } from '../core/errors.ts';
import { assertName } from '../core/layout.ts';
import { assertDay, siteReportDay } from '../core/report-keys.ts';
import { isTimeZone } from '../core/time-format.ts';
import { dailyReport, renderDailyReport, storeDailyReport } from '../core/report.ts';
import { loadDeploymentConfig } from '../infra/config.ts';
import { catalogueTarget } from './catalogue-commands.ts';
import { readLocalCloud, NoCloudError } from './cloud.ts';

// `ferry report daily` and `ferry report attest`: the same reports the scheduled function
// keeps in the bucket, on demand, for one site.


/** The S3 client and bucket the attestation asks about Object Lock: FERRY_BUCKET's, or the running local cloud's. */
function lockClient(env: NodeJS.ProcessEnv): { client: ReturnType<typeof createS3Client>; bucket: string } {
  const local = env.FERRY_BUCKET ? undefined : readLocalCloud(env);
  if (!env.FERRY_BUCKET && !local) throw new NoCloudError();
  const client = local
    ? createS3Client({ region: local.region, endpoint: local.s3, credentials: local.credentials })
    : createS3Client({ region: env.AWS_REGION ?? 'us-east-1', endpoint: env.AWS_ENDPOINT_URL_S3 });
  return { client, bucket: env.FERRY_BUCKET ?? local!.bucket };
}

/** Object Lock retention and legal hold of a key through the S3 API, on one client (none on a key or a bucket without them). */
export function objectLockReaders(env: NodeJS.ProcessEnv = process.env): { retention: (key: string) => Promise<Retention | undefined>; legalHold: (key: string) => Promise<boolean> } {
  const { client, bucket } = lockClient(env);
  return { retention: s3RetentionReader(client, bucket), legalHold: s3LegalHoldReader(client, bucket) };
}

/** The data bucket's name as the attestation states it (FERRY_BUCKET, or the local cloud's). */
function bucketName(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.FERRY_BUCKET ?? readLocalCloud(env)?.bucket;
}

/** The site's `retired` day and `timeZone` in the deployment configuration `file`; nothing without a file, or for a site it does not list (one already removed is judged as before). */
export function siteSettings(site: string, file: string | undefined): { retired?: string; timeZone?: string } {
  if (file === undefined || file === '') return {};
  const found = loadDeploymentConfig(file).sites.find((s) => s.name === site);
  return { ...(found?.retired ? { retired: found.retired } : {}), ...(found?.timeZone ? { timeZone: found.timeZone } : {}) };
}

export function registerReportCommands(program: Command): void {
  const report = program.command('report').description("a site's daily report and monthly attestation");
  report
    .command('daily')
    .description('FULL, PARTIAL or FAILED for one site and day, with what is missing and why; RETIRED for a retired site, NOT-STARTED for a day before its first heartbeat (exit 0 for FULL, RETIRED and NOT-STARTED)')
    .requiredOption('--site <site>', 'site')
    .option('--date <YYYY-MM-DD>', "the site's day (in its zone; default: yesterday there)")
    .option('--tz <zone>', "the site's time zone (IANA, e.g. Asia/Kolkata): the day is midnight to midnight there; default: the site's `timeZone` in the deployment config, else UTC")
    .option('--deployment <file>', "deployment config (JSON) that says whether the site is retired and its time zone; default: $FERRY_DEPLOYMENT (none: the site's retirement is not known)")
    .option('--store', 'also keep the report in the bucket (reports/{site}/daily/…)')
    .option('--json', 'JSON output')
    .action(async (opts: { site: string; date?: string; tz?: string; deployment?: string; store?: boolean; json?: boolean }) => {
      assertName('site', opts.site);
      const { retired, timeZone: configured } = siteSettings(opts.site, opts.deployment ?? process.env.FERRY_DEPLOYMENT);
      if (opts.tz !== undefined && !isTimeZone(opts.tz)) throw new ConfigError([`--tz: unknown time zone "${opts.tz}" (an IANA name such as Asia/Kolkata, Europe/London or UTC)`]);
      const timeZone = opts.tz ?? configured;
      const day = opts.date ?? siteReportDay(new Date(), timeZone ?? 'UTC');
      assertDay(day);
      const target = catalogueTarget();
      const r = await dailyReport(target, opts.site, day, { signals: heartbeatSignals(target.blobs), erasures: target.erasures, ...(timeZone ? { timeZone } : {}), ...(retired ? { retired } : {}) });
      const key = opts.store ? await storeDailyReport(target.blobs, r) : undefined;
      process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : renderDailyReport(r));
      if (key) process.stderr.write(`kept as ${key}\n`);
      process.exitCode = r.status === 'FULL' || r.status === 'RETIRED' || r.status === 'NOT-STARTED' ? 0 : 1;
    });
  report
    .command('attest')
    .description('every pack and backup of a month: where it is, immutable until when, last verified when (Markdown, --csv or --json)')
    .requiredOption('--site <site>', 'site')
    .requiredOption('--month <YYYY-MM>', 'the month (UTC)')
    .option('--store', 'also keep it in the bucket (reports/{site}/attest/…)')
    .option('--json', 'JSON output')
    .option('--csv', 'CSV output, one row per pack or backup (for a spreadsheet)')
    .action(async (opts: { site: string; month: string; store?: boolean; json?: boolean; csv?: boolean }) => {
      assertName('site', opts.site);
      if (opts.json && opts.csv) throw new ConfigError(['--json and --csv: choose one output format']);
      const target = catalogueTarget();
      const a = await attestMonth(target.blobs, { site: opts.site, month: opts.month, bucket: bucketName(), ...objectLockReaders() });
      const keys = opts.store ? await storeAttestation(target.blobs, a) : undefined;
      process.stdout.write(opts.json ? `${JSON.stringify(a, null, 2)}\n` : opts.csv ? renderAttestationCsv(a) : renderAttestationMarkdown(a));
      if (keys) process.stderr.write(`kept as ${keys.json}, ${keys.markdown} and ${keys.csv}\n`);
    });
}
