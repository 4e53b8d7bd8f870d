import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { leadingKeyPatterns } from '../core/catalogue-table.ts';
import { AUDIT_LEDGER_KEY_PREFIX, AUDIT_SEAL_KEY_PREFIX } from '../core/audit-ledger.ts';
import { EXPORT_MAX_EVENT_AGE_SECONDS } from '../core/export-deadline.ts';
import { classPrefix, DATA_CLASSES } from '../core/layout.ts';
import type { DeploymentConfig } from './config.ts';
import { FUNCTION_BUNDLE, functionEntry } from './function-bundling.ts';
import { acknowledge, acknowledgeWildcardResource } from './nag.ts';
import { bucketArn, objectsArn, viaService } from './names.ts';
import { fleetSitesEnv, packTiersEnv } from './function-env.ts';

// The Lambda handlers of functions/ (ingest, catalogue, artefacts, replay, fleet), bundled by the
// local esbuild (no Docker), each with its own role holding exactly what its handler calls and
// its own KMS-encrypted, retained log group. The catalogue, artefacts and replay log groups hold
// a line per search, listen and download beside the audit ledger (functions/shared/audit.ts),
// so they keep `logs.auditRetentionDays` and survive the stack.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export type FunctionName = 'ingest' | 'catalogue' | 'artefacts' | 'replay' | 'fleet' | 'console' | 'holds' | 'export' | 'export-failed';

export { functionEntry };

/** The Lambda runtime: the same Node major as FUNCTION_NODE_MAJOR, the one the tools and tests run on (test/infra/runtime.test.ts). */
export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_22_X;

/**
 * Props every Ferry function shares: ARM64, the pinned runtime, an own role and log group, and
 * local esbuild bundling (no Docker) of an ESM handler with the SDK bundled at the tested version.
 */
export function ferryFunctionProps(entry: string, p: { description: string; timeout: Duration; memorySize: number; role: iam.IRole; logGroup: logs.ILogGroup; environment: Record<string, string> }): NodejsFunctionProps {
  return {
    entry,
    handler: 'handler',
    description: p.description,
    runtime: FUNCTION_RUNTIME,
    architecture: lambda.Architecture.ARM_64,
    timeout: p.timeout,
    memorySize: p.memorySize,
    role: p.role,
    logGroup: p.logGroup,
    environment: { ...p.environment, NODE_OPTIONS: '--enable-source-maps' },
    projectRoot: ROOT,
    depsLockFilePath: join(ROOT, 'package-lock.json'),
    // The one bundling definition (infra/function-bundling.ts), which the local cloud builds from too.
    bundling: {
      forceDockerBundling: false,
      format: OutputFormat.ESM,
      target: FUNCTION_BUNDLE.target,
      mainFields: [...FUNCTION_BUNDLE.mainFields],
      minify: FUNCTION_BUNDLE.minify,
      keepNames: FUNCTION_BUNDLE.keepNames,
      sourceMap: FUNCTION_BUNDLE.sourcemap,
      externalModules: [...FUNCTION_BUNDLE.external],
      banner: FUNCTION_BUNDLE.banner,
    },
  };
}

export interface FerryFunctionsProps {
  config: DeploymentConfig;
  bucketName: string;
  dataKey: kms.IKey;
  logsKey: kms.IKey;
  table: dynamodb.ITable;
  indexArns: string[];
  /** Where Lambda puts an ingest event that failed after its retries (S3 invokes the ingest asynchronously). */
  ingestDeadLetterQueue?: sqs.IQueue;
}

interface FunctionSpec {
  name: FunctionName;
  description: string;
  timeout: Duration;
  memorySize: number;
  audited: boolean;
}

/** The functions that write audit events (search, listen, download, recall) to the durable trail. */
const AUDIT_CHAIN_WRITERS: ReadonlySet<'catalogue' | 'artefacts' | 'replay' | 'console' | 'holds' | 'export'> = new Set(['catalogue', 'artefacts', 'replay', 'console', 'holds', 'export'] as const);

