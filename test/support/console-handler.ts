import { cognitoTokenVerifier, type TokenVerifier } from '../../adapters/console-token.ts';
import type { HttpEvent, HttpResult } from '../../functions/shared/http.ts';
import { TokenIssuer } from '../../local/cognito-tokens.ts';
import { httpEvent } from './http-event.ts';

// The console function's tests: Cognito-shaped access tokens signed by a test key, verified by
// aws-jwt-verify against that key's JWKS (no network), and requests as API Gateway sends them.

const ISSUER = 'https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_Test0001';
const CLIENT = 'console-client-1';
const issuer = new TokenIssuer(ISSUER);

/** An access token of the test pool's console client. */
export function consoleToken(username: string, groups: string[], extra?: Record<string, unknown>): string {
  return issuer.accessToken({ username, groups, clientId: CLIENT, issuedAt: Math.floor(Date.now() / 1000), extra });
}

/** alice, officer of site-a. */
export const officerA = () => consoleToken('alice', ['officer-site-a']);

/** The verifier the console function uses, trusting the test pool. */
export function testConsoleVerifier(): TokenVerifier {
  return cognitoTokenVerifier({ issuer: ISSUER, clientId: CLIENT, jwks: issuer.jwks() as never });
}

export interface ConsoleRequest {
  bearer?: string;
  body?: unknown;
  query?: Record<string, string>;
}

/** Calls the handler as API Gateway would: the bearer token in Authorization, the body as JSON. */
export function consoleCaller(handler: (event: HttpEvent) => Promise<HttpResult>) {
  return (method: string, path: string, opts: ConsoleRequest = {}) =>
    handler({
      ...httpEvent(method, path, { query: opts.query, headers: opts.bearer === undefined ? {} : { authorization: `Bearer ${opts.bearer}` } }),
      ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
    });
}

export const parseJson = (r: HttpResult) => JSON.parse(r.body as string) as Record<string, unknown>;
