import middy from '@middy/core';
import { z } from 'zod';
import { DynamoPurgeWatchStore } from '../../adapters/dynamo-deadman.ts';
import { DynamoPurgeRunStore } from '../../adapters/dynamo-purge-runs.ts';
import { DynamoRunStore } from '../../adapters/dynamo-runs.ts';
import { DynamoErasureStore } from '../../adapters/dynamo-erasures.ts';
import { systemClock, type Clock } from '../../core/clock.ts';
import { readFleet, type FleetReadDeps, type FleetSiteConfig } from '../../core/fleet-read.ts';
import { baseClients, baseEnvSchema, parseEnv } from '../shared/deps.ts';
import { httpErrors } from '../shared/errors.ts';
import { queryEncoding } from '../shared/query-encoding.ts';
import { fleetSitesSchema } from '../shared/fleet-sites.ts';
import { json, type HttpEvent, type HttpResult } from '../shared/http.ts';
import { asHandler, lazyHandler, type Handler } from '../shared/lambda.ts';
import type { Log } from '../shared/log.ts';

// Fleet status API:
//   GET /fleet   one row per site of the deployment, worst first
// The body is exactly what `ferry fleet status --json` prints (core/fleet-read.ts readFleet);
// `X-Ferry-As-Of` says when it was read (every age in it is counted to that instant). It holds
// no call data (heartbeat ages, counts, window outcomes), so reads are not in the audit trail;
// API Gateway's access log names every caller. No parameter is taken: one is a 400.

export interface FleetHandlerDeps extends FleetReadDeps {
  sites: FleetSiteConfig[];
  clock: Clock;
  log?: Log;
}

const querySchema = z.object({}).strict('unknown parameter (GET /fleet takes none)');

export function createHandler(deps: FleetHandlerDeps): Handler<HttpEvent, HttpResult> {
  const chain = middy(async (event: HttpEvent): Promise<HttpResult> => {
    querySchema.parse(event.queryStringParameters ?? {});
    const now = deps.clock.now();
    const rows = await readFleet(deps, deps.sites, now);
    return json(200, rows, { 'X-Ferry-As-Of': now.toISOString() });
  }).use(httpErrors({ log: deps.log })).use(queryEncoding());
  return asHandler(chain);
}

const envSchema = baseEnvSchema.extend({ FLEET_SITES: fleetSitesSchema });

export function loadFleetDeps(env: Record<string, string | undefined>): FleetHandlerDeps {
  const cfg = parseEnv(envSchema, env);
  const { doc, blobs } = baseClients(cfg);
  // Each site's purge: its newest run (a Query) and the dead-man's switch's watch of it (a GetItem of DEADMAN#{site}, sk=purge).
  const purge = { purgeRuns: new DynamoPurgeRunStore(doc, cfg.TABLE), purgeWatch: new DynamoPurgeWatchStore(doc, cfg.TABLE) };
  // Each site's erasure requests (a Query of ERASE#{site}): one pending for over a week is named on its row.
  return { sites: cfg.FLEET_SITES, blobs, runs: new DynamoRunStore(doc, cfg.TABLE), purge, erasures: new DynamoErasureStore(doc, cfg.TABLE), clock: systemClock };
}

export const handler = lazyHandler(() => createHandler(loadFleetDeps(process.env)));
