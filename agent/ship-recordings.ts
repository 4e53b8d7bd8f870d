import { sentence } from '../core/alert-text.ts';
import { join } from 'node:path';
import type { RecordingsSourceConfig } from '../core/config.ts';
import { SourceChangedError, UnreadableSourceError, messageOf } from '../core/errors.ts';
import { createMetadataExtractor } from '../core/metadata.ts';
import { recheckBatch } from './sources/source-checks.ts';
import { shipRetryable, type Journal, type FileStamp } from './journal.ts';
import type { BatchWork } from './sources/recordings.ts';
import type { RecordingsWalk } from './recordings-walk.ts';
import { leftView } from './state/pending-view.ts';
import { offsiteUnderOtherTimes } from './offsite-touched.ts';
import { shipBatch, type ShipContext, type ShipResult } from './ship-batch.ts';
import type { PartPool } from './part-pool.ts';
import type { Observations } from './state/observations.ts';
import type { LossLog } from './state/loss-log.ts';
import type { LossReporter } from './state/loss-reporter.ts';
import type { AlertBook } from './state/alert-book.ts';
import type { AgentDeps, CycleReport } from './agent-types.ts';
import type { Alert } from '../core/ports.ts';
import { shippingError } from './store-refusal.ts';
import { raiseShipFailure, unreachedBatchesAlert } from './store-unreached.ts';
import { lineFailure } from './upload-keep.ts';
import { SidecarFieldsTally } from './sidecar-fields.ts';

// Shipping a recordings source's batches within one pass: `packConcurrency` workers take what the
// walk hands out until the time slice ends; each pack is retried a few times on transient or
// integrity failures, and a batch the recorder changed or evicted meanwhile is shipped in part,
// reported lost in part, or left for the next pass.

/**
 * How long one pass keeps taking recordings batches before it ends (status written, losses
 * looked for, the rest taken up by the next pass at once). Other sources do not wait for it:
 * they run again every pollSeconds while recordings ship (see Agent.cycleOnce).
 */
export const RECORDINGS_SLICE_MS = 60_000;

/** What the recordings part of a pass uses of the agent: its deps (store throttled) and state files. */
export interface RecordingsState {
  deps: AgentDeps;
  journal: Journal;
  observations: Observations;
  lossLog: LossLog;
  losses: LossReporter;
  alerts: AlertBook;
  pool: PartPool;
  /** Who ships (agent/shipped-by.ts): every manifest says so. Named again at each pass's start (renewShippingAgent). */
  shippedBy?: ShipContext['shippedBy'];
  /** True once the agent is told to stop: no new batches are taken (those in flight finish). */
  stopping: () => boolean;
  /** Keeps the message as the agent's last error (shown in its status). */
  onError: (message: string) => void;
  /** `source\tpath` of recordings the store lists as shipped that the journal does not know (a state directory restored from a backup): never called lost; → the key of the manifest listing it. */
  shippedElsewhere?: ReadonlyMap<string, string>;
  /** Said in a loss's reason while shippedElsewhere is not all the store lists (a read stopped at its cap, or refused): such a loss may be offsite. */
  shippedElsewhereGap?: string;
  /** Batches whose oldest recording is older than this (ms) may have been shipped by a state directory this one does not remember (state-birth.ts). */
  unrememberedBefore?: number;
  /** The store did not answer a request of this pass in its time (set by shipAll): the rest of the pass asks it as little as it can. */
  storeSilent?: string;
}

function shipContext(s: RecordingsState, source: RecordingsSourceConfig): ShipContext {
  const { config, store, clock, verify } = s.deps;
  return {
    site: config.site,
    sourceRoot: source.path,
    store,
    journal: s.journal,
    extractor: createMetadataExtractor(source.metadata),
    clock,
    verify,
    partSize: config.shipping.partSizeMiB * 1024 * 1024,
    partConcurrency: config.shipping.partConcurrency,
    pool: s.pool,
    agentVersion: s.deps.agentVersion ?? 'dev',
    openFile: s.deps.openFile,
    askFirst: (work) => mayBeOffsiteUnremembered(s, work),
    ...(s.shippedBy ? { shippedBy: s.shippedBy } : {}),
  };
}

