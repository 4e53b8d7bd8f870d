import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { TokenIssuer } from './cognito-tokens.ts';
import { listenLocal } from './listen.ts';

// A small in-repo stand-in for the Cognito user pool the console signs in with: InitiateAuth
// with USER_PASSWORD_AUTH (the AWS JSON 1.1 protocol the SDK and the browser libraries speak)
// and the pool's JWKS at `{issuer}/.well-known/jwks.json`, and the NEW_PASSWORD_REQUIRED
// challenge (RespondToAuthChallenge) an officer created with a temporary password meets first
// (Cognito's own rule for admin-created users). Tokens are Cognito-shaped access
// tokens signed RS256 (local/cognito-tokens.ts), so the console function verifies them with
// the aws-jwt-verify code that runs on AWS, only the issuer differs (this server's URL).
// Chosen over cognito-local: it persists users in files, adds a dependency tree to `ferry
// start`, and its issuer/JWKS layout would still need the same local configuration; what the
// console needs of Cognito is these two calls. Users and groups are made in process (the
// local cloud's demo officer); nothing is persisted.

export interface LocalUser {
  username: string;
  password: string;
  groups: string[];
  /**
   * A temporary password (an administrator's `admin-create-user`): the first sign-in answers the
   * NEW_PASSWORD_REQUIRED challenge, as Cognito does, and RespondToAuthChallenge sets the new one.
   */
  temporary?: boolean;
}

export interface CognitoStandIn {
  /** The endpoint InitiateAuth is posted to (as `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`). */
  endpoint: string;
  /** `{endpoint}/{poolId}`: the tokens' `iss`, the JWKS under it. */
  issuer: string;
  poolId: string;
  clientId: string;
  addUser(user: LocalUser): void;
  /** The pool's signing key: tokens for a user without a password round (tests). */
  tokens: TokenIssuer;
  stop(): Promise<void>;
}

const TARGET = 'AWSCognitoIdentityProviderService.';

function hash(password: string, salt: Buffer): Buffer {
  return scryptSync(password, salt, 32);
}

