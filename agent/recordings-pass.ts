import { join } from 'node:path';
import { batchNameOf, batchNumbers, numberOf } from './sources/batch-order.ts';
import type { RecordingsSourceConfig } from '../core/config.ts';
import { createMetadataExtractor } from '../core/metadata.ts';
import { unreadableDirectory } from './sources/source-checks.ts';
import { batchKey } from './journal.ts';
import type { KeptBatches } from './kept-batches.ts';
import { batchDirectories, listBatches } from './sources/scan.ts';
import { CUT_SHORT_HOLD_MS, hasExtension } from './sources/recordings.ts';
import { RecordingsWalk, backlogOfView, type LossKind, type WalkDeps } from './recordings-walk.ts';
import { leftView } from './state/pending-view.ts';
import { followMove, rootIdentity } from './source-moved.ts';
import type { PendingViewWriter } from './state/pending-view.ts';
import { sourceReadable } from './state/alert-book.ts';
import { badNameAlert } from './sources/names.ts';
import type { Alert } from '../core/ports.ts';
import { reportLost, shipAll, type RecordingsState } from './ship-recordings.ts';
import { recordGoneUnreadable, unreadableAlerts, unreadablePrefix, unreadableResolved } from './unreadable-batches.ts';
import type { CycleReport } from './agent-types.ts';
import { misplacedAlert, UnconfiguredRecordings } from './recordings-elsewhere.ts';

// A recordings source's share of one pass: check that the source can be scanned (alerting when a
// mount is gone or a root is suddenly empty), list its batches, walk them (what is closed, what
// was lost between passes) while shipping what the walk finds, then write the pending view.

