import { PublishCommand } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSnsClient } from '../../adapters/sns-notifier.ts';
import { deployedVariable, generatedSnapshot } from '../../local/function-environment.ts';
import { CredentialTable } from '../../local/iam-gateway/credentials.ts';
import { loadLocalDeployment } from '../../local/iam-gateway/deployment.ts';
import { startSnsStandIn, type PublishedAlert } from '../../local/sns-stand-in.ts';

// The local alert topic decides a Publish as SNS does with the deployment's synthesized
// policies: the dead-man's switch (alerts.grantPublish) may publish to the alert topic, the
// audit sealer (no sns:* grant) may not.

const deployment = loadLocalDeployment({ sites: ['demo'] });
const credentials = CredentialTable.generate([...deployment.principals.values()]);
const topicArn = deployedVariable(generatedSnapshot(), 'deadman', 'TOPIC_ARN')!;
const published: PublishedAlert[] = [];
let sns: Awaited<ReturnType<typeof startSnsStandIn>>;

beforeAll(async () => {
  sns = await startSnsStandIn({ topicArn, iam: { deployment, credentials }, onPublish: (a) => published.push(a) });
});
afterAll(() => sns?.stop());

const publishAs = (principal: string, topic = topicArn) =>
  createSnsClient({ region: deployment.env.region, endpoint: sns.endpoint, credentials: credentials.of(principal) })
    .send(new PublishCommand({ TopicArn: topic, Subject: 'Ferry demo: agent silent', Message: 'no heartbeat' }))
    .then(
      (out) => `published ${out.MessageId ? 'with an id' : 'without an id'}`,
      (e: unknown) => (e as Error).name,
    );

describe('the local SNS stand-in', () => {
  it("takes a Publish from the dead-man's switch role (its sns:Publish grant on the topic) and keeps the message with its publisher", async () => {
    expect(topicArn).toMatch(/^arn:aws:sns:[\w-]+:\d{12}:/);
    expect(await publishAs('function:deadman')).toBe('published with an id');
    expect(published).toEqual([{ topicArn, subject: 'Ferry demo: agent silent', message: 'no heartbeat', principal: 'function:deadman', at: expect.any(String) as unknown }]);
  });

  it('refuses a Publish by a role without an sns:Publish grant (the audit sealer) and one to a topic its grant does not name, with AuthorizationError', async () => {
    expect(await publishAs('function:audit-seal')).toBe('AuthorizationErrorException');
    // Its grant names the topic: another topic is refused by IAM before SNS looks for it.
    expect(await publishAs('function:deadman', `${topicArn}-other`)).toBe('AuthorizationErrorException');
    expect(published).toHaveLength(1);
  });
});
