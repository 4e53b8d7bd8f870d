import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { RecallRequest } from '../../core/recall.ts';
import { MAX_EXECUTION_INPUT_BYTES, startRecallEndpoint } from '../../local/recall-endpoint.ts';
import type { Listening } from '../../local/listen.ts';

// The local StartExecution refuses what Step Functions refuses before an execution starts: input
// over 256 KiB of UTF-8, input that is not JSON, a name over 80 characters or with characters a
// name may not hold. Real SDK v3 client, real HTTP; the recall workflow behind it is a recorder.

const ARN = 'arn:aws:states:eu-west-1:111122223333:stateMachine:ferry-recall';
const started: RecallRequest[] = [];
let endpoint: Listening;
let sfn: SFNClient;

beforeAll(async () => {
  endpoint = await startRecallEndpoint(ARN, () => ({ startRecall: async (r) => (started.push(r), { execution: `${ARN.replace('stateMachine', 'execution')}:x` }) }));
  sfn = new SFNClient({ endpoint: endpoint.url, region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
});
afterAll(async () => {
  sfn?.destroy();
  await endpoint?.stop();
});

async function refusal(input: string, name?: string) {
  const error = await sfn.send(new StartExecutionCommand({ stateMachineArn: ARN, input, ...(name === undefined ? {} : { name }) })).then(
    () => undefined,
    (e: unknown) => e as { name: string; message: string },
  );
  return error && { name: error.name, message: error.message };
}

/** A recall request of exactly `bytes` bytes of UTF-8 as JSON, its requester padded with `é` (two bytes each). */
function inputOf(bytes: number): string {
  const bare = JSON.stringify({ site: 'site-a', rid: 'r1', requester: '' });
  const pad = bytes - Buffer.byteLength(bare);
  return JSON.stringify({ site: 'site-a', rid: 'r1', requester: 'é'.repeat(Math.floor(pad / 2)) + 'a'.repeat(pad % 2) });
}

describe('the local StartExecution', () => {
  it('starts an execution of an input of exactly 262,144 bytes of UTF-8 and refuses one byte more (a count of characters passes it), starting nothing', async () => {
    expect(await refusal(inputOf(MAX_EXECUTION_INPUT_BYTES))).toBeUndefined();
    expect(started).toHaveLength(1);
    const over = inputOf(MAX_EXECUTION_INPUT_BYTES + 1);
    expect(over.length).toBeLessThan(MAX_EXECUTION_INPUT_BYTES);
    expect(await refusal(over)).toMatchObject({ name: 'ValidationException', message: expect.stringContaining("Value at 'input'") });
    expect(started).toHaveLength(1);
  });

  it('refuses input that is not JSON, a name of 81 characters and a name with a slash or a space', async () => {
    expect(await refusal('{site')).toMatchObject({ name: 'InvalidExecutionInput' });
    const input = JSON.stringify({ site: 'site-a', rid: 'r2', requester: 'x' });
    expect(await refusal(input, 'n'.repeat(81))).toMatchObject({ name: 'ValidationException', message: expect.stringContaining("Value at 'name'") });
    expect(await refusal(input, 'site-a/r2')).toMatchObject({ name: 'InvalidName' });
    expect(await refusal(input, 'site a')).toMatchObject({ name: 'InvalidName' });
    expect(await refusal(input, `recall-site-a-${'r'.repeat(66)}`)).toBeUndefined();
    expect(started.map((r) => r.rid)).toEqual(['r1', 'r2']);
  });
});