/** Runs one pass over a recordings source; adds its counts and status to `report`, its batches to `keep`. */
export async function cycleRecordings(s: RecordingsState, source: RecordingsSourceConfig, report: CycleReport, keep: KeptBatches): Promise<void> {
  const now = () => s.deps.clock.now().toISOString();
  const savedView = () => backlogOfView(source.name, s.observations.previousPending(source.name), { each: (batch) => keep.add(batchKey(source.name, batch)), left: leftView(s.journal, s.lossLog, source.name) });
  // A source the pass cannot look at (its mount gone, its root suddenly empty) found none of its
  // batches, yet they are still on the recorder: a compaction in this pass keeps what shipped from
  // every one of them, or all would ship again when the mount is back.
  const keepAll = () => keep.keepUnder(batchKey(source.name, ''));
  const problem = await sourceProblem(s, source);
  if (problem) {
    keepAll();
    // Keep the saved view: what was pending is neither shipped nor known lost, and stays reported as pending.
    report.sources.push({ name: source.name, type: 'recordings', backlog: savedView(), lastScan: s.observations.lastPass(source.name)?.lastScan ?? now(), problem });
    return;
  }
  const warn = warnOnce(s, source);
  // Directories of the root that cannot be read: left as they were (pending, not lost), alerted after the walk.
  const unreadable = new Map<string, string>();
  const onUnreadable = (path: string, reason: string) => {
    if (!unreadable.has(path)) s.deps.log.error('batch directory cannot be read', { source: source.name, path, problem: reason });
    unreadable.set(path, reason);
  };
  // Names that are not UTF-8 (batch directories, recordings): not shipped, alerted after the walk.
  const badNames = new Set<string>();
  const onBadName = (path: string) => {
    if (!badNames.has(path)) s.deps.log.error('name is not valid UTF-8: not shipped', { source: source.name, path });
    badNames.add(path);
  };
  // Recordings where the agent never looks (above the batch directories, or in a directory
  // inside one): never shipped, so alerted, with the first place found for each.
  const misplaced = new Map<string, string>();
  const onMisplaced = (path: string, example: string) => {
    if (!misplaced.has(path)) s.deps.log.error('recording outside the batch directories: not shipped', { source: source.name, path, example });
    misplaced.set(path, example);
  };
  // Recordings of a type the source does not ship (a recorder upgraded to a new format): alerted after the walk.
  const others = s.deps.config.sources.flatMap((o) => (o.type === 'recordings' && o.name !== source.name && o.path === source.path ? o.extensions : []));
  const unconfigured = new UnconfiguredRecordings(source, others, s.deps.clock.now().getTime());
  const batches = await listBatches(source.path, source.batchDepth, { warn, unreadable: onUnreadable, badName: onBadName, misplaced: onMisplaced, isRecording: (n) => hasExtension(n, source.extensions) });
  const unreadablePrefixes = [...unreadable.keys()];
  for (const batch of batches) keep.add(batchKey(source.name, batch));
  const rootId = await rootIdentity(source.path);
  await followMove(s, source, batches, rootId);
  const last = s.observations.lastPass(source.name);
  const emptyKey = `source-empty:${source.name}`;
  if (batches.length === 0 && last && last.batchesSeen > 0) {
    // A recorder keeps its disk full; a root that suddenly holds nothing is more likely an
    // unmounted share than an eviction of everything. Nothing is called lost until it is back.
    keepAll();
    const held = batchDirectories(last.batchesSeen);
    await s.alerts.raise(emptyKey, {
      severity: 'critical',
      site: s.deps.config.site,
      subject: `source ${source.name} is suddenly empty`,
      message: `${source.path} held ${held} at the last pass (${last.lastScan}) and holds none now. Check that the recorder's share is mounted. What was pending stays pending until the source is back.`,
      details: { source: source.name, path: source.path },
    });
    // A problem, as a path gone is: the pass fails (`--once` exits 1) and the heartbeat names it,
    // so a cron wrapper or the fleet view that reads no alerts still sees that nothing ships.
    const problem = `${source.path} is suddenly empty (it held ${held} at the pass of ${last.lastScan}): is the recorder's share mounted?`;
    report.sources.push({ name: source.name, type: 'recordings', backlog: savedView(), lastScan: last.lastScan ?? now(), problem });
    return;
  }
  await s.alerts.resolve(emptyKey, s.deps.config.site, `Source ${source.name} (${source.path}) holds batches again.`);
  // The recorder's numbering, read once from the listing: for the gap check now and the memory the complete walk leaves.
  const numbers = source.batchDepth === 1 ? batchNumbers(batches, new Set(s.observations.numbering(source.name)?.outside)) : undefined;
  if (numbers?.outside.length) s.deps.log.warn('directories far outside the batch numbering: not taken for batches of it', { source: source.name, outside: numbers.outside.slice(0, 10) });
  report.lost += await unseenBatches(s, source, numbers);
  const next = s.observations.pendingWriter(source.name);
  try {
    const walk = walkOf(s, source, batches, { next, warn, lastSeen: last?.lastScan, unreadable: onUnreadable, unreadablePrefixes, badName: onBadName, misplaced: onMisplaced, files: (batch, files) => unconfigured.see(batch, files) });
    // Shipping starts with the first closed batch the walk finds, while the walk goes on. The
    // next pending view is committed as soon as the walk ends (on a backlog, long before the
    // shipping does): a pass killed before that leaves the previous view to compare with.
    const started = performance.now();
    const walking = walk.walk().then(() => {
      next.commit();
      const before = s.observations.numbering(source.name);
      const at = s.deps.clock.now();
      s.observations.pendingCommitted(source.name, batches.length, at, source.path, numberingKept(before, numberingSeen(numbers, at, before)), rootId);
      s.deps.log.info('recordings walked', { source: source.name, batches: batches.length, ready: walk.readyFound, ordered: walk.ordered, lost: walk.lost, ...(walk.doubtful > 0 ? { goneAfterShippedBefore: walk.doubtful } : {}), ms: Math.round(performance.now() - started) });
      // What the walk found lost is alerted now (together), not when the shipping of a backlog ends.
      return s.losses.flush(source.name);
    });
    walking.catch(() => undefined); // awaited below, after the workers stop
    try {
      await shipAll(s, source, walk, report);
    } finally {
      if (s.stopping()) walk.stop();
      await walking.catch(() => undefined);
    }
    await walking;
    // What shipped from a directory that cannot be read is not forgotten by a compaction: it may still be there.
    for (const path of unreadable.keys()) keep.keepUnder(batchKey(source.name, path));
    // Resolved only after a walk of the whole root: a stopped one did not look everywhere.
    const { site } = s.deps.config;
    // Gone while unreadable: recorded lost before its alert closes, so a pass stopped in between records it next time.
    if (!s.stopping()) report.lost += await recordGoneUnreadable(s, source, unreadable);
    await s.alerts.raiseEach(unreadablePrefix(source), unreadableAlerts(site, source, unreadable), site, (path) => unreadableResolved(source, path, s.journal.shippedAny(source.name, path)), !s.stopping());
    const badNameAlerts = [...badNames].map((path): [string, Omit<Alert, 'key'>] => [path, badNameAlert(site, source.name, path, source.path)]);
    await s.alerts.raiseEach(`bad-name:${source.name}:`, badNameAlerts, site, (path) => `${path} is gone or renamed.`, !s.stopping());
    await s.alerts.hold(`misplaced:${source.name}`, misplacedAlert(site, source, misplaced), site, `Every recording of ${source.name} is in a batch directory again.`, !s.stopping());
    await s.alerts.hold(`unconfigured:${source.name}`, unconfigured.alert(site), site, `No file that looks like a recording of ${source.name} is left out by its extensions any more.`, !s.stopping());
    await s.alerts.hold(`clock-ahead:${source.name}`, aheadAlert(site, source, walk.ahead), site, `No recording of ${source.name} is dated ahead of this machine's clock any more.`, !s.stopping());
    const cutShort = cutShortAlert(site, source, walk.cutShort);
    await s.alerts.hold(`cut-short:${source.name}`, cutShort, site, `No recording of ${source.name} is held back as shorter than the one of its name offsite any more.`, !s.stopping());
    // Alerted critically, as a share's mass change is: the pass fails (`--once` exits 1) for a person to look.
    if (cutShort?.severity === 'critical') report.failed++;
    if (await reshippedAlert(s, source, walk.reshipped)) report.failed++;
    report.failed += unreadable.size + badNames.size + misplaced.size + unconfigured.byExtension.size;
    // The view stays as the walk wrote it: what shipped (or was found lost) since is in the
    // journal and the loss log, and every reader of the view leaves it out (the next walk, the
    // backlog of a source that cannot be scanned, `ferry agent status`). Rewriting the view
    // here without it took the whole view through memory at the end of every pass. The journal
    // forgets a batch's shipped files only when it compacts, at the end of a pass whose sources
    // all completed and whose listing no longer has the batch (agent.ts, `keep`). By then this
    // source's view has been replaced by one that names the batch not at all or only with files
    // not shipped (a stopped walk's carry-over), or, kept as it was, has every batch in `keep`.
    report.lost += walk.lost;
    const lastManifest = report.manifests.at(-1);
    report.sources.push({ name: source.name, type: 'recordings', backlog: walk.backlog(), lastScan: now(), ...(lastManifest ? { lastManifest } : {}) });
  } finally {
    next.close();
  }
}

