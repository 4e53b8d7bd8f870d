import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { INGEST_WRITES, leadingKeyPatterns } from '../core/catalogue-table.ts';
import { AUDIT_LEDGER_KEY_PREFIX, AUDIT_SEAL_KEY_PREFIX } from '../core/audit-ledger.ts';
import { EXPORT_MAX_EVENT_AGE_SECONDS } from '../core/export-deadline.ts';
import { classPrefix, DATA_CLASSES } from '../core/layout.ts';
import type { FerryFunctionsProps, FunctionName } from './functions.ts';
import { acknowledgeWildcardResource } from './nag.ts';
import { bucketArn, mayListBucket, objectsArn, viaService } from './names.ts';
import { CASES_PREFIX, HOLDS_PREFIX } from '../core/hold-mirror.ts';

/**
 * Erasure requests read by BatchGetItem, those items only: a search page of a site with many
 * requests looks up its own calls' (core/erasures.ts erasureGate), and a page of the erasure
 * list reads its own requests whole (core/erasure-pages.ts).
 */
const ERASURE_KEYS = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeyPatterns(['erasure']) } };
import { ERASURES_PREFIX } from '../core/erasure-items.ts';

// What each function's role may do: exactly the calls its handler makes, on the keys and items
// it needs (infra/functions.ts builds the functions; this grants their policies). Every wildcard
// resource says why (cdk-nag). The local cloud enforces the synthesized statements on every call
// the functions make (infra/policy-eval.ts), and test/infra checks them in the template.

/** The functions that write audit events (search, listen, download, recall) to the durable trail. */
export const AUDIT_CHAIN_WRITERS: ReadonlySet<FunctionName> = new Set<FunctionName>(['catalogue', 'artefacts', 'replay', 'console', 'holds', 'export']);

export interface GrantTargets extends FerryFunctionsProps {
  fns: Record<FunctionName, NodejsFunction>;
  roles: Record<FunctionName, iam.Role>;
  /** The export function's timeout: the console and the export compute their deadlines from it. */
  exportTimeout: Duration;
}

/** Adds every function's statements to its role (and the export's failure destination). */
export function grantFunctionPolicies(t: GrantTargets): void {
  const g = new Grants(t);
  g.grantIngest();
  g.grantCatalogue();
  g.grantArtefacts();
  g.grantReplay();
  g.grantFleet();
  g.grantConsole();
  g.grantHolds();
  g.grantExport();
  for (const name of AUDIT_CHAIN_WRITERS) g.grantAuditTrail(t.fns[name]);
}

class Grants {
  private readonly fns: Record<FunctionName, NodejsFunction>;

  constructor(private readonly t: GrantTargets) {
    this.fns = t.fns;
  }

  private allow(fn: NodejsFunction, sid: string, actions: string[], resources: string[], conditions?: Record<string, Record<string, unknown>>): void {
    fn.addToRolePolicy(new iam.PolicyStatement({ sid, actions, resources, conditions }));
    if (actions.includes('s3:GetObject')) mayListBucket(fn, this.t.bucketName);
  }