/**
 * Whether a state directory this one does not remember may have shipped the batch: one begun
 * empty after the site had shipped (a rebuilt host) and the batch recorded before it began, or
 * one restored from a backup and the store's manifests since list a recording of the batch.
 * The store is then asked first (its manifest's HEAD) instead of being sent the pack again.
 */
function mayBeOffsiteUnremembered(s: RecordingsState, work: BatchWork): boolean {
  if (s.unrememberedBefore !== undefined && work.oldestMs < s.unrememberedBefore) return true;
  const elsewhere = s.shippedElsewhere;
  return elsewhere !== undefined && work.recordings.some((f) => elsewhere.has(`${work.source}\t${work.batch}/${f.name}`));
}

/** Records recordings of a batch as lost (loss log, alert); resolves to how many were recorded. */
export async function reportLost(s: RecordingsState, source: RecordingsSourceConfig, batch: string, files: readonly FileStamp[], reason: string, lastSeen?: string, how?: { shippedBefore: true; cutShort?: true }): Promise<number> {
  const lost = s.shippedElsewhere ? files.filter((f) => !s.shippedElsewhere!.has(`${source.name}\t${batch}/${f.name}`)) : files;
  if (lost.length === 0) return 0;
  return s.losses.report({
    source: source.name,
    batch,
    kind: 'recordings',
    files: lost.map((f) => ({ name: f.name, size: f.size, mtimeMs: f.mtimeMs, path: join(source.path, batch, f.name) })),
    reason: s.shippedElsewhereGap ? `${reason} (${s.shippedElsewhereGap})` : reason,
    at: s.deps.clock.now().toISOString(),
    ...(lastSeen ? { lastSeen } : {}),
    ...(how?.shippedBefore ? { shippedBefore: true as const } : {}),
    ...(how?.cutShort ? { cutShort: true as const } : {}),
  });
}

/** Ships what the walk hands out, in its order, `packConcurrency` at a time, until the slice ends. */
export async function shipAll(s: RecordingsState, source: RecordingsSourceConfig, walk: RecordingsWalk, report: CycleReport): Promise<void> {
  const ctx = shipContext(s, source);
  const failures: ShipFailure[] = [];
  let done = 0;
  const sidecarFields = new SidecarFieldsTally();
  const progress = () => s.deps.onProgress?.({ phase: 'ship', packsDone: done, packsTotal: walk.readyFound, recordings: report.recordings, bytes: report.bytes });
  progress();
  // The slice starts with shipping; every worker takes at least one batch, so a slow store
  // still drains the backlog.
  const deadline = s.deps.clock.now().getTime() + RECORDINGS_SLICE_MS;
  const left = leftView(s.journal, s.lossLog, source.name);
  // The first batch the walk hands out (the oldest: the recorder's next to evict) is read alone;
  // the other workers join once its members are read. Packs started together are read together
  // and finish together, so the first pack published would otherwise wait for the reading of
  // all of them.
  let join = () => undefined as void;
  const joined = new Promise<void>((resolve) => (join = resolve));
  // A store that did not answer one request in its time (every request of it would wait as long): the pass ships no more.
  const silent: { message?: string } = {};
  // A worker that threw (the state disk full under the walk's view): the others finish the pack in
  // hand and take no more, and the pass throws only then, so nothing is still shipping (and
  // logging) after the run has said why it stopped.
  const broken: { error?: unknown } = {};
  const worker = async (n: number) => {
    if (n > 0) await joined;
    try {
      await shipEach(n === 0);
    } catch (error) {
      if (!('error' in broken)) broken.error = error;
    } finally {
      join();
    }
  };
  const shipEach = async (alone: boolean) => {
    for (let first = true; ; first = false) {
      if ('error' in broken) break;
      if (silent.message !== undefined) {
        if (await walk.hasMore()) report.more = true;
        break;
      }
      if (!first && (s.stopping() || s.deps.clock.now().getTime() >= deadline)) {
        // The slice is over: what is left waits for the next pass (which starts at once).
        if (s.stopping()) walk.stop();
        if (await walk.hasMore()) report.more = true;
        break;
      }
      const work = await walk.next();
      if (!work) break;
      const outcome = await shipWithRetry(s, source, alone && first ? { ...ctx, onPacked: join } : ctx, work, failures, silent).finally(join);
      report.lost += outcome.lost;
      if (outcome.result?.alreadyOffsite) {
        // Shipped by an earlier state directory: offsite, but nothing went out now.
        const f = (report.found ??= { packs: 0, recordings: 0, bytes: 0 });
        f.packs++;
        f.recordings += outcome.result.recordings;
        f.bytes += outcome.result.bytes;
        report.manifests.push(outcome.result.manifestKey);
      } else if (outcome.result) {
        report.packs++;
        report.manifests.push(outcome.result.manifestKey);
        report.recordings += outcome.result.recordings;
        report.bytes += outcome.result.bytes;
        walk.countReshipped(work);
        sidecarFields.see(work.batch, outcome.result.issues);
      } else if (!outcome.evicted) report.failed++;
      walk.done(work, (f) => left(work.batch, f));
      done++;
      progress();
    }
  };
  await Promise.all(Array.from({ length: s.deps.config.shipping.packConcurrency }, (_, n) => worker(n)));
  if ('error' in broken) throw broken.error;
  const { site } = s.deps.config;
  const fieldsResolved = `The sidecars of ${source.name} shipped since hold the configured metadata fields again.`;
  await s.alerts.hold(`sidecar-fields:${source.name}`, sidecarFields.alert(site, source), site, fieldsResolved, sidecarFields.shipped);
  const failed = shipFailedAlert(site, source, failures);
  const [first] = failures;
  // Every batch failed for want of the store (the line down): alerted only if it lasts (agent/store-unreached.ts).
  if (failed && first && failures.every((f) => f.cause !== undefined)) {
    const cause = first.cause;
    await raiseShipFailure(s.alerts, `ship-failed:${source.name}`, cause, failed, (since, reason) => unreachedBatchesAlert(site, source.name, failures.map((f) => f.batch), since, reason, first.error, s.deps.clock.now()));
  } else await s.alerts.hold(`ship-failed:${source.name}`, failed, site, `Every batch of ${source.name} the agent tried ships again.`, !report.more && !s.stopping());
}

