import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// Every local endpoint (API, replay, activity, IAM gateway) listens the same way: on loopback,
// port 0 unless told, and stops by closing its open connections too (keep-alive clients would
// otherwise hold `close` open). Idle keep-alive connections are kept 65 s (an AWS load balancer
// keeps them 60 s), not Node's 5 s: a client that reuses a socket at the moment the server drops
// it sees ECONNRESET, so the server must hold idle sockets longer than any client keeps them.

/** How long an endpoint keeps an idle keep-alive connection; clients (the SDK, the bench) keep theirs for less. */
export const KEEP_ALIVE_MS = 65_000;

export interface Listening {
  url: string;
  stop(): Promise<void>;
}

export async function listenLocal(server: Server, options: { port?: number; host?: string } = {}): Promise<Listening> {
  const host = options.host ?? '127.0.0.1';
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    // Idempotent: cleanup paths may stop an endpoint twice.
    stop: () =>
      (stopped ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      })),
  };
}
