import { heartbeatSignals } from '../../core/report-signals.ts';
import middy from '@middy/core';
import { z } from 'zod';
import { systemClock, type Clock } from '../../core/clock.ts';
import { attestMonth, storeAttestation, type Retention } from '../../core/attest.ts';
import { NotDeliveredError, messageOf } from '../../core/errors.ts';
import { createSnsClient, SnsNotifier } from '../../adapters/sns-notifier.ts';
import { s3LegalHoldReader, s3RetentionReader } from '../../adapters/s3-retention.ts';
import type { BlobStore, CatalogueStore, Notifier } from '../../core/ports.ts';
import type { ReconcileDeps } from '../../core/reconcile.ts';
import { recordScrub, verifySite } from '../../core/verify.ts';
import { pickScrubDays } from '../../core/scrub-pick.ts';
import { siteReportDay } from '../../core/report-keys.ts';
import { isTimeZone } from '../../core/time-format.ts';
import { dailyReport, renderDailyReport, reportSeverity, reportSubject, storeDailyReport, type ReportStatus } from '../../core/report.ts';
import { asHandler, lazyHandler, type Handler } from '../shared/lambda.ts';
import { jsonLog, type Log } from '../shared/log.ts';
import { baseClients, baseEnvSchema, jsonVariable, parseEnv } from '../shared/deps.ts';
import { emfCount, notDeliveredReporter } from '../shared/metrics.ts';
import { reconcileSettings, reconcileSites, type ReconcileSettings } from './reconcile.ts';
import { DynamoErasureStore } from '../../adapters/dynamo-erasures.ts';
import type { ErasureStore } from '../../core/erasure-items.ts';

// The scheduled report function (infra/reports.ts). `{ "run": "daily" }` (EventBridge Scheduler,
// every day): each site's daily report of the day before is kept in the bucket and published to
// the alert topic (whose e-mail subscribers read it as is); then a scrub reads back a bounded
// sample of each site's objects (a few days of packs, a byte budget, each site a fair share of the
// time the Lambda has left), kept for the next day's report. The reports come first: whatever a
// scrub costs, it cannot cost a site its report. `{ "run": "monthly" }` (on the 1st): each site's attestation of
// the month before is kept in the bucket. Every site is done even when one fails; then a site
// that could not be reported or attested, or a publish SNS did not take, fails the invocation
// (NotDeliveredError or ReportRunError), so Lambda retries it and its dead-letter queue keeps it.

export const reportEventSchema = z
  .object({
    /** daily (default): scrub, then the daily reports; monthly: the attestations of the month before (UTC). */
    run: z.enum(['daily', 'monthly']).default('daily'),
    /** The day to report (YYYY-MM-DD), each site's own (in its zone); default: yesterday in each site's zone. */
    day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be YYYY-MM-DD').optional(),
    /** Only these sites; default: every site of the deployment. */
    sites: z.array(z.string().min(1)).optional(),
    /** Also write the attestation of this month (YYYY-MM); a monthly run defaults to the month before. */
    attestMonth: z.string().regex(/^\d{4}-\d{2}$/, 'must be YYYY-MM').optional(),
  })
  .passthrough();

export interface ReportHandlerDeps {
  blobs: Pick<BlobStore, 'list' | 'get' | 'head' | 'put'>;
  catalogue: Pick<CatalogueStore, 'listArtefacts' | 'listArtefactSources' | 'listSnapshots'> & ReconcileDeps['catalogue'];
  /** The report topic: site and severity (the report's worst finding: core/report.ts reportSeverity) go in message attributes for filter policies. */
  notifier: Notifier;
  sites: string[];
  /** The retired sites, each with the first day it no longer ships (RETIRED_SITES): their reports from that day on say RETIRED. */
  retired?: Record<string, string>;
  /** Each site's own time zone (SITE_TIME_ZONES): its report judges its local day. Absent: UTC. */
  timeZones?: Record<string, string>;
  /** The data bucket's name, stated in each attestation. */
  bucket?: string;
  clock: Clock;
  retention?: (key: string) => Promise<Retention | undefined>;
  legalHold?: (key: string) => Promise<boolean>;
  /** The scheduled scrub: this share of the objects it lists (packs of scrubDays days, every artefact) is picked every run (0: no scrub). */
  scrubSample?: number;
  /** Bytes each site's scrub reads at most a run (default SCRUB_MAX_BYTES_DEFAULT). */
  scrubMaxBytes?: number;
  /** Of those, bytes read from GLACIER_IR at most (a retrieval fee per GB; default 0: none). */
  scrubGlacierIrBytes?: number;
  /** The days of packs a scrub picks from end today and span this many days (default 30, the packs' time before Glacier IR). */
  scrubWindowDays?: number;
  log?: Log;
  /** The reconciler run before the daily reports (functions/report/reconcile.ts). */
  reconcile?: ReconcileSettings;
  /** Each site's erasure requests (a Query of ERASE#{site}): one pending for over a week is named in its report (core/erasure-overdue.ts). */
  erasures?: Pick<ErasureStore, 'listErasures'>;
}

