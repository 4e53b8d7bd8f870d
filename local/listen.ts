import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// Every local endpoint (API, replay, activity, IAM gateway) listens the same way: on loopback,
// port 0 unless told, and stops by closing its open connections too (keep-alive clients would
// otherwise hold `close` open).

export interface Listening {
  url: string;
  stop(): Promise<void>;
}

export async function listenLocal(server: Server, options: { port?: number; host?: string } = {}): Promise<Listening> {
  const host = options.host ?? '127.0.0.1';
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
