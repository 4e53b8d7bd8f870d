import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { LambdaDestination } from 'aws-cdk-lib/aws-s3-notifications';
import { Construct } from 'constructs';
import { classPrefix } from '../core/layout.ts';
import { AlertTopic } from './alerts.ts';
import { CatalogueApi } from './catalogue-api.ts';
import { ConsoleHosting } from './console.ts';
import type { DeploymentConfig } from './config.ts';
import type { WorkflowContext, WorkflowsFactory } from './extension.ts';
import { FerryFunctions } from './functions.ts';
import { DeadmanSwitch, FleetReader } from './fleet.ts';
import { fleetSitesEnv } from './function-env.ts';
import { IngestDeadLetters } from './ingest-dead-letters.ts';
import { ScheduledReports } from './reports.ts';
import { AuditSealer } from './audit-sealer.ts';
import { acknowledge } from './nag.ts';
import { bucketArn } from './names.ts';
import { SiteAccess } from './site-access.ts';

// Everything that can be torn down and redeployed without losing data: the functions, the
// catalogue API and replay URL, the alert topic, each site's activity and roles, and (through
// `workflows`) the state machines. Data lives in the stateful stack.

export interface ProcessingStackProps extends StackProps {
  config: DeploymentConfig;
  bucketName: string;
  dataKey: kms.IKey;
  logsKey: kms.IKey;
  catalogueTable: dynamodb.ITable;
  catalogueIndexArns: string[];
  /** EXTENSION POINT: builds the state machines, lock, schedules (infra/workflows/). */
  workflows?: WorkflowsFactory;
}

export class ProcessingStack extends Stack {
  readonly functions: FerryFunctions;
  readonly api: CatalogueApi;
  readonly console: ConsoleHosting;
  readonly alerts: AlertTopic;
  readonly deadman: DeadmanSwitch;
  readonly fleetReader: FleetReader;
  readonly reports: ScheduledReports;
  readonly auditSealer: AuditSealer;
  readonly ingestDeadLetters: IngestDeadLetters;
  readonly sites: SiteAccess[];
  readonly workflowContext: WorkflowContext;

