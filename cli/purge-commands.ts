import type { Command } from 'commander';
import { planPurge, type PurgePlanDeps, type PurgePlanResult } from '../core/purge.ts';
import { retentionCutoff, type PurgeTarget } from '../core/retention.ts';
import { sitePurgeSchema, type SitePurgeSettings } from '../core/workflow-config.ts';
import { InvalidInputError } from '../core/errors.ts';
import { erasureLine, treeLockWaiting } from '../core/purge-report.ts';
import { ARCHIVED_CLASSES } from '../core/recall-status.ts';
import { mapLimit } from '../core/map-limit.ts';
import type { BlobStore } from '../core/ports.ts';
import type { TreeSourceKept } from '../core/tree-purge.ts';
import { DEFAULT_SITE_TREE_RETENTION, type SiteTreeRetentionInput } from '../core/tree-retention.ts';
import { loadDeploymentConfig, type DeploymentConfig } from '../infra/config.ts';
import { deployedPurgeSettings } from '../infra/site-purge.ts';
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
  /** The retention to plan with; default the site's retentionDays in the deployment file. */
  retentionDays?: string;
  keepFullCycles?: string;
  /** The bucket's Object Lock in days; default the deployment's objectLock.defaultRetentionDays. */
  objectLockDays?: string;
  /** The deployment configuration file the site's settings and the lock are read from; default $FERRY_DEPLOYMENT, else the built-in deployment's. */
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
function planLock(opts: Pick<PlanOptions, 'objectLockDays'>, config: DeploymentConfig, file: string | undefined): PlanLock {
  if (opts.objectLockDays !== undefined) {
    const days = Number(opts.objectLockDays);
    if (!/^\d+$/.test(opts.objectLockDays) || days > MAX_LOCK_DAYS) throw new InvalidInputError(`--object-lock-days ${JSON.stringify(opts.objectLockDays)}: must be the bucket's objectLock.defaultRetentionDays in whole days, 0 (no lock) to ${MAX_LOCK_DAYS}`);
    return { days, from: '--object-lock-days' };
  }
  const days = config.objectLock.defaultRetentionDays;
  return { days, from: file ? `objectLock.defaultRetentionDays of ${file}` : 'the default objectLock.defaultRetentionDays; --object-lock-days or --deployment for yours' };
}

export interface PlanSettings {
  settings: SitePurgeSettings;
  lock: PlanLock;
  /** The deployment file whose entry for the site gave the settings the options did not. */
  siteFrom?: string;
}

/**
 * The settings the plan runs with: the site's own in the deployment file (`--deployment`, else
 * $FERRY_DEPLOYMENT), exactly as its purge workflow is given them (infra/site-purge.ts: trees
 * policy, orphan grace, the binlog partials' lock), with any option given on top of them. Without
 * a file naming the site, `--retention-days` is needed and the rest are the defaults.
 */
export function planSettings(opts: PlanOptions, env: NodeJS.ProcessEnv = process.env): PlanSettings {
  checkSiteOption(opts.site);
  const file = opts.deployment ?? env.FERRY_DEPLOYMENT;
  const config = loadDeploymentConfig(file);
  const lock = planLock(opts, config, file);
  const site = file ? config.sites.find((s) => s.name === opts.site) : undefined;
  if (opts.retentionDays === undefined && !site) {
    throw new InvalidInputError(`--retention-days: needed, as ${file ? `the deployment file ${file} has no site ${opts.site}` : 'no deployment file is given (--deployment or $FERRY_DEPLOYMENT)'} to take the site's retentionDays from`);
  }
  const deployed: Partial<SitePurgeSettings> = site ? deployedPurgeSettings(config, site) : {};
  const partial = config.binlogs.partialLockDays;
  const input = {
    ...deployed,
    retentionDays: opts.retentionDays === undefined ? deployed.retentionDays : Number(opts.retentionDays),
    ...(opts.keepFullCycles === undefined ? {} : { keepFullCycles: Number(opts.keepFullCycles) }),
    objectLockDays: lock.days,
    // The partials' own lock counts only while shorter than the bucket's (infra/config.ts).
    partialLockDays: partial && partial < lock.days ? partial : undefined,
  };
  const parsed = sitePurgeSchema.safeParse(input);
  if (!parsed.success) throw new InvalidInputError(`--retention-days ${input.retentionDays}${opts.keepFullCycles === undefined ? '' : ` --keep-full-cycles ${opts.keepFullCycles}`}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')} (whole days, 1 to 36500; cycles 1 to 1000)`);
  return { settings: parsed.data, lock, ...(site ? { siteFrom: file } : {}) };
}