/** Batches a gap in the recorder's numbering may hold at most; a larger jump is a renumbering, not an eviction. */
const MAX_UNSEEN_BATCHES = 10_000;

type Numbering = NonNullable<ReturnType<RecordingsState['observations']['numbering']>>;

/**
 * What a complete walk saw of a one-level numbered root: the highest number, and whether the
 * numbers had no holes but for batches the agent knows were there (`before`).
 */
function numberingSeen(seen: ReturnType<typeof batchNumbers>, at: Date, before?: Numbering): Numbering | undefined {
  if (!seen || seen.numbers.length === 0) return undefined;
  let [low, high, name] = [Infinity, -Infinity, ''];
  seen.numbers.forEach((n, i) => {
    low = Math.min(low, n);
    if (n > high) [high, name] = [n, seen.names[i] as string];
  });
  const contiguous = seen.numbers.length >= 2 && (high - low + 1 === seen.numbers.length || holesKnown(seen, low, high, before));
  return { shape: seen.shape, low, high, name, contiguous, at: at.toISOString(), ...(seen.outside.length > 0 ? { outside: seen.outside } : {}) };
}

/**
 * True when every hole in a numbering is a batch the agent knows was there: inside the range a
 * contiguous earlier walk saw (a batch the recorder evicted early, or someone deleted, after a
 * pass saw it), or between that range and the first new number (just recorded lost unseen). A
 * single early eviction then no longer switches the lost-unseen check off for as long as the
 * hole stays on the recorder's disk. A hole among the new numbers, or below the range (the
 * recorder counting again), is a numbering with holes, not judged.
 */