interface ShipFailure {
  batch: string;
  attempts: number;
  error: string;
  /** The error itself when the store could not be reached (lineFailure): such a failure is alerted only if it lasts. */
  cause?: unknown;
}

/**
 * The alert of a source's batches that could not be shipped in the pass (a store that refuses
 * this agent fails every batch: one alert for the cause, not one a batch), naming how many, the
 * first few and the first error; none when every batch tried shipped.
 */
function shipFailedAlert(site: string, source: RecordingsSourceConfig, failures: readonly ShipFailure[]): Omit<Alert, 'key'> | undefined {
  const [first] = failures;
  if (!first) return undefined;
  const named = failures.slice(0, 5).map((f) => f.batch).join(', ');
  return {
    severity: 'warning',
    site,
    subject: `${source.name}: ${failures.length === 1 ? `batch ${first.batch} could not be shipped` : `${failures.length} batches could not be shipped`}`,
    message: `${failures.length} batch(es) could not be shipped in this pass (${named}${failures.length > 5 ? ', …' : ''}). After ${first.attempts} attempt(s): ${sentence(first.error)} They stay in the backlog and are tried again next pass.`,
    details: { source: source.name, batches: failures.length, first: first.batch },
  };
}

/**
 * A request the store never answered in its time (connect or idle timeout): asking again waits as
 * long. Not a connection cut on the way: the SDK names a reset 'TimeoutError' too ('TimeoutError:
 * socket hang up'), which a line that drops now and then gives, and a batch so cut is tried again.
 */
function storeSilent(error: unknown): boolean {
  return /timed out after \d+ ms|did not establish a connection|exceeded the configured \d+ ms requestTimeout|ETIMEDOUT/.test(messageOf(error));
}

