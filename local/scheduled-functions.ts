import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../core/clock.ts';
import type { BundledFunctionName } from '../infra/function-bundling.ts';
import { functionTimeoutSeconds } from './async-destinations.ts';
import { buildFunctionBundles } from './function-bundles.ts';
import { deployedVariable, functionEnvironment, functionResource, generatedSnapshot } from './function-environment.ts';
import type { CredentialTable } from './iam-gateway/credentials.ts';
import type { DeploymentSnapshot, LocalDeployment } from './iam-gateway/deployment.ts';
import { LocalLambda } from './local-lambda.ts';
import { scheduledRules, type ScheduledRule } from './scheduled-rules.ts';
import { LocalScheduler, type RuleRun } from './scheduler.ts';
import { startSnsStandIn, type PublishedAlert } from './sns-stand-in.ts';

// The deployment's scheduled functions on the local cloud (the dead-man's switch, the reports,
// the audit sealer, and whatever else infra/ schedules): each rule read from the synthesized
// templates (local/scheduled-rules.ts), its target function from the bundle CDK builds, each run
// in a fresh runtime with the environment the app gives it and, with the IAM gateway, signing as
// its own execution role; EventBridge's part played by local/scheduler.ts. The alert topic the
// functions publish to is an SNS stand-in (local/sns-stand-in.ts) under the topic's deployed
// ARN, which checks the publisher's sns:Publish grant; what it takes goes to alerts.jsonl.

export interface ScheduledFunctionsOptions {
  /** The local cloud's directory (alerts.jsonl is written there). */
  directory: string;
  bucket: string;
  table: string;
  region: string;
  /** Where the functions' S3 and DynamoDB calls go (the stand-ins, or the IAM gateway in front of them). */
  s3Endpoint: string;
  dynamoEndpoint: string;
  credentialsOf(fn: string): { accessKeyId: string; secretAccessKey: string };
  /** The local IAM (SNS Publish is checked against it); absent: the SNS stand-in takes anything. */
  iam?: { deployment: LocalDeployment; credentials: CredentialTable };
  snapshot?: DeploymentSnapshot;
  bundleDir?: string;
  /** The scheduler's clock and poll interval (local/scheduler.ts): tests drive both. */
  clock?: Clock;
  pollMs?: number;
  log(level: string, message: string, detail?: Record<string, unknown>): void;
  /** Each line a function writes. */
  onLog?(line: string): void;
}

/** The local cloud's schedules: what runs, and the hooks tests drive them by. */
export interface LocalSchedules {
  rules: ScheduledRule[];
  /** Runs the rules due by the scheduler's clock; resolves when those runs end. */
  tick(): Promise<RuleRun[]>;
  /** When each rule runs next. */
  nextRuns(): Record<string, string | undefined>;
  /** What was published to the alert topic (by the functions, or by an event rule: `publish`), oldest first. */
  alerts: PublishedAlert[];
  /**
   * A message a service publishes to the alert topic (an EventBridge rule's target: the topic's
   * policy lets this account's rules publish, infra/alerts.ts); throws for another topic.
   */
  publish(alert: PublishedAlert): void;
  stop(): Promise<void>;
}

export async function startScheduledFunctions(options: ScheduledFunctionsOptions): Promise<LocalSchedules> {
  const snapshot = options.snapshot ?? generatedSnapshot();
  const rules = scheduledRules(snapshot);
  const names = [...new Set(rules.map((r) => r.functionName))] as BundledFunctionName[];
  const topics = new Set(names.map((fn) => deployedVariable(snapshot, fn, 'TOPIC_ARN')).filter((t): t is string => t !== undefined));
  if (topics.size > 1) throw new Error(`the scheduled functions publish to ${topics.size} topics; the local SNS stand-in serves one`);
  const [topicArn] = [...topics];
  const alerts: PublishedAlert[] = [];
  const alertsFile = join(options.directory, 'alerts.jsonl');
  const stops: (() => Promise<void>)[] = [];
  try {
    const record = (alert: PublishedAlert) => (alerts.push(alert), appendFileSync(alertsFile, `${JSON.stringify(alert)}\n`));
    const sns = topicArn ? await startSnsStandIn({ topicArn, iam: options.iam, onPublish: record }) : undefined;
    if (sns) stops.push(() => sns.stop());
    const bundles = await buildFunctionBundles(names, { dir: options.bundleDir });
    const environmentOf = (fn: BundledFunctionName) => {
      const credentials = options.credentialsOf(fn);
      return {
        ...functionEnvironment(fn, { BUCKET: options.bucket, TABLE: options.table, ...(topicArn ? { TOPIC_ARN: topicArn } : {}) }, snapshot),
        ...{ AWS_REGION: options.region, AWS_ENDPOINT_URL_S3: options.s3Endpoint, AWS_ENDPOINT_URL_DYNAMODB: options.dynamoEndpoint },
        ...(sns ? { AWS_ENDPOINT_URL_SNS: sns.endpoint } : {}),
        ...{ AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey },
      };
    };
    // Each environment read now, so a variable the local cloud cannot stand in for stops the start.
    const environments = new Map(names.map((fn) => [fn, environmentOf(fn)]));
    // Each run in a fresh runtime, stopped when it ends (a cold start, as Lambda gives a function
    // invoked every few minutes at most): an idle schedule holds no runtime, hence no memory.
    const running = new Set<LocalLambda>();
    const invoke = async (rule: ScheduledRule, event: unknown) => {
      const fn = rule.functionName as BundledFunctionName;
      const memory = functionResource(snapshot, fn).properties.MemorySize;
      const limits = { timeoutSeconds: functionTimeoutSeconds(snapshot, fn), ...(typeof memory === 'number' ? { memoryMb: memory } : {}) };
      const runtime = await LocalLambda.start({ functionName: `ferry-${fn}`, bundle: bundles[fn], environment: environments.get(fn)!, onLog: options.onLog, ...limits });
      running.add(runtime);
      try {
        return await runtime.invoke(event);
      } finally {
        running.delete(runtime);
        await runtime.stop();
      }
    };
    const scheduler = new LocalScheduler({ rules, invoke, clock: options.clock, pollMs: options.pollMs, log: options.log });
    // On stop: no more runs, the runs in flight ended (their runtimes stopped), then the topic.
    stops.unshift(async () => {
      const ended = scheduler.stop();
      await Promise.all([...running].map((f) => f.stop()));
      await ended;
    });
    return {
      rules,
      tick: () => scheduler.tick(),
      nextRuns: () => scheduler.nextRuns(),
      alerts,
      publish(alert) {
        if (alert.topicArn !== topicArn) throw new Error(`the local SNS stand-in serves ${topicArn ?? 'no topic'}, not ${alert.topicArn}`);
        record(alert);
      },
      stop: async () => {
        for (const stop of stops.splice(0)) await stop();
      },
    };
  } catch (error) {
    for (const stop of stops.splice(0)) await stop();
    throw error;
  }
}