function holesKnown(seen: NonNullable<ReturnType<typeof batchNumbers>>, low: number, high: number, before: Numbering | undefined): boolean {
  if (!before?.contiguous || before.shape !== seen.shape || before.low === undefined || low < before.low) return false;
  let firstNew = Infinity;
  for (const n of seen.numbers) if (n > before.high && n < firstNew) firstNew = n;
  if (firstNew !== Infinity && firstNew - before.high - 1 > MAX_UNSEEN_BATCHES) return false;
  const present = new Set(seen.numbers);
  for (let n = firstNew === Infinity ? before.high + 1 : firstNew; n <= high; n++) if (!present.has(n)) return false;
  return true;
}

/**
 * What the memory keeps of a complete walk's numbering. When the newest batches are gone (the
 * recorder dropped them, or its directory was restored from its own backup) while the older ones
 * stay, the numbers above were still seen by a pass: the highest seen is kept, or their return
 * past them would be taken for batches nobody saw. A walk whose lowest number is below the
 * memory's is the recorder counting again: the memory starts afresh.
 */
function numberingKept(before: Numbering | undefined, seen: Numbering | undefined): Numbering | undefined {
  if (!seen || !before || before.shape !== seen.shape || before.low === undefined || seen.low === undefined) return seen;
  if (seen.high < before.high && seen.low >= before.low) return { ...seen, high: before.high, name: before.name };
  return seen;
}

/**
 * Batches the recorder numbered, wrote and evicted between two looks of the agent: on a root
 * numbered without holes (000035, 000036, …), new batches that start above the last walk's
 * highest + 1 mean the ones between were never seen by any pass. Not even their recordings can
 * be named, but they are recorded lost (exit 3, alerted) rather than forgotten: a pass held up
 * for minutes by a slow or unreachable store keeps the state directory, and every cron run in
 * that time stops at the lock without looking. Returns how many batches were newly recorded.
 */
async function unseenBatches(s: RecordingsState, source: RecordingsSourceConfig, now: ReturnType<typeof batchNumbers>): Promise<number> {
  if (s.observations.numberingForgotten(source.name)) {
    s.deps.log.warn('batch numbering memory older than the last scan (an older agent ran on this state directory): not judged for batches nobody saw this pass', { source: source.name });
  }
  const before = s.observations.numbering(source.name);
  if (!before?.contiguous || !now || now.shape !== before.shape) return 0;
  // The lowest number above the last walk's highest (a loop: a root may hold more batches than a spread takes arguments).
  let [first, firstName] = [Infinity, ''];
  now.numbers.forEach((n, i) => {
    if (n > before.high && n < first) [first, firstName] = [n, now.names[i] as string];
  });
  if (first === Infinity) return 0;
  const missing = first - before.high - 1;
  if (missing <= 0) return 0;
  // A jump past a name an earlier walk set aside as far outside the run is the recorder that
  // went on there (renumbered), its old run since evicted: not batches nobody saw.
  const crossed = before.outside?.find((name) => {
    const n = numberOf(name);
    return n !== undefined && n > before.high && n < first;
  });
  if (crossed !== undefined) {
    s.deps.log.warn('batch numbering continued past a directory set aside as outside it: taken for a renumbering, not a loss', { source: source.name, from: before.name, to: firstName, past: crossed });
    return 0;
  }
  if (firstName !== batchNameOf(before.name, first)) {
    // `2026` after `000010`: a name of another width is no batch of the zero-padded numbering (a year directory of a new layout).
    s.deps.log.warn('batch above the numbering is of another width: not taken for a batch of it', { source: source.name, from: before.name, to: firstName });
    return 0;
  }
  if (missing > MAX_UNSEEN_BATCHES) {
    s.deps.log.warn('batch numbering jumped: taken for a renumbering, not a loss', { source: source.name, from: before.name, to: firstName });
    return 0;
  }
  // Recorded once: a pass that stopped before its walk completed left the memory as it was. A
  // batch a pass saw and recorded lost by name is not lost unseen as well.
  const recorded = new Set(s.lossLog.all().filter((l) => l.source === source.name && l.kind === 'recordings').flatMap((l) => (l.unseen ? l.files.map((f) => f.name) : [l.batch])));
  // A state directory restored from an older backup saw none of the batches shipped since: those the store's manifests list were seen and shipped, not lost.
  const offsite = shippedBatches(s.shippedElsewhere, source.name);
  const names = Array.from({ length: missing }, (_, i) => batchNameOf(before.name, before.high + 1 + i)).filter((name) => !recorded.has(name) && !offsite.has(name));
  if (names.length === 0) return 0;
  const range = names.length === 1 ? names[0]! : `${names[0]}–${names.at(-1)}`;
  return s.losses.report({
    source: source.name,
    batch: range,
    kind: 'recordings',
    files: names.map((name) => ({ name, size: 0, mtimeMs: 0, path: join(source.path, name) })),
    reason: `written and evicted by the recorder without any pass seeing ${names.length === 1 ? 'it' : 'them'}: the last complete look (${before.at}) ended at ${before.name}, and the batches now start above it at ${firstName}${s.shippedElsewhereGap ? ` (${s.shippedElsewhereGap})` : ''}`,
    at: s.deps.clock.now().toISOString(),
    unseen: true,
  });
}

