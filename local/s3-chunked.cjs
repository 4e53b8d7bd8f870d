'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS module of the local S3 stand-in process (see s3-server.cjs). */
// Decodes an `aws-chunked` request body (streaming SigV4 uploads and trailing checksums): chunks of
// `<hex size>[;chunk-signature=…]\r\n<bytes>\r\n`, a zero-size chunk, then trailer lines such as
// `x-amz-checksum-crc32:…` and an empty line. The decoded bytes flow on; `trailers` holds the
// trailer headers once the body ended. A body that stops before its final empty line is torn.
// Chunk signatures are not verified (the stand-in verifies no signature: docs/parity.md).

const { Transform } = require('node:stream');

const CRLF = Buffer.from('\r\n');
const MAX_LINE = 8192;

function malformed(message) {
  return Object.assign(new Error(message), { status: 400, code: 'IncompleteBody' });
}

function createChunkedDecoder() {
  let pending = Buffer.alloc(0);
  let state = 'size';
  let remaining = 0;
  const trailers = {};

  /** Takes one CRLF-terminated line off `pending`, or undefined when it has not fully arrived. */
  function line() {
    const end = pending.indexOf(CRLF);
    if (end < 0) {
      if (pending.length > MAX_LINE) throw malformed('aws-chunked line too long');
      return undefined;
    }
    const text = pending.subarray(0, end).toString('latin1');
    pending = pending.subarray(end + 2);
    return text;
  }

  function step(push) {
    if (state === 'size') {
      const text = line();
      if (text === undefined) return false;
      const size = parseInt(text.split(';')[0], 16);
      if (!Number.isInteger(size) || size < 0) throw malformed(`bad aws-chunked chunk size "${text}"`);
      [state, remaining] = size === 0 ? ['trailer', 0] : ['data', size];
      return true;
    }
    if (state === 'data') {
      if (pending.length === 0) return false;
      const take = Math.min(remaining, pending.length);
      push(pending.subarray(0, take));
      pending = pending.subarray(take);
      remaining -= take;
      if (remaining === 0) state = 'crlf';
      return true;
    }
    if (state === 'crlf') {
      if (pending.length < 2) return false;
      if (!pending.subarray(0, 2).equals(CRLF)) throw malformed('aws-chunked chunk not followed by CRLF');
      pending = pending.subarray(2);
      state = 'size';
      return true;
    }
    if (state === 'trailer') {
      const text = line();
      if (text === undefined) return false;
      if (text === '') {
        state = 'done';
        return true;
      }
      const colon = text.indexOf(':');
      if (colon > 0) trailers[text.slice(0, colon).trim().toLowerCase()] = text.slice(colon + 1).trim();
      return true;
    }
    pending = Buffer.alloc(0);
    return false;
  }

  const decoder = new Transform({
    transform(chunk, _encoding, callback) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      try {
        while (step((bytes) => this.push(bytes)));
        callback();
      } catch (error) {
        callback(error);
      }
    },
    flush(callback) {
      callback(state === 'done' ? undefined : malformed('aws-chunked body ended before its last chunk'));
    },
  });
  return { decoder, trailers };
}

module.exports = { createChunkedDecoder };
