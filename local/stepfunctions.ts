import { randomUUID } from 'node:crypto';
import type { AlertSeverity, Notifier } from '../core/ports.ts';
import type { AslDefinition, RenderedWorkflows } from '../infra/workflows/render.ts';
import type { WorkflowFunctionName } from '../infra/workflows/state-names.ts';
import type { LocalActivityService } from './activity-service.ts';

// Runs the workflows' synthesized definitions (infra/workflows/render.ts: the same constructs
// the processing stack deploys, rendered at build time into local/workflows.generated.json or
// by a test) with aws-local-stepfunctions. Every Task is overridden
// locally: Lambda tasks call the handlers in process, SNS publish goes to a Notifier, the
// activity goes to a LocalActivityService (where the agent's worker polls). Wait states and
// Retry pauses keep their real durations unless `pauseMs` shortens them; `onPause` is told
// how long each shortened pause would have been, so a test clock can move as if it had passed.
// Each execution's end (SUCCEEDED, FAILED, TIMED_OUT, ABORTED) goes, as Step Functions sends it to
// EventBridge, to `statusEvents` (the local cloud's event bus: the deployment's rule on failed
// purges and recalls), under the deployed state machine ARNs.

export type TaskHandler = (event: unknown) => Promise<unknown>;
export type LocalHandlers = Record<WorkflowFunctionName, TaskHandler>;

export interface LocalWorkflowOptions {
  site: string;
  /** The site's three state machines as CDK synthesizes them. */
  definitions: RenderedWorkflows;
  handlers: LocalHandlers;
  activity: LocalActivityService;
  /** Where SNS publish tasks go. */
  notifier: Notifier;
  /** Replace every Wait and Retry pause with this many ms. Absent: real durations. */
  pauseMs?: number;
  /** Each shortened pause, with the seconds it stood for (virtual time). */
  onPause?: (seconds: number, state: string) => void;
  /** Every execution event, as it happens (the demo prints them). */
  onEvent?: (event: ExecutionEvent) => void;
  /**
   * Where each execution's end goes, as Step Functions sends it to EventBridge (a Step Functions
   * Execution Status Change on the default bus: the local cloud's `events`), with the deployed
   * ARNs of the three state machines; absent: nowhere, and execution ARNs are local ones.
   */
  statusEvents?: StatusEventSink;
}

export interface StatusEventSink {
  stateMachines: Record<Workflow, string>;
  account: string;
  region: string;
  put(event: Record<string, unknown>): Promise<unknown>;
}

/** One entry of the execution history (aws-local-stepfunctions' event log, typed loosely). */
export interface ExecutionEvent {
  type: string;
  timestamp: number;
  state?: { name: string; type: string; input?: unknown; output?: unknown };
  retry?: { retrier: { ErrorEquals: string[]; IntervalSeconds?: number; MaxAttempts?: number; BackoffRate?: number; MaxDelaySeconds?: number }; attempt: number };
  Error?: string;
  Cause?: unknown;
  index?: number;
}

export interface ExecutionOutcome {
  executionArn: string;
  status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  output?: unknown;
  error?: string;
  cause?: string;
  events: ExecutionEvent[];
}

export interface LocalExecution {
  executionArn: string;
  done: Promise<ExecutionOutcome>;
  abort(): void;
}

export type Workflow = 'backupWindow' | 'purge' | 'recall';

interface StateMachineRunner {
  run(input: unknown, options: unknown): { result: Promise<unknown>; abort(): void; eventLogs: AsyncGenerator<ExecutionEvent> };
}

/** Every state of a definition, nested Map/Parallel states included, by name. */
export function allStates(definition: AslDefinition): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  const walk = (d: { States: Record<string, Record<string, unknown>> }) => {
    for (const [name, state] of Object.entries(d.States)) {
      out[name] = state;
      const nested = (state.ItemProcessor ?? state.Iterator) as AslDefinition | undefined;
      if (nested) walk(nested);
      for (const branch of (state.Branches as AslDefinition[] | undefined) ?? []) walk(branch);
    }
  };
  walk(definition);
  return out;
}

