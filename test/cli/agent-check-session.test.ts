// `ferry agent check` against a store that refuses the agent's temporary credentials: the check
// names the expired session (or the refused token, or the role's source key STS no longer knows)
// and what to do, not "the store did not take this agent". aws-sdk-client-mock stands in for S3.
import { GetObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { storeProblem } from '../../cli/build-agent.ts';
import { parseAgentConfig } from '../../core/config.ts';

const s3 = mockClient(S3Client);
afterAll(() => {
  s3.restore();
});
afterEach(() => {
  s3.reset();
});

const config = parseAgentConfig(`
site: site-a
state: /tmp/ferry-agent-check-session-state
cloud: { bucket: ferry-data, region: eu-west-2, credentials: { accessKeyId: ASIAEXAMPLE, secretAccessKey: secret } }
sources:
  - { name: contactstore, type: recordings, path: /tmp/ferry-agent-check-session-recordings }
`);

function refusal(name: string, status: number): S3ServiceException {
  return new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status, requestId: 'R1' }, message: `${name} said` });
}

describe('agent check with temporary credentials the store refuses', () => {
  it.each([
    ['ExpiredToken', 400, /^the agent's temporary credentials expired \(ExpiredToken\): .*Give the agent a profile that renews its session/],
    ['InvalidToken', 400, /^the store refused the session token of .* \(InvalidToken/],
    ['InvalidClientTokenId', 403, /^AWS knows no such access key for the profile the agent assumes its role with \(InvalidClientTokenId/],
  ])('names %s as the credentials problem, with the store words after it', async (name, status, words) => {
    s3.on(GetObjectCommand).rejects(refusal(name, status));
    const problem = await storeProblem(config, {});
    expect(problem).toMatch(words);
    expect(problem).toContain(`(S3 get heartbeats/site-a/`);
    expect(problem).toContain(`${name}: ${name} said)`);
  });
});
