import type { Alert, BlobStore } from '../core/ports.ts';
import { deniedByS3 } from '../adapters/s3-errors.ts';
import type { AlertBook } from './state/alert-book.ts';
import { parseManifest } from '../core/manifest.ts';
import { packAttemptsPrefixOf } from '../core/layout.ts';
import { parseArtefactManifest, type ArtefactManifest } from '../core/artefact.ts';
import { TransientError, messageOf } from '../core/errors.ts';
import type { Journal } from './journal.ts';
import type { Logger } from './log.ts';
import { verifyObject, type VerifyMode } from './verify.ts';
import { discardUpload, resumableAfterInterruption } from './upload-resume.ts';
import { existsSync } from 'node:fs';
import { readUploadProgress, recordedUploads, removeUploadProgress, type UploadProgressRecord } from './upload-progress.ts';

// After a crash or kill -9: every pack the journal saw begin but not end is settled before
// new work starts. Open multipart uploads the journal recorded are aborted. The store is not asked
// to list open uploads: the agent role may not (s3:ListBucketMultipartUploads cannot be scoped to a
// site, infra/site-policies.ts), and on AWS every such request is an AccessDenied in CloudTrail. An
// upload created but not yet journalled when the run died is ended by the bucket's lifecycle rule
// (abortIncompleteMultipartDays).
// A pack whose manifest made it out and verifies is counted as published; any other is
// abandoned and its batch is shipped again (same pack id, so the catalogue sees one entry).
// Artefacts (backups, segments, archives) are settled the same way: kept when their manifest
// made it out and the object it names verifies, else shipped again; their uploads are aborted but
// one whose progress record and file still hold (agent/upload-resume.ts), kept open for the next
// shipping of the artefact to go on with from the parts the store holds.

export async function recoverInflight(store: BlobStore, journal: Journal, verify: VerifyMode, log: Logger, refusals: Refusals = { denied: [], unanswered: 0 }): Promise<{ published: number; abandoned: number; aborted: number; kept: number }> {
  const out = { published: 0, abandoned: 0, aborted: 0, kept: 0 };
  for (const pack of journal.inflightPacks()) {
    out.aborted += await abortUploads(store, journal, pack.packId, pack.packKey, pack.uploads);
    if (await manifestHolds(store, pack.manifestKey, pack.packKey, verify, log)) {
      const manifest = parseManifest(await readAll(store, pack.manifestKey));
      // A pack found already offsite was not sent: counted found, as it would have been.
      await journal.published(pack.packId, manifest.members.length, manifest.members.reduce((n, m) => n + m.length, 0), pack.found === true);
      out.published++;
      log.info(pack.found ? 'recovered a pack found already offsite before the interruption (nothing was sent)' : 'recovered a pack published before the interruption', { pack: pack.packId, batch: pack.batch });
    } else {
      await journal.abandoned(pack.packId, 'interrupted before its manifest was published');
      out.abandoned++;
      log.info('interrupted pack will be shipped again', { pack: pack.packId, batch: pack.batch });
    }
  }
  const inflight = journal.inflightArtefacts();
  for (const art of inflight) {
    const manifest = await artefactHolds(store, art.manifestKey, art.key, verify, log);
    // An upload whose record and file hold is kept open for the next shipping of the artefact to go on with.
    const keep = manifest ? undefined : await keepOrGiveUp(store, journal.directory, art, log, refusals);
    out.aborted += await abortUploads(store, journal, art.artefactId, art.key, art.uploads, keep);
    if (keep === undefined) removeUploadProgress(journal.directory, art.artefactId);
    else {
      out.kept++;
      log.info('interrupted upload kept open: the next shipping of the artefact goes on with it', { artefact: art.artefactId, name: art.name, upload: keep });
    }
    if (manifest) {
      await journal.artefactPublished(art.artefactId, manifest.createdAt);
      out.published++;
      log.info('recovered an artefact published before the interruption', { artefact: art.artefactId, name: art.name });
    } else {
      await journal.artefactAbandoned(art.artefactId, 'interrupted before its manifest was published');
      out.abandoned++;
      log.info('interrupted artefact will be shipped again', { artefact: art.artefactId, name: art.name });
    }
  }
  out.aborted += await settleKeptUploads(store, journal.directory, new Set(inflight.map((a) => a.artefactId)), log, refusals);
  return out;
}

/**
 * What a pass settles before it ships: at a process's first (`recovered` false), the interrupted
 * run's packs and artefacts (recoverInflight); at every later one, the kept uploads nobody goes
 * on with (settleKeptUploads), so that a service that runs for weeks gives them up as a cron run
 * does at its start, instead of keeping them (and their parts, billed) open for good.
 */
