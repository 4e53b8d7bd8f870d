// The console's two remote parties: Cognito (sign-in) and the console API (everything else).
// The access token lives in this tab's sessionStorage only (gone when the tab closes, never in a
// cookie, never sent anywhere but the console API); the page never holds AWS credentials: play,
// download and bundle links are minted by the API after its site check. Both parties are other
// origins when deployed (CloudFront serves the page; API Gateway and Cognito answer CORS).

const TOKEN_KEY = 'ferry-console-token';

/** An API or Cognito refusal: `status` (HTTP), `name` (the error name), and the party's own message. */
export class ApiError extends Error {
  constructor(status, name, message, issues) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.errorName = name;
    this.issues = issues ?? [];
  }
}

/** Thrown when the token is missing, expired or refused (401): the page goes back to sign-in. */
export class SignedOutError extends Error {
  constructor(message) {
    super(message);
    this.name = 'SignedOutError';
  }
}

/** config.json beside the page: `{ region, apiUrl, userPoolId, clientId, issuer, cognitoEndpoint? }`. */
export async function loadConfig() {
  const response = await fetch('config.json', { cache: 'no-cache' });
  if (!response.ok) throw new Error(`The console's configuration (config.json) could not be read (HTTP ${response.status}).`);
  const config = await response.json();
  for (const field of ['apiUrl', 'clientId', 'region']) {
    if (typeof config[field] !== 'string' || !config[field]) throw new Error(`The console's configuration (config.json) has no ${field}.`);
  }
  return {
    ...config,
    apiUrl: config.apiUrl.endsWith('/') ? config.apiUrl : `${config.apiUrl}/`,
    cognitoEndpoint: config.cognitoEndpoint ?? `https://cognito-idp.${config.region}.amazonaws.com/`,
  };
}

// ---- Cognito (AWS JSON 1.1, the protocol the SDK speaks) ----

async function cognito(config, operation, body) {
  let response;
  try {
    response = await fetch(config.cognitoEndpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `AWSCognitoIdentityProviderService.${operation}` },
      body: JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'NetworkError', 'The sign-in service could not be reached. Check the connection and try again.');
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const name = String(answer.__type ?? 'Error').split('#').pop();
    throw new ApiError(response.status, name, answer.message ?? answer.Message ?? response.statusText);
  }
  return answer;
}

/** What a sign-in step gives: a session (signed in) or a challenge to answer. */
function outcome(answer, username) {
  if (answer.AuthenticationResult?.AccessToken) {
    const { AccessToken, ExpiresIn } = answer.AuthenticationResult;
    return { signedIn: storeToken(AccessToken, ExpiresIn, username) };
  }
  if (answer.ChallengeName === 'NEW_PASSWORD_REQUIRED') return { challenge: { name: answer.ChallengeName, session: answer.Session, username } };
  throw new ApiError(400, 'UnsupportedChallenge', `The sign-in asks for ${answer.ChallengeName ?? 'a step'} this console cannot do yet; ask your administrator.`);
}

/** InitiateAuth with USER_PASSWORD_AUTH. Wrong credentials: an ApiError saying so. */
export async function signIn(config, username, password) {
  try {
    const answer = await cognito(config, 'InitiateAuth', { AuthFlow: 'USER_PASSWORD_AUTH', ClientId: config.clientId, AuthParameters: { USERNAME: username, PASSWORD: password } });
    return outcome(answer, username);
  } catch (error) {
    if (error.errorName === 'NotAuthorizedException' || error.errorName === 'UserNotFoundException') {
      throw new ApiError(error.status, error.errorName, 'Wrong user name or password.');
    }
    throw error;
  }
}

/** RespondToAuthChallenge NEW_PASSWORD_REQUIRED: the officer's own password replaces the temporary one. */
export async function setNewPassword(config, challenge, password) {
  const answer = await cognito(config, 'RespondToAuthChallenge', {
    ChallengeName: 'NEW_PASSWORD_REQUIRED',
    ClientId: config.clientId,
    Session: challenge.session,
    ChallengeResponses: { USERNAME: challenge.username, NEW_PASSWORD: password },
  });
  return outcome(answer, challenge.username);
}

// ---- the token ----

function claimsOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
  } catch {
    return {};
  }
}

function storeToken(accessToken, expiresIn, username) {
  const claims = claimsOf(accessToken);
  // The token's own expiry wins; ExpiresIn is the fallback.
  const expiresAt = typeof claims.exp === 'number' ? claims.exp * 1000 : Date.now() + Number(expiresIn ?? 3600) * 1000;
  const session = { accessToken, expiresAt, username: claims.username ?? username };
  sessionStorage.setItem(TOKEN_KEY, JSON.stringify(session));
  return session;
}

/** The session kept for this tab, if it has not expired. */
export function currentSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(TOKEN_KEY) ?? 'null');
    if (session?.accessToken && session.expiresAt > Date.now()) return session;
  } catch {
    // an unreadable entry is no session
  }
  sessionStorage.removeItem(TOKEN_KEY);
  return undefined;
}

export function forgetSession() {
  sessionStorage.removeItem(TOKEN_KEY);
}

// ---- the owner of the tab's history entries, and the routes they stand for ----

