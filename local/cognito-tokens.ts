import { createSign, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';

// Cognito-shaped access tokens, signed RS256 with a key made at start: what the local user pool
// stand-in (local/cognito-server.ts) hands out and what the tests sign with. The claims are
// those of a Cognito access token (token_use, client_id, username, cognito:groups, scope,
// iss = the pool's issuer URL), so the console verifies them with the code that runs on AWS.

export interface AccessTokenClaims {
  username: string;
  groups: string[];
  /** Default: a stable id derived from the username. */
  sub?: string;
  clientId: string;
  /** Seconds since the epoch. */
  issuedAt: number;
  lifetimeSeconds?: number;
  /** Anything to add or override (tests: token_use, exp, iss). */
  extra?: Record<string, unknown>;
}

export class TokenIssuer {
  readonly kid = randomUUID();
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;

  constructor(readonly issuer: string) {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
  }

  /** The JWKS served at `{issuer}/.well-known/jwks.json`. */
  jwks(): { keys: Record<string, string>[] } {
    const jwk = this.publicKey.export({ format: 'jwk' }) as Record<string, string>;
    return { keys: [{ ...jwk, kid: this.kid, alg: 'RS256', use: 'sig' }] };
  }

  accessToken(c: AccessTokenClaims): string {
    const payload = {
      sub: c.sub ?? `sub-${c.username}`,
      'cognito:groups': c.groups,
      iss: this.issuer,
      client_id: c.clientId,
      origin_jti: randomUUID(),
      event_id: randomUUID(),
      token_use: 'access',
      scope: 'aws.cognito.signin.user.admin',
      auth_time: c.issuedAt,
      exp: c.issuedAt + (c.lifetimeSeconds ?? 3600),
      iat: c.issuedAt,
      jti: randomUUID(),
      username: c.username,
      ...c.extra,
    };
    return sign({ alg: 'RS256', kid: this.kid, typ: 'JWT' }, payload, this.privateKey);
  }
}

export function sign(headerValue: object, payload: object, key: KeyObject): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode(headerValue)}.${encode(payload)}`;
  const signature = createSign('RSA-SHA256').update(input).sign(key).toString('base64url');
  return `${input}.${signature}`;
}