export async function purgePlan(opts: PlanOptions, given?: PurgePlanDeps, env: NodeJS.ProcessEnv = process.env): Promise<PlanSettings & { plan: PurgePlanResult; targets: PurgeTarget[]; trees: TreeSourceKept[]; archived: Map<string, string>; cutoff: string }> {
  const chosen = planSettings(opts, env);
  const now = opts.at === undefined ? new Date() : new Date(checkAtText(opts.at));
  // The bucket, the holds, the erasure requests and the catalogue's time index, as the purge
  // function reads them. A plan writes nothing: a request it finds carried out is left for the
  // purge to mark done (with its audit record).
  const read = given ?? catalogueTarget();
  const deps: PurgePlanDeps = { ...read, audit: undefined, ...(read.erasures ? { erasures: readOnly(read.erasures) } : {}) };
  const targets: PurgeTarget[] = [];
  const trees: TreeSourceKept[] = [];
  const plan = await planPurge(deps, { site: opts.site, settings: chosen.settings, now, maxTargets: PLAN_LIMIT, batchObjects: 1000, onTarget: (t) => targets.push(t), onTreeSource: (k) => trees.push(k) });
  const archived = await archivedCopyOuts(deps.blobs, targets);
  return { ...chosen, plan, targets, trees, archived, cutoff: new Date(retentionCutoff({ now, retentionDays: chosen.settings.retentionDays })).toISOString() };
}

/** The erasure requests as a plan reads them: marking one done or waiting is left to the purge. */
function readOnly(erasures: NonNullable<PurgePlanDeps['erasures']>): NonNullable<PurgePlanDeps['erasures']> {
  return { listErasures: (site) => erasures.listErasures(site), getErasure: (site, rid) => erasures.getErasure(site, rid), markDone: async () => undefined, noteWaiting: async () => undefined };
}

/**
 * The packs whose held calls are to be copied out that lie in the archive tier, by their key and
 * storage class: the purge cannot read them, so it asks S3 to restore each (Bulk, up to 48 hours)
 * and copies out in the first purge after (core/purge-delete.ts). One HEAD a copy-out (they are few).
 */
