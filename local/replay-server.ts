import { systemClock, type Clock } from '../core/clock.ts';
import type { HttpEvent, HttpResult } from '../functions/shared/http.ts';
import { jsonLog, type Log } from '../functions/shared/log.ts';
import type { FrontDoorAccess } from './api-access.ts';
import { startHttpEndpoint, type HttpEndpoint } from './http-endpoint.ts';
import { VerifiedLinks } from './sigv4-verify.ts';
import { secretsOf, type LocalCredentials } from './api-server.ts';

// Local stand-in for the replay Function URLs (AWS_IAM auth, response streaming): its own
// endpoint, apart from the catalogue API as in the stack, with SigV4 verified for service
// `lambda`, in the Authorization header or presigned in the query (the links a browser plays).
// The stack gives each site a URL on its own alias of the replay function; this one endpoint
// stands for all of them: the site in the path picks the alias the function is invoked
// through and, with the local IAM, the alias the caller needs lambda:InvokeFunctionUrl and
// lambda:InvokeFunction on (local/api-access.ts).

/** The replay function as a Function URL invokes it (in the local cloud, its bundle: local/api-functions.ts). */
export type ReplayFunction = (event: HttpEvent, invocation: { invokedFunctionArn?: string }) => Promise<HttpResult>;

export interface ReplayServerDeps {
  replay: ReplayFunction;
  /** The keys SigV4 signatures are checked against when there is no `iam`. */
  credentials: LocalCredentials[];
  /** IAM: the keys are the deployment's principals, each request evaluated against their policies. */
  iam?: FrontDoorAccess;
  region: string;
  clock?: Clock;
  log?: Log;
}

export function startReplayServer(deps: ReplayServerDeps, opts: { port?: number; host?: string } = {}): Promise<HttpEndpoint> {
  const log = deps.log ?? jsonLog;
  const clock = deps.clock ?? systemClock;
  const { iam } = deps;
  // Without IAM there is no alias to go through: the function serves any site, as the stack's unqualified URL does.
  const handler = (event: HttpEvent) => {
    const site = event.pathParameters?.site;
    return deps.replay(event, iam && site ? { invokedFunctionArn: iam.replayAliasArn(site) } : {});
  };
  return startHttpEndpoint({
    routes: [{ pattern: /^\/sites\/([^/]+)\/recordings\/([^/]+)\/audio\/?$/, params: ['site', 'rid'], handler }],
    auth: { service: 'lambda', region: deps.region, secrets: iam ? iam.secrets() : secretsOf(deps.credentials), now: () => clock.now(), verified: new VerifiedLinks() },
    authorize: iam && ((key, request) => iam.replay(key, request.pathParameters.site ?? '')),
    log,
    ...opts,
  });
}