export interface ReportRun {
  /** The day asked for, or yesterday (UTC) when none was: each report's own day (its site's, in its zone) is on it. */
  day: string;
  reports: { site: string; day: string; timeZone: string; status: ReportStatus | 'ERROR'; key?: string; error?: string }[];
  scrubs: { site: string; objects: number; problems: number; key?: string; cutShort?: string; error?: string }[];
  attestations: { site: string; month: string; json?: string; markdown?: string; csv?: string; error?: string }[];
}

export const SCRUB_MAX_BYTES_DEFAULT = 2 * 1024 ** 3;
/** Day prefixes of packs one scrub lists at most: its LISTs stay a handful whatever the window. */
export const SCRUB_DAYS_PER_RUN = 31;
/** Time kept back from the scrubs: one object read past a site's deadline, the result's PUT, the return. */
export const SCRUB_RESERVE_MS = 60_000;

/** The Lambda's remaining time (ms); in process (tests, local server) there is none: no deadline. */
function remainingTime(context: unknown): (() => number) | undefined {
  const get = (context as { getRemainingTimeInMillis?: () => number } | undefined)?.getRemainingTimeInMillis;
  return typeof get === 'function' ? () => get.call(context) : undefined;
}

/** Reads back a bounded sample of the site's objects; the result is kept for the next daily report (today's). */
async function scrub(deps: ReportHandlerDeps, site: string, timeUp: (() => boolean) | undefined, log: Log): Promise<ReportRun['scrubs'][number]> {
  try {
    const now = deps.clock.now();
    const seed = `${site}@${now.toISOString()}`;
    const result = await verifySite(deps.blobs, {
      site,
      sample: deps.scrubSample,
      seed,
      now: () => deps.clock.now(),
      days: pickScrubDays(seed, now, deps.scrubWindowDays ?? 30, SCRUB_DAYS_PER_RUN),
      maxBytes: deps.scrubMaxBytes ?? SCRUB_MAX_BYTES_DEFAULT,
      glacierIrBytes: deps.scrubGlacierIrBytes ?? 0,
      ...(timeUp ? { timeUp } : {}),
    });
    const key = await recordScrub(deps.blobs, result);
    log(result.problems.length ? 'error' : result.cutShort ? 'warn' : 'info', 'scrub', { site, objects: result.objects, bytes: result.bytes, problems: result.problems.length, ...(result.notRead ? { notRead: result.notRead } : {}), ...(result.cutShort ? { cutShort: result.cutShort } : {}), key });
    return { site, objects: result.objects, problems: result.problems.length, key, ...(result.cutShort ? { cutShort: result.cutShort } : {}) };
  } catch (error) {
    log('error', 'scrub failed', { site, error: messageOf(error) });
    return { site, objects: 0, problems: 0, error: messageOf(error) };
  }
}

/** Each site's scrub in turn, each with a fair share of the time left (what one leaves, the next may use). */
async function scrubs(deps: ReportHandlerDeps, sites: string[], context: unknown, run: ReportRun, log: Log): Promise<void> {
  const left = remainingTime(context);
  for (const [i, site] of sites.entries()) {
    let timeUp: (() => boolean) | undefined;
    if (left) {
      const share = (left() - SCRUB_RESERVE_MS) / (sites.length - i);
      const floor = left() - share;
      timeUp = () => left() <= floor;
    }
    run.scrubs.push(await scrub(deps, site, timeUp, log));
  }
}

/** The month before the one `now` is in (UTC), YYYY-MM. */
export function previousMonth(now: Date): string {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1)).toISOString().slice(0, 7);
}

