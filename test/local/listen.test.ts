import { Agent, createServer, request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { KEEP_ALIVE_MS, listenLocal } from '../../local/listen.ts';

// Every local endpoint keeps idle keep-alive connections longer than its clients do, so a client
// never reuses a socket at the moment the server drops it (ECONNRESET in the replay bench).

const get = (url: string, agent: Agent) =>
  new Promise<{ reused: boolean }>((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });

describe('local endpoints and keep-alive', () => {
  it("keeps an idle keep-alive connection past Node's 5 s default (closed by 7 s), so the next request reuses it", async () => {

    expect(KEEP_ALIVE_MS).toBeGreaterThan(30_000);
    const endpoint = await listenLocal(createServer((_req, res) => res.end('ok')));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect((await get(endpoint.url, agent)).reused).toBe(false);
      await new Promise((r) => setTimeout(r, 8_000));
      expect((await get(endpoint.url, agent)).reused).toBe(true);
    } finally {
      agent.destroy();
      await endpoint.stop();
    }
  }, 20_000);
});
