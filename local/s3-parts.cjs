'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS module of the local S3 stand-in process (see s3-server.cjs). */
// Where the local S3 stand-in keeps the parts of a multipart upload, and how a completion turns
// them into the object without copying their bytes (AWS S3 does not make its client wait for a
// byte copy of the object either).
//
// Each upload has one data file (`<uploadDir>/data`) cut into slots of one size, the size of the
// first part received (S3 clients send every part but the last at one size): part N is written
// straight to its slot, at (N - 1) × slot. When the completion lists parts 1..k, each in its slot,
// every one but the last filling it, and the file holds nothing past them, the data file *is* the
// object: the completion renames it into place (`takeWhole`). A part goes to its own file instead,
// as before, when it does not fit its slot, or when its slot could hold bytes someone relies on: a
// part stored before under that number (a part sent again must leave the stored one intact until
// it arrives whole) or one being written there now. Every other completion copies the parts into
// a new file (`assemble`). Only bytes that arrived whole and matched their digests are recorded as
// a part (`<N>.slot`: "offset length"; or the file `<N>`), so a torn write into a slot is never read.

const fs = require('node:fs');
const path = require('node:path');
const { StandInError } = require('./s3-objects.cjs');

const DATA = 'data';
const SLOT_SIZE = 'slot';
/** Slots stop here: beyond it a part goes to its own file (a sparse data file stays far below ext4's 16 TiB). */
const MAX_SLOT_END = 2 ** 40;
/** The (uploadDir, part number) pairs being written into a slot right now: a second writer must not share it. */
const writing = new Set();

const partPath = (uploadDir, number) => path.join(uploadDir, String(number));
const slotRecord = (uploadDir, number) => `${partPath(uploadDir, number)}.slot`;

/** The upload's slot size: the length of its first part, fixed when that part arrives (synchronously, so concurrent first parts agree). */
function slotSize(uploadDir, length) {
  const file = path.join(uploadDir, SLOT_SIZE);
  try {
    fs.writeFileSync(file, String(length), { flag: 'wx' });
    return length;
  } catch (error) {
    if (error.code !== 'EEXIST') throw error;
    return Number(fs.readFileSync(file, 'utf8'));
  }
}

/**
 * Where the body of part `number` (`length` bytes) is to be written: `{ slot: { path, start }, done }`
 * or `{ file: true, done }`. `done()` must be called once the write ended, whether it succeeded or not.
 */
function placePart(uploadDir, number, length) {
  const fileTarget = { file: true, done: () => {} };
  const id = `${uploadDir}\0${number}`;
  if (writing.has(id) || fs.existsSync(`${partPath(uploadDir, number)}.md5`)) return fileTarget;
  let size;
  try {
    size = slotSize(uploadDir, length);
  } catch (error) {
    if (error.code === 'ENOENT') return fileTarget; // the upload is gone: the receive answers NoSuchUpload
    throw error;
  }
  const start = (number - 1) * size;
  if (length > size || start + size > MAX_SLOT_END) return fileTarget;
  writing.add(id);
  return { slot: { path: path.join(uploadDir, DATA), start }, done: () => writing.delete(id) };
}

/**
 * Records a part that arrived whole; synchronous, so the last part to arrive under a number is the
 * one kept. `slot`: the placement placePart gave, or undefined when the bytes are in `temporary`.
 */
function recordPart(uploadDir, number, { slot, temporary, size, md5Hex, sha256 }) {
  const file = partPath(uploadDir, number);
  fs.writeFileSync(`${file}.md5`, md5Hex);
  fs.writeFileSync(`${file}.sha256`, sha256);
  if (slot) {
    fs.writeFileSync(slotRecord(uploadDir, number), `${slot.start} ${size}`);
    fs.rmSync(file, { force: true });
  } else {
    fs.renameSync(temporary, file);
    fs.rmSync(slotRecord(uploadDir, number), { force: true });
  }
}

/** Forgets the slot of a part that s3rver itself is about to store as a file (UploadPartCopy). */
function forgetSlot(uploadDir, number) {
  fs.rmSync(slotRecord(uploadDir, number), { force: true });
}

/** Where the stored part `number` is: `{ start, size }` in the data file, or `{ file, size }`; undefined when absent. */
async function storedPart(uploadDir, number) {
  const record = await fs.promises.readFile(slotRecord(uploadDir, number), 'utf8').catch(() => undefined);
  if (record !== undefined) {
    const [start, size] = record.split(' ').map(Number);
    return { start, size };
  }
  const file = partPath(uploadDir, number);
  const stat = await fs.promises.stat(file).catch(() => undefined);
  return stat ? { file, size: stat.size } : undefined;
}

/**
 * The data file, when it is exactly the object of `stored` (the listed parts, in order, as storedPart
 * gave them): parts 1..k, each in its slot, all but the last filling it, nothing written past the
 * last and no slot write under way. Synchronous, so the caller can rename it in the same turn.
 */
function wholeDataFile(uploadDir, stored) {
  if (stored.length === 0 || stored.some((part) => part.file !== undefined)) return undefined;
  const size = stored[0].size;
  const contiguous = stored.every((part, i) => part.start === i * size && (i === stored.length - 1 || part.size === size));
  if (!contiguous) return undefined;
  const prefix = `${uploadDir}\0`;
  for (const id of writing) if (id.startsWith(prefix)) return undefined;
  const data = path.join(uploadDir, DATA);
  const total = stored.reduce((sum, part) => sum + part.size, 0);
  try {
    return fs.statSync(data).size === total ? data : undefined;
  } catch {
    return undefined;
  }
}

/** The data file for reading; NoSuchUpload when it is gone (a completion that renamed it got there first). */
async function openData(uploadDir) {
  try {
    return await fs.promises.open(path.join(uploadDir, DATA), 'r');
  } catch (error) {
    if (error.code === 'ENOENT') throw new StandInError(404, 'NoSuchUpload', 'The specified upload does not exist.');
    throw error;
  }
}

/** Copies the parts into `temporary` (removed again when this fails); resolves the object's size. */
async function assemble(uploadDir, stored, temporary) {
  const data = stored.some((part) => part.file === undefined) ? await openData(uploadDir) : undefined;
  const out = await fs.promises.open(temporary, 'w');
  let size = 0;
  try {
    for (const part of stored) {
      const bytes = part.file === undefined ? Buffer.alloc(part.size) : await fs.promises.readFile(part.file);
      if (part.file === undefined) {
        const { bytesRead } = await data.read(bytes, 0, part.size, part.start);
        if (bytesRead !== part.size) throw new Error(`part at ${part.start} of the upload's data file is short: ${bytesRead} of ${part.size} bytes`);
      }
      await out.write(bytes, 0, bytes.length);
      size += bytes.length;
    }
  } catch (error) {
    await fs.promises.rm(temporary, { force: true });
    throw error;
  } finally {
    await out.close();
    await data?.close();
  }
  return size;
}

module.exports = { assemble, forgetSlot, placePart, recordPart, storedPart, wholeDataFile };
