import * as iam from 'aws-cdk-lib/aws-iam';
import { AUDIT_LEDGER_KEY_PREFIX } from '../core/audit-ledger.ts';
import { auditPrefix } from '../core/audit-trail.ts';
import { partialKeyPatterns, sitePrefixes } from '../core/layout.ts';
import { bucketArn, objectsArn, viaService } from './names.ts';

// What one site's credentials may do, as policy statements. Built from core/layout.ts's
// prefixes, so the prefixes the agent writes and the ones IAM allows are the same list.
//
// The agent role may only ADD objects under its own site's prefixes:
//  - no delete of any kind (not granted, and denied explicitly below in case a broader policy
//    is ever attached to the role);
//  - no overwrite of a published object: every object-creating request (PutObject,
//    CompleteMultipartUpload, CopyObject) must carry `If-None-Match: *`, which S3 fails with 412
//    when the key exists. The parts of a multipart upload (CreateMultipartUpload, UploadPart)
//    cannot carry the header; S3 marks them `s3:ObjectCreationOperation = false` and they create
//    nothing visible until the Complete, which again needs the header. Even if a write got
//    through, the bucket is versioned with Object Lock: the old version stays, locked until its
//    retention date, and only the purge (in the cloud) deletes versions;
//  - no read of other sites, no DynamoDB, no other activity.
//
// Not granted on purpose: s3:ListBucketMultipartUploads. IAM has no prefix condition for it
// (s3:prefix applies to ListBucket only), so granting it would list other sites' in-flight keys.
// The agent never lists open uploads: it aborts the uploads its journal recorded, asks whether a
// kept one is still open with ListParts on its id (granted below, AbortOwnUploads), and the
// bucket's lifecycle aborts any orphan after a few days.

export interface SiteScope {
  site: string;
  bucketName: string;
  dataKeyArn: string;
}

/** `arn:…:s3:::bucket/recordings/site-a/*`, one per data class. */
export function siteObjectArns(scope: SiteScope): string[] {
  return sitePrefixes(scope.site).map((prefix) => objectsArn(scope.bucketName, prefix));
}

/** `recordings/site-a/*`, … for the s3:prefix condition of ListBucket. */
export function siteListPrefixes(site: string): string[] {
  return sitePrefixes(site).map((prefix) => `${prefix}*`);
}

function listOwnPrefixes(scope: SiteScope): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'ListOwnPrefixes',
    actions: ['s3:ListBucket'],
    resources: [bucketArn(scope.bucketName)],
    conditions: { StringLike: { 's3:prefix': siteListPrefixes(scope.site) } },
  });
}

/** A binlog partial's short lock (binlogs.partialLockDays) in the bucket's Object Lock mode. */
export interface PartialLock {
  days: number;
  mode: 'GOVERNANCE' | 'COMPLIANCE';
}

/**
 * The one retention the agent may set: on its own binlog partials and their manifests (written
 * new, If-None-Match), in the bucket's mode, for at most `days`. S3 evaluates
 * s3:object-lock-remaining-retention-days and s3:object-lock-mode on a PutObject or
 * CreateMultipartUpload that carries lock headers (and on PutObjectRetention, which S3 also
 * checks for such a write). So a stolen agent key can neither lock garbage for years (a storage
 * ransom) nor give any other object a short lock; an existing object's retention cannot be
 * shortened at all (S3 refuses it without the governance bypass, which the bucket denies to all).
 */
function partialLockStatements(scope: SiteScope, lock: PartialLock | undefined, wholeBucket: string[]): iam.PolicyStatement[] {
  if (!lock) return [new iam.PolicyStatement({ sid: 'DenyOwnRetention', effect: iam.Effect.DENY, actions: ['s3:PutObjectRetention'], resources: wholeBucket })];
  const partials = partialKeyPatterns(scope.site).map((pattern) => `${bucketArn(scope.bucketName)}/${pattern}`);
  const days = 's3:object-lock-remaining-retention-days';
  return [
    new iam.PolicyStatement({ sid: 'ShortLockOfPartials', actions: ['s3:PutObjectRetention'], resources: partials, conditions: { NumericLessThanEquals: { [days]: lock.days }, StringEquals: { 's3:object-lock-mode': lock.mode } } }),
    new iam.PolicyStatement({ sid: 'DenyRetentionBeyondPartials', effect: iam.Effect.DENY, actions: ['s3:PutObjectRetention'], notResources: partials }),
    new iam.PolicyStatement({ sid: 'DenyLongLockOfPartials', effect: iam.Effect.DENY, actions: ['s3:PutObject', 's3:PutObjectRetention'], resources: partials, conditions: { NumericGreaterThan: { [days]: lock.days } } }),
    new iam.PolicyStatement({ sid: 'DenyOtherLockModeOfPartials', effect: iam.Effect.DENY, actions: ['s3:PutObjectRetention'], resources: partials, conditions: { StringNotEquals: { 's3:object-lock-mode': lock.mode } } }),
  ];
}

