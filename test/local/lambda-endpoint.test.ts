import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { failureDestination, functionTimeoutSeconds } from '../../local/async-destinations.ts';
import { deployedFunctionArn, generatedSnapshot } from '../../local/function-environment.ts';
import type { DeploymentSnapshot } from '../../local/iam-gateway/deployment.ts';
import { startInvokeEndpoint, type FailedInvocationRecord } from '../../local/lambda-endpoint.ts';
import { LocalLambda } from '../../local/local-lambda.ts';

// The local Lambda endpoint's asynchronous (Event) invocations, as Lambda runs them: a failed
// invocation (the handler throws, it outlives its timeout, its runtime exits or runs out of
// memory) sends Lambda's invocation record to the function's on-failure destination, which the
// deployment names, if the function's role may invoke it.

const ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:ferry-x';
let dir: string;
let bundle: string;
const started: LocalLambda[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'expfail-endpoint-'));
  bundle = join(dir, 'index.mjs');
  writeFileSync(
    bundle,
    `export const handler = async (event, context) => {
      if (event.mode === 'throw') { const e = new Error('the job names no calls'); e.name = 'InvalidInputError'; throw e; }
      if (event.mode === 'hang') return new Promise(() => undefined);
      if (event.mode === 'exit') process.exit(3);
      if (event.mode === 'oom') { const kept = []; for (;;) kept.push(new Array(1e6).fill(kept.length)); }
      return { ok: true, remaining: context.getRemainingTimeInMillis() };
    };\n`,
  );
});

afterEach(async () => {
  await Promise.all(started.splice(0).map((f) => f.stop()));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function setup(options: { allowed?: boolean; timeoutSeconds?: number; memoryMb?: number } = {}) {
  const fn = await LocalLambda.start({ functionName: 'ferry-x', bundle, environment: {}, timeoutSeconds: options.timeoutSeconds ?? 60, ...(options.memoryMb ? { memoryMb: options.memoryMb } : {}) });
  started.push(fn);
  const records: FailedInvocationRecord[] = [];
  const logs: string[] = [];
  let delivered: () => void = () => undefined;
  const arrived = new Promise<void>((resolve) => (delivered = resolve));
  const endpoint = await startInvokeEndpoint(
    { 'ferry-x': { arn: ARN, invoke: (p) => fn.invoke(p), onFailure: { name: 'x-failed', allowed: options.allowed ?? true, deliver: async (r) => (records.push(r), delivered()) } } },
    (line) => logs.push(line),
  );
  const invoke = async (payload: unknown) => {
    const res = await fetch(`${endpoint.url}/2015-03-31/functions/ferry-x/invocations`, { method: 'POST', headers: { 'X-Amz-Invocation-Type': 'Event' }, body: JSON.stringify(payload) });
    expect(res.status).toBe(202);
  };
  /** Waits for the record (or, with `settle`, for the endpoint to finish every invocation). */
  const record = async () => (await Promise.race([arrived, new Promise((r) => setTimeout(r, 20_000))]), records);
  return { fn, records, logs, invoke, record, stop: () => endpoint.stop() };
}

const expectRecord = (records: FailedInvocationRecord[], payload: unknown, errorType: string, errorMessage: RegExp) => {
  expect(records).toHaveLength(1);
  expect(records[0]).toMatchObject({
    version: '1.0',
    requestContext: { functionArn: `${ARN}:$LATEST`, condition: 'RetriesExhausted', approximateInvokeCount: 1, requestId: expect.any(String) },
    requestPayload: payload,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: { errorType, errorMessage: expect.stringMatching(errorMessage) },
  });
};

describe('local Event invocations that fail', () => {
  it("sends the record of a handler's error to the on-failure destination (errorType is the error's name)", async () => {
    const s = await setup();
    await s.invoke({ mode: 'throw', site: 'site-a' });
    expectRecord(await s.record(), { mode: 'throw', site: 'site-a' }, 'InvalidInputError', /^the job names no calls$/);
    await s.stop();
  });

  it('sends the record of a timed-out invocation (Sandbox.Timedout, "Task timed out after …") and stops its runtime', async () => {
    const s = await setup({ timeoutSeconds: 1 });
    await s.invoke({ mode: 'hang' });
    expectRecord(await s.record(), { mode: 'hang' }, 'Sandbox.Timedout', /Task timed out after 1\.00 seconds/);
    expect(s.fn.running).toBe(false);
    await s.stop();
  });

  it('sends the record of a runtime that exited mid-invocation (Runtime.ExitError)', async () => {
    const s = await setup();
    await s.invoke({ mode: 'exit' });
    expectRecord(await s.record(), { mode: 'exit' }, 'Runtime.ExitError', /Runtime exited with error: exit status 3/);
    await s.stop();
  });

  it('sends the record of a runtime that ran out of its memory (Runtime.OutOfMemory)', async () => {
    const s = await setup({ memoryMb: 64 });
    await s.invoke({ mode: 'oom' });
    expectRecord(await s.record(), { mode: 'oom' }, 'Runtime.OutOfMemory', /signal: killed/);
    await s.stop();
  }, 60_000);

  it('sends nothing for an invocation that succeeds, and tells the handler the time left before its timeout', async () => {
    const s = await setup({ timeoutSeconds: 30 });
    await s.invoke({ mode: 'ok' });
    await s.stop();
    expect(s.records).toEqual([]);
    const direct = (await s.fn.invoke({ mode: 'ok' })) as { remaining: number };
    expect(direct.remaining).toBeGreaterThan(25_000);
    expect(direct.remaining).toBeLessThanOrEqual(30_000);
  });

  it("drops the record, logging DestinationDeliveryFailures, when the function's role may not invoke the destination", async () => {
    const s = await setup({ allowed: false });
    await s.invoke({ mode: 'throw' });
    await s.stop();
    expect(s.records).toEqual([]);
    expect(s.logs.join('\n')).toContain('DestinationDeliveryFailures: the role of ferry-x may not invoke x-failed');
  });
});

describe("the export function's asynchronous invocation as deployed", () => {
  it('names the export-failed function as its on-failure destination, which its role may invoke, and a 900 s timeout', () => {
    const snapshot = generatedSnapshot();
    expect(failureDestination(snapshot, 'export')).toEqual({ name: 'export-failed', arn: deployedFunctionArn(snapshot, 'export-failed'), allowed: true });
    expect(functionTimeoutSeconds(snapshot, 'export')).toBe(900);
  });

  it("finds the destination not allowed when the export role's grant is taken out of the template", () => {
    const snapshot = structuredClone(generatedSnapshot()) as DeploymentSnapshot;
    for (const template of Object.values(snapshot.templates)) {
      for (const resource of Object.values(template.Resources ?? {})) {
        const doc = resource.Properties?.PolicyDocument as { Statement?: { Sid?: string }[] } | undefined;
        if (resource.Type === 'AWS::IAM::Policy' && doc?.Statement) doc.Statement = doc.Statement.filter((st) => st.Sid !== 'InvokeFailureDestination');
      }
    }
    expect(failureDestination(snapshot, 'export')).toMatchObject({ name: 'export-failed', allowed: false });
  });
});