const SPECS: Record<FunctionName, FunctionSpec> = {
  ingest: { name: 'ingest', description: 'Ferry: ingest (manifest to catalogue entries)', timeout: Duration.seconds(60), memorySize: 512, audited: false },
  catalogue: { name: 'catalogue', description: 'Ferry: catalogue API (search, get)', timeout: Duration.seconds(25), memorySize: 512, audited: true },
  artefacts: { name: 'artefacts', description: 'Ferry: artefacts API (backups list, restore plan)', timeout: Duration.seconds(25), memorySize: 512, audited: true },
  // Streams one recording out of its pack; an hour of 8 kHz audio at a slow client takes a while.
  replay: { name: 'replay', description: 'Ferry: replay (byte-range stream from the pack)', timeout: Duration.minutes(5), memorySize: 512, audited: true },
  // Reads every site's newest heartbeat and window run side by side: a few round trips.
  fleet: { name: 'fleet', description: 'Ferry: fleet status API (every site at a glance)', timeout: Duration.seconds(25), memorySize: 256, audited: false },
  // The compliance console's API (Cognito JWT): search, get, recall, replay links (infra/console.ts).
  console: { name: 'console', description: 'Ferry: console API (officers signed in with Cognito)', timeout: Duration.seconds(25), memorySize: 512, audited: true },
  // A case hold sets Object Lock legal hold on every member's pack: a few hundred S3 calls.
  holds: { name: 'holds', description: 'Ferry: legal holds and cases (hold records, S3 Object Lock legal hold)', timeout: Duration.seconds(29), memorySize: 512, audited: true },
  // A console case export (up to 1000 calls) streamed into a multipart upload: Lambda's longest run.
  export: { name: 'export', description: 'Ferry: console case export (bundle streamed to exports/)', timeout: Duration.minutes(15), memorySize: 1024, audited: true },
  // The export's on-failure destination: one read and one conditional write of the export's record.
  'export-failed': { name: 'export-failed', description: 'Ferry: marks a console export failed when its invocation fails', timeout: Duration.seconds(30), memorySize: 256, audited: false },
};

export class FerryFunctions extends Construct {
  readonly ingest: NodejsFunction;
  readonly catalogue: NodejsFunction;
  readonly artefacts: NodejsFunction;
  readonly replay: NodejsFunction;
  readonly fleet: NodejsFunction;
  readonly console: NodejsFunction;
  readonly holds: NodejsFunction;
  readonly export: NodejsFunction;
  readonly exportFailed: NodejsFunction;
  readonly logGroups: Record<FunctionName, logs.LogGroup>;
  readonly roles: Record<FunctionName, iam.Role>;
  /** The HMAC key that seals the listing cursors of the catalogue and artefacts APIs. */
  readonly cursorKey: secretsmanager.Secret;

