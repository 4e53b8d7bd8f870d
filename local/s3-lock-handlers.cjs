'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS module of the local S3 stand-in process (see s3-server.cjs). */
// Deletes under Object Lock, legal hold, retention, the bucket's lock configuration and
// RestoreObject for the local S3 stand-in (rules in s3-lock.cjs, s3-tiers.cjs, s3-versions.cjs).

const fs = require('node:fs');
const { readState, StandInError, writeState } = require('./s3-objects.cjs');
const { emitEvent, sendXml, XMLNS, xmlEscape } = require('./s3-http.cjs');
const { currentState, guarded, xmlBody } = require('./s3-handlers.cjs');
const lock = require('./s3-lock.cjs');
const tiers = require('./s3-tiers.cjs');

function createLockHandlers({ store, clock, bucketConfig, versions }) {
  /** One DeleteObject (or one entry of DeleteObjects): the outcome S3 reports for it. */
  async function deleteOne(ctx, bucket, key, versionId) {
    const now = clock.now();
    if (versionId === undefined) {
      if (!fs.existsSync(store.getResourcePath(bucket, key, 'object'))) return { key };
      const markerId = await versions.hide(bucket, key, now);
      emitEvent(ctx, bucket, 'Delete', key);
      return { key, deleteMarker: true, deleteMarkerVersionId: markerId };
    }
    const current = fs.existsSync(store.getResourcePath(bucket, key, 'object')) ? readState(store, bucket, key) ?? {} : undefined;
    if (current && (current.versionId ?? 'null') === versionId) {
      const refusal = lock.deleteRefusal(current, ctx.headers, now);
      if (refusal) return { key, versionId, error: refusal };
      await store.deleteObject(bucket, key);
      emitEvent(ctx, bucket, 'Delete', key);
      return { key, versionId };
    }
    const marker = versions.findMarker(bucket, versionId);
    if (marker && marker.key === key) {
      versions.removeMarker(bucket, marker);
      return { key, versionId, deleteMarker: true, deleteMarkerVersionId: versionId };
    }
    const noncurrent = versions.find(bucket, versionId);
    if (noncurrent && noncurrent.key === key) {
      const refusal = lock.deleteRefusal(noncurrent.state, ctx.headers, now);
      if (refusal) return { key, versionId, error: refusal };
      versions.remove(noncurrent);
    }
    return { key, versionId };
  }

  async function deleteObject(ctx, bucket, key) {
    const outcome = await deleteOne(ctx, bucket, key, ctx.query.versionId);
    if (outcome.error) throw outcome.error;
    if (outcome.deleteMarker) ctx.set('x-amz-delete-marker', 'true');
    if (outcome.deleteMarkerVersionId ?? outcome.versionId) ctx.set('x-amz-version-id', outcome.deleteMarkerVersionId ?? outcome.versionId);
    ctx.status = 204;
  }

  async function deleteObjects(ctx, bucket) {
    const request = (await xmlBody(ctx)).Delete;
    if (!request || !Array.isArray(request.Object) || request.Object.length === 0 || request.Object.length > 1000) {
      throw new StandInError(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
    }
    const quiet = String(request.Quiet).toLowerCase() === 'true';
    const parts = [];
    for (const entry of request.Object) {
      const key = String(entry.Key ?? '');
      const versionId = entry.VersionId === undefined ? undefined : String(entry.VersionId);
      const outcome = await deleteOne(ctx, bucket, key, versionId);
      const version = versionId === undefined ? '' : `<VersionId>${xmlEscape(versionId)}</VersionId>`;
      if (outcome.error) {
        parts.push(`<Error><Key>${xmlEscape(key)}</Key>${version}<Code>${outcome.error.code}</Code><Message>${xmlEscape(outcome.error.message)}</Message></Error>`);
      } else if (!quiet) {
        const marker = outcome.deleteMarker ? `<DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>${outcome.deleteMarkerVersionId}</DeleteMarkerVersionId>` : '';
        parts.push(`<Deleted><Key>${xmlEscape(key)}</Key>${version}${marker}</Deleted>`);
      }
    }
    sendXml(ctx, 200, `<DeleteResult xmlns="${XMLNS}">${parts.join('')}</DeleteResult>`);
  }

  /** The version a legal-hold request names: the current one, or (as S3 allows) a noncurrent one by id. */
  function heldVersion(bucket, key, versionId) {
    const noncurrent = versionId === undefined ? undefined : versions.find(bucket, versionId);
    if (noncurrent && noncurrent.key === key) {
      return { state: noncurrent.state, write: (next) => versions.writeState(noncurrent, next) };
    }
    const state = currentState(store, bucket, key, versionId);
    return { state, write: (next) => writeState(store, bucket, key, next) };
  }

  async function legalHold(ctx, bucket, key) {
    if (!bucketConfig.objectLock) throw new StandInError(400, 'InvalidRequest', 'Bucket is missing Object Lock Configuration');
    const { state, write } = heldVersion(bucket, key, ctx.query.versionId);
    if (ctx.method === 'GET') {
      if (!state.legalHold) throw new StandInError(404, 'NoSuchObjectLockConfiguration', 'The specified object does not have a ObjectLock configuration');
      sendXml(ctx, 200, `<LegalHold xmlns="${XMLNS}"><Status>${state.legalHold}</Status></LegalHold>`);
      return;
    }
    const status = lock.legalHoldFrom(await xmlBody(ctx));
    write({ ...state, legalHold: status });
    ctx.status = 200;
    ctx.body = '';
  }

  async function retention(ctx, bucket, key) {
    if (!bucketConfig.objectLock) throw new StandInError(400, 'InvalidRequest', 'Bucket is missing Object Lock Configuration');
    const state = currentState(store, bucket, key, ctx.query.versionId);
    if (ctx.method === 'GET') {
      if (!state.retention) throw new StandInError(404, 'NoSuchObjectLockConfiguration', 'The specified object does not have a ObjectLock configuration');
      const { mode, until } = state.retention;
      sendXml(ctx, 200, `<Retention xmlns="${XMLNS}"><Mode>${mode}</Mode><RetainUntilDate>${until}</RetainUntilDate></Retention>`);
      return;
    }
    const next = lock.nextRetention(state, await xmlBody(ctx), ctx.headers, clock.now());
    writeState(store, bucket, key, { ...state, retention: next });
    ctx.status = 200;
    ctx.body = '';
  }

  async function restore(ctx, bucket, key) {
    const state = currentState(store, bucket, key, ctx.query.versionId);
    const status = tiers.requestRestore(state, await xmlBody(ctx), clock.now(), bucketConfig.restoreDelayMs);
    writeState(store, bucket, key, state);
    ctx.status = status;
    ctx.body = '';
  }

  function objectLockConfiguration(ctx) {
    const config = bucketConfig.objectLock;
    if (!config) throw new StandInError(404, 'ObjectLockConfigurationNotFoundError', 'Object Lock configuration does not exist for this bucket');
    sendXml(
      ctx,
      200,
      `<ObjectLockConfiguration xmlns="${XMLNS}"><ObjectLockEnabled>Enabled</ObjectLockEnabled>` +
        `<Rule><DefaultRetention><Mode>${config.mode}</Mode><Days>${config.days}</Days></DefaultRetention></Rule></ObjectLockConfiguration>`,
    );
  }

  return {
    deleteObject: guarded(deleteObject),
    deleteObjects: guarded(deleteObjects),
    legalHold: guarded(legalHold),
    retention: guarded(retention),
    restore: guarded(restore),
    objectLockConfiguration: guarded(objectLockConfiguration),
  };
}

module.exports = { createLockHandlers };
