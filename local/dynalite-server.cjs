// Child process that runs dynalite (DESIGN.md: best run out of process, its LevelDB work
// would otherwise share the event loop with the code under test). Started by
// dynalite-process.ts via fork(); argv[2] is JSON options. Reports over IPC:
// { type: 'ready', port } once listening, { type: 'error', message } if it cannot start.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS entry: dynalite is CommonJS and this file runs as its own process. */
const dynalite = require('dynalite');
const dynaliteDb = require('dynalite/db');

// DynamoDB counts an item's size as the UTF-8 bytes of its attribute names and string values
// (docs: "Item sizes"); dynalite counts UTF-16 code units (`'é'.length` is 1, it is 2 bytes), so
// an item of non-Latin text (a case's name, an officer's reason) could pass here at 400 KB of
// characters and be refused on AWS. The size checks of PutItem, UpdateItem and BatchWriteItem go
// through `db.itemSize`: counted in UTF-8 here, so the 400 KB limit is the one AWS applies.
const dynaliteItemSize = dynaliteDb.itemSize;
dynaliteDb.itemSize = function utf8ItemSize(item) {
  return Object.keys(item).reduce((sum, name) => sum + Buffer.byteLength(name, 'utf8') + utf8ValueSize(item[name]), 0);
};
function utf8ValueSize(attr) {
  const type = Object.keys(attr)[0];
  const value = attr[type];
  switch (type) {
    case 'S':
      return Buffer.byteLength(value, 'utf8');
    case 'SS':
      return value.reduce((sum, s) => sum + Buffer.byteLength(s, 'utf8'), 0);
    case 'L':
      return 3 + value.reduce((sum, v) => sum + 1 + utf8ValueSize(v), 0);
    case 'M':
      return 3 + Object.keys(value).length + dynaliteDb.itemSize(value);
    default:
      // Numbers, binaries, booleans and null: dynalite's own count (no text in them).
      return dynaliteItemSize({ '': attr });
  }
}

const options = JSON.parse(process.argv[2] || '{}');
const server = dynalite({
  path: options.directory || undefined,
  // Tables become ACTIVE quickly: the waiters in the code still run, tests do not idle.
  createTableMs: options.createTableMs ?? 50,
  deleteTableMs: options.deleteTableMs ?? 50,
  updateTableMs: options.updateTableMs ?? 50,
});

function send(message) {
  if (process.send) process.send(message);
}

server.on('error', (error) => {
  send({ type: 'error', message: String(error && error.message ? error.message : error) });
  process.exit(1);
});

server.listen(options.port || 0, '127.0.0.1', () => {
  send({ type: 'ready', port: server.address().port });
});

function stop() {
  server.close(() => process.exit(0));
  // dynalite closes gracefully; do not hang on a keep-alive socket.
  setTimeout(() => process.exit(0), 2000).unref();
}

process.on('message', (message) => {
  if (message && message.type === 'stop') stop();
});
// The parent went away (crash, kill -9): do not outlive it.
process.on('disconnect', stop);
process.on('SIGTERM', stop);
