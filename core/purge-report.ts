import { causeText, composeAlert, lockBusyAlert, type TaskError } from './alert-text.ts';
import { CLOCK_MARGIN_MS } from './future-dated.ts';
import type { HeldLock } from './lock.ts';
import type { Alert } from './ports.ts';
import type { BatchResult, PurgePlanResult } from './purge.ts';
import type { TreeLockWait } from './tree-retention.ts';
import type { PurgeOutcome } from './purge-watch.ts';
import type { WorkflowConfig } from './workflow-config.ts';

// The purge's report: one message saying what went, what stayed and why (core/purge.ts does the work).

export interface PurgeRun {
  site: string;
  startedAt: string;
  execution?: string;
  lockError?: TaskError;
  heldBy?: HeldLock | null;
  plan?: PurgePlanResult;
  /** Shape of the Map state's output: one result per batch. */
  deleted?: BatchResult[];
  error?: TaskError;
  /** Which round of the execution this is (a plan cut at its size is followed by another, up to purgeMaxRounds). */
  round?: number;
}

export interface PurgeReport {
  outcome: PurgeOutcome;
  alert: Alert;
  /** Objects the round deleted. */
  deleted: number;
}

/** What a plan cut at its size says: another round at once, or (the rounds used up) the next scheduled purge. */
function moreRemain(run: PurgeRun, config: WorkflowConfig): string {
  const round = run.round ?? 1;
  return round < config.purgeMaxRounds ? ` (more remain: round ${round + 1} of this purge follows at once)` : ` (more remain after ${round} round(s): the next scheduled purge continues)`;
}

/** A plan still cut at its size in the last round this execution may run: retention is falling behind. */
function fallingBehind(run: PurgeRun, config: WorkflowConfig): boolean {
  return run.plan?.summary.truncated === true && (run.round ?? 1) >= config.purgeMaxRounds;
}

/** The report's state word and "what failed" line: skips, retention falling behind, items dated in the future, or all done. */
function headline(skipped: boolean, behind: boolean, future: boolean): { state: string; what: string } {
  if (skipped) return { state: 'done with skips', what: 'nothing failed for good, but not every planned object could be deleted' };
  if (behind) return { state: 'done, more past retention', what: 'nothing failed, but more objects are past retention than this run could plan' };
  if (future) return { state: 'done, items dated in the future', what: 'nothing failed, but backups or snapshots dated in the future were found (kept, counted toward no rule)' };
  return { state: 'done', what: 'nothing (this is the purge report)' };
}

/** "N tree snapshot(s) and M tree pack(s)", leaving out a kind of which none wait. */
export function treeLockWaiting(l: Pick<TreeLockWait, 'snapshots' | 'packs'>): string {
  return [l.snapshots ? `${l.snapshots} tree snapshot(s) (with the packs they list)` : '', l.packs ? `${l.packs} tree pack(s)` : ''].filter(Boolean).join(' and ');
}

/** What the plan does about data subjects' erasure requests, and what keeps the rest waiting (`ferry purge plan`: `planOnly`, nothing marked). */
export function erasureLine(e: NonNullable<PurgePlanResult['summary']['erasures']>, planOnly = false): string {
  const locked = e.locked ? `; erasure pending until ${e.locked.until} for ${e.locked.count} call(s): their pack is under Object Lock until then` : '';
  const held = e.held?.length ? `; ${e.held.length} call(s) under legal hold wait for its release: ${e.held.slice(0, 5).join(', ')}${e.held.length > 5 ? ', …' : ''}` : '';
  const after = e.afterRewrite?.length ? `; ${e.afterRewrite.length} call(s) asked for while their pack was being rewritten wait in its new pack: a stopped purge began that rewrite, this one finishes it as begun and the next erases them from the new pack: ${e.afterRewrite.slice(0, 5).join(', ')}${e.afterRewrite.length > 5 ? ', …' : ''}` : '';
  return `  erasure (data subjects' requests): ${e.planned} call(s) planned${e.done ? `, ${e.done} found carried out and ${planOnly ? 'to be marked done by the purge' : 'marked done'}` : ''}${locked}${held}${after}`;
}

/** What the plan settled of the intents an earlier purge left open (core/purge-intents.ts): one line, or none. */
function intentsLine(i: NonNullable<PurgePlanResult['summary']['intents']>): string[] {
  const parts = [
    ...(i.completed ? [`${i.completed} deletion(s) an earlier purge began and carried out without recording the outcome: recorded now (a purge record naming its intent)`] : []),
    ...(i.notDeleted ? [`${i.notDeleted} begun but never carried out (the object is still here): recorded as not deleted`] : []),
    ...(i.open ? [`${i.open} begun whose object is gone and manifest left: this purge deletes the manifest and records the outcome`] : []),
    ...(i.closed ? [`${i.closed} closed without a new record (an earlier purge recorded the outcome, or never announced the deletion, before it stopped)`] : []),
  ];
  return parts.length ? [`  audit trail: ${parts.join('; ')}`] : [];
}