/** Some site's report or attestation could not be made (each one is named in the message and the run's log). */
export class ReportRunError extends Error {
  override readonly name: string = 'ReportRunError';
}

type Step = { failures: string[]; undelivered: string[] };

async function notifyAll(deps: ReportHandlerDeps, step: Step, alert: Parameters<Notifier['notify']>[0]): Promise<void> {
  try {
    await deps.notifier.notify(alert);
  } catch (error) {
    // Logged and counted by the notifier; the other sites still get theirs, the run fails at the end.
    step.undelivered.push(`${alert.site}: ${messageOf(error)}`);
  }
}

async function dailyReports(deps: ReportHandlerDeps, sites: string[], asked: string | undefined, run: ReportRun, step: Step, log: Log): Promise<void> {
  for (const site of sites) {
    const timeZone = deps.timeZones?.[site] ?? 'UTC';
    const day = siteReportDay(deps.clock.now(), timeZone, asked);
    try {
      const retired = deps.retired?.[site];
      const report = await dailyReport(deps, site, day, { now: () => deps.clock.now(), signals: heartbeatSignals(deps.blobs, () => deps.clock.now()), timeZone, ...(retired ? { retired } : {}), ...(deps.erasures ? { erasures: deps.erasures } : {}) });
      const key = await storeDailyReport(deps.blobs, report);
      run.reports.push({ site, day, timeZone, status: report.status, key });
      const severity = reportSeverity(report);
      log(severity === 'info' ? 'info' : 'warn', 'daily report', { site, day, timeZone, status: report.status, severity, problems: report.problems.length, key });
      await notifyAll(deps, step, { severity, site, subject: reportSubject(report), message: `${renderDailyReport(report)}\nKept as ${key}\n`, key: `daily-report:${site}:${day}` });
    } catch (error) {
      run.reports.push({ site, day, timeZone, status: 'ERROR', error: messageOf(error) });
      step.failures.push(`daily report of ${site}: ${messageOf(error)}`);
      log('error', 'daily report failed', { site, day, error: messageOf(error) });
      await notifyAll(deps, step, { severity: 'critical', site, subject: `[Ferry] ERROR ${site} ${day}: no daily report`, message: `The daily report of ${site} for ${day} could not be made: ${messageOf(error)}\n`, key: `daily-report:${site}:${day}` });
    }
  }
}

async function attestations(deps: ReportHandlerDeps, sites: string[], month: string, run: ReportRun, step: Step, log: Log): Promise<void> {
  for (const site of sites) {
    try {
      const a = await attestMonth(deps.blobs, { site, month, ...(deps.bucket ? { bucket: deps.bucket } : {}), now: () => deps.clock.now(), ...(deps.retention ? { retention: deps.retention } : {}), ...(deps.legalHold ? { legalHold: deps.legalHold } : {}) });
      const keys = await storeAttestation(deps.blobs, a);
      run.attestations.push({ site, month, json: keys.json, markdown: keys.markdown, csv: keys.csv });
      log(a.summary.unreadable > 0 ? 'warn' : 'info', 'attestation', { site, month, items: a.summary.items, missing: a.summary.missing, unreadable: a.summary.unreadable, sha256: a.sha256 });
    } catch (error) {
      run.attestations.push({ site, month, error: messageOf(error) });
      step.failures.push(`attestation of ${site} for ${month}: ${messageOf(error)}`);
      log('error', 'attestation failed', { site, month, error: messageOf(error) });
      await notifyAll(deps, step, { severity: 'critical', site, subject: `[Ferry] ERROR ${site} ${month}: no attestation`, message: `The attestation of ${site} for ${month} could not be made: ${messageOf(error)}\n`, key: `attestation:${site}:${month}` });
    }
  }
}

