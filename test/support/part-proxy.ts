import { createServer, request } from 'node:http';

// A streaming HTTP proxy between the agent and the local S3 stand-in that sees each multipart
// part upload as it goes by: the tests of a big upload resumed across runs count the parts each
// run sends, and cut the line or refuse a part at a chosen point. Bodies stream through (a cut
// lands mid-part, as a real line drop does), unlike test/support/fault-proxy.ts, which buffers.

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
}

export async function startPartProxy(s3Endpoint: string, hooks: PartProxyHooks): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const target = new URL(s3Endpoint);
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
    req.on('data', (chunk: Buffer) => part && (part.bytes += chunk.length));
    const out = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      if (part && answer.statusCode === 200) hooks.stored?.(part);
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.on('error', () => out.destroy());
    req.pipe(out);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return { endpoint, close: () => new Promise<void>((r) => server.close(() => r())) };
}
