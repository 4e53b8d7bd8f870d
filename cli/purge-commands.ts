import type { Command } from 'commander';
import { planPurge, type PurgePlanDeps, type PurgePlanResult } from '../core/purge.ts';
import { retentionCutoff, type PurgeTarget } from '../core/retention.ts';
import { sitePurgeSchema } from '../core/workflow-config.ts';
import { InvalidInputError } from '../core/errors.ts';
import { treeLockWaiting } from '../core/purge-report.ts';
import { loadDeploymentConfig } from '../infra/config.ts';
import { catalogueTarget, checkSiteOption } from './catalogue-commands.ts';
import { checkAtText } from './at-time.ts';

// `ferry purge plan`: what the site's retention purge would delete, read from the bucket and the
// holds as the purge function reads them, and nothing deleted. Before a deploy that shortens
// `retentionDays` (or `keepFullCycles`), it says what the first purge after it takes; the purge
// itself has no dry run and deletes for good. It plans with the bucket's Object Lock as the
// deployed purge does (objectLockDays): what is still locked is not planned, only counted.

/** At most this many deletions are planned (the deployed purge plans rounds of purgeMaxTargets). */
const PLAN_LIMIT = 100_000;

export interface PlanOptions {
  site: string;
  retentionDays: string;
  keepFullCycles?: string;
  /** The bucket's Object Lock in days; default the deployment's objectLock.defaultRetentionDays. */
  objectLockDays?: string;
  /** The deployment configuration file the lock is read from; default $FERRY_DEPLOYMENT, else the built-in deployment's. */
  deployment?: string;
  at?: string;
}

/** The most objectLockDays the purge settings take (core/workflow-config.ts). */
const MAX_LOCK_DAYS = 36_500;

export interface PlanLock {
  days: number;
  /** Where the number came from, as the plan prints it. */
  from: string;
}

/**
 * The lock the plan assumes: `--object-lock-days` as given, else the deployment file's
 * objectLock.defaultRetentionDays (the number the deployed purge is passed), else the built-in
 * deployment's default (30). Planning without it would list what S3 refuses to delete.
 */
export function planLock(opts: Pick<PlanOptions, 'objectLockDays' | 'deployment'>, env: NodeJS.ProcessEnv = process.env): PlanLock {
  if (opts.objectLockDays !== undefined) {
    const days = Number(opts.objectLockDays);
    if (!/^\d+$/.test(opts.objectLockDays) || days > MAX_LOCK_DAYS) throw new InvalidInputError(`--object-lock-days ${JSON.stringify(opts.objectLockDays)}: must be the bucket's objectLock.defaultRetentionDays in whole days, 0 (no lock) to ${MAX_LOCK_DAYS}`);
    return { days, from: '--object-lock-days' };
  }
  const file = opts.deployment ?? env.FERRY_DEPLOYMENT;
  const days = loadDeploymentConfig(file).objectLock.defaultRetentionDays;
  return { days, from: file ? `objectLock.defaultRetentionDays of ${file}` : 'the default objectLock.defaultRetentionDays; --object-lock-days or --deployment for yours' };
}

export async function purgePlan(opts: PlanOptions, given?: PurgePlanDeps, env: NodeJS.ProcessEnv = process.env): Promise<{ plan: PurgePlanResult; targets: PurgeTarget[]; cutoff: string; lock: PlanLock }> {
  checkSiteOption(opts.site);
  const lock = planLock(opts, env);
  const parsed = sitePurgeSchema.safeParse({ retentionDays: Number(opts.retentionDays), ...(opts.keepFullCycles === undefined ? {} : { keepFullCycles: Number(opts.keepFullCycles) }), objectLockDays: lock.days });
  if (!parsed.success) throw new InvalidInputError(`--retention-days ${opts.retentionDays}${opts.keepFullCycles === undefined ? '' : ` --keep-full-cycles ${opts.keepFullCycles}`}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')} (whole days, 1 to 36500; cycles 1 to 1000)`);
  const now = opts.at === undefined ? new Date() : new Date(checkAtText(opts.at));
  // The bucket, the holds and the catalogue's time index, as the purge function reads them.
  const deps = given ?? catalogueTarget();
  const targets: PurgeTarget[] = [];
  const plan = await planPurge(deps, { site: opts.site, settings: parsed.data, now, maxTargets: PLAN_LIMIT, batchObjects: 1000, onTarget: (t) => targets.push(t) });
  return { plan, targets, cutoff: new Date(retentionCutoff({ now, retentionDays: parsed.data.retentionDays })).toISOString(), lock };
}

