'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS module of the local S3 stand-in process (see s3-server.cjs). */
// Storage classes, restores and lifecycle for the local S3 stand-in, on the stand-in's own clock
// (real time plus an offset that the parent process can move forward over IPC; no S3 route moves
// it). An object in GLACIER or DEEP_ARCHIVE answers GET with 403 InvalidObjectState until a
// RestoreObject completes; HEAD shows the restore in x-amz-restore. Lifecycle applies the
// deployment's transition rules (infra/lifecycle-tiers.ts, passed in by s3-process.ts) as S3 does:
// by age, forward only, and not to objects under 128 KiB (S3's default minimum since 2024).

const fs = require('node:fs');
const path = require('node:path');
const { walk } = require('s3rver/lib/utils');
const { StandInError, readState, writeState } = require('./s3-objects.cjs');

const DAY_MS = 24 * 60 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;
const STORAGE_CLASSES = ['STANDARD', 'REDUCED_REDUNDANCY', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR', 'GLACIER', 'DEEP_ARCHIVE'];
const ARCHIVED = new Set(['GLACIER', 'DEEP_ARCHIVE']);
/** How far down the tiers a class is; lifecycle only moves objects further down. */
const DEPTH = { STANDARD: 0, REDUCED_REDUNDANCY: 0, INTELLIGENT_TIERING: 1, STANDARD_IA: 1, ONEZONE_IA: 2, GLACIER_IR: 3, GLACIER: 4, DEEP_ARCHIVE: 5 };
const MIN_TRANSITION_SIZE = 128 * 1024;
/** S3's restore times by class and tier (upper bounds; the stand-in uses them unless told a delay). */
const RESTORE_MS = {
  GLACIER: { Expedited: 5 * 60 * 1000, Standard: 5 * HOUR_MS, Bulk: 12 * HOUR_MS },
  DEEP_ARCHIVE: { Standard: 12 * HOUR_MS, Bulk: 48 * HOUR_MS },
};
const OBJECT_SUFFIX = '._S3rver_object';

function createClock(offsetMs = 0) {
  let offset = offsetMs;
  return {
    now: () => new Date(Date.now() + offset),
    advance(ms) {
      offset += ms;
    },
  };
}

/** The storage class a write asks for (default STANDARD); 400 InvalidStorageClass otherwise. */
function storageClassFrom(headers) {
  const wanted = headers['x-amz-storage-class'] ?? 'STANDARD';
  if (!STORAGE_CLASSES.includes(wanted)) throw new StandInError(400, 'InvalidStorageClass', 'The storage class you specified is not valid');
  return wanted;
}

function classOf(state) {
  return state?.storageClass ?? 'STANDARD';
}

function restoreDone(state, now) {
  return Boolean(state?.restore && new Date(state.restore.readyAt) <= now && new Date(state.restore.expiresAt) > now);
}

/** Whether GET may read the bytes now (archived classes only after a completed restore). */
function readable(state, now) {
  return !ARCHIVED.has(classOf(state)) || restoreDone(state, now);
}

/** The x-amz-restore header, or undefined when no restore was asked for (or it expired). */
function restoreHeader(state, now) {
  if (!state?.restore || new Date(state.restore.expiresAt) <= now) return undefined;
  if (new Date(state.restore.readyAt) > now) return 'ongoing-request="true"';
  return `ongoing-request="false", expiry-date="${new Date(state.restore.expiresAt).toUTCString()}"`;
}

/**
 * Applies a RestoreObject request to a version's state. Returns the HTTP status S3 answers: 202 for
 * a new restore, 200 when a finished restore is extended; throws for what S3 refuses.
 */
function requestRestore(state, body, now, delayMs) {
  const storageClass = classOf(state);
  if (!ARCHIVED.has(storageClass)) {
    throw new StandInError(403, 'InvalidObjectState', "Restore is not allowed for the object's current storage class");
  }
  const days = Number(body?.RestoreRequest?.Days);
  if (!Number.isInteger(days) || days < 1) throw new StandInError(400, 'MalformedXML', 'RestoreRequest needs Days, a positive integer.');
  const tier = body.RestoreRequest.GlacierJobParameters?.Tier ?? 'Standard';
  const tierMs = RESTORE_MS[storageClass][tier];
  if (tierMs === undefined) throw new StandInError(400, 'InvalidArgument', `Tier ${tier} is not available for ${storageClass}.`);
  const expiresAt = (readyAt) => new Date(Math.ceil((readyAt.getTime() + days * DAY_MS) / DAY_MS) * DAY_MS).toISOString();
  if (state.restore && new Date(state.restore.expiresAt) > now) {
    if (!restoreDone(state, now)) throw new StandInError(409, 'RestoreAlreadyInProgress', 'Object restore is already in progress');
    state.restore.expiresAt = expiresAt(now);
    return 200;
  }
  const readyAt = new Date(now.getTime() + (delayMs ?? tierMs));
  state.restore = { requestedAt: now.toISOString(), readyAt: readyAt.toISOString(), expiresAt: expiresAt(readyAt), tier };
  return 202;
}

/** Lifecycle headers of HEAD/GET: storage class (S3 leaves it out for STANDARD) and restore. */
function tierHeaders(state, now) {
  const out = {};
  if (classOf(state) !== 'STANDARD') out['x-amz-storage-class'] = classOf(state);
  const restore = restoreHeader(state, now);
  if (restore) out['x-amz-restore'] = restore;
  return out;
}

/** The storage class the rules give an object of this age and size (its current class if none applies). */
function targetClass(rules, key, current, ageMs, size) {
  let target = current;
  if (size < MIN_TRANSITION_SIZE) return target;
  for (const rule of rules) {
    if (!key.startsWith(rule.prefix)) continue;
    for (const t of rule.transitions) {
      if (ageMs >= t.afterDays * DAY_MS && DEPTH[t.storageClass] > DEPTH[target]) target = t.storageClass;
    }
  }
  return target;
}

/**
 * One lifecycle pass over a bucket at the stand-in's `now`: transitions current objects, aborts
 * multipart uploads older than abortIncompleteMultipartDays, expires unlocked noncurrent versions.
 */
function applyLifecycle(store, bucket, lifecycle, now, { noncurrent }) {
  const report = { transitioned: [], aborted: [], expired: [] };
  const bucketPath = store.getBucketPath(bucket);
  if (!fs.existsSync(bucketPath)) return report;
  for (const file of walk(bucketPath, () => true)) {
    if (!file.endsWith(OBJECT_SUFFIX)) continue;
    const key = file.slice(bucketPath.length + 1, -OBJECT_SUFFIX.length);
    const state = readState(store, bucket, key) ?? {};
    const stat = fs.statSync(file);
    const createdAt = new Date(state.createdAt ?? stat.mtime).getTime();
    const to = targetClass(lifecycle.rules, key, classOf(state), now.getTime() - createdAt, stat.size);
    if (to === classOf(state)) continue;
    report.transitioned.push({ key, from: classOf(state), to });
    writeState(store, bucket, key, { ...state, storageClass: to, restore: undefined });
  }
  const uploads = path.join(bucketPath, '._S3rver_uploads');
  for (const uploadId of fs.existsSync(uploads) ? fs.readdirSync(uploads) : []) {
    const initiated = fs.statSync(path.join(uploads, uploadId)).mtime.getTime();
    if (now.getTime() - initiated < lifecycle.abortIncompleteMultipartDays * DAY_MS) continue;
    fs.rmSync(path.join(uploads, uploadId), { recursive: true, force: true });
    report.aborted.push(uploadId);
  }
  report.expired = noncurrent.expire(bucket, lifecycle.noncurrentVersionExpirationDays * DAY_MS, now);
  return report;
}

module.exports = { applyLifecycle, createClock, readable, requestRestore, storageClassFrom, tierHeaders };
