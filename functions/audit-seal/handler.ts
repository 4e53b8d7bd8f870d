import middy from '@middy/core';
import { DynamoAuditLedger } from '../../adapters/dynamo-audit-ledger.ts';
import { assertSitesSealed, sealSites, type SealSitesDeps, type SiteSealOutcome } from '../../core/audit-seal-sites.ts';
import { baseClients, baseEnvSchema, parseEnv } from '../shared/deps.ts';
import { fleetSitesSchema } from '../shared/fleet-sites.ts';
import { asHandler, lazyHandler, type Handler } from '../shared/lambda.ts';
import { jsonLog, type Log } from '../shared/log.ts';
import { emfCount, type Count } from '../shared/metrics.ts';

// The scheduled audit sealer, run by EventBridge every few minutes (infra/audit-sealer.ts):
// seals every site of the deployment (core/audit-seal-sites.ts), so a record whose writer's
// runtime was frozen before its background seal is in the write-once bucket one period later at
// most. The sites are the deployment's own list (FLEET_SITES, as the dead-man's switch takes
// it): an audited request reaches a function only through a configured site's roles, so no
// other site can have records, and a pass costs a few reads per site instead of a table scan.
// A site whose seal fails is logged and counted (AuditSealFailures, by site) and the next is
// sealed all the same; the invocation then fails (AuditSealFailedError), which the alarm on the
// function's errors reports; the next run is the retry.

const envSchema = baseEnvSchema.extend({
  /** The deployment's sites as JSON: [{ name, … }] (only the names are read here). */
  FLEET_SITES: fleetSitesSchema,
});

export interface AuditSealHandlerDeps extends SealSitesDeps {
  sites: string[];
  log?: Log;
  count?: Count;
}

export function createHandler(deps: AuditSealHandlerDeps): Handler<unknown, { outcomes: SiteSealOutcome[] }> {
  const log = deps.log ?? jsonLog;
  const count = deps.count ?? emfCount;
  const chain = middy(async (): Promise<{ outcomes: SiteSealOutcome[] }> => {
    const outcomes = await sealSites(deps, deps.sites);
    for (const o of outcomes) {
      if ('error' in o) {
        log('error', 'audit seal failed', { site: o.site, sealedTo: o.sealedBefore, error: o.error });
        count('AuditSealFailures', o.site);
      } else if (o.sealedTo > o.sealedBefore) {
        log('info', 'audit records sealed', { site: o.site, from: o.sealedBefore + 1, to: o.sealedTo });
        count('AuditRecordsSealed', o.site, o.sealedTo - o.sealedBefore);
      }
    }
    assertSitesSealed(outcomes);
    return { outcomes };
  });
  return asHandler(chain);
}

export function loadAuditSealDeps(env: Record<string, string | undefined>): AuditSealHandlerDeps {
  const cfg = parseEnv(envSchema, env);
  const { doc, blobs } = baseClients(cfg);
  return { sites: cfg.FLEET_SITES.map((s) => s.name), ledger: new DynamoAuditLedger(doc, cfg.TABLE), blobs };
}

export const handler = lazyHandler(() => createHandler(loadAuditSealDeps(process.env)));
