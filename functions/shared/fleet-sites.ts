import { z } from 'zod';

// FLEET_SITES, the deployment's sites as the functions that read the fleet take them
// (functions/deadman, functions/fleet): JSON written by the CDK app (infra/function-env.ts fleetSitesEnv).

const siteSchema = z
  .object({
    name: z.string().min(1),
    silentAfterMinutes: z.number().int().positive().optional(),
    backupCron: z.string().optional(),
    /** A scheduled window with no record this long after its time did not run. */
    windowGraceMinutes: z.number().int().positive().optional(),
    /** A window started this long ago without finishing is stuck. */
    windowMaxMinutes: z.number().int().positive().optional(),
    /** The site's scheduled purge (core/purge-watch.ts): a due one with no record `purgeGraceMinutes` after its time did not run. */
    purgeCron: z.string().optional(),
    purgeGraceMinutes: z.number().int().positive().optional(),
    /** The first day (YYYY-MM-DD) the site no longer ships: from then on RETIRED, never paged (infra/config.ts `retired`). */
    retired: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).optional(),
  })
  .strict();

/** FLEET_SITES: a JSON list of [{ name, silentAfterMinutes?, backupCron?, windowGraceMinutes?, windowMaxMinutes?, purgeCron?, purgeGraceMinutes?, retired? }], at least one. */
export const fleetSitesSchema = z.string().transform((text, ctx) => {
  try {
    return z.array(siteSchema).min(1).parse(JSON.parse(text));
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `FLEET_SITES must be a JSON list of sites: ${(error as Error).message}` });
    return z.NEVER;
  }
});
