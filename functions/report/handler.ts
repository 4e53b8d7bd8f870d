import middy from '@middy/core';
import { z } from 'zod';
import { systemClock, type Clock } from '../../core/clock.ts';
import { attestMonth, storeAttestation, type Retention } from '../../core/attest.ts';
import { messageOf } from '../../core/errors.ts';
import { createSnsClient, SnsNotifier } from '../../adapters/sns-notifier.ts';
import type { AlertSeverity, BlobStore, CatalogueStore, Notifier } from '../../core/ports.ts';
import { recordScrub, verifySite } from '../../core/verify.ts';
import { dailyReport, renderDailyReport, reportSubject, storeDailyReport, type ReportStatus } from '../../core/report.ts';
import { asHandler, lazyHandler, type Handler } from '../shared/lambda.ts';
import { jsonLog, type Log } from '../shared/log.ts';
import { baseClients, baseEnvSchema, parseEnv } from '../shared/deps.ts';

// The scheduled report function: once a day, for every site of the deployment, the daily
// report of the day before (kept in the bucket, published to the report topic, whose email
// subscribers read it as is); on the 1st of a month, also the attestation of the month before.

export const reportEventSchema = z
  .object({
    /** The day to report (YYYY-MM-DD); default: yesterday (UTC). */
    day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be YYYY-MM-DD').optional(),
    /** Only these sites; default: every site of the deployment. */
    sites: z.array(z.string().min(1)).optional(),
    /** Also write the attestation of this month (YYYY-MM); default: the month before, on the 1st. */
    attestMonth: z.string().regex(/^\d{4}-\d{2}$/, 'must be YYYY-MM').optional(),
  })
  .passthrough();

const SEVERITY: Record<ReportStatus, AlertSeverity> = { FULL: 'info', PARTIAL: 'warning', FAILED: 'critical' };

export interface ReportHandlerDeps {
  blobs: Pick<BlobStore, 'list' | 'get' | 'head' | 'put'>;
  catalogue: Pick<CatalogueStore, 'listArtefacts' | 'listArtefactSources' | 'listSnapshots'>;
  /** The report topic: site and severity (info FULL, warning PARTIAL, critical FAILED) go in message attributes for filter policies. */
  notifier: Notifier;
  sites: string[];
  clock: Clock;
  retention?: (key: string) => Promise<Retention | undefined>;
  /** The scheduled scrub: this share of each site's objects is read back and checked every run (0: none). */
  scrubSample?: number;
  log?: Log;
}

export interface ReportRun {
  day: string;
  reports: { site: string; status: ReportStatus | 'ERROR'; key?: string; error?: string }[];
  scrubs: { site: string; objects: number; problems: number; key?: string; error?: string }[];
  attestations: { site: string; month: string; json?: string; markdown?: string; error?: string }[];
}

/** Reads back a sample of the site's objects; the result is kept for the next daily report (today's). */
async function scrub(deps: ReportHandlerDeps, site: string, sample: number, log: Log): Promise<ReportRun['scrubs'][number]> {
  try {
    const result = await verifySite(deps.blobs, { site, sample, now: () => deps.clock.now() });
    const key = await recordScrub(deps.blobs, result);
    log(result.problems.length ? 'error' : 'info', 'scrub', { site, objects: result.objects, problems: result.problems.length, key });
    return { site, objects: result.objects, problems: result.problems.length, key };
  } catch (error) {
    log('error', 'scrub failed', { site, error: messageOf(error) });
    return { site, objects: 0, problems: 0, error: messageOf(error) };
  }
}

export function createHandler(deps: ReportHandlerDeps): Handler<unknown, ReportRun> {
  const log = deps.log ?? jsonLog;
  const chain = middy(async (raw: unknown): Promise<ReportRun> => {
    const event = reportEventSchema.parse(raw ?? {});
    const now = deps.clock.now();
    const day = event.day ?? new Date(now.getTime() - 86_400_000).toISOString().slice(0, 10);
    const sites = event.sites ?? deps.sites;
    const unknown = sites.filter((s) => !deps.sites.includes(s));
    if (unknown.length > 0) throw new RangeError(`sites not in this deployment: ${unknown.join(', ')}`);
    const run: ReportRun = { day, reports: [], scrubs: [], attestations: [] };
    if (deps.scrubSample) for (const site of sites) run.scrubs.push(await scrub(deps, site, deps.scrubSample, log));
    // One site's failure must not cost the others their report: each is reported on its own.
    for (const site of sites) {
      try {
        const report = await dailyReport(deps, site, day, { now: () => deps.clock.now() });
        const key = await storeDailyReport(deps.blobs, report);
        await deps.notifier.notify({ severity: SEVERITY[report.status], site, subject: reportSubject(report), message: `${renderDailyReport(report)}\nKept as ${key}\n`, key: `daily-report:${site}:${day}` });
        run.reports.push({ site, status: report.status, key });
        log(report.status === 'FULL' ? 'info' : 'warn', 'daily report', { site, day, status: report.status, problems: report.problems.length, key });
      } catch (error) {
        run.reports.push({ site, status: 'ERROR', error: messageOf(error) });
        log('error', 'daily report failed', { site, day, error: messageOf(error) });
        await deps.notifier.notify({ severity: 'critical', site, subject: `[Ferry] ERROR ${site} ${day}: no daily report`, message: `The daily report of ${site} for ${day} could not be made: ${messageOf(error)}\n`, key: `daily-report:${site}:${day}` });
      }
    }
    const month = event.attestMonth ?? (now.getUTCDate() === 1 ? new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1)).toISOString().slice(0, 7) : undefined);
    if (month) {
      for (const site of sites) {
        try {
          const a = await attestMonth(deps.blobs, { site, month, now: () => deps.clock.now(), ...(deps.retention ? { retention: deps.retention } : {}) });
          const keys = await storeAttestation(deps.blobs, a);
          run.attestations.push({ site, month, json: keys.json, markdown: keys.markdown });
          log('info', 'attestation', { site, month, items: a.summary.items, missing: a.summary.missing, sha256: a.sha256 });
        } catch (error) {
          run.attestations.push({ site, month, error: messageOf(error) });
          log('error', 'attestation failed', { site, month, error: messageOf(error) });
        }
      }
    }
    return run;
  });
  return asHandler(chain);
}

const envSchema = baseEnvSchema.extend({
  SITES: z.string().min(1, 'the comma-separated site list is required'),
  REPORT_TOPIC_ARN: z.string().min(1, 'the report topic ARN is required'),
  /** Share of each site's objects the daily scrub reads, 0..1 (default 0.02). */
  SCRUB_SAMPLE: z.coerce.number().min(0).max(1).default(0.02),
});

export function loadReportDeps(env: Record<string, string | undefined>): ReportHandlerDeps {
  const cfg = parseEnv(envSchema, env);
  const { blobs, catalogue } = baseClients(cfg);
  const notifier = new SnsNotifier(createSnsClient({ ...(env.AWS_ENDPOINT_URL_SNS ? { endpoint: env.AWS_ENDPOINT_URL_SNS } : {}) }), cfg.REPORT_TOPIC_ARN);
  return { blobs, catalogue, notifier, sites: cfg.SITES.split(',').map((s) => s.trim()).filter(Boolean), clock: systemClock, scrubSample: cfg.SCRUB_SAMPLE };
}

export const handler = lazyHandler(() => createHandler(loadReportDeps(process.env)));
