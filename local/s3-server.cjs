'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS entry: s3rver is CommonJS and this file runs as its own process. */
// Local S3 stand-in: s3rver, plus the S3 behaviours Ferry relies on that s3rver lacks or gets
// wrong (conditional writes, checksums, whole bodies only, Object Lock, versions, storage classes,
// restores, lifecycle: see docs/parity.md). Run as a child process (see s3-process.ts):
//   node --openssl-legacy-provider local/s3-server.cjs --directory D [--port 0] --bucket a --bucket b
// (or FERRY_S3_DIRECTORY / FERRY_S3_PORT / FERRY_S3_BUCKETS=a,b from the parent).
// FERRY_S3_BUCKET_CONFIG (JSON: objectLock {mode, days}, lifecycle {rules, abortIncompleteMultipartDays,
// noncurrentVersionExpirationDays}, restoreDelayMs) configures every bucket, as the CDK stack does;
// FERRY_S3_CLOCK_OFFSET_MS starts the stand-in's clock ahead of real time.
// The legacy provider is needed because s3rver encrypts ListObjectsV2 continuation tokens with DES.
// Prints `FERRY_S3_READY <port>` once listening; forwards notification events over IPC, and takes
// `{ type: 'clock', advanceMs, id }` over IPC (moves the clock, runs lifecycle, answers 'clock-done').

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const S3rver = require('s3rver');
const authentication = require('s3rver/lib/middleware/authentication');
const { createHandlers, guarded } = require('./s3-handlers.cjs');
const { createLockHandlers } = require('./s3-lock-handlers.cjs');
const { sendError, sendXml, xmlEscape } = require('./s3-http.cjs');
const { refusedForSize } = require('./s3-limits.cjs');
const { fixListedStorageClasses, listVersions } = require('./s3-listing.cjs');
const { byteCompare, patchDelete, patchListing } = require('./s3-store.cjs');
const { forgetSlot, storedPart } = require('./s3-parts.cjs');
const { applyLifecycle, createClock } = require('./s3-tiers.cjs');
const { createVersions } = require('./s3-versions.cjs');

// s3rver keeps multipart uploads under <directory>/<bucket>/._S3rver_uploads/<uploadId>/
// holding `key`, `metadata` and one file per part (see lib/stores/filesystem.js initiateUpload).
const UPLOADS_DIR = '._S3rver_uploads';
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;

function parseOptions(argv, env) {
  const options = {
    directory: env.FERRY_S3_DIRECTORY,
    port: Number(env.FERRY_S3_PORT ?? 0),
    buckets: (env.FERRY_S3_BUCKETS ?? '').split(',').filter(Boolean),
    bucketConfig: JSON.parse(env.FERRY_S3_BUCKET_CONFIG ?? '{}'),
    // Buckets made without Object Lock and lifecycle rules (a peer's own bucket in the bench).
    plainBuckets: (env.FERRY_S3_PLAIN_BUCKETS ?? '').split(',').filter(Boolean),
    clockOffsetMs: Number(env.FERRY_S3_CLOCK_OFFSET_MS ?? 0),
  };
  for (let i = 0; i < argv.length; i += 1) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--directory') options.directory = value;
    else if (flag === '--port') options.port = Number(value);
    else if (flag === '--bucket') options.buckets.push(value);
    else throw new Error(`unknown argument ${flag}`);
    i += 1;
  }
  if (!options.directory) throw new Error('--directory (or FERRY_S3_DIRECTORY) is required');
  if (!Number.isInteger(options.port) || options.port < 0) throw new Error(`bad port ${options.port}`);
  return options;
}

function readKeyFile(uploadDir) {
  try {
    return fs.readFileSync(path.join(uploadDir, 'key'), 'utf8');
  } catch (error) {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
    throw error;
  }
}

