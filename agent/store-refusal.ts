import { credentialsSourceOf, deniedByS3, storeFault } from '../adapters/s3-errors.ts';
import { messageOf } from '../core/errors.ts';

// The store's refusal of the agent's key, as the operator reads it in an alert, `agent status`
// and the heartbeat: what was refused, what the key lacks, and what to check, before S3's own
// words (kept after it, in brackets). A site given another site's key, a DR site's read-only key,
// a revoked or rotated one otherwise read as a wall of IAM text in every batch's alert
// ("AccessDenied: User: arn:… is not authorized to perform: s3:ListBucket on resource: …").
// S3's words follow the explanation ("The store said: …"), so the message ends as S3's does.

/** What S3 names in its refusal (`… is not authorized to perform: ACTION on resource: "ARN"`); empty when it names nothing (a HEAD's bare 403). */
function iamWords(message: string): { action?: string; principal?: string } {
  const m = /User: (\S+) is not authorized to perform: (\S+) on resource/.exec(message);
  return m ? { principal: m[1], action: m[2] } : {};
}

/** The operation and key the adapter put first in its error (`S3 put backups/…: …`). */
function operationOf(message: string): { operation: string; key: string } | undefined {
  const m = /^S3 (\S+) (\S+?): /.exec(message);
  return m ? { operation: m[1]!, key: m[2]! } : undefined;
}

/**
 * One sentence for the store's refusal of this agent's key, or undefined when `error` is no such
 * refusal. `site` is the configured site, whose agent key `cloud.credentials` should be.
 */
export function storeRefusal(error: unknown, site: string): string | undefined {
  const said = messageOf(error);
  const where = operationOf(said);
  const fault = storeFault(error);
  // The configuration's keys, or where the AWS SDK found them (a profile, the environment): what the operator edits.
  const source = credentialsSourceOf(error);
  const rereads = 'the agent reads it again at its next run';
  if (fault === 'unknown-key') return `the store knows no such access key: it was revoked or rotated, or is mistyped. Give ${source ?? 'cloud.credentials'} site ${site}'s current agent key (${rereads}).`;
  if (fault === 'wrong-secret') return `the store refused the key's signature: ${source ? `the secret in ${source}` : 'cloud.credentials.secretAccessKey'} is not this access key's secret (a key rotated, a secret mistyped; ${rereads}).`;
  const expired = sessionRefusal(error, source);
  if (expired) return expired;
  if (!deniedByS3(error)) return undefined;
  const { action, principal } = iamWords(said);
  // S3 also answers AccessDenied for a locked version or a missing key; only a refusal by policy (named, or a bare 403) is the key's.
  if (!action && /object lock/i.test(said)) return undefined;
  const object = where ? `${where.key} (${where.operation})` : 'the store';
  const lacks = action ? `the site's key lacks ${action} there${principal ? ` (it signs as ${principal})` : ''}` : `the site's key may not do this there`;
  return `access denied to ${object}: ${lacks}. Check that cloud.credentials is site ${site}'s own agent key (not another site's, not a DR site's read-only one) and cloud.bucket the deployment's bucket: \`ferry agent check\` tests both.`;
}

const SESSION_REFUSALS = new Set(['ExpiredToken', 'ExpiredTokenException', 'TokenRefreshRequired', 'InvalidToken', 'InvalidClientTokenId', 'RequestTimeTooSkewed']);

/** Which of SESSION_REFUSALS S3, STS or the SDK named (the error's, or a cause's); '' for none. */
function refusalName(error: unknown): string {
  for (let e = error as { name?: string; Code?: string; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    const name = e.name ?? e.Code ?? '';
    if (SESSION_REFUSALS.has(name)) return name;
  }
  return '';
}

/**
 * Temporary credentials the store no longer takes (ExpiredToken: a session past its end;
 * InvalidToken: a session token mistyped or of another partition), or a key STS refused when the
 * SDK asked for a new session (InvalidClientTokenId: the source profile's key deleted in a rotation).
 */
export function sessionRefusal(error: unknown, source = credentialsSourceOf(error)): string | undefined {
  const name = refusalName(error);
  const where = source ?? 'the credentials the agent takes';
  if (name === 'ExpiredToken' || name === 'ExpiredTokenException' || name === 'TokenRefreshRequired') {
    return `the agent's temporary credentials expired (${name}): a session copied into ${where} (AWS_SESSION_TOKEN, aws_session_token) is not renewed. Give the agent a profile that renews its session (role_arn with source_profile, or credential_process: docs/deploy.md, section 5); the next run takes new credentials.`;
  }
  // The SDK corrects a skew from the answers' Date (the clock-skew warning says by how much); one still refused got no such date.
  if (name === 'RequestTimeTooSkewed') return `the store refused the request's time (RequestTimeTooSkewed): this machine's clock is more than 15 minutes off the store's, and the answers gave no date to correct it by (a proxy that strips their Date header?). Set the clock right (NTP: timedatectl, chronyc tracking).`;
  if (name === 'InvalidToken') return `the store refused the session token of ${where} (InvalidToken: mistyped, cut short, or of another AWS partition): give the agent a profile that renews its session, or a whole token.`;
  if (name === 'InvalidClientTokenId') return `AWS knows no such access key for the profile the agent assumes its role with (InvalidClientTokenId: the source profile's key was deleted or deactivated, as in a rotation). Put the user's current key in ${where}; the agent takes a new session at its next run.`;
  return undefined;
}

/** An error of shipping as the operator reads it: the refusal first when the store refused the key, S3's words after it. */
export function shippingError(error: unknown, site: string): string {
  const refusal = storeRefusal(error, site);
  return refusal === undefined ? messageOf(error) : `${refusal} The store said: ${messageOf(error)}`;
}

/** S3's 403 AccessDenied, as the SDK throws it or wrapped as a cause. */
export function accessDenied(error: unknown): boolean {
  for (let e = error as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number }; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.name === 'AccessDenied' || e.Code === 'AccessDenied' || e.$metadata?.httpStatusCode === 403) return true;
  }
  return false;
}