export async function settleAtPass(store: BlobStore, journal: Journal, verify: VerifyMode, log: Logger, recovered: boolean, alerts?: { book: Pick<AlertBook, 'hold'>; site: string }): Promise<true> {
  const refusals: Refusals = { denied: [], unanswered: 0 };
  if (recovered) await settleKeptUploads(store, journal.directory, new Set(journal.inflightArtefacts().map((a) => a.artefactId)), log, refusals);
  else {
    const r = await recoverInflight(store, journal, verify, log, refusals);
    if (r.published + r.abandoned + r.aborted + r.kept > 0) log.info('recovered from an interrupted run', r);
  }
  // Held while a pass finds the question refused; resolved by one that had every kept upload it asked about answered (or
  // had none left to ask about): a pass that could not reach the store knows no more than the one before, and leaves it as it is.
  await alerts?.book.hold(LIST_PARTS_ALERT, listPartsAlert(alerts.site, refusals.denied), alerts.site, `The store answers whether kept uploads are still open again (${LIST_PARTS_PERMISSION}).`, refusals.unanswered === 0);
  return true;
}

/**
 * Uploads an earlier recovery, or a run the line stopped (agent/upload-keep.ts), kept open and no
 * shipping has gone on with since (their record left in the state directory, the journal no longer
 * naming them): kept while their file is unchanged and the store still has them (a run whose
 * configuration does not ship the file now keeps them for one that does); else aborted and
 * forgotten, and said why. Returns how many were aborted. What it decides on is in the state
 * directory, the file and the store: a service's pass and a cron run decide alike.
 */
async function settleKeptUploads(store: BlobStore, state: string, settled: Set<string>, log: Logger, refusals: Refusals): Promise<number> {
  let aborted = 0;
  for (const id of recordedUploads(state)) {
    if (settled.has(id)) continue;
    const record = readUploadProgress(state, id)?.resume;
    if (await keepOrGiveUp(store, state, { artefactId: id, key: record?.key ?? '', uploads: record ? [record.uploadId] : [] }, log, refusals)) continue;
    try {
      await discardUpload({ store, state }, id, record);
    } catch (error) {
      // The line still down at the run's start (the very failure that left the upload open): the
      // record stays for the next run to give up, and this run goes on (its heartbeat says the line).
      if (!(error instanceof TransientError)) throw error;
      log.warn('an upload given up could not be aborted now (the store cannot be reached): its record stays, the next run aborts it', { artefact: id, error: messageOf(error) });
      continue;
    }
    if (record) aborted++;
  }
  return aborted;
}

/**
 * The upload an artefact's record keeps open for a later shipping to go on with, when the record,
 * its file and the store's upload still hold; undefined when it is to be aborted, said why (and
 * what) when a record was there.
 */
async function keepOrGiveUp(store: BlobStore, state: string, art: { artefactId: string; key: string; uploads: string[] }, log: Logger, refusals: Refusals): Promise<string | undefined> {
  const progress = readUploadProgress(state, art.artefactId);
  const why = await keptUploadEnds(store, state, art, progress, log, refusals);
  if (why === undefined) return progress?.resume?.uploadId;
  if (progress) log.info('an upload left open for a later run is given up: aborted, its record removed', { artefact: art.artefactId, source: progress.source, name: progress.name, reason: why });
  return undefined;
}

/** Why a kept upload's record is to be given up; undefined when a later shipping can still go on with it. */
async function keptUploadEnds(store: BlobStore, state: string, art: { artefactId: string; key: string; uploads: string[] }, progress: UploadProgressRecord | undefined, log: Logger, refusals: Refusals): Promise<string | undefined> {
  const record = progress?.resume;
  if (!record || typeof record.key !== 'string') return 'its record names no upload (none was open yet, or it is unreadable)';
  if (!(await resumableAfterInterruption(state, art, log))) {
    return existsSync(record.file?.path ?? '') ? 'its file changed since (or no part of it was stored)' : `its file ${record.file?.path ?? ''} is gone`;
  }
  return (await uploadOpen(store, record.key, record.uploadId, log, refusals)) === false ? 'the store no longer has the upload (aborted, or expired by the bucket lifecycle rule)' : undefined;
}

/**
 * Whether the store still has the upload open, asked of the upload itself (ListParts, which the
 * agent role may ask of its own keys); undefined when it cannot be told now (the store not
 * reached): the upload is then kept, and a later pass asks again.
 */
