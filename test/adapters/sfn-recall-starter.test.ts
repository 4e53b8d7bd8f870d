// The recall starter sends one StartExecution to the recall state machine with the request as
// input, and classifies Step Functions errors by behaviour. aws-sdk-client-mock stands in for SFN.
import { ExecutionLimitExceeded, SFNClient, StartExecutionCommand, StateMachineDoesNotExist } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SfnRecallStarter } from '../../adapters/sfn-recall-starter.ts';
import { TransientError } from '../../core/errors.ts';

const sfn = mockClient(SFNClient);
// The clients' classes stay mocked until restored: later test files in this process use the real ones.
afterAll(() => { sfn.restore(); });
const ARN = 'arn:aws:states:eu-west-1:111122223333:stateMachine:Ferry-recall';
const starter = new SfnRecallStarter(new SFNClient({ region: 'eu-west-1' }), ARN);
const request = { site: 'site-a', rid: 'r0123456789abcdef0123456', requester: 'arn:aws:sts::111122223333:assumed-role/officer/alice' };

afterEach(() => {
  sfn.reset();
});

describe('SfnRecallStarter', () => {
  it('starts the recall state machine with the request as its input and returns the execution ARN', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${ARN}:x1`, startDate: new Date() });
    expect(await starter.startRecall(request)).toEqual({ execution: `${ARN}:x1` });
    const sent = sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input;
    expect(sent.stateMachineArn).toBe(ARN);
    expect(JSON.parse(sent.input!)).toEqual(request);
  });

  it('maps a full execution quota to TransientError and a missing state machine to a fatal error', async () => {
    sfn.on(StartExecutionCommand).rejectsOnce(new ExecutionLimitExceeded({ message: 'too many', $metadata: {} })).rejectsOnce(new StateMachineDoesNotExist({ message: 'gone', $metadata: {} }));
    await expect(starter.startRecall(request)).rejects.toBeInstanceOf(TransientError);
    await expect(starter.startRecall(request)).rejects.toMatchObject({ kind: 'fatal', message: expect.stringContaining('StateMachineDoesNotExist') });
  });
});