function listUploads(ctx, bucketDir, bucket) {
  const prefix = String(ctx.query.prefix ?? '');
  const uploadsDir = path.join(bucketDir, UPLOADS_DIR);
  const ids = fs.existsSync(uploadsDir) ? fs.readdirSync(uploadsDir) : [];
  const uploads = [];
  for (const uploadId of ids) {
    const uploadDir = path.join(uploadsDir, uploadId);
    const key = readKeyFile(uploadDir);
    if (key === undefined || !key.startsWith(prefix)) continue;
    uploads.push({ key, uploadId, initiated: fs.statSync(uploadDir).mtime });
  }
  uploads.sort((a, b) => byteCompare(a.key, b.key) || byteCompare(a.uploadId, b.uploadId));
  const items = uploads.map(
    (u) =>
      `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${u.uploadId}</UploadId>` +
      `<Initiated>${u.initiated.toISOString()}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`,
  );
  sendXml(
    ctx,
    200,
    '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      `<Bucket>${xmlEscape(bucket)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>` +
      `<Prefix>${xmlEscape(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>` +
      `${items.join('')}</ListMultipartUploadsResult>`,
  );
}

/**
 * Handles an operation on an existing upload id. s3rver lacks AbortMultipartUpload (405), and for an
 * unknown upload it answers CompleteMultipartUpload with a 500 (which clients retry) and UploadPart by
 * creating a phantom upload directory. S3 answers 404 NoSuchUpload; abort is idempotent (204).
 */
async function uploadOperation(ctx, next, { handlers, bucket, key, uploadDir }) {
  if (ctx.method === 'DELETE') {
    if (UPLOAD_ID.test(ctx.query.uploadId)) fs.rmSync(uploadDir, { recursive: true, force: true });
    ctx.status = 204;
    return;
  }
  if (!UPLOAD_ID.test(ctx.query.uploadId) || readKeyFile(uploadDir) !== key) {
    sendError(ctx, 404, 'NoSuchUpload', 'The specified upload does not exist.');
    return;
  }
  if (ctx.method === 'PUT' && ctx.headers['x-amz-copy-source'] === undefined) return handlers.uploadPart(ctx, uploadDir);
  // UploadPartCopy: s3rver stores the part as a file, which must then win over a slot (s3-parts.cjs).
  if (ctx.method === 'PUT' && Number.isInteger(Number(ctx.query.partNumber))) forgetSlot(uploadDir, Number(ctx.query.partNumber));
  if (ctx.method === 'POST') return handlers.complete(ctx, bucket, key);
  if (ctx.method === 'GET') return listParts(ctx, bucket, key, uploadDir);
  await next();
}

/** ListParts (s3rver lacks it): the parts stored so far, in number order, from `part-number-marker`, at most `max-parts`. */
async function listParts(ctx, bucket, key, uploadDir) {
  // What is not a whole number is read as absent (as ListObjectVersions reads max-keys): a NaN
  // here answered an empty page marked truncated whose next marker was the same, for ever.
  const asked = (name, absent) => {
    const n = Number(ctx.query[name] ?? absent);
    return Number.isInteger(n) && n >= 0 ? n : absent;
  };
  const marker = asked('part-number-marker', 0);
  const max = Math.min(asked('max-parts', 1000), 1000);
  const numbers = fs
    .readdirSync(uploadDir)
    .map((name) => /^(\d+)\.md5$/.exec(name)?.[1])
    .filter((n) => n !== undefined)
    .map(Number)
    .filter((n) => n > marker)
    .sort((a, b) => a - b);
  const page = numbers.slice(0, max);
  const items = [];
  for (const n of page) {
    const stored = await storedPart(uploadDir, n);
    if (!stored) continue;
    const md5 = fs.readFileSync(path.join(uploadDir, `${n}.md5`), 'utf8');
    const modified = fs.statSync(path.join(uploadDir, `${n}.md5`)).mtime.toISOString();
    items.push(`<Part><PartNumber>${n}</PartNumber><LastModified>${modified}</LastModified><ETag>"${md5}"</ETag><Size>${stored.size}</Size></Part>`);
  }
  const truncated = numbers.length > page.length;
  sendXml(
    ctx,
    200,
    '<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      `<Bucket>${xmlEscape(bucket)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${xmlEscape(String(ctx.query.uploadId))}</UploadId>` +
      `<PartNumberMarker>${marker}</PartNumberMarker><NextPartNumberMarker>${page.at(-1) ?? marker}</NextPartNumberMarker>` +
      `<MaxParts>${max}</MaxParts><IsTruncated>${truncated}</IsTruncated><StorageClass>STANDARD</StorageClass>${items.join('')}</ListPartsResult>`,
  );
}