  constructor(scope: Construct, id: string, private readonly props: FerryFunctionsProps) {
    super(scope, id);
    // Generated once per deployment, never written in the template or the repository.
    this.cursorKey = new secretsmanager.Secret(this, 'CursorKey', {
      description: 'Ferry: HMAC key sealing the catalogue listing cursors to their site and search',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    const why = 'the key only seals short-lived listing cursors; replacing it ends open listings and nothing else, so it is replaced by redeploying';
    acknowledge(this.cursorKey, 'AwsSolutions-SMG4', undefined, why);
    const built = {
      ingest: this.build(SPECS.ingest),
      catalogue: this.build(SPECS.catalogue),
      artefacts: this.build(SPECS.artefacts),
      replay: this.build(SPECS.replay),
      fleet: this.build(SPECS.fleet),
      console: this.build(SPECS.console),
      holds: this.build(SPECS.holds),
      export: this.build(SPECS.export),
      'export-failed': this.build(SPECS['export-failed']),
    };
    this.ingest = built.ingest.fn;
    this.catalogue = built.catalogue.fn;
    this.artefacts = built.artefacts.fn;
    this.replay = built.replay.fn;
    this.fleet = built.fleet.fn;
    this.console = built.console.fn;
    this.holds = built.holds.fn;
    this.export = built.export.fn;
    this.exportFailed = built['export-failed'].fn;
    const names = Object.keys(built) as FunctionName[];
    this.logGroups = Object.fromEntries(names.map((n) => [n, built[n].logGroup])) as Record<FunctionName, logs.LogGroup>;
    this.roles = Object.fromEntries(names.map((n) => [n, built[n].role])) as Record<FunctionName, iam.Role>;
    this.grantIngest();
    this.grantCatalogue();
    this.grantArtefacts();
    this.grantReplay();
    this.grantFleet();
    this.grantConsole();
    this.grantHolds();
    this.grantExport();
    for (const name of AUDIT_CHAIN_WRITERS) this.grantAuditTrail(built[name].fn);
  }

  private build(spec: FunctionSpec): { fn: NodejsFunction; logGroup: logs.LogGroup; role: iam.Role } {
    const { config, logsKey, bucketName, table } = this.props;
    const id = spec.name.split('-').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: spec.audited ? config.logs.auditRetentionDays : config.logs.functionRetentionDays,
      encryptionKey: logsKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${spec.description}: execution role`,
    });
    // Only its own log group (no AWSLambdaBasicExecutionRole: that one writes anywhere).
    role.addToPolicy(new iam.PolicyStatement({ sid: 'OwnLogGroup', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    const fn = new NodejsFunction(
      this,
      id,
      // The names functions/shared/deps.ts reads; AWS_REGION is set by Lambda itself.
      {
        ...ferryFunctionProps(functionEntry(spec.name), {
          ...spec,
          role,
          logGroup,
          // AUDIT_TRAIL=chain: the functions that audit append to the durable, hash-chained trail.
          environment: {
            BUCKET: bucketName,
            TABLE: table.tableName,
            ...this.cursorEnv(spec.name),
            ...(spec.name === 'catalogue' || spec.name === 'console' ? { PACK_TIERS: packTiersEnv(config) } : {}),
            ...(spec.name === 'fleet' ? { FLEET_SITES: fleetSitesEnv(config) } : {}),
            ...((AUDIT_CHAIN_WRITERS as ReadonlySet<FunctionName>).has(spec.name) ? { AUDIT_TRAIL: 'chain' } : {}),
          },
        }),
        // CDK grants the role sqs:SendMessage on this queue and nothing more.
        ...(spec.name === 'ingest' && this.props.ingestDeadLetterQueue ? { deadLetterQueue: this.props.ingestDeadLetterQueue } : {}),
      },
    );
    acknowledge(fn, 'AwsSolutions-L1', undefined, 'runtime pinned to nodejs22.x, the Node line the handlers and their bundled dependencies are tested on; moving to 24.x is a deliberate upgrade');
    return { fn, logGroup, role };
  }

  /** CURSOR_KEY (functions/shared/deps.ts) for the functions that hand out listing cursors. */
  private cursorEnv(name: FunctionName): Record<string, string> {
    return name === 'catalogue' || name === 'artefacts' || name === 'console' ? { CURSOR_KEY: this.cursorKey.secretValue.unsafeUnwrap() } : {};
  }

  private allow(fn: NodejsFunction, sid: string, actions: string[], resources: string[], conditions?: Record<string, Record<string, unknown>>): void {
    fn.addToRolePolicy(new iam.PolicyStatement({ sid, actions, resources, conditions }));
  }

  private decryptViaS3(fn: NodejsFunction): void {
    this.allow(fn, 'DecryptObjects', ['kms:Decrypt'], [this.props.dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('s3') } });
  }

  private tableKey(fn: NodejsFunction, write: boolean): void {
    const actions = write ? ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'] : ['kms:Decrypt', 'kms:DescribeKey'];
    this.allow(fn, 'TableKey', actions, [this.props.dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('dynamodb') } });
  }

  /**
   * Reads manifests and HEADs the object each one names (a pack, or a backup, log segment or
   * archive: HEAD is authorised as s3:GetObject), then writes catalogue entries.
   */
  private grantIngest(): void {
    const { bucketName, table } = this.props;
    const readable = DATA_CLASSES.map((dataClass) => objectsArn(bucketName, classPrefix(dataClass)));
    this.allow(this.ingest, 'ReadManifestsHeadObjects', ['s3:GetObject'], readable);
    this.decryptViaS3(this.ingest);
    this.allow(this.ingest, 'WriteCatalogue', ['dynamodb:BatchWriteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:GetItem'], [table.tableArn]);
    this.tableKey(this.ingest, true);
    for (const dataClass of DATA_CLASSES) {
      const why =
        dataClass === 'manifests'
          ? 'ingest reads any manifest of any site: it is the one writer of the catalogue for all sites'
          : `ingest HEADs the ${dataClass} object a manifest names (any site) to check its size before cataloguing; HEAD needs s3:GetObject`;
      acknowledgeWildcardResource(this.roles.ingest, objectsArn(bucketName, classPrefix(dataClass)), why);
    }
  }

  private grantCatalogue(): void {
    const { table, indexArns } = this.props;
    this.allow(this.catalogue, 'ReadCatalogue', ['dynamodb:GetItem', 'dynamodb:Query'], [table.tableArn, ...indexArns]);
    this.tableKey(this.catalogue, false);
  }

  /**
   * The catalogue's reads (its search and get code runs in the console) and the holds
   * function's grants (so does its code, for officers); replay links: infra/console.ts.
   */
  private grantConsole(): void {
    const { table, indexArns } = this.props;
    this.allow(this.console, 'ReadCatalogue', ['dynamodb:GetItem', 'dynamodb:Query'], [table.tableArn, ...indexArns]);
    this.grantHoldRecords(this.console, this.roles.console, 'the console function checks the officer\'s Cognito groups against the site first, and every hold is audited');
  }

  /** Lists artefacts and plans restores from the catalogue's main table (no index, no S3). */
  private grantArtefacts(): void {
    this.allow(this.artefacts, 'ReadCatalogue', ['dynamodb:GetItem', 'dynamodb:Query'], [this.props.table.tableArn]);
    this.tableKey(this.artefacts, false);
  }

  /**
   * Legal holds: its own items (HOLD#, CASE#) read and written, recording entries read, the
   * manifests read (which calls share a pack, before a release turns the legal hold off), and
   * S3 Object Lock legal hold set on packs and manifests. No delete, no retention, no bypass.
   */
  private grantHolds(): void {
    this.grantHoldRecords(this.holds, this.roles.holds, 'the API takes SigV4 (IAM) callers only and every hold is audited');
  }

  /**
   * What placing and releasing holds and managing cases needs: the holds function's, and the
   * console's, which runs the same code in process for a signed-in officer of the site.
   */
  private grantHoldRecords(fn: NodejsFunction, role: iam.Role, callers: string): void {
    const { bucketName, table } = this.props;
    const own = leadingKeyPatterns(['hold', 'case']);
    this.allow(fn, 'HoldItems', ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'], [table.tableArn], { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': own } });
    this.allow(fn, 'ReadRecordings', ['dynamodb:GetItem'], [table.tableArn], { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeyPatterns(['recording']) } });
    this.tableKey(fn, true);
    const manifests = objectsArn(bucketName, classPrefix('manifests'));
    const packs = objectsArn(bucketName, classPrefix('recordings'));
    this.allow(fn, 'ReadManifests', ['s3:GetObject'], [manifests]);
    this.decryptViaS3(fn);
    this.allow(fn, 'LegalHold', ['s3:PutObjectLegalHold'], [packs, manifests]);
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
  private grantExport(): void {
    const { bucketName, table } = this.props;
    const exportsArn = objectsArn(bucketName, 'exports/');
    const statusKeys = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeyPatterns(['export']) } };
    this.console.addEnvironment('EXPORT_FUNCTION_NAME', this.export.functionName);
    // One value for the function's timeout and the deadlines both sides compute (core/export-deadline.ts).
    const timeout = String(SPECS.export.timeout.toSeconds());
    this.console.addEnvironment('EXPORT_TIMEOUT_SECONDS', timeout);
    const keepDays = String(this.props.config.lifecycle.exportsExpireDays);
    this.console.addEnvironment('EXPORT_KEEP_DAYS', keepDays);
    this.export.addEnvironment('EXPORT_TIMEOUT_SECONDS', timeout);
    this.export.addEnvironment('EXPORT_KEEP_DAYS', keepDays);
    // No retry: a retried export could race its first attempt for the same bundle (the job is
    // claimed once, so a retry would only find it taken). A failed invocation (an error, a
    // timeout, the runtime's exit or out of memory, an event older than the deadline allows for)
    // goes to the export-failed function, which marks the record failed at once; the deadline
    // stays for what Lambda never reports. A function cannot be its own destination.
    this.export.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.seconds(EXPORT_MAX_EVENT_AGE_SECONDS), onFailure: this.failureDestination(this.export, this.exportFailed) });
    this.allow(this.exportFailed, 'EndExportStatus', ['dynamodb:GetItem', 'dynamodb:PutItem'], [table.tableArn], statusKeys);
    this.tableKey(this.exportFailed, true);
    this.allow(this.console, 'StartExport', ['lambda:InvokeFunction'], [this.export.functionArn]);
    this.allow(this.console, 'ExportStatus', ['dynamodb:GetItem', 'dynamodb:PutItem'], [table.tableArn], statusKeys);
    this.allow(this.console, 'ReadBundles', ['s3:GetObject'], [exportsArn]);
    acknowledgeWildcardResource(this.roles.console, exportsArn, 'the console presigns the download of a finished bundle of a site the officer may see (after its Cognito group check); exports/ holds bundles only');

    const packs = objectsArn(bucketName, classPrefix('recordings'));
    this.allow(this.export, 'ExportStatus', ['dynamodb:GetItem', 'dynamodb:PutItem'], [table.tableArn], statusKeys);
    this.allow(this.export, 'ReadRecordings', ['dynamodb:GetItem'], [table.tableArn], { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeyPatterns(['recording']) } });
    this.tableKey(this.export, true);
    this.allow(this.export, 'ReadPacks', ['s3:GetObject'], [packs]);
    // PutObjectRetention: the bundle's retention ends when the exports/ lifecycle rule expires it
    // (GOVERNANCE, never the bucket's default, which would keep personal data past its days).
    this.allow(this.export, 'WriteBundles', ['s3:PutObject', 's3:PutObjectRetention', 's3:AbortMultipartUpload'], [exportsArn]);
    this.allow(this.export, 'ObjectsKey', ['kms:Decrypt', 'kms:GenerateDataKey'], [this.props.dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('s3') } });
    acknowledgeWildcardResource(this.roles.export, packs, 'an export reads the byte range of each exported call from its pack, for any site an officer may export (checked by the console before it starts the export)');
    acknowledgeWildcardResource(this.roles.export, exportsArn, 'the export writes the bundle it was started for under exports/{site}/ by multipart upload; exports/ holds bundles only');
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
  private grantReplay(): void {
    const { bucketName, table } = this.props;
    const packs = objectsArn(bucketName, classPrefix('recordings'));
    // BatchGetItem: concurrent plays' lookups in one request (core/replay.ts coalescedLookups).
    this.allow(this.replay, 'ReadCatalogueEntry', ['dynamodb:GetItem', 'dynamodb:BatchGetItem'], [table.tableArn]);
    this.tableKey(this.replay, false);
    this.allow(this.replay, 'ReadPacks', ['s3:GetObject'], [packs]);
    this.decryptViaS3(this.replay);
    acknowledgeWildcardResource(this.roles.replay, packs, 'replay streams a byte range of any site pack for compliance officers; the URL takes SigV4 (IAM) callers only and every listen is audited');
  }

  /** Every site's newest heartbeat (heartbeats/, nothing else of the bucket) and newest window run (a Query); no write. */
  private grantFleet(): void {
    const { bucketName, table } = this.props;
    const heartbeats = objectsArn(bucketName, classPrefix('heartbeats'));
    this.allow(this.fleet, 'ReadHeartbeats', ['s3:GetObject'], [heartbeats]);
    this.allow(this.fleet, 'ListHeartbeats', ['s3:ListBucket'], [bucketArn(bucketName)], { StringLike: { 's3:prefix': [`${classPrefix('heartbeats')}*`] } });
    this.decryptViaS3(this.fleet);
    this.allow(this.fleet, 'ReadRuns', ['dynamodb:Query'], [table.tableArn]);
    this.tableKey(this.fleet, false);
    acknowledgeWildcardResource(this.roles.fleet, heartbeats, 'the fleet status reads the newest heartbeat of every site of the deployment (heartbeats/{site}/…); heartbeats hold no call data');
  }

  /**
   * The audit trail (core/audit-trail.ts): the ledger (`AUDIT#{site}`: records by a conditional
   * PutItem, the newest by a Query; `AUDITSEAL#{site}`: the sealed mark) and the sealed records
   * under `audit/` (PutObject with If-None-Match, as the bucket policy demands; Object Lock keeps
   * them). No DeleteItem: a function cannot remove a record from the ledger before it is sealed.
   */
  private grantAuditTrail(fn: NodejsFunction): void {
    const { bucketName, table, dataKey } = this.props;
    const ledger = [`${AUDIT_LEDGER_KEY_PREFIX}*`, `${AUDIT_SEAL_KEY_PREFIX}*`];
    this.allow(fn, 'AuditChainLedger', ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'], [table.tableArn], { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ledger } });
    this.allow(fn, 'AuditChainHeadKey', ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'], [dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('dynamodb') } });
    const records = objectsArn(bucketName, 'audit/');
    this.allow(fn, 'AppendAuditRecords', ['s3:PutObject'], [records]);
    this.allow(fn, 'AuditRecordsKey', ['kms:GenerateDataKey', 'kms:Decrypt'], [dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('s3') } });
    // The catalogue (IAM route) and the console serve the audit view: they read records too (GET …/audit).
    const reader = fn === this.catalogue || fn === this.console;
    if (reader) this.allow(fn, 'ReadAuditRecords', ['s3:GetObject'], [records]);
    const why = reader
      ? 'the audit view reads and audited requests append records of any site the caller may see (one object per record, write-once, under Object Lock); it cannot delete them'
      : 'audited functions append audit records of any site (one object per record, write-once, under Object Lock); they can neither read nor delete them';
    acknowledgeWildcardResource(fn.role!, records, why);
  }
}