/** The batches of `source` that hold a recording of `shipped` (`source\tbatch/file`, the store's manifests since a restored state directory's last run). */
function shippedBatches(shipped: ReadonlyMap<string, string> | undefined, source: string): Set<string> {
  const batches = new Set<string>();
  const prefix = `${source}\t`;
  for (const key of shipped?.keys() ?? []) {
    if (!key.startsWith(prefix)) continue;
    const path = key.slice(prefix.length);
    const slash = path.indexOf('/');
    if (slash > 0) batches.add(path.slice(0, slash));
  }
  return batches;
}

function walkOf(
  s: RecordingsState,
  source: RecordingsSourceConfig,
  batches: string[],
  o: { next: PendingViewWriter; warn: (message: string, path: string) => void; lastSeen?: string; unreadable: (path: string, reason: string) => void; unreadablePrefixes: readonly string[]; badName: (path: string) => void; misplaced: (path: string, example: string) => void; files: WalkDeps['files'] },
): RecordingsWalk {
  const reason = { 'between passes': 'deleted by the recorder before it was shipped', 'while shipping': 'deleted by the recorder while its batch was being shipped' } as const;
  return new RecordingsWalk(
    {
      source,
      clock: s.deps.clock,
      journal: s.journal,
      resolver: createMetadataExtractor(source.metadata),
      previous: s.observations.previousPending(source.name),
      next: o.next,
      warn: o.warn,
      ...(o.lastSeen ? { lastSeen: o.lastSeen } : {}),
      lost: (batch, files, when, how) => reportLost(s, source, batch, files, lossReason(reason[when], how), when === 'between passes' ? o.lastSeen : undefined, how),
      lookahead: s.deps.config.shipping.packConcurrency * 2,
      left: leftView(s.journal, s.lossLog, source.name),
      unreadable: o.unreadable,
      unreadablePrefixes: o.unreadablePrefixes,
      badName: o.badName,
      misplaced: o.misplaced,
      files: o.files,
    },
    batches,
  );
}

/**
 * Why the source cannot be scanned now (a mount gone, a path that is no longer a readable
 * directory, a root that is suddenly empty), alerted with memory; undefined when it can.
 */
async function sourceProblem(s: RecordingsState, source: RecordingsSourceConfig): Promise<string | undefined> {
  const problem = await unreadableDirectory(source.path);
  if (problem) s.deps.log.error('source cannot be scanned', { source: source.name, path: source.path, problem });
  await sourceReadable(s.alerts, s.deps.config.site, source, problem);
  return problem;
}

/**
 * The alert of recordings dated ahead of this machine's clock; none when there are none. They
 * wait until the clock passes them (a file must be unchanged for settleSeconds, and one from the
 * future never is yet), and the recorder may evict them meanwhile.
 */
function aheadAlert(site: string, source: RecordingsSourceConfig, ahead: RecordingsWalk['ahead']): Omit<Alert, 'key'> | undefined {
  if (!ahead) return undefined;
  const minutes = Math.max(1, Math.round(ahead.maxMs / 60_000));
  return {
    severity: 'warning',
    site,
    subject: `${source.name}: recordings dated ahead of this machine's clock`,
    message: `${ahead.files} recording(s) are dated up to ${minutes} min after this machine's time (furthest in batch ${ahead.batch}): they are not shipped until its clock passes them, and the recorder may remove them meanwhile. Check the time of this machine and of the recorder or file server (NTP).`,
    details: { source: source.name, files: ahead.files, aheadMinutes: minutes, batch: ahead.batch },
  };
}

/** Recordings shipped again in one pass, of names and sizes shipped before under other file times, from which an alert is raised. */
const RESHIPPED_ALERT_FILES = 20;

