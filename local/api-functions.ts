import type { RecallStarter } from '../core/recall.ts';
import type { AuditEvent } from '../functions/shared/audit.ts';
import type { HttpEvent, HttpResult } from '../functions/shared/http.ts';
import { buildFunctionBundles } from './function-bundles.ts';
import { deployedFunctionArn, deployedRecallStateMachineArn, deployedVariable, functionEnvironment, functionResource, generatedSnapshot } from './function-environment.ts';
import type { DeploymentSnapshot } from './iam-gateway/deployment.ts';
import { startRecallEndpoint } from './recall-endpoint.ts';
import { failureDestination, functionTimeoutSeconds } from './async-destinations.ts';
import { startInvokeEndpoint, type InvokableFunction } from './lambda-endpoint.ts';
import { LocalLambdaPool, type FunctionRuntime } from './lambda-pool.ts';
import { LocalLambda, type InvocationOptions } from './local-lambda.ts';

// The functions behind the local catalogue API, the replay URL and the bucket notification,
// run as they deploy: each from the bundle CDK builds (local/function-bundles.ts), in its own
// runtime, with the environment the CDK app gives it (local/function-environment.ts) pointed
// at the stand-ins (through the IAM gateway, as its own role, when the local cloud runs one).
// The catalogue function starts recalls as deployed, with StartExecution of the recall state
// machine: locally a Step Functions endpoint serving that one call, which hands the request
// to the site's local recall workflow. The console starts case exports as deployed too, with an
// asynchronous Lambda Invoke of the export function: locally a Lambda endpoint serving that one
// call (InvocationType Event: 202 at once, the export runs in its runtime afterwards; a failed
// invocation's record goes to its on-failure destination, the export-failed function, as the
// deployment's EventInvokeConfig says: local/lambda-endpoint.ts). Each runtime has its function's
// deployed timeout and memory.

export type ApiFunctionName = 'ingest' | 'catalogue' | 'artefacts' | 'replay' | 'fleet' | 'console' | 'holds' | 'export' | 'export-failed';
const API_FUNCTIONS: readonly ApiFunctionName[] = ['ingest', 'catalogue', 'artefacts', 'replay', 'fleet', 'console', 'holds', 'export', 'export-failed'];
/** The local name of the export function, which the console invokes through the local Lambda endpoint. */
export const LOCAL_EXPORT_FUNCTION = 'ferry-export';

export interface ApiFunctionsOptions {
  bucket: string;
  table: string;
  region: string;
  /** Where each function's S3 and DynamoDB calls go (the stand-ins, or the IAM gateway in front of them). */
  s3Endpoint: string;
  dynamoEndpoint: string;
  /** What each function signs with (its role's key through the gateway, else the stand-ins' key). */
  credentialsOf(fn: ApiFunctionName): { accessKeyId: string; secretAccessKey: string };
  /** HMAC key of the listing cursors (the stack's generated CURSOR_KEY). */
  cursorKey: string;
  /** The console function's user pool (the local Cognito stand-in) and the replay URL each site's links go to. */
  console: { issuer: string; clientId: string; replayUrls: Record<string, string> };
  /** The site's recall workflow, asked per request; undefined: StartExecution is refused. */
  recallFor(site: string): RecallStarter | undefined;
  /** Puts something (the IAM gateway) in front of the local Step Functions endpoint; returns its endpoint. */
  guardStates?(upstream: string): Promise<string>;
  /** The synthesized deployment the environments are read from (default: the generated one). */
  snapshot?: DeploymentSnapshot;
  /** Where the bundles are built (default: node_modules/.cache/ferry-functions). */
  bundleDir?: string;
  /** The audit lines the functions write (functions/shared/audit.ts), as CloudWatch keeps them in their log groups. */
  onAudit?(event: AuditEvent): void;
  /** Every other log line, as JSON. */
  onLog?(line: string): void;
  /**
   * Runtimes (execution environments) per function, 1 unless named: more spread concurrent
   * invocations over a pool (local/lambda-pool.ts), closer to Lambda, which gives each concurrent
   * request an environment of its own, but each runtime costs its bundle's load, its own clients
   * and its own caches (see docs/parity.md).
   */
  environments?: Partial<Record<ApiFunctionName, number>>;
}

export interface ApiFunctions {
  /** The runtimes running now (one is replaced when it died; a pool replaces its own). */
  readonly functions: Record<ApiFunctionName, FunctionRuntime>;
  /** An API route's handler: API Gateway's Lambda proxy integration (payload 2.0) to the function. */
  route(fn: 'catalogue' | 'artefacts' | 'fleet' | 'console' | 'holds'): (event: HttpEvent) => Promise<HttpResult>;
  /** The replay Function URL's handler, invoked through `invokedFunctionArn` (the site's alias). */
  replay(event: HttpEvent, options?: InvocationOptions): Promise<HttpResult>;
  /** The bucket notification's invocation of the ingest function. */
  ingest(event: unknown): Promise<unknown>;
  /** The local Lambda Invoke endpoint the console starts exports through (AWS_ENDPOINT_URL_LAMBDA). */
  readonly lambdaEndpoint: string;
  stop(): Promise<void>;
}

