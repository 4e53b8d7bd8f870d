'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS module of the local S3 stand-in process (see s3-server.cjs). */
// Small HTTP and XML helpers shared by the local S3 stand-in's handlers (s3-server.cjs and the
// s3-*.cjs modules beside it). Error bodies are S3's: <Error><Code>…</Code><Message>…</Message></Error>.

const { XMLParser } = require('fast-xml-parser');
const S3Event = require('s3rver/lib/models/event');
const S3Object = require('s3rver/lib/models/object');

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const SMALL_BODY_LIMIT = 1024 * 1024;

function xmlEscape(text) {
  return String(text).replace(/[<>&'"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** Undoes the entity escapes s3rver (he.escape) and xmlEscape write. */
function xmlUnescape(text) {
  return String(text).replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, ent) => {
    const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[ent.toLowerCase()];
    if (named) return named;
    return String.fromCodePoint(ent[1].toLowerCase() === 'x' ? parseInt(ent.slice(2), 16) : Number(ent.slice(1)));
  });
}

function sendXml(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
}

function sendError(ctx, status, code, message, detail = '') {
  sendXml(ctx, status, `<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>${detail}</Error>`);
}

/** Answers a StandInError (anything with status and code; `detail`: more of S3's elements, XML); rethrows s3rver's own errors (Koa renders them) and the rest. */
function sendFailure(ctx, error) {
  if (!error || typeof error.status !== 'number' || typeof error.code !== 'string' || typeof error.toXML === 'function') throw error;
  sendError(ctx, error.status, error.code, error.message, typeof error.detail === 'string' ? error.detail : '');
}

/** Reads a small request body (an XML document) whole. */
async function readSmallBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > SMALL_BODY_LIMIT) throw Object.assign(new Error('request body too large'), { status: 400, code: 'MaxMessageLengthExceeded' });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: true, isArray: (name) => name === 'Object' || name === 'Part' });

/** Parses an XML request body; MalformedXML (400) when it is not XML. */
function parseXml(buffer) {
  try {
    const parsed = parser.parse(buffer.toString('utf8'), true);
    if (parsed && typeof parsed === 'object') return parsed;
  } catch {
    // fall through
  }
  throw Object.assign(new Error('The XML you provided was not well-formed or did not validate against our published schema.'), {
    status: 400,
    code: 'MalformedXML',
  });
}

/** Emits an S3 notification exactly as s3rver's own controllers do (server.on('event', …) sees both). */
function emitEvent(ctx, bucket, eventType, key, size, md5Hex) {
  const item = eventType === 'Delete' ? { key } : new S3Object(bucket, key, null, { 'content-length': size, etag: JSON.stringify(md5Hex) });
  ctx.app.emit('event', new S3Event({ bucket, eventType, S3Item: item }, { reqHeaders: ctx.headers, sourceIp: ctx.ip }));
}

module.exports = { XMLNS, emitEvent, parseXml, readSmallBody, sendError, sendFailure, sendXml, xmlEscape, xmlUnescape };
