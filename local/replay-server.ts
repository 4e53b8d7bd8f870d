import { systemClock, type Clock } from '../core/clock.ts';
import type { BlobStore, CatalogueStore } from '../core/ports.ts';
import { createHandler as createReplayHandler } from '../functions/replay/handler.ts';
import { stdoutAudit, type Audit } from '../functions/shared/audit.ts';
import { jsonLog, type Log } from '../functions/shared/log.ts';
import { startHttpEndpoint, type HttpEndpoint } from './http-endpoint.ts';
import { secretsOf, type LocalCredentials } from './api-server.ts';

// Local stand-in for the replay Function URL (AWS_IAM auth, response streaming): its own
// endpoint, apart from the catalogue API as in the stack, with SigV4 verified for service
// `lambda`, in the Authorization header or presigned in the query (the links a browser plays).

export interface ReplayServerDeps {
  catalogue: CatalogueStore;
  blobs: BlobStore;
  credentials: LocalCredentials[];
  region: string;
  audit?: Audit;
  clock?: Clock;
  log?: Log;
}

export function startReplayServer(deps: ReplayServerDeps, opts: { port?: number; host?: string } = {}): Promise<HttpEndpoint> {
  const log = deps.log ?? jsonLog;
  const clock = deps.clock ?? systemClock;
  const replay = createReplayHandler({ catalogue: deps.catalogue, blobs: deps.blobs, audit: deps.audit ?? stdoutAudit(), clock, log });
  return startHttpEndpoint({
    routes: [{ pattern: /^\/sites\/([^/]+)\/recordings\/([^/]+)\/audio\/?$/, params: ['site', 'rid'], handler: replay }],
    auth: { service: 'lambda', region: deps.region, secrets: secretsOf(deps.credentials), now: () => clock.now() },
    log,
    ...opts,
  });
}
