import { md5Base64 } from '../adapters/s3-blob-store.ts';
import type { AgentConfig } from '../core/config.ts';
import { AlreadyExistsError, IntegrityError, NotFoundError, messageOf } from '../core/errors.ts';
import { partialKeyPatterns, sitePrefix, sitePrefixes } from '../core/layout.ts';
import type { BlobStore } from '../core/ports.ts';

// What `agent check` asks of each prefix beyond an upload begun and abandoned: that the key may
// read back what it published (s3:GetObject) and publish with the header every publication
// carries (PutObject with If-None-Match: *, the only PutObject the deployment lets the agent make
// of a whole object), and, for a binlog source, set a partial's own short lock
// (s3:PutObjectRetention). None of them writes anything:
//  - the read asks for a key that is not there: S3 answers 403 either way (the agent may list its
//    prefixes only), but a refusal by policy names the action it lacks ("not authorized to
//    perform: s3:GetObject"), where a missing key says no more than Access Denied;
//  - the PUT carries a Content-MD5 that is not its body's: S3 decides on the policy first (403
//    names s3:PutObject), then refuses the body (400 BadDigest): nothing is stored;
//  - the lock asks for an upload with the partial's lock headers, abandoned at once.
// A refusal names the permission, the prefix and the statement of the deployment's agent role to
// add back (infra/site-policies.ts writes them; test/local/agent-check-permissions.test.ts checks
// that the two agree).

/** The probe's key under a prefix: named for what it is; never stored. */
const PROBE = 'ferry-agent-check.json';

/** The action a refusal by policy names (`… not authorized to perform: s3:GetObject on resource …`), if it does. */
function refusedAction(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const action = /not authorized to perform: ([\w:]+)/.exec(messageOf(e))?.[1];
    if (action) return action;
  }
  return undefined;
}

function partition(config: AgentConfig): string {
  const region = config.cloud?.region ?? '';
  return region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws';
}

/** The statement of the deployment's agent role (infra/site-policies.ts, agentStatements) that grants `sid`, for this site and bucket. */
export function agentStatement(config: AgentConfig, sid: 'ReadBackOwnObjects' | 'PublishNewObjectsOnly' | 'ShortLockOfPartials', lock?: { days: number; mode: string }): Record<string, unknown> {
  const bucket = `arn:${partition(config)}:s3:::${config.cloud?.bucket ?? ''}`;
  const objects = sitePrefixes(config.site).map((prefix) => `${bucket}/${prefix}*`);
  if (sid === 'ReadBackOwnObjects') return { Sid: sid, Effect: 'Allow', Action: 's3:GetObject', Resource: objects };
  if (sid === 'PublishNewObjectsOnly') return { Sid: sid, Effect: 'Allow', Action: 's3:PutObject', Resource: objects, Condition: { StringEquals: { 's3:if-none-match': '*' } } };
  const partials = partialKeyPatterns(config.site).map((pattern) => `${bucket}/${pattern}`);
  const condition = { NumericLessThanEquals: { 's3:object-lock-remaining-retention-days': lock?.days ?? 0 }, StringEquals: { 's3:object-lock-mode': lock?.mode ?? 'GOVERNANCE' } };
  return { Sid: sid, Effect: 'Allow', Action: 's3:PutObjectRetention', Resource: partials, Condition: condition };
}

function lacking(config: AgentConfig, prefix: string, use: string, action: string, statement: Record<string, unknown>, error: unknown): string {
  return `these credentials may not use ${prefix} (${use}): the key lacks ${action} there. Add this statement back to site ${config.site}'s agent role (the deployment gives it; a policy edited by hand lost it), or check that this is site ${config.site}'s agent key: ${JSON.stringify(statement)}. The store said: ${messageOf(error)}`;
}

/** Whether the key may read back (GetObject) and publish (PutObject with If-None-Match) under `prefix`; the refusal named, or undefined. */
export async function readAndPublishProblem(store: BlobStore, config: AgentConfig, prefix: string, use: string): Promise<string | undefined> {
  const key = `${prefix}${PROBE}`;
  try {
    await store.get(key);
    // Read: a probe key nobody wrote (an earlier store that kept a probe is read as well).
  } catch (error) {
    const action = refusedAction(error);
    if (action === 's3:GetObject' || (!(error instanceof NotFoundError) && action)) return lacking(config, prefix, use, action, agentStatement(config, 'ReadBackOwnObjects'), error);
    if (!(error instanceof NotFoundError)) return `these credentials may not read back ${prefix} (${use}), as the agent does after each upload: ${messageOf(error)}`;
  }
  const body = new TextEncoder().encode('{}');
  try {
    // A Content-MD5 that is not the body's: the policy is asked, then the body refused; nothing is stored.
    await store.put(key, body, { md5: md5Base64('not the body'), ifNoneMatch: true, contentType: 'application/json' });
  } catch (error) {
    if (error instanceof IntegrityError || error instanceof AlreadyExistsError) return undefined;
    const action = refusedAction(error) ?? 's3:PutObject (with If-None-Match: *)';
    return lacking(config, prefix, use, action, agentStatement(config, 'PublishNewObjectsOnly'), error);
  }
  return `the store kept a write whose Content-MD5 did not match its body (${key}): it does not check what it is sent, so the agent's checks of each upload are its only defence`;
}

/**
 * Each binlog source that writes its partials with their own short lock (partialLockDays): an
 * upload begun with that lock and abandoned. A refusal is a warning: the agent then ships the
 * partials under the bucket's default lock (kept longer, costing more), losing nothing.
 */
export async function partialLockNotes(store: BlobStore, config: AgentConfig, now: Date = new Date()): Promise<string[]> {
  const notes: string[] = [];
  for (const source of config.sources) {
    if (source.type !== 'binlog' || !source.partialLockDays || !source.partialIntervalSeconds) continue;
    const mode = source.partialLockMode === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE';
    const key = `${sitePrefix('logs', config.site)}${source.name}/partial/${PROBE}`;
    try {
      const uploadId = await store.createMultipart(key, { contentType: 'application/json', lockMode: mode, retainUntil: new Date(now.getTime() + source.partialLockDays * 86_400_000 - 60_000) });
      await store.abortMultipart(key, uploadId);
    } catch (error) {
      const action = refusedAction(error) ?? 's3:PutObjectRetention';
      const statement = agentStatement(config, 'ShortLockOfPartials', { days: source.partialLockDays, mode });
      notes.push(`warning: source ${source.name}: these credentials may not give a binlog partial its own ${source.partialLockDays}-day ${mode} lock (the key lacks ${action}): the agent ships each partial under the bucket's default lock instead (kept longer, costing more). Deploy with binlogs.partialLockDays ≥ ${source.partialLockDays} in ${mode} mode, which gives site ${config.site}'s agent role this statement: ${JSON.stringify(statement)}, or set partialLockDays: 0 on the source. The store said: ${messageOf(error)}`);
    }
  }
  return notes;
}