/**
 * s3rver answers `Range: bytes=0-0` with the whole object (it reads end 0 as "no end") and answers
 * any range on an empty object with 206. S3 returns one byte, and 416 for an empty object.
 */
async function rangeFixes(ctx, next) {
  const requested = /^bytes=(\d+)-(\d*)$/.exec(ctx.get('range'));
  await next();
  if (!requested || ctx.status !== 206) return;
  const [, , end] = requested;
  const total = Number(/\/(\d+)$/.exec(ctx.response.get('content-range'))?.[1]);
  if (total === 0) {
    if (ctx.body && typeof ctx.body.destroy === 'function') ctx.body.destroy();
    sendError(ctx, 416, 'InvalidRange', 'The requested range is not satisfiable', '<ActualObjectSize>0</ActualObjectSize>');
    ctx.set('Content-Range', 'bytes */0');
    return;
  }
  if (end === '0' && ctx.body && typeof ctx.body.destroy === 'function') {
    const whole = ctx.body;
    const first = await readFirstByte(whole);
    whole.destroy();
    ctx.body = first;
    ctx.length = 1;
    ctx.set('Content-Range', `bytes 0-0/${total}`);
  }
}

function readFirstByte(stream) {
  return new Promise((resolve, reject) => {
    stream.once('error', reject);
    stream.once('readable', () => resolve(Buffer.from(stream.read(1) ?? Buffer.alloc(0))));
  });
}

/** The object operations the stand-in answers itself (s3-handlers.cjs); the rest goes to s3rver. */
function objectOperation(ctx, next, { handlers, bucket, key }) {
  const q = ctx.query;
  if ('legal-hold' in q && (ctx.method === 'GET' || ctx.method === 'PUT')) return handlers.legalHold(ctx, bucket, key);
  if ('retention' in q && (ctx.method === 'GET' || ctx.method === 'PUT')) return handlers.retention(ctx, bucket, key);
  if ('restore' in q && ctx.method === 'POST') return handlers.restore(ctx, bucket, key);
  const plain = Object.keys(q).every((name) => name === 'versionId' || name.startsWith('response-') || name.startsWith('x-id'));
  if (ctx.method === 'PUT' && plain && ctx.headers['x-amz-copy-source'] === undefined) return handlers.putObject(ctx, bucket, key);
  if ((ctx.method === 'GET' || ctx.method === 'HEAD') && plain) {
    return handlers.getOrHead(ctx, () => (ctx.method === 'GET' ? rangeFixes(ctx, next) : next()), bucket, key);
  }
  if (ctx.method === 'DELETE' && plain) return handlers.deleteObject(ctx, bucket, key);
  if (ctx.method === 'POST' && 'uploads' in q) {
    return handlers.guarded(async () => {
      handlers.checkInitiate(ctx);
      await next();
      handlers.dateUpload(ctx, bucket);
    })(ctx);
  }
  return next();
}

/** Bucket operations the stand-in answers itself or corrects. */
async function bucketOperation(ctx, next, { handlers, bucket, bucketDir, store, versions }) {
  if (ctx.method === 'GET' && 'uploads' in ctx.query) return listUploads(ctx, bucketDir, bucket);
  if (ctx.method === 'GET' && 'versions' in ctx.query) return handlers.guarded(() => listVersions(ctx, store, versions, bucket))(ctx);
  if (ctx.method === 'GET' && 'object-lock' in ctx.query) return handlers.objectLockConfiguration(ctx);
  if (ctx.method === 'POST' && 'delete' in ctx.query) return handlers.deleteObjects(ctx, bucket);
  await next();
  if (ctx.method === 'GET') fixListedStorageClasses(ctx, store, bucket);
}

const authenticate = authentication();