  constructor(scope: Construct, id: string, props: ProcessingStackProps) {
    super(scope, id, props);
    const { config, bucketName, dataKey, logsKey, catalogueTable, catalogueIndexArns } = props;

    this.ingestDeadLetters = new IngestDeadLetters(this, 'IngestDeadLetters');
    this.functions = new FerryFunctions(this, 'Functions', {
      config,
      bucketName,
      dataKey,
      logsKey,
      table: catalogueTable,
      indexArns: catalogueIndexArns,
      ingestDeadLetterQueue: this.ingestDeadLetters.queue,
    });
    this.notifyIngest(bucketName);
    this.api = new CatalogueApi(this, 'Catalogue', {
      catalogueFunction: this.functions.catalogue,
      artefactsFunction: this.functions.artefacts,
      fleetFunction: this.functions.fleet,
      holdsFunction: this.functions.holds,
      replayFunction: this.functions.replay,
      sites: config.sites.map((site) => site.name),
      logsKey,
      accessLogRetentionDays: config.logs.auditRetentionDays,
    });
    const offboarded = config.sites.filter((site) => site.offboarded).map((site) => site.name);
    this.console = new ConsoleHosting(this, 'Console', { sites: config.sites.map((site) => site.name), offboarded, api: this.api, consoleFunction: this.functions.console });
    // Replay takes an officer's name only from the console (the links it mints): the console function's role.
    this.functions.replay.addEnvironment('CONSOLE_ROLE_NAME', this.functions.console.role!.roleName);
    this.alerts = new AlertTopic(this, 'Alerts');
    this.ingestDeadLetters.alarmTo(this.alerts.topic);
    this.alerts.alarmOnUndelivered();
    this.deadman = new DeadmanSwitch(this, 'Deadman', { config, bucketName, dataKey, logsKey, table: catalogueTable, alerts: this.alerts });
    this.fleetReader = new FleetReader(this, 'FleetReader', { readers: config.fleetReaders, invokeArn: (method, path) => this.api.invokeArn(method, path) });
    this.reports = new ScheduledReports(this, 'Reports', { config, bucketName, dataKey, logsKey, table: catalogueTable, alerts: this.alerts });
    this.auditSealer = new AuditSealer(this, 'AuditSealer', { config, bucketName, dataKey, logsKey, table: catalogueTable, alerts: this.alerts });
    this.sites = config.sites.map(
      (site) =>
        new SiteAccess(this, `Site-${site.name}`, {
          site,
          bucketName,
          dataKeyArn: dataKey.keyArn,
          tableArn: catalogueTable.tableArn,
          stackPrefix: config.stackPrefix,
          entryPoints: { invokeArn: (method, path) => this.api.invokeArn(method, path), replayArn: this.api.siteReplayArns[site.name]! },
          ...(config.binlogs.partialLockDays > 0 ? { partialLock: { days: config.binlogs.partialLockDays, mode: config.objectLock.mode === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE' } } : {}),
        }),
    );
    // Replay refuses the sites' listener roles a download (they play, as the console's listeners do).
    this.functions.replay.addEnvironment('LISTENER_ROLE_NAMES', Stack.of(this).toJsonString(this.sites.map((s) => s.listenerRole.roleName)));

    this.workflowContext = {
      config,
      bucketName,
      bucketArn: bucketArn(bucketName),
      dataKey,
      catalogueTable,
      catalogueIndexArns,
      alerts: this.alerts,
      sites: this.sites.map((s, i) => ({ config: config.sites[i]!, activity: s.activity, agentRole: s.agentRole })),
      functions: this.functions,
      logsKey,
      // The sites as the fleet readers take them, with the graces of the lock waits actually deployed (infra/function-env.ts).
      useWorkflowConfig: (workflow) => {
        const sites = fleetSitesEnv(config, workflow);
        for (const fn of [this.deadman.fn, this.functions.fleet, this.auditSealer.fn]) fn.addEnvironment('FLEET_SITES', sites);
      },
    };
    if (props.workflows) props.workflows(new Construct(this, 'Workflows'), this.workflowContext);

    new CfnOutput(this, 'CatalogueApiUrl', { value: this.api.url, description: 'Catalogue API (SigV4, service execute-api)' });
    new CfnOutput(this, 'ReplayUrl', { value: this.api.replayUrl.url, description: 'Replay Function URL (SigV4, service lambda; presign for short-lived links)' });
    for (const [site, url] of Object.entries(this.api.siteReplayUrls)) {
      new CfnOutput(this, `ReplayUrl-${site}`, {
        key: `ReplayUrl${site.replace(/[^A-Za-z0-9]/g, '')}`,
        value: url.url,
        description: `replay Function URL of site ${site} (its officer and DR roles)`,
      });
    }
    new CfnOutput(this, 'AlertTopicArn', { value: this.alerts.topic.topicArn });
    new CfnOutput(this, 'FleetReaderRoleArn', { value: this.fleetReader.role.roleArn, description: 'role that may read every site\'s status (GET /fleet)' });
    new CfnOutput(this, 'IngestDeadLetterQueueUrl', {
      value: this.ingestDeadLetters.queue.queueUrl,
      description: 'failed ingest events, to re-drive (docs/deploy.md)',
    });
  }

  /**
   * Manifests → ingest, as an S3 event notification filtered on `manifests/…json` (the handler
   * takes S3 events and skips non-recording manifests). The bucket is imported by name: a
   * notification set from the stateful stack would make the two stacks depend on each other.
   * CDK applies it with its BucketNotifications custom resource, which only adds its own
   * configuration and leaves any other notification on the bucket alone.
   */
  private notifyIngest(bucketName: string): void {
    const bucket = s3.Bucket.fromBucketName(this, 'DataBucket', bucketName);
    bucket.addEventNotification(s3.EventType.OBJECT_CREATED, new LambdaDestination(this.functions.ingest), { prefix: classPrefix('manifests'), suffix: '.json' });
    const handler = this.node.tryFindChild('BucketNotificationsHandler050a0587b7544547bf325f094a3db834');
    // Its own policy is scoped to this bucket; only its log permissions come from a managed policy.
    if (handler) {
      acknowledge(handler, 'AwsSolutions-IAM4', 'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole', 'CDK BucketNotifications handler (runs at deploy time only) is built with the basic execution managed policy; CDK offers no option to replace it');
    }
  }
}