const LAMBDA_ARN = /^arn:aws:lambda:[^:]+:\d{12}:function:ferry-(lock|window|purge|recall)$/;

function attributeValue(attributes: unknown, name: string): string | undefined {
  const v = (attributes as Record<string, { StringValue?: string }> | undefined)?.[name]?.StringValue;
  return typeof v === 'string' ? v : undefined;
}

function severityOf(value: string | undefined): AlertSeverity {
  return value === 'critical' || value === 'warning' ? value : 'info';
}

/**
 * Turns every Task of a definition into a local function; throws for a resource it cannot stand
 * in for. `stopped` says the execution was stopped (aborted, or failed over the data limit): a
 * task that starts after that runs nothing, as no state runs on AWS once an execution has ended
 * (aws-local-stepfunctions may still start the next state's task after an abort).
 */
function taskOverrides(definition: AslDefinition, options: LocalWorkflowOptions, stopped: () => boolean = () => false): Record<string, (input: unknown) => Promise<unknown>> {
  const overrides: Record<string, (input: unknown) => Promise<unknown>> = {};
  // Yield once before a task runs so the event consumer has applied the virtual time of the
  // pause (retry or wait) that preceded it, and has seen the events that stop the execution.
  const settle = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    if (stopped()) throw Object.assign(new Error('the execution was stopped before this task ran'), { name: 'ExecutionStopped' });
  };
  for (const [name, state] of Object.entries(allStates(definition))) {
    if (state.Type !== 'Task') continue;
    const resource = String(state.Resource);
    const fn = LAMBDA_ARN.exec(resource)?.[1] as WorkflowFunctionName | undefined;
    if (fn) {
      // A JSON round trip, as between Step Functions and Lambda: no shared objects, no undefined.
      overrides[name] = async (input) => (await settle(), JSON.parse(JSON.stringify((await options.handlers[fn](structuredClone(input))) ?? null)));
    } else if (/^arn:aws:states:[^:]*:\d{12}:activity:/.test(resource)) {
      const limits = { heartbeatSeconds: state.HeartbeatSeconds as number | undefined, timeoutSeconds: state.TimeoutSeconds as number | undefined };
      overrides[name] = async (input) => (await settle(), options.activity.run(resource, input, limits));
    } else if (resource === 'arn:aws:states:::sns:publish') {
      overrides[name] = async (input) => {
        await settle();
        const p = input as { Subject?: string; Message: string; MessageAttributes?: unknown };
        await options.notifier.notify({
          severity: severityOf(attributeValue(p.MessageAttributes, 'severity')),
          site: attributeValue(p.MessageAttributes, 'site') ?? '-',
          subject: p.Subject ?? '',
          message: p.Message,
          details: { attributes: p.MessageAttributes },
        });
        return { MessageId: randomUUID() };
      };
    } else {
      throw new Error(`state "${name}": no local stand-in for resource ${resource}`);
    }
  }
  return overrides;
}

/** Seconds a Retry pause stood for: IntervalSeconds × BackoffRate^(attempt-1), capped. */
function retrySeconds(retry: NonNullable<ExecutionEvent['retry']>): number {
  const { IntervalSeconds = 1, BackoffRate = 2, MaxDelaySeconds } = retry.retrier;
  const s = IntervalSeconds * BackoffRate ** Math.max(0, retry.attempt - 1);
  return MaxDelaySeconds === undefined ? s : Math.min(s, MaxDelaySeconds);
}

/** Step Functions' limit on a state's input or output and a task's result, in UTF-8 bytes of its JSON. */
export const STATE_DATA_LIMIT = 262_144;