  private decryptViaS3(fn: NodejsFunction): void {
    this.allow(fn, 'DecryptObjects', ['kms:Decrypt'], [this.t.dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('s3') } });
  }

  private tableKey(fn: NodejsFunction, write: boolean): void {
    const actions = write ? ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'] : ['kms:Decrypt', 'kms:DescribeKey'];
    this.allow(fn, 'TableKey', actions, [this.t.dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('dynamodb') } });
  }

  /**
   * Reads manifests and HEADs the object each one names (a pack, or a backup, log segment or
   * archive: HEAD is authorised as s3:GetObject), then writes catalogue entries.
   */
  grantIngest(): void {
    const { bucketName, table } = this.t;
    const readable = DATA_CLASSES.map((dataClass) => objectsArn(bucketName, classPrefix(dataClass)));
    this.allow(this.fns.ingest, 'ReadManifestsHeadObjects', ['s3:GetObject'], readable);
    this.decryptViaS3(this.fns.ingest);
    // The items a manifest makes, and no others: never a hold, a case, the audit ledger or a run.
    const catalogued = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeyPatterns(INGEST_WRITES) } };
    this.allow(this.fns.ingest, 'WriteCatalogue', ['dynamodb:BatchWriteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:GetItem', 'dynamodb:BatchGetItem'], [table.tableArn], catalogued);
    this.tableKey(this.fns.ingest, true);
    for (const dataClass of DATA_CLASSES) {
      const why =
        dataClass === 'manifests'
          ? 'ingest reads any manifest of any site: it is the one writer of the catalogue for all sites'
          : `ingest HEADs the ${dataClass} object a manifest names (any site) to check its size before cataloguing; HEAD needs s3:GetObject`;
      acknowledgeWildcardResource(this.t.roles.ingest, objectsArn(bucketName, classPrefix(dataClass)), why);
    }
  }

  grantCatalogue(): void {
    const { table, indexArns } = this.t;
    this.allow(this.fns.catalogue, 'ReadCatalogue', ['dynamodb:GetItem', 'dynamodb:Query'], [table.tableArn, ...indexArns]);
    this.allow(this.fns.catalogue, 'ErasedAmong', ['dynamodb:BatchGetItem'], [table.tableArn], ERASURE_KEYS);
    this.tableKey(this.fns.catalogue, false);
  }

  /**
   * The catalogue's reads (its search and get code runs in the console) and the holds
   * function's grants (so does its code, for officers); replay links: infra/console.ts.
   */
  grantConsole(): void {
    const { table, indexArns } = this.t;
    this.allow(this.fns.console, 'ReadCatalogue', ['dynamodb:GetItem', 'dynamodb:Query'], [table.tableArn, ...indexArns]);
    this.allow(this.fns.console, 'ErasedAmong', ['dynamodb:BatchGetItem'], [table.tableArn], ERASURE_KEYS);
    this.grantHoldRecords(this.fns.console, this.t.roles.console, 'the console function checks the officer\'s Cognito groups against the site first, and every hold is audited');
  }

  /** Lists artefacts and plans restores from the catalogue's main table (no index); lists manifests only to tell an uncatalogued source from an unknown one. */
  grantArtefacts(): void {
    this.allow(this.fns.artefacts, 'ReadCatalogue', ['dynamodb:GetItem', 'dynamodb:Query'], [this.t.table.tableArn]);
    this.allow(this.fns.artefacts, 'ListManifests', ['s3:ListBucket'], [bucketArn(this.t.bucketName)], { StringLike: { 's3:prefix': [`${classPrefix('manifests')}*`] } });
    this.tableKey(this.fns.artefacts, false);
  }

  /**
   * Legal holds: its own items (HOLD#, CASE#) read and written, recording entries read, the
   * manifests read (which calls share a pack, before a release turns the legal hold off), and
   * S3 Object Lock legal hold set on packs and manifests. No delete, no retention, no bypass.
   */
  grantHolds(): void {
    this.grantHoldRecords(this.fns.holds, this.t.roles.holds, 'the API takes SigV4 (IAM) callers only and every hold is audited');
    // A page of the erasure list reads its requests whole, a hundred a BatchGetItem (core/erasure-pages.ts); the console has this as ErasedAmong.
    this.allow(this.fns.holds, 'ErasurePages', ['dynamodb:BatchGetItem'], [this.t.table.tableArn], ERASURE_KEYS);
    // A case read gives each member's tier (core/case-members.ts), from its pack record and the pack's recall record: read only.
    this.allow(this.fns.holds, 'MemberTiers', ['dynamodb:GetItem'], [this.t.table.tableArn], { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeyPatterns(['pack', 'recall']) } });
  }

  /**
   * What placing and releasing holds and managing cases needs: the holds function's, and the
   * console's, which runs the same code in process for a signed-in officer of the site.
   */
  grantHoldRecords(fn: NodejsFunction, role: iam.Role, callers: string): void {
    const { bucketName, table } = this.t;
    // Erasure requests (ERASE#) are written by the same functions, for the same callers: whoever may hold a site's calls may ask for one to be erased.
    const own = leadingKeyPatterns(['hold', 'case', 'erasure']);
    this.allow(fn, 'HoldItems', ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'], [table.tableArn], { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': own } });
    // BatchGetItem: a case's members read 100 at a time (placing its hold, showing it), not one GetItem each.
    this.allow(fn, 'ReadRecordings', ['dynamodb:GetItem', 'dynamodb:BatchGetItem'], [table.tableArn], { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeyPatterns(['recording']) } });
    this.tableKey(fn, true);
    const manifests = objectsArn(bucketName, classPrefix('manifests'));
    const packs = objectsArn(bucketName, classPrefix('recordings'));
    this.allow(fn, 'ReadManifests', ['s3:GetObject'], [manifests]);
    this.decryptViaS3(fn);
    this.allow(fn, 'LegalHold', ['s3:PutObjectLegalHold'], [packs, manifests]);
    // Every hold and case record is written to the bucket too (write-once; core/hold-mirror.ts):
    // what `ferry catalogue rebuild` puts back when the table is lost.
    const mirror = [objectsArn(bucketName, HOLDS_PREFIX), objectsArn(bucketName, CASES_PREFIX), objectsArn(bucketName, ERASURES_PREFIX)];
    this.allow(fn, 'HoldRecordsInBucket', ['s3:PutObject'], mirror);
    this.allow(fn, 'HoldRecordsKey', ['kms:GenerateDataKey'], [this.t.dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('s3') } });
    for (const arn of mirror) acknowledgeWildcardResource(role, arn, `the hold, case and erasure records of any site the caller may reach are kept in the bucket as well as the table; ${callers}`);
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'NeverDeleteOrBypass', effect: iam.Effect.DENY, actions: ['s3:Delete*', 's3:BypassGovernanceRetention', 's3:PutObjectRetention'], resources: ['*'] }));
    acknowledgeWildcardResource(role, manifests, 'a release reads the manifest of each released call to learn which calls share its pack (the legal hold stays while one is held)');
    acknowledgeWildcardResource(role, packs, `legal hold is set on the pack of any held call of the sites the caller may reach; ${callers}`);
  }

  /**
   * Case exports: the console starts the export function (asynchronous Invoke) after writing a
   * `running` status record (EXPORT# items), and presigns the finished bundle's download with
   * its own role (GetObject on exports/, nothing else). The export function reads the calls'
   * catalogue entries and case records and their packs, writes the bundle under exports/ by
   * multipart upload (PutObject, AbortMultipartUpload), and ends the status record; a failed
   * invocation's record goes to export-failed, which may read and end status records only.
   */
  grantExport(): void {
    const { bucketName, table } = this.t;
    const exportsArn = objectsArn(bucketName, 'exports/');
    const statusKeys = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeyPatterns(['export']) } };
    this.fns.console.addEnvironment('EXPORT_FUNCTION_NAME', this.fns.export.functionName);
    // One value for the function's timeout and the deadlines both sides compute (core/export-deadline.ts).
    const timeout = String(this.t.exportTimeout.toSeconds());
    this.fns.console.addEnvironment('EXPORT_TIMEOUT_SECONDS', timeout);
    const keepDays = String(this.t.config.lifecycle.exportsExpireDays);
    this.fns.console.addEnvironment('EXPORT_KEEP_DAYS', keepDays);
    this.fns.export.addEnvironment('EXPORT_TIMEOUT_SECONDS', timeout);
    this.fns.export.addEnvironment('EXPORT_KEEP_DAYS', keepDays);
    // No retry: a retried export could race its first attempt for the same bundle (the job is
    // claimed once, so a retry would only find it taken). A failed invocation (an error, a
    // timeout, the runtime's exit or out of memory, an event older than the deadline allows for)
    // goes to the export-failed function, which marks the record failed at once; the deadline
    // stays for what Lambda never reports. A function cannot be its own destination.
    this.fns.export.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.seconds(EXPORT_MAX_EVENT_AGE_SECONDS), onFailure: this.failureDestination(this.fns.export, this.fns['export-failed']) });
    this.allow(this.fns['export-failed'], 'EndExportStatus', ['dynamodb:GetItem', 'dynamodb:PutItem'], [table.tableArn], statusKeys);
    this.tableKey(this.fns['export-failed'], true);
    this.allow(this.fns.console, 'StartExport', ['lambda:InvokeFunction'], [this.fns.export.functionArn]);
    this.allow(this.fns.console, 'ExportStatus', ['dynamodb:GetItem', 'dynamodb:PutItem'], [table.tableArn], statusKeys);
    this.allow(this.fns.console, 'ReadBundles', ['s3:GetObject'], [exportsArn]);
    acknowledgeWildcardResource(this.t.roles.console, exportsArn, 'the console presigns the download of a finished bundle of a site the officer may see (after its Cognito group check); exports/ holds bundles only');

    const packs = objectsArn(bucketName, classPrefix('recordings'));
    this.allow(this.fns.export, 'ExportStatus', ['dynamodb:GetItem', 'dynamodb:PutItem'], [table.tableArn], statusKeys);
    // Each call's erasure request is read beside its entry: an erased call is never exported (core/erasures.ts).
    this.allow(this.fns.export, 'ReadRecordings', ['dynamodb:GetItem'], [table.tableArn], { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeyPatterns(['recording', 'erasure']) } });
    this.tableKey(this.fns.export, true);
    this.allow(this.fns.export, 'ReadPacks', ['s3:GetObject'], [packs]);
    // PutObjectRetention: the bundle's retention ends when the exports/ lifecycle rule expires it
    // (GOVERNANCE, never the bucket's default, which would keep personal data past its days).
    this.allow(this.fns.export, 'WriteBundles', ['s3:PutObject', 's3:PutObjectRetention', 's3:AbortMultipartUpload'], [exportsArn]);
    this.allow(this.fns.export, 'ObjectsKey', ['kms:Decrypt', 'kms:GenerateDataKey'], [this.t.dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('s3') } });
    acknowledgeWildcardResource(this.t.roles.export, packs, 'an export reads the byte range of each exported call from its pack, for any site an officer may export (checked by the console before it starts the export)');
    acknowledgeWildcardResource(this.t.roles.export, exportsArn, 'the export writes the bundle it was started for under exports/{site}/ by multipart upload; exports/ holds bundles only');
  }

  /** `target` as `source`'s on-failure destination, invoked with `source`'s role: InvokeFunction on it unqualified (CDK's LambdaDestination adds `…:*`). */
  private failureDestination(source: NodejsFunction, target: NodejsFunction): lambda.IDestination {
    return {
      bind: () => {
        this.allow(source, 'InvokeFailureDestination', ['lambda:InvokeFunction'], [target.functionArn]);
        return { destination: target.functionArn };
      },
    };
  }

  /** One catalogue lookup and a ranged GET of the pack; no manifests, no other data class. */
  grantReplay(): void {
    const { bucketName, table } = this.t;
    const packs = objectsArn(bucketName, classPrefix('recordings'));
    // BatchGetItem: concurrent plays' lookups in one request (core/replay.ts coalescedLookups).
    this.allow(this.fns.replay, 'ReadCatalogueEntry', ['dynamodb:GetItem', 'dynamodb:BatchGetItem'], [table.tableArn]);
    this.tableKey(this.fns.replay, false);
    this.allow(this.fns.replay, 'ReadPacks', ['s3:GetObject'], [packs]);
    this.decryptViaS3(this.fns.replay);
    acknowledgeWildcardResource(this.t.roles.replay, packs, 'replay streams a byte range of any site pack for compliance officers; the URL takes SigV4 (IAM) callers only and every listen is audited');
  }

  /** Every site's newest heartbeat (heartbeats/, and heartbeats-daily/ once those expired; nothing else of the bucket), newest window and purge run (a Query) and the dead-man's switch's purge watch (a GetItem); no write. */
  grantFleet(): void {
    const { bucketName, table } = this.t;
    const heartbeats = objectsArn(bucketName, classPrefix('heartbeats'));
    const daily = objectsArn(bucketName, classPrefix('heartbeats-daily'));
    this.allow(this.fns.fleet, 'ReadHeartbeats', ['s3:GetObject'], [heartbeats, daily]);
    this.allow(this.fns.fleet, 'ListHeartbeats', ['s3:ListBucket'], [bucketArn(bucketName)], { StringLike: { 's3:prefix': [`${classPrefix('heartbeats')}*`, `${classPrefix('heartbeats-daily')}*`] } });
    this.decryptViaS3(this.fns.fleet);
    this.allow(this.fns.fleet, 'ReadRuns', ['dynamodb:Query'], [table.tableArn]);
    // Whether the dead-man's switch holds a site's purge missed: its own memory (DEADMAN#{site}, sk=purge), read, never written.
    this.allow(this.fns.fleet, 'ReadSwitchState', ['dynamodb:GetItem'], [table.tableArn], { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeyPatterns(['deadman']) } });
    this.tableKey(this.fns.fleet, false);
    acknowledgeWildcardResource(this.t.roles.fleet, heartbeats, 'the fleet status reads the newest heartbeat of every site of the deployment (heartbeats/{site}/…); heartbeats hold no call data');
    acknowledgeWildcardResource(this.t.roles.fleet, daily, "the fleet status reads a silent site's newest daily heartbeat once its recent ones expired (heartbeats-daily/{site}/…); heartbeats hold no call data");
  }

  /**
   * The audit trail (core/audit-trail.ts): the ledger (`AUDIT#{site}`: records by a conditional
   * PutItem, the newest by a Query; `AUDITSEAL#{site}`: the sealed mark) and the sealed records
   * under `audit/` (PutObject with If-None-Match, as the bucket policy demands; Object Lock keeps
   * them). No DeleteItem: a function cannot remove a record from the ledger before it is sealed.
   */
  grantAuditTrail(fn: NodejsFunction): void {
    grantAuditChain(fn, this.t, fn === this.fns.catalogue || fn === this.fns.console);
  }
}

