import { connect, createServer, type Socket } from 'node:net';

// A TCP proxy that counts the bytes a client sends through it per 100 ms window, as a switch's
// port counter does: what really went on the line, whatever the client believes it paced.

export interface ByteMeter {
  endpoint: string;
  /** Bytes sent towards the target in each 100 ms window, from the first byte to the last. */
  windows: () => number[];
  /** The most bytes in any `width` consecutive windows (a sliding window of width × 100 ms). */
  busiest: (width: number) => number;
  close: () => Promise<void>;
}

export const WINDOW_MS = 100;

export async function startByteMeter(target: string): Promise<ByteMeter> {
  const { hostname, port } = new URL(target);
  const counts = new Map<number, number>();
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => {
      const w = Math.floor(performance.now() / WINDOW_MS);
      counts.set(w, (counts.get(w) ?? 0) + chunk.length);
      if (!upstream.write(chunk)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    });
    upstream.pipe(client);
    const end = () => (client.destroy(), upstream.destroy());
    for (const s of [client, upstream]) s.on('error', end).on('close', () => (sockets.delete(s), end()));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const windows = () => {
    const keys = [...counts.keys()];
    if (keys.length === 0) return [];
    const first = Math.min(...keys);
    const out: number[] = [];
    for (let w = first; w <= Math.max(...keys); w++) out.push(counts.get(w) ?? 0);
    return out;
  };
  const busiest = (width: number) => {
    const all = windows();
    let most = 0;
    for (let i = 0; i < Math.max(1, all.length - width + 1); i++) most = Math.max(most, all.slice(i, i + width).reduce((s, x) => s + x, 0));
    return most;
  };
  return {
    endpoint: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    windows,
    busiest,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}