function planLines(plan: PurgePlanResult, run: PurgeRun, config: WorkflowConfig): string[] {
  const s = plan.summary;
  const lines = [
    `  planned: ${s.packs} pack(s), ${s.fulls} full backup(s), ${s.segments} log segment(s)${s.truncated ? moreRemain(run, config) : ''}${s.deferred ? `; ${s.deferred} target(s) left for the next purge to keep the plan within Step Functions' state size` : ''}`,
    `  kept: ${s.keptPacks} pack(s) dated before the retention cutoff but holding a younger or held recording (${s.keptPacksHeld} only because of a legal hold); ${s.keptFulls} full backup(s), ${s.keptSegments} log segment(s)`,
  ];
  if (s.copiedOut) lines.push(`  legal hold: ${s.copiedOut} pack(s) past retention holding held calls, to be copied out to their own held pack so the rest can go (any not copied out are listed under failed)`);
  if (s.unreadable) lines.push(`  ${s.unreadable} manifest(s) could not be read: their objects were kept`);
  if (s.orphans) lines.push(`  ${s.orphans} pack attempt(s) that never got a manifest (past the grace period)`);
  // Normal while the lock is longer than the purge interval: said, not warned about.
  if (s.locked) lines.push(`  waiting for their Object Lock: ${s.locked.atLeast ? 'at least ' : ''}${s.locked.count} pack(s), full backup(s) or log segment(s) past the rules but still locked, not planned (the first comes free on ${s.locked.firstFree}; a later purge deletes them)`);
  const t = s.trees;
  if (t && (t.snapshots || t.packs || t.indexes || t.keptSnapshots || t.skippedSources.length)) {
    const skipped = t.skippedSources.length ? `; left alone (a manifest could not be read): ${t.skippedSources.join(', ')}` : '';
    lines.push(`  tree snapshots: ${t.snapshots} forgotten, ${t.keptSnapshots} kept; ${t.packs} pack(s) no kept snapshot lists, ${t.indexes} orphan index(es)${skipped}`);
  }
  if (t?.locked) lines.push(`  waiting for their Object Lock: ${treeLockWaiting(t.locked)} past the rules but still locked, not planned (the first comes free on ${t.locked.firstFree}; a later purge deletes them)`);
  if (s.erasures) lines.push(erasureLine(s.erasures));
  if (s.intents) lines.push(...intentsLine(s.intents));
  const f = s.futureDated;
  if (f?.count) {
    const more = f.count > f.named.length ? `, … and ${f.count - f.named.length} more (the purge function's "purge planned" log line counts them)` : '';
    lines.push(`  dated in the future (after now + ${CLOCK_MARGIN_MS / 3_600_000} h): ${f.count} full backup(s), log segment(s) or tree snapshot(s), kept and counted toward no rule: ${f.named.join(', ')}${more}`);
  }
  return lines;
}

/** What to do about items dated in the future: they were set aside, but somebody wrote them. */
const FUTURE_DATED_TODO =
  "items dated in the future were kept and not counted (the newest genuine fulls and snapshots were kept by the rules): if the site's clock is ahead, set it right; if it is not, someone holding the site's agent key wrote them: replace the key, read the named manifests, and delete the forged objects with an operator's credentials once their Object Lock allows";

/** What the operator does after a purge that ran to its end: each thing that needs it, or nothing. */
function doneTodo(run: PurgeRun, config: WorkflowConfig, c: { behind: boolean; heldKept: number; erasureRestoring: number; replicaKept: { count: number; buckets: string[] }; retainedCount: number; failedCount: number; future: boolean }): string[] {
  const todo = [
    ...(c.behind ? [`retention is falling behind: after ${run.round ?? 1} round(s) of ${config.purgeMaxTargets} deletion(s) each, more are past retention: run the purge more often (the site's purgeCron) or raise workflow.purgeMaxRounds`] : []),
    ...(c.heldKept ? [`${c.heldKept} pack(s) past retention are kept because their held calls are not copied out yet (reasons above): an archived pack is being restored for it, and the first purge after the restore finishes them; if one stays here past two purges, read its reason`] : []),
    ...(c.erasureRestoring ? [`${c.erasureRestoring} pack(s) holding erased calls are in the archive tier: their restore was asked for (reasons above), and the first purge after it copies their other calls to a new pack and carries the erasure out; \`ferry erasures list\` says what each request waits for`] : []),
    ...(c.replicaKept.count ? [`${c.replicaKept.count} pack(s) holding erased calls are kept because their copy in the DR bucket ${c.replicaKept.buckets.join(', ')} could not be deleted (reasons above), and their requests stay pending: a version still under Object Lock there goes once its lock ends, as here; any other refusal (AccessDenied while the copy here is past its lock, the DR region unreachable) does not go by itself: the DR bucket's policy must let the purge function's role (processing stack output PurgeRoleArn) list and delete its versions (docs/deploy.md, replication)`] : []),
    ...(c.retainedCount ? ['objects under Object Lock go by themselves in a later purge once their retention ends; nothing to do unless the list keeps growing'] : []),
    ...(c.failedCount ? ['failed deletions are tried again by the next purge'] : []),
    ...(c.future ? [FUTURE_DATED_TODO] : []),
  ];
  return todo.length ? todo : ['nothing'];
}

