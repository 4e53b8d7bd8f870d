import middy from '@middy/core';
import { z } from 'zod';
import { DynamoDeadmanStore, DynamoPurgeWatchStore } from '../../adapters/dynamo-deadman.ts';
import { DynamoPurgeRunStore } from '../../adapters/dynamo-purge-runs.ts';
import { DynamoRunStore } from '../../adapters/dynamo-runs.ts';
import { SnsNotifier, createSnsClient } from '../../adapters/sns-notifier.ts';
import { systemClock, type Clock } from '../../core/clock.ts';
import { readFleet, runDeadman, type DeadmanOutcome, type DeadmanStore, type FleetReadDeps, type FleetSiteConfig } from '../../core/fleet-read.ts';
import type { Notifier } from '../../core/ports.ts';
import { watchPurges, type PurgeWatchDeps, type PurgeWatchOutcome, type PurgeWatchSite } from '../../core/purge-watch.ts';
import { baseClients, baseEnvSchema, parseEnv } from '../shared/deps.ts';
import { fleetSitesSchema } from '../shared/fleet-sites.ts';
import { asHandler, lazyHandler, type Handler } from '../shared/lambda.ts';
import { jsonLog, type Log } from '../shared/log.ts';
import { emfCount, notDeliveredReporter } from '../shared/metrics.ts';

// The dead-man's switch, run on a schedule (EventBridge, infra/fleet.ts): reads every
// configured site's newest heartbeat and window run, and alerts each site that is silent longer
// than its `silentAfterMinutes` or whose scheduled window did not run — whatever the site's
// schedule, so a site without a backup cron is still watched. Raised once, repeated at most
// daily, resolved when the site is back (core/fleet-read.ts; the state is on the table). A
// window's own record (written as it starts, replaced when it finishes) tells a window waiting
// on the site lock from one that did not run. Then each site's scheduled purge: one with no
// record of its start past its time and grace is alerted once per missed occurrence
// (core/purge-watch.ts). A publish SNS did not take fails the invocation (after every site and
// both watches were tried), so the failure is logged, counted and retried at the next pass.

const envSchema = baseEnvSchema.extend({
  TOPIC_ARN: z.string().min(1, 'the alert topic ARN is required'),
  /** The deployment's sites as JSON: [{ name, silentAfterMinutes, backupCron?, purgeCron?, … }]. */
  FLEET_SITES: fleetSitesSchema,
  AWS_ENDPOINT_URL_SNS: z.string().url().optional(),
});

export interface DeadmanHandlerDeps extends FleetReadDeps, Omit<PurgeWatchDeps, 'notifier'> {
  sites: (FleetSiteConfig & PurgeWatchSite)[];
  store: DeadmanStore;
  notifier: Notifier;
  clock: Clock;
  log?: Log;
}

type DeadmanResult = { outcomes: DeadmanOutcome[]; purges: PurgeWatchOutcome[] };

export function createHandler(deps: DeadmanHandlerDeps): Handler<unknown, DeadmanResult> {
  const log = deps.log ?? jsonLog;
  const chain = middy(async (): Promise<DeadmanResult> => {
    const now = deps.clock.now();
    // Who ships each site is the fleet view's, never the switch's: not read every 15 minutes.
    const rows = await readFleet(deps, deps.sites, now, { shippedBy: false });
    // The purges are watched even when an alert of the first watch was not delivered; that error is thrown after.
    const [windows, purges] = [await runDeadman(deps, rows, now).then(ok, failed), await watchPurges(deps, deps.sites, now).then(ok, failed)];
    const outcomes = windows.value ?? [];
    for (const o of outcomes) if (o.action !== 'none') log(o.action === 'resolved' ? 'info' : 'warn', `dead-man ${o.action}`, { ...o });
    for (const o of purges.value ?? []) if (o.action !== 'none') log(o.action === 'resolved' ? 'info' : 'warn', `dead-man purge ${o.action}`, { ...o });
    if (windows.error !== undefined) throw windows.error;
    if (purges.error !== undefined) throw purges.error;
    return { outcomes, purges: purges.value! };
  });
  return asHandler(chain);
}

const ok = <T>(value: T) => ({ value, error: undefined as unknown });
const failed = (error: unknown) => ({ value: undefined, error });

export function loadDeadmanDeps(env: Record<string, string | undefined>): DeadmanHandlerDeps {
  const cfg = parseEnv(envSchema, env);
  const { doc, blobs } = baseClients(cfg);
  return {
    sites: cfg.FLEET_SITES,
    blobs,
    runs: new DynamoRunStore(doc, cfg.TABLE),
    store: new DynamoDeadmanStore(doc, cfg.TABLE),
    purgeRuns: new DynamoPurgeRunStore(doc, cfg.TABLE),
    purgeWatch: new DynamoPurgeWatchStore(doc, cfg.TABLE),
    notifier: new SnsNotifier(createSnsClient({ region: cfg.AWS_REGION, endpoint: cfg.AWS_ENDPOINT_URL_SNS }), cfg.TOPIC_ARN, notDeliveredReporter(jsonLog, emfCount)),
    clock: systemClock,
  };
}

export const handler = lazyHandler(() => createHandler(loadDeadmanDeps(process.env)));
