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
import type { DeploymentConfig } from './config.ts';
import { FUNCTION_BUNDLE, functionEntry } from './function-bundling.ts';
import { acknowledge } from './nag.ts';
import { fleetSitesEnv, packTiersEnv } from './function-env.ts';
import { AUDIT_CHAIN_WRITERS, grantFunctionPolicies } from './function-grants.ts';

// The Lambda handlers of functions/ (ingest, catalogue, artefacts, replay, fleet), bundled by the
// local esbuild (no Docker), each with its own role holding exactly what its handler calls (its
// statements: infra/function-grants.ts) and its own KMS-encrypted, retained log group. The catalogue, artefacts and replay log groups hold
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
    const fns = Object.fromEntries(names.map((n) => [n, built[n].fn])) as Record<FunctionName, NodejsFunction>;
    grantFunctionPolicies({ ...props, fns, roles: this.roles, exportTimeout: SPECS.export.timeout });
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
            ...(spec.name === 'catalogue' || spec.name === 'console' || spec.name === 'holds' ? { PACK_TIERS: packTiersEnv(config) } : {}),
            ...(spec.name === 'catalogue' || spec.name === 'console' ? { SEARCH_READ_LIMIT: String(config.search.readLimit) } : {}),
            ...(spec.name === 'fleet' ? { FLEET_SITES: fleetSitesEnv(config) } : {}),
            ...(AUDIT_CHAIN_WRITERS.has(spec.name) ? { AUDIT_TRAIL: 'chain' } : {}),
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
}