export function createHandler(deps: ReportHandlerDeps): Handler<unknown, ReportRun> {
  const log = deps.log ?? jsonLog;
  const chain = middy(async (raw: unknown, context: unknown): Promise<ReportRun> => {
    const event = reportEventSchema.parse(raw ?? {});
    const now = deps.clock.now();
    const day = event.day ?? new Date(now.getTime() - 86_400_000).toISOString().slice(0, 10);
    const sites = event.sites ?? deps.sites;
    const unknown = sites.filter((s) => !deps.sites.includes(s));
    if (unknown.length > 0) throw new RangeError(`sites not in this deployment: ${unknown.join(', ')}`);
    const run: ReportRun = { day, reports: [], scrubs: [], attestations: [] };
    const step: Step = { failures: [], undelivered: [] };
    if (event.run === 'daily') {
      await reconcileSites(deps, sites, log);
      // One site's failure must not cost the others their report: each is reported on its own.
      await dailyReports(deps, sites, event.day, run, step, log);
      // After the reports, so no scrub can use up the time they need.
      if (deps.scrubSample) await scrubs(deps, sites, context, run, log);
    }
    const month = event.attestMonth ?? (event.run === 'monthly' ? previousMonth(now) : undefined);
    if (month) await attestations(deps, sites, month, run, step, log);
    if (step.undelivered.length > 0) throw new NotDeliveredError(`${step.undelivered.length} message(s) not published: ${step.undelivered.join('; ')}`);
    if (step.failures.length > 0) throw new ReportRunError(`${step.failures.length} site report(s) failed: ${step.failures.join('; ')}`);
    return run;
  });
  return asHandler(chain);
}

const envSchema = baseEnvSchema.extend({
  SITES: z.string().min(1, 'the comma-separated site list is required'),
  /** The retired sites as JSON, `{ "site": "YYYY-MM-DD" }` (infra/function-env.ts retiredSitesEnv); absent: none. */
  RETIRED_SITES: jsonVariable(z.record(z.string().regex(/^\d{4}-\d{2}-\d{2}$/)), 'must be a JSON object of site: "YYYY-MM-DD" (the first day each retired site no longer ships)').default('{}'),
  /** Each site's own time zone as JSON, `{ "site": "Area/City" }` (infra/function-env.ts siteTimeZonesEnv); absent: every site's day is UTC's. */
  SITE_TIME_ZONES: jsonVariable(z.record(z.string().refine(isTimeZone, 'is not an IANA time zone')), 'must be a JSON object of site: "Area/City" (each site\'s own time zone)').default('{}'),
  TOPIC_ARN: z.string().min(1, 'the alert topic ARN is required'),
  AWS_ENDPOINT_URL_SNS: z.string().url().optional(),
  /** Share of the listed objects the daily scrub picks, 0..1 (default 0.02). */
  SCRUB_SAMPLE: z.coerce.number().min(0).max(1).default(0.02),
  /** Bytes each site's scrub reads at most a run. */
  SCRUB_MAX_BYTES: z.coerce.number().int().min(0).default(SCRUB_MAX_BYTES_DEFAULT),
  /** Of those, bytes from GLACIER_IR at most (0: none). */
  SCRUB_GLACIER_IR_BYTES: z.coerce.number().int().min(0).default(0),
  /** Days of packs (ending today) the scrub picks its days from. */
  SCRUB_WINDOW_DAYS: z.coerce.number().int().min(1).default(30),
});

export function loadReportDeps(env: Record<string, string | undefined>): ReportHandlerDeps {
  const cfg = parseEnv(envSchema, env);
  const { s3, doc, blobs, catalogue } = baseClients(cfg);
  const sns = createSnsClient({ region: cfg.AWS_REGION, endpoint: cfg.AWS_ENDPOINT_URL_SNS });
  const notifier = new SnsNotifier(sns, cfg.TOPIC_ARN, notDeliveredReporter(jsonLog, emfCount));
  return {
    blobs,
    catalogue,
    notifier,
    sites: cfg.SITES.split(',').map((s) => s.trim()).filter(Boolean),
    retired: cfg.RETIRED_SITES,
    timeZones: cfg.SITE_TIME_ZONES,
    bucket: cfg.BUCKET,
    clock: systemClock,
    scrubSample: cfg.SCRUB_SAMPLE,
    reconcile: reconcileSettings(env),
    scrubMaxBytes: cfg.SCRUB_MAX_BYTES,
    scrubGlacierIrBytes: cfg.SCRUB_GLACIER_IR_BYTES,
    scrubWindowDays: cfg.SCRUB_WINDOW_DAYS,
    retention: s3RetentionReader(s3, cfg.BUCKET),
    legalHold: s3LegalHoldReader(s3, cfg.BUCKET),
    erasures: new DynamoErasureStore(doc, cfg.TABLE),
  };
}

export const handler = lazyHandler(() => createHandler(loadReportDeps(process.env)));
