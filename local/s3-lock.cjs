'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS module of the local S3 stand-in process (see s3-server.cjs). */
// Object Lock for the local S3 stand-in, as S3 applies it: a bucket created with Object Lock and a
// default retention (mode and days from the deployment configuration, as infra/data-bucket.ts
// sets them); per-object retention and legal hold from the x-amz-object-lock-* headers; a version
// under retention or legal hold cannot be deleted (403 AccessDenied) except, in GOVERNANCE mode,
// with x-amz-bypass-governance-retention: true. Retention can be extended, never shortened, except
// GOVERNANCE with the bypass header.

const { StandInError } = require('./s3-objects.cjs');

const MODES = ['GOVERNANCE', 'COMPLIANCE'];
const DAY_MS = 24 * 60 * 60 * 1000;

function invalid(message) {
  return new StandInError(400, 'InvalidArgument', message);
}

function parseUntil(value, now) {
  const until = new Date(value);
  if (Number.isNaN(until.getTime())) throw invalid('The retain until date is not a valid ISO-8601 date.');
  if (until.getTime() <= now.getTime()) throw invalid('The retain until date must be in the future!');
  return until.toISOString();
}

/**
 * The lock a new object gets: its own headers, else the bucket's default retention.
 * `bucketLock` is `{ mode, days }` or undefined for a bucket without Object Lock.
 */
function lockFromHeaders(headers, bucketLock, now) {
  const mode = headers['x-amz-object-lock-mode'];
  const until = headers['x-amz-object-lock-retain-until-date'];
  const hold = headers['x-amz-object-lock-legal-hold'];
  if ((mode !== undefined || until !== undefined || hold !== undefined) && !bucketLock) {
    throw new StandInError(400, 'InvalidRequest', 'Bucket is missing Object Lock Configuration');
  }
  if ((mode === undefined) !== (until === undefined)) {
    throw invalid('x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied');
  }
  if (mode !== undefined && !MODES.includes(mode)) throw invalid('Unknown wormMode directive.');
  if (hold !== undefined && hold !== 'ON' && hold !== 'OFF') throw invalid("Legal Hold must be either of 'ON' or 'OFF'");
  const lock = {};
  if (mode !== undefined) lock.retention = { mode, until: parseUntil(until, now) };
  else if (bucketLock) lock.retention = { mode: bucketLock.mode, until: new Date(now.getTime() + bucketLock.days * DAY_MS).toISOString() };
  if (hold !== undefined) lock.legalHold = hold;
  return lock;
}

/**
 * S3 refuses a PutObject that puts an object under Object Lock (its own lock headers, or the
 * bucket's default retention) without a digest of the body to check: Content-MD5 or an
 * x-amz-checksum-* header (or trailer, announced by x-amz-trailer). So it does each UploadPart
 * of an upload whose object will be locked (`operation` 'Put Part').
 */
function requireIntegrityHeader(headers, objectLock, operation = 'Put Object') {
  if (!objectLock.retention && objectLock.legalHold === undefined) return;
  if (headers['content-md5'] !== undefined) return;
  if (Object.keys(headers).some((name) => name.startsWith('x-amz-checksum-') && name !== 'x-amz-checksum-type')) return;
  if (/^x-amz-checksum-/i.test(String(headers['x-amz-trailer'] ?? ''))) return;
  throw new StandInError(400, 'InvalidRequest', `Content-MD5 OR x-amz-checksum- HTTP header is required for ${operation} requests with Object Lock parameters`);
}

function bypassing(headers) {
  return String(headers['x-amz-bypass-governance-retention'] ?? '').toLowerCase() === 'true';
}

function retained(state, now) {
  return Boolean(state?.retention && new Date(state.retention.until).getTime() > now.getTime());
}

/** Why this version may not be deleted now (a StandInError), or undefined when it may. */
function deleteRefusal(state, headers, now) {
  const denied = new StandInError(403, 'AccessDenied', 'Access Denied because object protected by object lock.');
  if (state?.legalHold === 'ON') return denied;
  if (!retained(state, now)) return undefined;
  if (state.retention.mode === 'GOVERNANCE' && bypassing(headers)) return undefined;
  return denied;
}

/** True while the version is protected in any way (the stand-in then keeps it on a plain delete). */
function isLocked(state, now) {
  return state?.legalHold === 'ON' || retained(state, now);
}

/** The retention a PutObjectRetention body asks for, checked against the current one. */
function nextRetention(state, body, headers, now) {
  const retention = body?.Retention;
  const mode = retention?.Mode || undefined;
  const until = retention?.RetainUntilDate || undefined;
  if ((mode === undefined) !== (until === undefined)) throw new StandInError(400, 'MalformedXML', 'Retention needs both Mode and RetainUntilDate.');
  if (mode !== undefined && !MODES.includes(mode)) throw invalid('Unknown wormMode directive.');
  const wanted = mode === undefined ? undefined : { mode, until: parseUntil(until, now) };
  if (!retained(state, now)) return wanted;
  const current = state.retention;
  const weaker = !wanted || new Date(wanted.until) < new Date(current.until) || (current.mode === 'COMPLIANCE' && wanted.mode !== 'COMPLIANCE');
  if (!weaker) return wanted;
  if (current.mode === 'GOVERNANCE' && bypassing(headers)) return wanted;
  throw new StandInError(403, 'AccessDenied', 'Access Denied because object protected by object lock.');
}

function legalHoldFrom(body) {
  const status = body?.LegalHold?.Status;
  if (status !== 'ON' && status !== 'OFF') throw new StandInError(400, 'MalformedXML', 'LegalHold Status must be ON or OFF.');
  return status;
}

/** HEAD/GET headers for the version's lock. */
function lockHeaders(state) {
  const out = {};
  if (state?.retention) {
    out['x-amz-object-lock-mode'] = state.retention.mode;
    out['x-amz-object-lock-retain-until-date'] = state.retention.until;
  }
  if (state?.legalHold) out['x-amz-object-lock-legal-hold'] = state.legalHold;
  return out;
}

module.exports = { deleteRefusal, isLocked, legalHoldFrom, lockFromHeaders, lockHeaders, nextRetention, requireIntegrityHeader };