export async function startCognitoStandIn(options: { region: string; port?: number; now?: () => Date }): Promise<CognitoStandIn> {
  const poolId = `${options.region}_Local${randomBytes(4).toString('hex')}`;
  const clientId = randomBytes(13).toString('hex');
  const users = new Map<string, { salt: Buffer; hash: Buffer; groups: string[]; temporary: boolean }>();
  // Open NEW_PASSWORD_REQUIRED challenges: session → user, each answerable once.
  const challenges = new Map<string, string>();
  const now = options.now ?? (() => new Date());
  // The issuer is the server's own URL, known once it listens.
  const signer: { tokens?: TokenIssuer } = {};

  const send = (res: ServerResponse, status: number, body: unknown, type = 'application/x-amz-json-1.1') => {
    res.writeHead(status, { 'Content-Type': type, 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Methods': 'GET, POST, OPTIONS', 'Access-Control-Allow-Headers': 'content-type, x-amz-target, x-amz-user-agent' });
    res.end(JSON.stringify(body));
  };
  const fail = (res: ServerResponse, status: number, type: string, message: string) => send(res, status, { __type: type, message });

  const initiateAuth = (res: ServerResponse, body: Record<string, unknown>) => {
    if (body.ClientId !== clientId) return fail(res, 400, 'ResourceNotFoundException', `User pool client ${String(body.ClientId)} does not exist.`);
    if (body.AuthFlow !== 'USER_PASSWORD_AUTH') return fail(res, 400, 'InvalidParameterException', `this stand-in supports AuthFlow USER_PASSWORD_AUTH only, not ${String(body.AuthFlow)}`);
    const params = (body.AuthParameters ?? {}) as Record<string, unknown>;
    const username = typeof params.USERNAME === 'string' ? params.USERNAME.toLowerCase() : '';
    const user = users.get(username);
    const password = typeof params.PASSWORD === 'string' ? params.PASSWORD : '';
    if (!user || !timingSafeEqual(hash(password, user.salt), user.hash)) return fail(res, 400, 'NotAuthorizedException', 'Incorrect username or password.');
    if (user.temporary) {
      const Session = randomBytes(48).toString('base64url');
      challenges.set(Session, username);
      const ChallengeParameters = { USER_ID_FOR_SRP: username, requiredAttributes: '[]', userAttributes: '{}' };
      return send(res, 200, { ChallengeName: 'NEW_PASSWORD_REQUIRED', Session, ChallengeParameters });
    }
    authenticated(res, username, user.groups);
  };

  const authenticated = (res: ServerResponse, username: string, groups: string[]) => {
    const issuedAt = Math.floor(now().getTime() / 1000);
    const AccessToken = signer.tokens!.accessToken({ username, groups, clientId, issuedAt });
    send(res, 200, { AuthenticationResult: { AccessToken, ExpiresIn: 3600, TokenType: 'Bearer' }, ChallengeParameters: {} });
  };

  const respondToAuthChallenge = (res: ServerResponse, body: Record<string, unknown>) => {
    if (body.ClientId !== clientId) return fail(res, 400, 'ResourceNotFoundException', `User pool client ${String(body.ClientId)} does not exist.`);
    if (body.ChallengeName !== 'NEW_PASSWORD_REQUIRED') return fail(res, 400, 'InvalidParameterException', `this stand-in answers the NEW_PASSWORD_REQUIRED challenge only, not ${String(body.ChallengeName)}`);
    const session = typeof body.Session === 'string' ? body.Session : '';
    const username = challenges.get(session);
    const responses = (body.ChallengeResponses ?? {}) as Record<string, unknown>;
    const user = username ? users.get(username) : undefined;
    if (!username || !user || String(responses.USERNAME ?? '').toLowerCase() !== username) return fail(res, 400, 'NotAuthorizedException', 'Invalid session for the user, session is expired.');
    const password = typeof responses.NEW_PASSWORD === 'string' ? responses.NEW_PASSWORD : '';
    const weak = passwordProblem(password);
    if (weak) return fail(res, 400, 'InvalidPasswordException', `Password does not conform to policy: ${weak}`);
    challenges.delete(session);
    const salt = randomBytes(16);
    users.set(username, { salt, hash: hash(password, salt), groups: user.groups, temporary: false });
    authenticated(res, username, user.groups);
  };

  const answer = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'OPTIONS') return send(res, 204, {});
    if (req.method === 'GET' && url.pathname === `/${poolId}/.well-known/jwks.json`) return send(res, 200, signer.tokens!.jwks(), 'application/json');
    if (req.method !== 'POST' || url.pathname !== '/') return fail(res, 404, 'ResourceNotFoundException', `no ${req.method} ${url.pathname} here`);
    const target = String(req.headers['x-amz-target'] ?? '');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
    } catch {
      return fail(res, 400, 'SerializationException', 'the request body is not JSON');
    }
    if (target === `${TARGET}InitiateAuth`) return initiateAuth(res, body);
    if (target === `${TARGET}RespondToAuthChallenge`) return respondToAuthChallenge(res, body);
    return fail(res, 400, 'UnknownOperationException', `this stand-in serves InitiateAuth and RespondToAuthChallenge only, not ${target || '(no X-Amz-Target)'}`);
  };

  const server = createServer((req, res) => {
    answer(req, res).catch((error: unknown) => fail(res, 500, 'InternalErrorException', error instanceof Error ? error.message : String(error)));
  });
  const listening = await listenLocal(server, { port: options.port ?? 0 });
  const issuer = `${listening.url}/${poolId}`;
  const tokens = new TokenIssuer(issuer);
  signer.tokens = tokens;
  return {
    endpoint: listening.url,
    issuer,
    poolId,
    clientId,
    tokens,
    addUser(user) {
      const salt = randomBytes(16);
      users.set(user.username.toLowerCase(), { salt, hash: hash(user.password, salt), groups: [...user.groups], temporary: user.temporary === true });
    },
    stop: () => listening.stop(),
  };
}

/** What breaks the deployed pool's password policy (infra/console.ts), in Cognito's words; undefined when nothing does. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < 14) return 'Password not long enough';
  if (!/[a-z]/.test(password)) return 'Password must have lowercase characters';
  if (!/[A-Z]/.test(password)) return 'Password must have uppercase characters';
  if (!/[0-9]/.test(password)) return 'Password must have numeric characters';
  if (!/[^A-Za-z0-9]/.test(password)) return 'Password must have symbol characters';
  return undefined;
}

/** A password meeting the deployed pool's policy (14+ characters, upper, lower, digit, symbol). */
export function demoPassword(): string {
  return `Ferry-${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}-7a`;
}