export function purgeReport(run: PurgeRun, now: Date, config: WorkflowConfig): PurgeReport {
  const base = { site: run.site, since: run.startedAt, now, execution: run.execution };
  if (run.lockError) {
    const alert = lockBusyAlert({ ...base, operation: 'purge', retried: true, retryIntervalSeconds: config.lockRetryIntervalSeconds, maxAttempts: config.purgeLockMaxAttempts, staleLockHours: config.staleLockHours, heldBy: run.heldBy ?? undefined });
    return { outcome: 'NOT-STARTED', alert, deleted: 0 };
  }
  const results = run.deleted ?? [];
  const deleted = results.reduce((n, r) => n + r.deleted, 0);
  const retained = results.flatMap((r) => r.retained);
  const retainedCount = results.reduce((n, r) => n + r.retainedCount, 0);
  const failedCount = results.reduce((n, r) => n + r.failedCount, 0);
  const erased = results.reduce((n, r) => n + (r.erased ?? 0), 0);
  const details = [...(run.plan ? planLines(run.plan, run, config) : []), `  deleted: ${deleted} object(s)${erased ? `; ${erased} erasure request(s) carried out (done)` : ''}`];
  if (retainedCount) details.push(`  skipped (Object Lock, not forced): ${retainedCount}: ${retained.slice(0, 5).map((r) => r.key).join(', ')}${retainedCount > 5 ? ', …' : ''}`);
  const failed = results.flatMap((r) => r.failed);
  if (failedCount) details.push(`  failed (tried again next purge): ${failedCount}`, ...failed.slice(0, 5).map((f) => `    ${f.key}: ${f.reason}`), ...(failedCount > 5 ? [`    … and ${failedCount - 5} more (the purge function's log names each)`] : []));
  const heldKept = failed.filter((f) => /held call\(s\)? not copied out|held calls not copied out/.test(f.reason)).length;
  const erasureRestoring = failed.filter((f) => /^erasure of call\(s\) .* waits, pack kept: the pack is in the archive tier/.test(f.reason)).length;
  const inReplica = failed.map((f) => /^erasure of call\(s\) .* waits, pack kept: its copy in the DR bucket (\S+) could not be deleted/.exec(f.reason)?.[1]).filter((b) => b !== undefined);
  const replicaKept = { count: inReplica.length, buckets: [...new Set(inReplica)] };
  if (run.error) {
    return {
      outcome: 'FAILED',
      deleted,
      alert: composeAlert({ ...base, severity: 'critical', subject: `Ferry ${run.site}: purge FAILED`, what: `the purge stopped: ${run.error.Error}: ${causeText(run.error)}`, details, todo: [run.error.Error === 'LockLostError' ? `the purge lost its lock (cleared as stale?): raise staleLockHours (now ${config.staleLockHours} h) above the longest purge, then let the next scheduled purge run` : 'look at the execution history and the purge function log; the next scheduled purge starts over safely: every object this one began deleting is named in the audit trail (a purge-intent record), and the next purge records the outcome of any whose purge record is missing'] }),
    };
  }
  const behind = fallingBehind(run, config);
  const incomplete = retainedCount > 0 || failedCount > 0 || behind;
  const future = (run.plan?.summary.futureDated?.count ?? 0) > 0;
  const head = headline(retainedCount + failedCount > 0, behind, future);
  return {
    outcome: incomplete ? 'INCOMPLETE' : 'DONE',
    deleted,
    alert: composeAlert({
      ...base,
      severity: failedCount || behind || future ? 'warning' : 'info',
      subject: `Ferry ${run.site}: purge ${head.state} - ${deleted} object(s) deleted`,
      what: head.what,
      details,
      todo: doneTodo(run, config, { behind, heldKept, erasureRestoring, replicaKept, retainedCount, failedCount, future }),
    }),
  };
}