export function agentStatements(scope: SiteScope & { activityArn: string; partialLock?: PartialLock }): iam.PolicyStatement[] {
  const objects = siteObjectArns(scope);
  const wholeBucket = [bucketArn(scope.bucketName), `${bucketArn(scope.bucketName)}/*`];
  return [
    new iam.PolicyStatement({ sid: 'PublishNewObjectsOnly', actions: ['s3:PutObject'], resources: objects, conditions: { StringEquals: { 's3:if-none-match': '*' } } }),
    new iam.PolicyStatement({ sid: 'UploadParts', actions: ['s3:PutObject'], resources: objects, conditions: { Bool: { 's3:ObjectCreationOperation': 'false' } } }),
    new iam.PolicyStatement({ sid: 'AbortOwnUploads', actions: ['s3:AbortMultipartUpload', 's3:ListMultipartUploadParts'], resources: objects }),
    new iam.PolicyStatement({ sid: 'ReadBackOwnObjects', actions: ['s3:GetObject'], resources: objects }),
    listOwnPrefixes(scope),
    new iam.PolicyStatement({
      sid: 'BucketKey',
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      resources: [scope.dataKeyArn],
      conditions: { StringEquals: { 'kms:ViaService': viaService('s3') } },
    }),
    new iam.PolicyStatement({
      sid: 'OwnActivity',
      actions: ['states:GetActivityTask', 'states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
      resources: [scope.activityArn],
    }),
    new iam.PolicyStatement({
      sid: 'DenyOverwrite',
      effect: iam.Effect.DENY,
      actions: ['s3:PutObject'],
      resources: wholeBucket,
      conditions: { Null: { 's3:if-none-match': 'true' }, Bool: { 's3:ObjectCreationOperation': 'true' } },
    }),
    new iam.PolicyStatement({
      sid: 'DenyDestruction',
      effect: iam.Effect.DENY,
      actions: ['s3:Delete*', 's3:PutObjectLegalHold', 's3:BypassGovernanceRetention', 's3:PutBucket*', 's3:PutLifecycleConfiguration', 's3:PutReplicationConfiguration', 's3:PutEncryptionConfiguration'],
      resources: wholeBucket,
    }),
    ...partialLockStatements(scope, scope.partialLock, wholeBucket),
  ];
}

/** Read-only on one site's prefixes: what a DR site needs to pull backups and replay recordings. */
export function drReaderStatements(scope: SiteScope): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({ sid: 'ReadSiteObjects', actions: ['s3:GetObject'], resources: siteObjectArns(scope) }),
    listOwnPrefixes(scope),
    new iam.PolicyStatement({
      sid: 'DecryptViaS3',
      actions: ['kms:Decrypt'],
      resources: [scope.dataKeyArn],
      conditions: { StringEquals: { 'kms:ViaService': viaService('s3') } },
    }),
  ];
}

/** What a site's roles reach of the catalogue API and the replay URL. */
export interface SiteEntryPoints {
  /** execute-api ARN of a request path of the catalogue API. */
  invokeArn(method: 'GET' | 'POST', path: string): string;
  /** ARN of the site's replay alias (its own Function URL). */
  replayArn: string;
}

/**
 * Replay through the site's own Function URL. Function URLs created since October 2025 need
 * both actions; InvokeFunction only when it comes through the URL, so no direct invoke.
 */
function replayThroughUrl(replayArn: string): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      sid: 'ReplayUrl',
      actions: ['lambda:InvokeFunctionUrl'],
      resources: [replayArn],
      conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
    }),
    new iam.PolicyStatement({
      sid: 'ReplayUrlInvoke',
      actions: ['lambda:InvokeFunction'],
      resources: [replayArn],
      conditions: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } },
    }),
  ];
}

/**
 * The routes of one site a compliance officer uses: search, one entry, recall, the file-share
 * snapshots, the audit view, legal holds and cases (`ferry hold …`, `ferry case create|show|add`;
 * every change audited as the caller); and replay.
 */