/**
 * What appending to the durable audit trail takes: the ledger's items (conditional PutItem, the
 * head read), the write-once seal objects under `audit/`, and the data key through both. The
 * audit view (`reader`) reads the records too. Also granted to the purge, which records every
 * deletion there.
 */
export function grantAuditChain(fn: NodejsFunction, t: Pick<FerryFunctionsProps, 'bucketName' | 'table' | 'dataKey'>, reader = false): void {
  const allow = (sid: string, actions: string[], resources: string[], conditions?: Record<string, Record<string, unknown>>) => fn.addToRolePolicy(new iam.PolicyStatement({ sid, actions, resources, conditions }));
  const ledger = [`${AUDIT_LEDGER_KEY_PREFIX}*`, `${AUDIT_SEAL_KEY_PREFIX}*`];
  allow('AuditChainLedger', ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'], [t.table.tableArn], { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ledger } });
  allow('AuditChainHeadKey', ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'], [t.dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('dynamodb') } });
  const records = objectsArn(t.bucketName, 'audit/');
  allow('AppendAuditRecords', ['s3:PutObject'], [records]);
  allow('AuditRecordsKey', ['kms:GenerateDataKey', 'kms:Decrypt'], [t.dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('s3') } });
  // The catalogue (IAM route) and the console serve the audit view: they read records too (GET …/audit).
  if (reader) {
    allow('ReadAuditRecords', ['s3:GetObject'], [records]);
    mayListBucket(fn, t.bucketName);
    // The purge's open intents (PURGEINTENT# items, core/purge-intents.ts): the view marks a deletion begun whose outcome is not recorded yet.
    allow('ReadPurgeIntents', ['dynamodb:Query'], [t.table.tableArn], { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeyPatterns(['purgeIntent']) } });
  }
  const why = reader
    ? 'the audit view reads and audited requests append records of any site the caller may see (one object per record, write-once, under Object Lock); it cannot delete them'
    : 'audited functions append audit records of any site (one object per record, write-once, under Object Lock); they can neither read nor delete them';
  acknowledgeWildcardResource(fn.role!, records, why);
}
