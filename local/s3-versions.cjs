'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS module of the local S3 stand-in process (see s3-server.cjs). */
// Versions for the local S3 stand-in: the simplest model that keeps Object Lock's promise. The
// bucket keeps one current version per key; a plain DELETE (no versionId) turns it into a
// noncurrent version behind a delete marker, kept under `<bucket>/._S3rver_noncurrent/<versionId>/`
// (never listed by ListObjectsV2, never served by GET). A version is only ever destroyed by
// DELETE with its versionId (refused while it is locked) or by lifecycle noncurrent expiration.
// Deleting a delete marker brings its version back, as S3 does. Overwrites replace the current
// version outright (see docs/parity.md).

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { STATE, readState } = require('./s3-objects.cjs');
const { isLocked } = require('./s3-lock.cjs');

const NONCURRENT_DIR = '._S3rver_noncurrent';
const FILES = { object: 'object', 'object.md5': 'object.md5', 'metadata.json': 'metadata.json', [STATE]: STATE };

function createVersions(store) {
  const rootOf = (bucket) => path.join(store.getBucketPath(bucket), NONCURRENT_DIR);

  function read(bucket, versionId) {
    const dir = path.join(rootOf(bucket), versionId);
    try {
      const key = fs.readFileSync(path.join(dir, 'key'), 'utf8');
      const state = JSON.parse(fs.readFileSync(path.join(dir, STATE), 'utf8'));
      const stat = fs.statSync(path.join(dir, 'object'));
      const md5 = fs.readFileSync(path.join(dir, 'object.md5'), 'utf8');
      return { dir, key, versionId, state, size: stat.size, md5, lastModified: stat.mtime };
    } catch (error) {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
      throw error;
    }
  }

  function moveFiles(bucket, key, dir, toNoncurrent) {
    for (const resource of Object.keys(FILES)) {
      const current = store.getResourcePath(bucket, key, resource);
      const kept = path.join(dir, resource);
      const [from, to] = toNoncurrent ? [current, kept] : [kept, current];
      if (fs.existsSync(from)) fs.renameSync(from, to);
    }
  }

  return {
    /** Makes the current version noncurrent behind a new delete marker; returns the marker's id. */
    async hide(bucket, key, now) {
      const state = readState(store, bucket, key) ?? {};
      const versionId = state.versionId ?? crypto.randomBytes(24).toString('base64url');
      const markerId = crypto.randomBytes(24).toString('base64url');
      const dir = path.join(rootOf(bucket), versionId);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'key'), key);
      fs.writeFileSync(store.getResourcePath(bucket, key, STATE), JSON.stringify({ ...state, versionId, noncurrentSince: now.toISOString(), markerId }));
      moveFiles(bucket, key, dir, true);
      await store.deleteObject(bucket, key);
      return markerId;
    },

    /** Every noncurrent version (with its delete marker) whose key starts with prefix. */
    list(bucket, prefix) {
      const root = rootOf(bucket);
      const ids = fs.existsSync(root) ? fs.readdirSync(root) : [];
      return ids.map((id) => read(bucket, id)).filter((v) => v !== undefined && v.key.startsWith(prefix));
    },

    find(bucket, versionId) {
      return /^[A-Za-z0-9_-]+$/.test(versionId) ? read(bucket, versionId) : undefined;
    },

    /** The noncurrent version behind the delete marker `markerId`, if any. */
    findMarker(bucket, markerId) {
      return this.list(bucket, '').find((v) => v.state.markerId === markerId);
    },

    /** Deletes a delete marker: its version becomes current again, unless the key has one already. */
    removeMarker(bucket, entry) {
      const { markerId: _marker, noncurrentSince: _since, ...state } = entry.state;
      if (fs.existsSync(store.getResourcePath(bucket, entry.key, 'object'))) {
        fs.writeFileSync(path.join(entry.dir, STATE), JSON.stringify({ ...entry.state, markerId: undefined }));
        return;
      }
      fs.mkdirSync(path.dirname(store.getResourcePath(bucket, entry.key, 'object')), { recursive: true });
      fs.writeFileSync(path.join(entry.dir, STATE), JSON.stringify(state));
      moveFiles(bucket, entry.key, entry.dir, false);
      fs.rmSync(entry.dir, { recursive: true, force: true });
    },

    remove(entry) {
      fs.rmSync(entry.dir, { recursive: true, force: true });
    },

    /** Replaces a noncurrent version's state (its legal hold: S3 sets it per version). */
    writeState(entry, state) {
      fs.writeFileSync(path.join(entry.dir, STATE), JSON.stringify(state));
    },

    /** Lifecycle NoncurrentVersionExpiration: drops unlocked versions noncurrent for longer than ageMs. */
    expire(bucket, ageMs, now) {
      const expired = [];
      for (const entry of this.list(bucket, '')) {
        if (now.getTime() - new Date(entry.state.noncurrentSince).getTime() < ageMs || isLocked(entry.state, now)) continue;
        this.remove(entry);
        expired.push(entry.key);
      }
      return expired;
    },
  };
}

module.exports = { NONCURRENT_DIR, createVersions };
