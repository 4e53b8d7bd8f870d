import { createServer, request } from 'node:http';

// A streaming HTTP proxy between the agent and the local S3 stand-in that sees each multipart
// part upload as it goes by: the tests of a big upload resumed across runs count the parts each
// run sends, and cut the line or refuse a part at a chosen point. Bodies stream through (a cut
// lands mid-part, as a real line drop does), unlike test/support/fault-proxy.ts, which buffers.
// With `bytesPerSecond` the proxy is a slow uplink: every part body in flight shares that rate.

/** A part upload through the proxy; `bytes` grows as its body goes by. */
export interface ProxiedPart {
  uploadId: string;
  partNumber: number;
  bytes: number;
}

export interface PartProxyHooks {
  /** What to do with a part before it is forwarded: cut the connection at its first bytes, answer 403 AccessDenied, or (undefined) carry it. */
  decide?: (part: ProxiedPart) => 'cut' | 'refuse' | undefined;
  /** A part the proxy began to carry. */
  sent?: (part: ProxiedPart) => void;
  /** A part the store answered 200. */
  stored?: (part: ProxiedPart) => void;
  /** A chunk of a part's body was carried on (`part.bytes` counts it already). */
  carried?: (part: ProxiedPart, bytes: number) => void;
  /** The line's rate for part bodies, shared by every part in flight; unlimited by default. */
  bytesPerSecond?: number;
}

export interface PartProxy {
  endpoint: string;
  /** Cuts every part upload in flight now, mid-body (the line drops). */
  cut: () => void;
  close: () => Promise<void>;
}

export async function startPartProxy(s3Endpoint: string, hooks: PartProxyHooks): Promise<PartProxy> {
  const target = new URL(s3Endpoint);
  const inflight = new Set<{ destroy: () => void }>();
  /** When the slow line is free again (ms, performance.now()). */
  let lineFreeAt = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', s3Endpoint);
    const part = req.method === 'PUT' && url.searchParams.has('partNumber') ? { uploadId: url.searchParams.get('uploadId') ?? '', partNumber: Number(url.searchParams.get('partNumber')), bytes: 0 } : undefined;
    const decision = part && hooks.decide?.(part);
    if (decision === 'cut') {
      req.once('data', () => req.socket.destroy());
      return;
    }
    if (decision === 'refuse') {
      req.resume();
      req.on('end', () => {
        res.writeHead(403, { 'content-type': 'application/xml', 'x-amz-request-id': 'R1', 'x-amz-id-2': 'I1' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>R1</RequestId></Error>');
      });
      return;
    }
    if (part) hooks.sent?.(part);
    const out = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      if (part && answer.statusCode === 200) hooks.stored?.(part);
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.on('error', () => out.destroy());
    if (!part) {
      req.pipe(out);
      return;
    }
    let cutOff = false;
    const connection = { destroy: () => ((cutOff = true), req.socket.destroy(), out.destroy()) };
    inflight.add(connection);
    res.on('close', () => inflight.delete(connection));
    // The body's end is carried on after its last chunk, which may still wait for the slow line.
    let waiting = 0;
    let ended = false;
    req.on('end', () => (ended = true) && waiting === 0 && out.end());
    req.on('data', (chunk: Buffer) => {
      const carry = () => {
        if (cutOff) return;
        part.bytes += chunk.length;
        hooks.carried?.(part, chunk.length);
        out.write(chunk);
      };
      if (hooks.bytesPerSecond === undefined) return carry();
      // The chunk leaves once the line has carried what was ahead of it.
      lineFreeAt = Math.max(lineFreeAt, performance.now()) + (chunk.length / hooks.bytesPerSecond) * 1000;
      waiting++;
      req.pause();
      setTimeout(() => {
        carry();
        waiting--;
        if (ended && waiting === 0 && !cutOff) out.end();
        else req.resume();
      }, lineFreeAt - performance.now());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const cut = () => {
    for (const c of inflight) c.destroy();
    inflight.clear();
  };
  return { endpoint, cut, close: () => new Promise<void>((r) => server.close(() => r())) };
}