async function uploadOpen(store: BlobStore, key: string, uploadId: string, log: Logger, refusals: Refusals): Promise<boolean | undefined> {
  try {
    return await store.uploadOpen(key, uploadId);
  } catch (error) {
    // Refused by policy, the question is never answered, and the upload (its parts billed) is kept for good: the role is wrong.
    if (deniedByS3(error)) {
      refusals.denied.push({ key, uploadId, error: messageOf(error) });
      log.warn(`the store refused to say whether a kept upload is still open: the agent's role lacks ${LIST_PARTS_PERMISSION} on its own keys (the deployed agent role has it); kept, and asked again at every pass`, { key, upload: uploadId, permission: LIST_PARTS_PERMISSION, error: messageOf(error) });
      return undefined;
    }
    refusals.unanswered++;
    log.info('whether a kept upload is still open cannot be told now: kept, a later pass asks again', { key, upload: uploadId, error: messageOf(error) });
    return undefined;
  }
}

/** The IAM action S3 authorises ListParts as: what the agent role needs to ask whether a kept upload is still open. */
export const LIST_PARTS_PERMISSION = 's3:ListMultipartUploadParts';

/** What a pass could not learn of its kept uploads: those whose question the store refused (AccessDenied), and how many it could not ask (the store not reached). */
type Refusals = { denied: Denial[]; unanswered: number };
type Denial = { key: string; uploadId: string; error: string };

const LIST_PARTS_ALERT = 'kept-upload-denied';

/** The alert of a pass whose questions about kept uploads the store refused; undefined when none was. */
function listPartsAlert(site: string, refusals: Denial[]): Omit<Alert, 'key'> | undefined {
  if (refusals.length === 0) return undefined;
  const first = refusals[0]!;
  return {
    severity: 'warning',
    site,
    subject: `the store refuses ${LIST_PARTS_PERMISSION} to this agent's role: ${refusals.length} kept upload(s) cannot be checked`,
    message:
      `The agent keeps an upload the line stopped open for a later run, and asks the store at every pass whether it still has it (S3 ListParts, authorised as ${LIST_PARTS_PERMISSION}). ` +
      `The store refused that question (${first.key}: ${first.error}), so the upload is neither gone on with knowingly nor given up, and its parts stay billed until the bucket's lifecycle rule ends them. ` +
      `The agent's credentials are not the deployed agent role of site ${site}, or that role's policy was changed: grant ${LIST_PARTS_PERMISSION} on the site's own keys (the stack's AbortOwnUploads statement), or give cloud.credentials the site's agent key; \`ferry agent check\` tests the key.`,
    details: { permission: LIST_PARTS_PERMISSION, uploads: refusals.map((r) => `${r.key} ${r.uploadId}`) },
  };
}

/** Aborts the uploads the journal recorded for an object, but `keep`. */
async function abortUploads(store: BlobStore, journal: Journal, id: string, key: string, known: string[], keep?: string): Promise<number> {
  const uploads = new Set(known);
  if (keep !== undefined) uploads.delete(keep);
  for (const uploadId of uploads) {
    await store.abortMultipart(key, uploadId);
    await journal.uploadEnded(id, uploadId);
  }
  return uploads.size;
}

/** The artefact's manifest when it made it out and the object it names verifies. */
async function artefactHolds(store: BlobStore, manifestKey: string, key: string, verify: VerifyMode, log: Logger): Promise<ArtefactManifest | undefined> {
  if (!(await store.head(manifestKey))) return undefined;
  try {
    const manifest = parseArtefactManifest(await readAll(store, manifestKey));
    if (manifest.key !== key) return undefined;
    await verifyObject(store, key, manifest, verify);
    return manifest;
  } catch (error) {
    log.warn('artefact manifest found after interruption does not hold; shipping again', { manifestKey, error: messageOf(error) });
    return undefined;
  }
}

async function manifestHolds(store: BlobStore, manifestKey: string, packKey: string, verify: VerifyMode, log: Logger): Promise<boolean> {
  if (!(await store.head(manifestKey))) return false;
  try {
    const manifest = parseManifest(await readAll(store, manifestKey));
    // The manifest may name another attempt at the pack than the one interrupted (core/layout.ts).
    const samePack = manifest.packKey === packKey || (packAttemptsPrefixOf(manifest.packKey) ?? manifest.packKey) === packAttemptsPrefixOf(packKey);
    if (!samePack) return false;
    await verifyObject(store, manifest.packKey, manifest.pack, verify);
    return true;
  } catch (error) {
    log.warn('manifest found after interruption does not hold; shipping again', { manifestKey, error: messageOf(error) });
    return false;
  }
}

export async function readAll(store: Pick<BlobStore, 'get'>, key: string): Promise<Buffer> {
  const { body } = await store.get(key);
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}