function payloadBytes(value: unknown): number {
  return value === undefined ? 0 : Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

const validated = new Set<string>();

/** The checks aws-local-stepfunctions runs before an execution (asl-validator, ARNs and paths included), once per distinct definition. */
async function assertValid(definition: AslDefinition): Promise<void> {
  const text = JSON.stringify(definition);
  if (validated.has(text)) return;
  const { default: aslValidator } = await import('asl-validator');
  const { isValid, errorsText } = aslValidator(JSON.parse(text), { checkArn: true, checkPaths: true });
  if (!isValid) throw new Error(`state machine definition is invalid:\n${errorsText('\n')}`);
  validated.add(text);
}

export class LocalWorkflows {
  private constructor(
    readonly definitions: RenderedWorkflows,
    private readonly machines: Record<Workflow, StateMachineRunner>,
    private readonly options: LocalWorkflowOptions,
  ) {}

  /** Prepares the three state machines of the site's definitions. */
  static async create(options: LocalWorkflowOptions): Promise<LocalWorkflows> {
    const { StateMachine } = await import('aws-local-stepfunctions');
    const definitions = structuredClone(options.definitions);
    // Validated by assertValid before the first run instead (once per definition per process:
    // asl-validator compiles its schemas on every call, about a second each).
    const machine = (d: AslDefinition) => new StateMachine(structuredClone(d) as never, { validationOptions: { noValidate: true } }) as unknown as StateMachineRunner;
    return new LocalWorkflows(definitions, { backupWindow: machine(definitions.backupWindow), purge: machine(definitions.purge), recall: machine(definitions.recall) }, options);
  }

  runBackupWindow(input: { onDemand?: boolean } = {}): LocalExecution {
    return this.start('backupWindow', input);
  }

  runPurge(): LocalExecution {
    return this.start('purge', {});
  }

  runRecall(input: { site: string; rid?: string; packKey?: string; requester: string }): LocalExecution {
    return this.start('recall', input);
  }

  private start(workflow: Workflow, input: unknown): LocalExecution {
    const definition = this.definitions[workflow];
    const deployed = this.options.statusEvents?.stateMachines[workflow];
    const executionArn = deployed
      ? `${deployed.replace(':stateMachine:', ':execution:')}:local-${randomUUID()}`
      : `arn:aws:states:us-east-1:000000000000:execution:ferry-${workflow}-${this.options.site}:local-${randomUUID()}`;
    let execution: LocalExecution | undefined;
    let aborted = false;
    const startDate = Date.now();
    const done = assertValid(definition)
      .then(() => {
        execution = this.execute(workflow, executionArn, input);
        if (aborted) execution.abort();
        return execution.done;
      })
      .then(async (outcome) => (await this.tellStatus(workflow, outcome, input, startDate), outcome));
    return { executionArn, done, abort: () => (execution ? execution.abort() : (aborted = true)) };
  }

  /** The execution's end on the event bus, shaped as Step Functions sends it (docs: "Step Functions Execution Status Change"). */
  private async tellStatus(workflow: Workflow, outcome: ExecutionOutcome, input: unknown, startDate: number): Promise<void> {
    const sink = this.options.statusEvents;
    if (!sink) return;
    const { executionArn } = outcome;
    const succeeded = outcome.status === 'SUCCEEDED';
    await sink.put({
      ...{ version: '0', id: randomUUID(), 'detail-type': 'Step Functions Execution Status Change', source: 'aws.states' },
      ...{ account: sink.account, time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), region: sink.region, resources: [executionArn] },
      detail: {
        ...{ executionArn, stateMachineArn: sink.stateMachines[workflow], name: executionArn.slice(executionArn.lastIndexOf(':') + 1), status: outcome.status },
        ...{ startDate, stopDate: Date.now(), input: JSON.stringify(input), output: succeeded ? JSON.stringify(outcome.output ?? null) : null },
        ...(succeeded ? {} : { error: outcome.error ?? null, cause: outcome.cause ?? null }),
      },
    });
  }

  private execute(workflow: Workflow, executionArn: string, input: unknown): LocalExecution {
    const { options } = this;
    const definition = this.definitions[workflow];
    const states = allStates(definition);
    const name = executionArn.slice(executionArn.lastIndexOf(':') + 1);
    // Step Functions' 256 KiB limit on a state's input and output and on a task's result: over it
    // the execution fails with States.DataLimitExceeded, which no Catch takes (not even States.ALL,
    // which aws-local-stepfunctions would let catch it), so the execution is stopped here.
    let overLimit: { state: string; what: string; bytes: number } | undefined;
    let stopped = false;
    const stop = () => {
      stopped = true;
      execution.abort();
    };
    const checkSize = (state: string, what: string, value: unknown) => {
      const bytes = payloadBytes(value);
      if (bytes <= STATE_DATA_LIMIT || overLimit) return;
      overLimit = { state, what, bytes };
      stop();
      throw Object.assign(new Error(`the ${what} of state "${state}" is ${bytes} bytes, over Step Functions' ${STATE_DATA_LIMIT}`), { name: 'States.DataLimitExceeded' });
    };
    const tasks = Object.fromEntries(
      Object.entries(taskOverrides(definition, options, () => stopped)).map(([state, run]) => [
        state,
        async (input: unknown) => {
          checkSize(state, 'input', input);
          const result = await run(input);
          checkSize(state, 'result', result);
          return result;
        },
      ]),
    );
    const overrides: Record<string, unknown> = { taskResourceLocalHandlers: tasks };
    if (options.pauseMs !== undefined) {
      overrides.waitTimeOverrides = Object.fromEntries(Object.entries(states).filter(([, s]) => s.Type === 'Wait').map(([n]) => [n, options.pauseMs]));
      overrides.retryIntervalOverrides = Object.fromEntries(Object.entries(states).filter(([, s]) => Array.isArray(s.Retry)).map(([n]) => [n, options.pauseMs]));
    }
    const execution: ReturnType<StateMachineRunner['run']> = this.machines[workflow].run(input, { overrides, context: { Execution: { Id: executionArn, Name: name } } });
    const events: ExecutionEvent[] = [];
    const consumed = (async () => {
      for await (const event of execution.eventLogs) {
        events.push(event);
        if (event.type === 'StateExited' && event.state && !overLimit) {
          try {
            checkSize(event.state.name, 'output', event.state.output);
          } catch {
            // Stopped: told below, as the execution's failure.
          }
        }
        if (options.pauseMs !== undefined && options.onPause) {
          if (event.type === 'StateRetried' && event.retry && event.state) options.onPause(retrySeconds(event.retry), event.state.name);
          if (event.type === 'StateEntered' && event.state?.type === 'Wait') options.onPause(Number(states[event.state.name]?.Seconds ?? 0), event.state.name);
        }
        options.onEvent?.(event);
      }
    })();
    const done = execution.result.then(
      async (output): Promise<ExecutionOutcome> => (await consumed, { executionArn, status: 'SUCCEEDED', output, events }),
      async (error: unknown): Promise<ExecutionOutcome> => {
        await consumed;
        if (overLimit) {
          const cause = `The state/task '${overLimit.state}' returned a result with a size exceeding the maximum number of bytes service limit: its ${overLimit.what} is ${overLimit.bytes} bytes, over ${STATE_DATA_LIMIT}`;
          return { executionArn, status: 'FAILED', error: 'States.DataLimitExceeded', cause, events };
        }
        const failed = events.find((e) => e.type === 'ExecutionFailed');
        // The definition's TimeoutSeconds, which aws-local-stepfunctions enforces as Step Functions does.
        if (events.some((e) => e.type === 'ExecutionTimeout')) return { executionArn, status: 'TIMED_OUT', error: 'States.Timeout', events };
        if (!failed) return { executionArn, status: 'ABORTED', error: error instanceof Error ? error.name : 'Error', events };
        return { executionArn, status: 'FAILED', error: failed.Error, cause: typeof failed.Cause === 'string' ? failed.Cause : JSON.stringify(failed.Cause), events };
      },
    );
    return { executionArn, done, abort: stop };
  }
}