export function renderPlan(opts: PlanOptions, r: Awaited<ReturnType<typeof purgePlan>>, list = false): string {
  const s = r.plan.summary;
  const kinds = new Map<string, number>();
  for (const t of r.targets) kinds.set(t.kind, (kinds.get(t.kind) ?? 0) + 1);
  const what = [...kinds].map(([k, n]) => `${n} ${k}${n === 1 ? '' : 's'}`).join(', ') || 'nothing';
  const lines = [
    `purge of site ${opts.site} with retentionDays ${opts.retentionDays} (calls that started before ${r.cutoff}) and a ${r.lock.days}-day Object Lock (${r.lock.from}) would delete: ${what}`,
    `kept of what is old enough to go: ${s.keptPacks} pack(s) (${s.keptPacksHeld} for calls on legal hold); kept of the backups: ${s.keptFulls} full(s), ${s.keptSegments} log segment(s)${s.copiedOut ? `; ${s.copiedOut} pack(s) go once their held calls are copied out` : ''}`,
  ];
  if (s.unreadable) lines.push(`${s.unreadable} manifest(s) could not be read: their objects are kept`);
  if (s.locked) lines.push(`waiting for their Object Lock: ${s.locked.atLeast ? 'at least ' : ''}${s.locked.count} pack(s), full backup(s) or log segment(s) past the rules but still locked, not planned (the first comes free on ${s.locked.firstFree})`);
  if (s.trees?.locked) lines.push(`waiting for their Object Lock: ${treeLockWaiting(s.trees.locked)} past the rules but still locked, not planned (the first comes free on ${s.trees.locked.firstFree})`);
  if (s.futureDated) lines.push(`${s.futureDated.count} item(s) dated in the future set aside (kept, counted toward no rule): ${s.futureDated.named.join(', ')}`);
  if (s.truncated) lines.push(`the plan stopped at ${PLAN_LIMIT} deletions: the purge would go on in later rounds`);
  if (list) for (const t of r.targets) lines.push(`  ${t.kind.padEnd(10)} ${t.key}  (${t.reason})`);
  else if (r.targets.length > 0) lines.push('(--list names each object and why)');
  lines.push('nothing was deleted: this is a plan; the deployed purge deletes for good, and Object Lock keeps what is still locked until its date');
  return `${lines.join('\n')}\n`;
}

export function registerPurgeCommands(program: Command): void {
  const purge = program.command('purge').description("the retention purge: what it would delete, before it does");
  purge
    .command('plan')
    .description("what the site's purge would delete now with this retention (read from the bucket and the holds; nothing deleted): run it before a deploy that shortens retentionDays")
    .requiredOption('--site <site>', 'site')
    .requiredOption('--retention-days <days>', 'the retention to plan with (the site\'s retentionDays, or the one you mean to deploy)')
    .option('--keep-full-cycles <n>', 'full backups kept per source (default 2)')
    .option('--object-lock-days <days>', "the bucket's Object Lock in days, 0 for none: what is younger is not planned, as the deployed purge does (default: objectLock.defaultRetentionDays of --deployment or $FERRY_DEPLOYMENT, else 30)")
    .option('--deployment <file>', 'deployment config (JSON) whose objectLock.defaultRetentionDays the plan uses; default: $FERRY_DEPLOYMENT')
    .option('--at <time>', 'plan as of this time (default: now)')
    .option('--list', 'name every object the purge would delete, and why')
    .option('--json', 'JSON output')
    .action(async (opts: PlanOptions & { list?: boolean; json?: boolean }) => {
      const r = await purgePlan(opts);
      process.stdout.write(opts.json ? `${JSON.stringify({ site: opts.site, cutoff: r.cutoff, objectLockDays: r.lock.days, summary: r.plan.summary, targets: r.targets }, null, 2)}\n` : renderPlan(opts, r, opts.list));
    });
}