function ferryExtensions(rootDirectory, deps) {
  return async function ferryExtensions(ctx, next) {
    // Path style only (vhostBuckets is off); the SDK addresses bucket operations as `/<bucket>/`.
    const match = /^\/([^/]+)(?:\/(.+)|\/)?$/.exec(ctx.path);
    if (!match) return next();
    const bucket = decodeURIComponent(match[1]);
    const key = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
    const bucketDir = path.join(rootDirectory, bucket);
    // s3rver answers NoSuchBucket (and the bucket operations it knows) itself.
    if (!fs.existsSync(bucketDir) || bucket.startsWith('.')) return next();
    const scope = { store: deps.store, versions: deps.versions, handlers: deps.handlersOf(bucket), bucket, key, bucketDir };
    // The same access-key check s3rver's own routes make (it verifies no SigV4 signature: docs/parity.md).
    ctx.params = { ...ctx.params, bucket, ...(key === undefined ? {} : { key }) };
    return authenticate(ctx, () => {
      if (key === undefined) return bucketOperation(ctx, next, scope);
      if (refusedForSize(ctx, key)) return undefined;
      if ('uploadId' in ctx.query) return uploadOperation(ctx, next, { ...scope, uploadDir: path.join(bucketDir, UPLOADS_DIR, String(ctx.query.uploadId)) });
      return objectOperation(ctx, next, scope);
    });
  };
}

function assertDesAvailable() {
  try {
    crypto.createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
  } catch (error) {
    throw new Error(`s3rver needs DES for ListObjectsV2 continuation tokens: run node with --openssl-legacy-provider (${error.message})`);
  }
}

async function main() {
  assertDesAvailable();
  const options = parseOptions(process.argv.slice(2), process.env);
  fs.mkdirSync(options.directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port,
    directory: options.directory,
    silent: true,
    vhostBuckets: false,
    configureBuckets: [...options.buckets, ...options.plainBuckets].map((name) => ({ name })),
  });
  const store = server.store;
  const clock = createClock(options.clockOffsetMs);
  const versions = createVersions(store);
  const bucketConfig = options.bucketConfig;
  const handlersWith = (config) => ({ ...createHandlers({ store, clock, bucketConfig: config, versions }), ...createLockHandlers({ store, clock, bucketConfig: config, versions }), guarded });
  const locked = handlersWith(bucketConfig);
  const plain = handlersWith({ ...(bucketConfig.restoreDelayMs === undefined ? {} : { restoreDelayMs: bucketConfig.restoreDelayMs }) });
  const plainBuckets = new Set(options.plainBuckets);
  const handlersOf = (bucket) => (plainBuckets.has(bucket) ? plain : locked);
  // Koa composes `middleware` when the server starts listening, so this runs before s3rver's routes.
  server.middleware.unshift(ferryExtensions(options.directory, { handlersOf, store, versions }));
  // Every answer of S3 names its request (x-amz-request-id, x-amz-id-2), errors included: the
  // client tells S3's answer from a proxy's or a firewall's by it (adapters/s3-blob-store.ts).
  server.middleware.unshift(async (ctx, next) => {
    ctx.set('x-amz-request-id', crypto.randomBytes(8).toString('hex').toUpperCase());
    ctx.set('x-amz-id-2', crypto.randomBytes(24).toString('base64'));
    await next();
  });
  patchListing(store);
  patchDelete(store);
  server.on('event', (event) => {
    if (process.send) process.send({ type: 's3-event', event });
  });
  process.on('message', (message) => {
    if (message?.type !== 'clock') return;
    clock.advance(Number(message.advanceMs) || 0);
    const now = clock.now();
    const lifecycle = { rules: [], abortIncompleteMultipartDays: Infinity, noncurrentVersionExpirationDays: Infinity, ...bucketConfig.lifecycle };
    const reports = options.buckets.map((bucket) => ({ bucket, ...applyLifecycle(store, bucket, lifecycle, now, { noncurrent: versions }) }));
    process.send?.({ type: 'clock-done', id: message.id, now: now.toISOString(), reports });
  });

  const { port } = await server.run();
  process.stdout.write(`FERRY_S3_READY ${port}\n`);
  if (process.send) process.send({ type: 'ready', port });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 2000).unref();
    server.close().then(
      () => process.exit(0),
      () => process.exit(0),
    );
    server.httpServer.closeIdleConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The parent went away without stopping us: do not linger as an orphan.
  process.on('disconnect', stop);
}

main().catch((error) => {
  process.stderr.write(`ferry local s3: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
