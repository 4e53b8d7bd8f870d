// Child process that runs dynalite (DESIGN.md: best run out of process, its LevelDB work
// would otherwise share the event loop with the code under test). Started by
// dynalite-process.ts via fork(); argv[2] is JSON options. Reports over IPC:
// { type: 'ready', port } once listening, { type: 'error', message } if it cannot start.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS entry: dynalite is CommonJS and this file runs as its own process. */
const dynalite = require('dynalite');

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