async function shipWithRetry(s: RecordingsState, source: RecordingsSourceConfig, ctx: ShipContext, work: BatchWork, failures: ShipFailure[], silent: { message?: string } = {}): Promise<{ result?: ShipResult; lost: number; evicted?: true }> {
  const { log, config } = s.deps;
  const attempts = config.shipping.attempts;
  // An agent before one alert a source raised one a batch: resolved here as its batch ships.
  const failedKey = `ship-failed:${work.source}:${work.batch}`;
  let lost = 0;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const started = performance.now();
      // Copied without their file times (a recorder moved to a new PC): found by content, not sent again.
      const touched = await offsiteUnderOtherTimes(ctx, work, source, s.shippedElsewhere);
      const result = touched ?? (await shipBatch(ctx, work));
      const found = touched ? 'recordings already offsite came back with new file times and the same content: not sent again' : result.alreadyOffsite ? 'pack already offsite (committed before; not sent again)' : 'pack published';
      log.info(found, { batch: work.batch, pack: result.packId, recordings: result.recordings, bytes: result.bytes, ms: Math.round(performance.now() - started) });
      for (const issue of result.issues.slice(0, 20)) log.warn('metadata', { batch: work.batch, issue });
      await s.alerts.resolve(failedKey, config.site, `Batch ${work.batch} of source ${work.source} is offsite now.`);
      for (const r of work.recordings) {
        const path = join(ctx.sourceRoot, work.batch, r.name);
        await s.alerts.resolve(`unreadable:${work.source}:${path}`, config.site, `${path} could be read and is offsite now.`);
      }
      return { result, lost };
    } catch (error) {
      await journalAbandon(s.journal, work, error);
      if (error instanceof UnreadableSourceError) {
        // Ship the rest of the batch now; the unreadable recording stays in the backlog and is tried next pass.
        const name = error.path.slice(error.path.lastIndexOf('/') + 1);
        const rest = work.recordings.filter((r) => r.name !== name);
        log.warn('recording cannot be read; shipping the rest of its batch, will try it again next pass', { batch: work.batch, path: error.path, error: error.message });
        await s.alerts.raise(`unreadable:${work.source}:${error.path}`, { severity: 'warning', site: config.site, subject: `recording cannot be read: ${error.path}`, message: `${sentence(error.message)} The rest of batch ${work.batch} is shipped; this recording stays in the backlog. Check the file's permissions and the disk.` });
        if (rest.length === work.recordings.length || rest.length === 0) return { lost };
        work = { ...work, recordings: rest };
        attempt--;
        continue;
      }
      if (error instanceof SourceChangedError) {
        // Member by member: what vanished is lost (reported now), what changed waits for the
        // next pass, what is still as scanned ships now.
        const check = await recheckBatch(ctx.sourceRoot, work);
        if (check.gone.length > 0) lost += await reportLost(s, source, work.batch, check.gone, 'deleted by the recorder while its batch was being shipped');
        const dropped = new Set([...check.gone, ...check.changed].map((f) => f.name));
        for (const name of check.sidecarsGone) work.sidecars.delete(name);
        const rest = work.recordings.filter((r) => !dropped.has(r.name));
        if (rest.length === 0) {
          log.warn('batch evicted before it could be shipped', { batch: work.batch, lost: check.gone.length, changed: check.changed.length });
          return { lost, ...(check.changed.length === 0 ? { evicted: true as const } : {}) };
        }
        if (dropped.size > 0 || check.sidecarsGone.length > 0) {
          log.warn('batch changed while it was packed; shipping what is unchanged now', { batch: work.batch, gone: check.gone.length, changed: check.changed.length, reason: error.message });
          work = { ...work, recordings: rest };
          attempt--;
          continue;
        }
        log.warn('batch changed while it was packed; not published, will look again', { batch: work.batch, reason: error.message });
        return { lost };
      }
      const retryable = shipRetryable(error);
      s.onError(`${work.batch}: ${shippingError(error, config.site)}`);
      log.warn('pack failed', { batch: work.batch, attempt, of: attempts, retryable, error: messageOf(error) });
      // The store did not answer (the SDK already asked again): the batch and the rest of the pass wait for the next pass.
      if (storeSilent(error)) silent.message = s.storeSilent = messageOf(error);
      if (!retryable || attempt === attempts || silent.message !== undefined) {
        failures.push({ batch: work.batch, attempts: attempt, error: shippingError(error, config.site), ...(lineFailure(error) !== undefined ? { cause: error } : {}) });
        return { lost };
      }
      await new Promise((r) => setTimeout(r, s.deps.retryDelayMs?.(attempt) ?? Math.min(30_000, 1000 * 2 ** (attempt - 1))));
    }
  }
  return { lost };
}

async function journalAbandon(journal: Journal, work: BatchWork, error: unknown): Promise<void> {
  for (const p of journal.inflightPacks()) {
    if (p.batch === work.batch && p.source === work.source) await journal.abandoned(p.packId, messageOf(error));
  }
}
