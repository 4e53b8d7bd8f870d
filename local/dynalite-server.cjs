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

// DynamoDB refuses a key attribute value over 2048 bytes (partition key) or 1024 bytes (sort key),
// counted in UTF-8, for the table's keys and for every secondary index's key an item carries
// (docs: "Partition keys and sort keys", "Secondary indexes"; ValidationException, the item not
// written). dynalite counts the table's keys in UTF-16 code units and never the indexes' keys,
// so an item carrying a long text as an index key (a search index's agent or caller) passed here.
const MAX_KEY_BYTES = { HASH: 2048, RANGE: 1024 };
function keyBytes(value) {
  if (value.S !== undefined) return Buffer.byteLength(value.S, 'utf8');
  if (value.B !== undefined) return Buffer.from(value.B, 'base64').length;
  return 0;
}
function keyTooLong(item, table) {
  const schemas = [{ of: 'the table', keys: table.KeySchema }, ...[...(table.GlobalSecondaryIndexes ?? []), ...(table.LocalSecondaryIndexes ?? [])].map((index) => ({ of: `index ${index.IndexName}`, keys: index.KeySchema }))];
  for (const { of, keys } of schemas) {
    for (const { AttributeName: name, KeyType: type } of keys) {
      const value = item[name];
      if (!value || keyBytes(value) <= MAX_KEY_BYTES[type]) continue;
      const which = type === 'HASH' ? 'partition' : 'sort';
      return dynaliteDb.validationError(`One or more parameter values were invalid: Size of ${which} key ${name} of ${of} (${keyBytes(value)} bytes) has exceeded the maximum size limit of ${MAX_KEY_BYTES[type]} bytes`);
    }
  }
  return undefined;
}
const dynaliteValidateItem = dynaliteDb.validateItem;
dynaliteDb.validateItem = (item, table) => dynaliteValidateItem(item, table) || keyTooLong(item, table);
const dynaliteValidateKey = dynaliteDb.validateKey;
dynaliteDb.validateKey = (key, table) => dynaliteValidateKey(key, table) || keyTooLong(key, table);
// UpdateItem: the item as updated, before it is written (an update can set an index key).
const dynaliteUpdateIndexes = dynaliteDb.updateIndexes;
dynaliteDb.updateIndexes = (store, table, oldItem, item, cb) => {
  const refused = item ? keyTooLong(item, table) : undefined;
  return refused ? cb(refused) : dynaliteUpdateIndexes(store, table, oldItem, item, cb);
};

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