function parseLine(line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Audit lines to the audit trail, the rest to the log (a line that is not JSON is wrapped, naming its function). */
function logSink(options: ApiFunctionsOptions, fn: ApiFunctionName) {
  if (!options.onAudit && !options.onLog) return undefined;
  return (line: string) => {
    const parsed = parseLine(line);
    if (parsed?.type === 'audit') {
      const { type: _type, ...event } = parsed;
      return options.onAudit?.(event as unknown as AuditEvent);
    }
    options.onLog?.(parsed ? line : JSON.stringify({ function: `ferry-${fn}`, message: line }));
  };
}

function asResult(fn: string, value: unknown): HttpResult {
  const result = value as Partial<HttpResult> | null;
  if (!result || typeof result.statusCode !== 'number') throw new Error(`function ${fn} returned no HTTP response`);
  return { statusCode: result.statusCode, headers: result.headers ?? {}, body: result.body ?? '' };
}

export async function startApiFunctions(options: ApiFunctionsOptions): Promise<ApiFunctions> {
  const snapshot = options.snapshot ?? generatedSnapshot();
  const recallArn = deployedRecallStateMachineArn(snapshot);
  const recall = recallArn ? await startRecallEndpoint(recallArn, options.recallFor) : undefined;
  const stops: (() => Promise<void>)[] = recall ? [() => recall.stop()] : [];
  try {
    const sfnEndpoint = recall && (options.guardStates ? await options.guardStates(recall.url) : recall.url);
    const bundles = await buildFunctionBundles(API_FUNCTIONS, { dir: options.bundleDir });
    // Bound below, once the runtimes run: the endpoint must be known to the console's environment first.
    const invokable: Record<string, InvokableFunction> = {};
    const lambdaEndpoint = await startInvokeEndpoint(invokable, options.onLog);
    stops.push(() => lambdaEndpoint.stop());
    const local = {
      EXPORT_FUNCTION_NAME: LOCAL_EXPORT_FUNCTION,
      ...{ BUCKET: options.bucket, TABLE: options.table, CURSOR_KEY: options.cursorKey, RECALL_STATE_MACHINE_ARN: recallArn },
      ...{ CONSOLE_ISSUER: options.console.issuer, CONSOLE_CLIENT_ID: options.console.clientId, CONSOLE_REPLAY_URLS: JSON.stringify(options.console.replayUrls) },
      CONSOLE_ROLE_NAME: deployedVariable(snapshot, 'replay', 'CONSOLE_ROLE_NAME'),
      LISTENER_ROLE_NAMES: deployedVariable(snapshot, 'replay', 'LISTENER_ROLE_NAMES'),
    };
    const environmentOf = (fn: ApiFunctionName) => {
      const credentials = options.credentialsOf(fn);
      return {
        ...functionEnvironment(fn, local, snapshot),
        ...{ AWS_REGION: options.region, AWS_ENDPOINT_URL_S3: options.s3Endpoint, AWS_ENDPOINT_URL_DYNAMODB: options.dynamoEndpoint },
        ...(sfnEndpoint ? { AWS_ENDPOINT_URL_SFN: sfnEndpoint } : {}),
        AWS_ENDPOINT_URL_LAMBDA: lambdaEndpoint.url,
        ...{ AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey },
      };
    };
    const limits = (fn: ApiFunctionName) => {
      const memory = functionResource(snapshot, fn).properties.MemorySize;
      return { timeoutSeconds: functionTimeoutSeconds(snapshot, fn), ...(typeof memory === 'number' ? { memoryMb: memory } : {}) };
    };
    const startOne = (fn: ApiFunctionName) =>
      LocalLambda.start({ functionName: `ferry-${fn}`, bundle: bundles[fn], environment: environmentOf(fn), onLog: logSink(options, fn), ...limits(fn) });
    const start = (fn: ApiFunctionName): Promise<FunctionRuntime> => {
      const size = options.environments?.[fn] ?? 1;
      return size > 1 ? LocalLambdaPool.start(size, () => startOne(fn)) : startOne(fn);
    };
    const started = await Promise.allSettled(API_FUNCTIONS.map(start));
    const lambdas = started.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
    stops.push(() => Promise.all(Object.values(functions).map((f) => f?.stop())).then(() => undefined));
    const functions = Object.fromEntries(API_FUNCTIONS.map((fn, i) => [fn, lambdas[i]])) as Record<ApiFunctionName, FunctionRuntime>;
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    let stopped = false;
    // As Lambda replaces an execution environment whose runtime died: the invocations in flight
    // fail, the next one gets a fresh runtime.
    const replacing = new Map<ApiFunctionName, Promise<FunctionRuntime>>();
    const current = async (fn: ApiFunctionName): Promise<FunctionRuntime> => {
      if (functions[fn].running || stopped) return functions[fn];
      let fresh = replacing.get(fn);
      if (!fresh) {
        fresh = start(fn).then((lambda) => (functions[fn] = lambda));
        replacing.set(fn, fresh);
        void fresh.finally(() => replacing.delete(fn)).catch(() => undefined);
      }
      return fresh;
    };
    const onFailure = failureDestination(snapshot, 'export');
    if (onFailure && !(API_FUNCTIONS as readonly string[]).includes(onFailure.name)) throw new Error(`the export function's on-failure destination ${onFailure.name} does not run on the local cloud`);
    invokable[LOCAL_EXPORT_FUNCTION] = {
      arn: deployedFunctionArn(snapshot, 'export'),
      invoke: async (payload) => (await current('export')).invoke(payload),
      ...(onFailure
        ? { onFailure: { ...onFailure, deliver: async (record) => (await current(onFailure.name as ApiFunctionName)).invoke(record) } }
        : {}),
    };
    return {
      get functions() {
        return functions;
      },
      route: (fn) => async (event) => asResult(fn, await (await current(fn)).invoke(event)),
      replay: async (event, invocation) => asResult('replay', await (await current('replay')).invoke(event, invocation)),
      ingest: async (event) => (await current('ingest')).invoke(event),
      lambdaEndpoint: lambdaEndpoint.url,
      stop: async () => {
        stopped = true;
        await Promise.all(stops.splice(0).map((stop) => stop()));
      },
    };
  } catch (error) {
    await Promise.all(stops.splice(0).map((stop) => stop()));
    throw error;
  }
}