/**
 * The alert of recordings held back as shorter than the one of their name that shipped from
 * their batch (CUT_SHORT_HOLD_MS): said at once, not when they ship a day later. A copy to a new
 * PC writes a file or two at a time (a warning: it waits for the copy); this many at once is
 * no copy under way (ransomware or a wiper truncating the recorder's files: critical).
 */
function cutShortAlert(site: string, source: RecordingsSourceConfig, held: RecordingsWalk['cutShort']): Omit<Alert, 'key'> | undefined {
  if (held.files === 0) return undefined;
  const many = held.files >= RESHIPPED_ALERT_FILES;
  return {
    severity: many ? 'critical' : 'warning',
    site,
    subject: `${source.name}: ${held.files} recordings shorter than the ones of their names already offsite`,
    message: `${held.files} recording(s) (batches ${held.batches.join(', ')}${held.more ? ', …' : ''}) are shorter than the recording of the same name that shipped from their batch before, and their batches are held back for up to ${CUT_SHORT_HOLD_MS / 3600_000} hours. A copy of the calls folder still writing them (a recorder moved to a new PC) is found offsite once it completes, and nothing is sent. ${many ? 'So many at once is not a copy under way: a closed call does not shrink on a recorder (ransomware or a wiper truncating its files).' : 'A closed call does not shrink on a recorder: if no copy is under way, they were truncated.'} The whole ones that shipped before stay offsite. Look at the recorder now.`,
    details: { source: source.name, files: held.files, batches: held.batches },
  };
}

/**
 * Recordings already offsite that came back with new file times and shipped again: a touched copy
 * whose earlier pack could not be found (offsite-touched.ts: one found holding the same bytes is
 * not sent, nor counted here), or their content rewritten (ransomware encrypting the recorder's
 * disk: the catalogue then lists a second copy of each call beside the original). Raised once for the pass (an event), closed a repeat period later.
 */
async function reshippedAlert(s: RecordingsState, source: RecordingsSourceConfig, reshipped: RecordingsWalk['reshipped']): Promise<boolean> {
  const { site } = s.deps.config;
  const prefix = `reshipped:${source.name}:`;
  await s.alerts.tendEvents(prefix, site, () => `No more recordings of ${source.name} shipped before came back with new file times in the passes since.`);
  if (reshipped.files < RESHIPPED_ALERT_FILES) return false;
  const at = s.deps.clock.now().toISOString();
  s.deps.log.error('recordings already offsite came back with new file times and ship again', { source: source.name, files: reshipped.files, batches: reshipped.batches });
  await s.alerts.raiseEvent(`${prefix}${at}`, {
    severity: 'critical',
    site,
    subject: `${source.name}: ${reshipped.files} recordings already offsite changed on the recorder`,
    message: `${reshipped.files} recordings whose names had shipped before (batches ${reshipped.batches.join(', ')}${reshipped.more ? ', …' : ''}) came back with another size or file time and are shipped again. A closed call does not change on a recorder. Recordings only touched (a scanner, a copy without file times) are not sent again when their bytes are those their pack holds; these were, because their bytes differ or their earlier pack could not be read back (the batch shipped in several packs, its manifest purged). A copy of the same bytes is catalogued once. If their content changed (ransomware encrypting the recorder's disk), the catalogue now lists a second copy of each call beside the original: \`ferry calls search --site ${site} --call-id ID\` lists both, and \`ferry calls play\` of each tells them apart (the encrypted one is no audio). Look at the recorder now.`,
    details: { source: source.name, files: reshipped.files, batches: reshipped.batches, at },
  });
  return true;
}

/** Logs each scan warning (a link not followed, a stray file) once per path and pass. */
function warnOnce(s: RecordingsState, source: RecordingsSourceConfig): (message: string, path: string) => void {
  const warned = new Set<string>();
  return (message, path) => {
    if (warned.has(path)) return;
    warned.add(path);
    s.deps.log.warn(message, { source: source.name, path });
  };
}

/** Why recordings gone before shipping are recorded, said for what they may be (LossKind). */
function lossReason(gone: string, how: LossKind | undefined): string {
  if (how?.cutShort) return `${gone} while held back as shorter than the recording of its name that shipped from this batch before: this shorter copy never shipped; the longer one is offsite`;
  return how?.shippedBefore ? `${gone} again: a recording of the same name and size shipped from this batch before, under another file time` : gone;
}