const OWNER_KEY = 'ferry-console-owner';
const ROUTE_KEY = 'ferry-console-route:';

/** 16 random bytes in hex: an owner id, an entry id. */
export function randomId() {
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The random id the page stamps its history entries with, for `username`: the same after the
 * token expired and that officer signed in again (they are back where they were), a new one for
 * any other officer and after Sign out (forgetHistoryOwner), so that Back never brings another
 * sign-in's search or call back. In this tab's sessionStorage, beside the token. A new owner
 * starts with no routes: the ones kept for the officer before go (another officer signed in
 * after their session expired, with no Sign out between).
 */
export function historyOwner(username) {
  let owner;
  try {
    owner = JSON.parse(sessionStorage.getItem(OWNER_KEY) ?? 'null');
  } catch {
    // an unreadable entry is no owner
  }
  if (owner?.username === username && typeof owner.id === 'string' && owner.id) return owner.id;
  forgetRoutes();
  const id = randomId();
  sessionStorage.setItem(OWNER_KEY, JSON.stringify({ id, username }));
  return id;
}

/** Sign out: the owner id and every route it kept. */
export function forgetHistoryOwner() {
  sessionStorage.removeItem(OWNER_KEY);
  forgetRoutes();
}

/**
 * Keeps the route (site, view and every filter, the agent, number and call id among them) of the
 * history entry `id` of `owner`. Chromium writes each entry's state into the profile's
 * session-restore file, which stays on the workstation's disk after Sign out and after the browser
 * is closed: the entry holds only its id, the route is here, where Sign out removes it. A route
 * that cannot be kept (storage full or refused) is a Back that shows the empty form, not an error.
 */
export function keepRoute(id, owner, route) {
  try {
    sessionStorage.setItem(`${ROUTE_KEY}${id}`, JSON.stringify({ owner, route }));
  } catch {
    // not kept: that entry comes back as the empty search form
  }
}

/** The route kept for entry `id` of `owner`; undefined when there is none (Sign out, another owner's). */
export function keptRoute(id, owner) {
  try {
    const kept = JSON.parse(sessionStorage.getItem(`${ROUTE_KEY}${id}`) ?? 'null');
    if (kept?.owner === owner && kept.route && typeof kept.route === 'object') return kept.route;
  } catch {
    // an unreadable entry is no route
  }
  return undefined;
}

function forgetRoutes() {
  const keys = [];
  for (let i = 0; i < sessionStorage.length; i++) if (sessionStorage.key(i)?.startsWith(ROUTE_KEY)) keys.push(sessionStorage.key(i));
  for (const key of keys) sessionStorage.removeItem(key);
}

// ---- the console API ----

/**
 * How long a request may go unanswered (seconds): API Gateway ends a request at 30 s, so one
 * still open after that is a connection that hangs, not a slow answer. `?apiTimeout=N` sets it.
 */
const apiTimeoutMs = () => Math.max(1, Number(new URLSearchParams(location.search).get('apiTimeout')) || 35) * 1000;

/** The fetch, within the time limit; a network failure or a hang as an ApiError that says which. */
async function send(url, init) {
  const timeout = apiTimeoutMs();
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(timeout) });
  } catch (error) {
    if (error?.name === 'TimeoutError') throw new ApiError(0, 'Timeout', `The console API did not answer within ${timeout / 1000} s. Try again; if it keeps happening, tell your administrator.`);
    throw new ApiError(0, 'NetworkError', 'The console API could not be reached. Check the connection and try again.');
  }
}

/** `GET|POST {apiUrl}console/{path}`; JSON in and out. 401 → SignedOutError; other refusals → ApiError. */
export async function api(config, path, { method = 'GET', query, body, accept = 'application/json' } = {}) {
  const session = currentSession();
  if (!session) throw new SignedOutError('Your session has ended. Sign in again.');
  const url = new URL(`console/${path}`, config.apiUrl);
  for (const [name, value] of Object.entries(query ?? {})) if (value !== undefined && value !== '') url.searchParams.set(name, String(value));
  const headers = { Accept: accept, Authorization: `Bearer ${session.accessToken}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await send(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (accept !== 'application/json' && response.ok) return response;
  const answer = await response.json().catch(() => undefined);
  if (response.status === 401) {
    forgetSession();
    throw new SignedOutError(`Your session has ended (${answer?.message ?? 'the token was refused'}). Sign in again.`);
  }
  if (!response.ok) {
    const message = typeof answer?.message === 'string' ? answer.message : response.statusText || 'request failed';
    throw new ApiError(response.status, answer?.error ?? 'Error', message, answer?.issues);
  }
  return answer;
}

/** The words a refusal is shown with: what was refused, the status, and the API's own message. */
export function refusalText(what, error) {
  if (!(error instanceof ApiError)) return `${what} failed: ${error.message}`;
  if (error.status === 0) return error.message;
  const kind = error.status === 403 ? 'was refused' : error.status === 404 ? 'found nothing' : error.status === 410 ? 'is no longer possible' : error.status === 501 ? 'is not available here' : error.status >= 500 ? 'failed' : 'was refused';
  return `${what} ${kind} (HTTP ${error.status}): ${error.message}`;
}