export function officerStatements(site: string, entry: SiteEntryPoints): iam.PolicyStatement[] {
  const base = `/sites/${site}/recordings`;
  return [
    new iam.PolicyStatement({
      sid: 'SiteRecordings',
      actions: ['execute-api:Invoke'],
      resources: [
        entry.invokeArn('GET', base),
        entry.invokeArn('GET', `${base}/*`),
        entry.invokeArn('POST', `${base}/*/recall`),
        entry.invokeArn('GET', `/sites/${site}/snapshots`),
        // The audit view of the site (functions/catalogue): who searched, listened, downloaded, held, exported, recalled.
        entry.invokeArn('GET', `/sites/${site}/audit`),
      ],
    }),
    new iam.PolicyStatement({
      sid: 'SiteHoldsAndCases',
      actions: ['execute-api:Invoke'],
      resources: [
        entry.invokeArn('GET', `/sites/${site}/holds`),
        entry.invokeArn('POST', `/sites/${site}/holds`),
        entry.invokeArn('POST', `/sites/${site}/holds/release`),
        entry.invokeArn('GET', `/sites/${site}/cases`),
        entry.invokeArn('GET', `/sites/${site}/cases/*`),
        entry.invokeArn('POST', `/sites/${site}/cases`),
        entry.invokeArn('POST', `/sites/${site}/cases/*/calls`),
        // A data subject's erasure request and the list of them (`ferry calls erase`, `ferry erasures list`): refused while the call is held, audited as the caller.
        entry.invokeArn('GET', `/sites/${site}/erasures`),
        entry.invokeArn('POST', `/sites/${site}/erasures`),
      ],
    }),
    ...replayThroughUrl(entry.replayArn),
  ];
}

/**
 * The routes of one site a listener uses (a quality-assurance lead scoring agents' calls, the
 * console's listener-<site> on the command line): search, one entry and its recall status, a
 * recall, and replay. Not the snapshots, the audit view, legal holds, cases or erasure requests,
 * nor the sealed audit trail and its ledger; and replay refuses the role a download
 * (functions/replay: LISTENER_ROLE_NAMES).
 */
export function listenerStatements(site: string, entry: SiteEntryPoints): iam.PolicyStatement[] {
  const base = `/sites/${site}/recordings`;
  return [
    new iam.PolicyStatement({
      sid: 'SiteCalls',
      actions: ['execute-api:Invoke'],
      resources: [entry.invokeArn('GET', base), entry.invokeArn('GET', `${base}/*`), entry.invokeArn('POST', `${base}/*/recall`)],
    }),
    ...replayThroughUrl(entry.replayArn),
  ];
}

/**
 * What `ferry audit verify` and `ferry audit search` read of one site, with the officer's own
 * credentials, so a compliance officer can check the trail without the operators: the sealed
 * records (list and get under `audit/{site}/`) and the ledger of that site (cli/audit-commands.ts
 * through adapters/dynamo-audit-ledger.ts: a Query of `AUDIT#{site}` for the head and the unsealed
 * records, a GetItem of its `HEAD` item for a chain older than the ledger), through the data key.
 * Read only: no PutObject (the sealer's), no PutItem; not the sealed mark (`AUDITSEAL#{site}`),
 * which only `audit seal` reads; nothing of another site.
 */
export function officerAuditStatements(scope: SiteScope & { tableArn: string }): iam.PolicyStatement[] {
  const trail = auditPrefix(scope.site);
  return [
    new iam.PolicyStatement({ sid: 'ListOwnAuditTrail', actions: ['s3:ListBucket'], resources: [bucketArn(scope.bucketName)], conditions: { StringLike: { 's3:prefix': [`${trail}*`] } } }),
    new iam.PolicyStatement({ sid: 'ReadOwnAuditTrail', actions: ['s3:GetObject'], resources: [objectsArn(scope.bucketName, trail)] }),
    new iam.PolicyStatement({
      sid: 'ReadOwnAuditLedger',
      actions: ['dynamodb:Query', 'dynamodb:GetItem'],
      resources: [scope.tableArn],
      conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [`${AUDIT_LEDGER_KEY_PREFIX}${scope.site}`] } },
    }),
    new iam.PolicyStatement({
      sid: 'AuditTrailKey',
      actions: ['kms:Decrypt', 'kms:DescribeKey'],
      resources: [scope.dataKeyArn],
      conditions: { StringEquals: { 'kms:ViaService': [viaService('s3'), viaService('dynamodb')] } },
    }),
  ];
}

/** What a DR site needs of its primary beyond S3: list artefacts and tree snapshots, plan restores, find and replay calls. */
export function drApiStatements(site: string, entry: SiteEntryPoints): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      sid: 'RestorePlanAndCalls',
      actions: ['execute-api:Invoke'],
      resources: [
        entry.invokeArn('GET', `/sites/${site}/artefacts`),
        entry.invokeArn('GET', `/sites/${site}/snapshots`),
        entry.invokeArn('GET', `/sites/${site}/sources/*/restore-plan`),
        entry.invokeArn('GET', `/sites/${site}/recordings`),
        entry.invokeArn('GET', `/sites/${site}/recordings/*`),
      ],
    }),
    ...replayThroughUrl(entry.replayArn),
  ];
}
