import { JwtVerifier } from 'aws-jwt-verify';
import { FetchError, JwtBaseError } from 'aws-jwt-verify/error';
import { SimpleJwksCache, type Jwks } from 'aws-jwt-verify/jwk';
import { FerryError, TransientError } from '../core/errors.ts';

// The console's own check of a Cognito access token (aws-jwt-verify), done in the function
// even though API Gateway's JWT authorizer checked it first: defence in depth, and the same
// check where no authorizer runs (the local cloud). Issuer and JWKS come from configuration:
// `https://cognito-idp.{region}.amazonaws.com/{poolId}` on AWS, the local stand-in's loopback
// URL locally (hence JwtVerifier with an explicit issuer rather than CognitoJwtVerifier, and a
// fetcher that speaks plain HTTP too: aws-jwt-verify's own fetcher is HTTPS only).

/** What the console knows of the caller once the token is verified. */
export interface ConsoleCaller {
  username: string;
  groups: string[];
  /** The token's `sub`. */
  subject: string;
}

export interface TokenVerifier {
  /** UnauthorizedError for a missing, malformed, forged, expired or foreign token; TransientError when the JWKS cannot be fetched. */
  verify(token: string): Promise<ConsoleCaller>;
}

/** 401: the request carries no valid token. */
export class UnauthorizedError extends FerryError {
  override readonly name: string = 'UnauthorizedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid-input', message, options);
  }
}

export interface CognitoVerifierOptions {
  /** The user pool's issuer URL (the `iss` of its tokens). */
  issuer: string;
  /** The console app client: access tokens must carry it as `client_id`. */
  clientId: string;
  /** Default `{issuer}/.well-known/jwks.json`. */
  jwksUri?: string;
  /** A JWKS known in advance (tests): no fetch. */
  jwks?: Jwks;
}

const httpFetcher = {
  async fetch(uri: string): Promise<ArrayBuffer> {
    const response = await globalThis.fetch(uri, { signal: AbortSignal.timeout(3000) });
    if (!response.ok) throw new FetchError(uri, `status ${response.status}`);
    return response.arrayBuffer();
  },
};

export function cognitoTokenVerifier(options: CognitoVerifierOptions): TokenVerifier {
  const issuer = options.issuer.replace(/\/$/, '');
  const jwksUri = options.jwksUri ?? `${issuer}/.well-known/jwks.json`;
  const verifier = JwtVerifier.create(
    {
      issuer,
      jwksUri,
      audience: null, // access tokens carry no aud; client_id is checked below, as Cognito's own verifier does
      customJwtCheck: ({ payload }) => {
        if (payload.token_use !== 'access') throw new UnauthorizedError('the token is not an access token');
        if (payload.client_id !== options.clientId) throw new UnauthorizedError('the token was issued to another client');
      },
    },
    { jwksCache: new SimpleJwksCache({ fetcher: httpFetcher }) },
  );
  if (options.jwks) verifier.cacheJwks(options.jwks);
  return {
    async verify(token) {
      if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) throw new UnauthorizedError('the bearer token is not a JWT');
      let payload: Record<string, unknown>;
      try {
        payload = (await verifier.verify(token)) as Record<string, unknown>;
      } catch (error) {
        if (error instanceof UnauthorizedError) throw error;
        if (error instanceof FetchError) throw new TransientError(`the user pool's signing keys could not be fetched`, { cause: error });
        if (error instanceof JwtBaseError) throw new UnauthorizedError(`the token was refused: ${error.message}`, { cause: error });
        throw error;
      }
      const username = payload.username ?? payload['cognito:username'];
      if (typeof username !== 'string' || typeof payload.sub !== 'string') throw new UnauthorizedError('the token names no user');
      const groups = Array.isArray(payload['cognito:groups']) ? payload['cognito:groups'].filter((g): g is string => typeof g === 'string') : [];
      return { username, groups, subject: payload.sub };
    },
  };
}