async function archivedCopyOuts(blobs: object, targets: PurgeTarget[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const head = (blobs as Partial<Pick<BlobStore, 'head'>>).head?.bind(blobs);
  if (!head) return out;
  const copies = targets.filter((t) => t.keep?.length && t.kind === 'pack');
  for (const [t, info] of (await mapLimit(copies, 8, async (t) => [t, await head(t.key)] as const))) {
    if (info?.storageClass && ARCHIVED_CLASSES.has(info.storageClass)) out.set(t.key, info.storageClass);
  }
  return out;
}

/** The archived copy-outs (archivedCopyOuts) as the end of the plan's "kept" line. */
function archivedText(archived: Map<string, string>): string {
  if (archived.size === 0) return '';
  const classes = [...new Set(archived.values())].sort().join(', ');
  return ` (${archived.size} of them in the archive tier, ${classes}: the purge asks S3 to restore each first, Bulk, ready within 48 hours, and copies their held calls out in the first purge after, so they stay until then)`;
}

/** A trees policy as the deployment file spells it: `keepDaily 1, keepWeekly 0, …; source meetings: keepDaily 30`. */
function treesPolicyText(policy: SiteTreeRetentionInput): string {
  const { sources = {}, ...site } = policy;
  const pairs = (o: object) => Object.entries(o).map(([k, v]) => `${k} ${String(v)}`).join(', ');
  return [pairs(site), ...Object.entries(sources).map(([name, own]) => `source ${name}: ${pairs(own)}`)].filter(Boolean).join('; ');
}

/** The settings beyond the retention and the lock, as the plan's text names them. */
function settingsLine(site: string, r: PlanSettings): string {
  const s = r.settings;
  const parts = [`keepFullCycles ${s.keepFullCycles}`];
  if (s.orphanGraceDays !== undefined) parts.push(`orphanGraceDays ${s.orphanGraceDays}`);
  if (s.partialLockDays) parts.push(`binlog partials locked ${s.partialLockDays} day(s)`);
  parts.push(s.trees ? `trees ${treesPolicyText(s.trees)}` : `the default trees policy (${treesPolicyText(DEFAULT_SITE_TREE_RETENTION)})`);
  return `${r.siteFrom ? `the settings of site ${site} in ${r.siteFrom}, with the options given on top` : 'settings'}: ${parts.join(', ')}`;
}

/**
 * What the purge keeps of one tree source, and so how far back `ferry restore tree --at` reaches
 * after it: the question an operator asks of a plan that forgets snapshots ("can I still get
 * last Tuesday's share back?"), which the count of deletions alone does not answer.
 */
export function treeKeptLine(k: TreeSourceKept): string {
  const p = k.policy;
  const rules = [`the newest`, `${k.byRule.daily} by keepDaily ${p.keepDaily}`, `${k.byRule.weekly} by keepWeekly ${p.keepWeekly}`, `${k.byRule.monthly} by keepMonthly ${p.keepMonthly}`];
  if (k.byRule['before-mass-change']) rules.push(`${k.byRule['before-mass-change']} from before a mass change`);
  const gone = k.forgotten + k.waiting > 0;
  const reach = k.oldestKept && gone ? `: once the forgotten ones are gone, \`ferry restore tree --source ${k.source} --at\` reaches back to ${k.oldestKept.takenAt} (snapshot ${k.oldestKept.snapshotId}, the oldest kept), no further` : '';
  const waiting = k.waiting ? `; ${k.waiting} forgotten snapshot(s) are still under their Object Lock and go in a later purge` : '';
  return `tree source ${k.source}: ${k.forgotten + k.waiting} snapshot(s) forgotten, ${k.kept} kept (${rules.join(', ')}; one snapshot can fill several rules)${reach}${waiting}`;
}

export function renderPlan(opts: PlanOptions, r: Awaited<ReturnType<typeof purgePlan>>, list = false): string {
  const s = r.plan.summary;
  const kinds = new Map<string, number>();
  for (const t of r.targets) kinds.set(t.kind, (kinds.get(t.kind) ?? 0) + 1);
  const what = [...kinds].map(([k, n]) => `${n} ${k}${n === 1 ? '' : 's'}`).join(', ') || 'nothing';
  const lines = [
    `purge of site ${opts.site} with retentionDays ${r.settings.retentionDays} (calls that started before ${r.cutoff}) and a ${r.lock.days}-day Object Lock (${r.lock.from}) would delete: ${what}`,
    settingsLine(opts.site, r),
    `kept of what is old enough to go: ${s.keptPacks} pack(s) (${s.keptPacksHeld} for calls on legal hold); kept of the backups: ${s.keptFulls} full(s), ${s.keptSegments} log segment(s)${s.copiedOut ? `; ${s.copiedOut} pack(s) go once their held calls are copied out${archivedText(r.archived)}` : ''}`,
  ];
  for (const k of r.trees) lines.push(treeKeptLine(k));
  if (s.erasures) lines.push(erasureLine(s.erasures, true).trim());
  if (s.unreadable) lines.push(`${s.unreadable} manifest(s) could not be read: their objects are kept`);
  if (s.locked) lines.push(`waiting for their Object Lock: ${s.locked.atLeast ? 'at least ' : ''}${s.locked.count} pack(s), full backup(s) or log segment(s) past the rules but still locked, not planned (the first comes free on ${s.locked.firstFree})`);
  if (s.trees?.locked) lines.push(`waiting for their Object Lock: ${treeLockWaiting(s.trees.locked)} past the rules but still locked, not planned (the first comes free on ${s.trees.locked.firstFree})`);
  if (s.futureDated) lines.push(`${s.futureDated.count} item(s) dated in the future set aside (kept, counted toward no rule): ${s.futureDated.named.join(', ')}`);
  if (s.truncated) lines.push(`the plan stopped at ${PLAN_LIMIT} deletions: the purge would go on in later rounds`);
  if (list) for (const t of r.targets) lines.push(`  ${t.kind.padEnd(10)} ${t.key}  (${t.reason}${r.archived.has(t.key) ? `; in ${r.archived.get(t.key)}: restored before the copy-out` : ''})`);
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
    .option('--retention-days <days>', "the retention to plan with (default: the site's retentionDays in the deployment file; give the one you mean to deploy)")
    .option('--keep-full-cycles <n>', "full backups kept per source (default: the site's in the deployment file, else 2)")
    .option('--object-lock-days <days>', "the bucket's Object Lock in days, 0 for none: what is younger is not planned, as the deployed purge does (default: objectLock.defaultRetentionDays of --deployment or $FERRY_DEPLOYMENT, else 30)")
    .option('--deployment <file>', "deployment config (JSON): the plan takes the site's purge settings (retentionDays, keepFullCycles, trees, orphanGraceDays) and the bucket's locks (objectLock.defaultRetentionDays, binlogs.partialLockDays) from it, as the deployed purge is given them; default: $FERRY_DEPLOYMENT")
    .option('--at <time>', 'plan as of this time (default: now)')
    .option('--list', 'name every object the purge would delete, and why')
    .option('--json', 'JSON output')
    .action(async (opts: PlanOptions & { list?: boolean; json?: boolean }) => {
      const r = await purgePlan(opts);
      process.stdout.write(opts.json ? `${JSON.stringify({ site: opts.site, cutoff: r.cutoff, objectLockDays: r.lock.days, settings: r.settings, ...(r.siteFrom ? { settingsFrom: r.siteFrom } : {}), summary: r.plan.summary, trees: r.trees, targets: r.targets, archivedCopyOuts: Object.fromEntries(r.archived) }, null, 2)}\n` : renderPlan(opts, r, opts.list));
    });
}
