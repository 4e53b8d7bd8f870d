import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { startLocalCloud, type LocalCloud, type LocalCloudInfo } from '../../local/cloud.ts';

// The local cloud enforces IAM unless told not to: started with no option at all, it runs the
// gateway for the generated local deployment (`ferry start`'s site), and says so in cloud.json.

let dir: string;
let cloud: LocalCloud;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-default-iam-'));
  cloud = await startLocalCloud({ directory: join(dir, 'cloud'), fresh: true, addressFile: join(dir, 'cloud.json') });
});

afterAll(async () => {
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the local cloud by default', () => {
  it('runs the IAM gateway for the generated deployment and writes its endpoints and key file to cloud.json', () => {
    expect(cloud.iam).toBeDefined();
    expect(() => cloud.iam!.credentialsOf('agent:demo')).not.toThrow();
    const info = JSON.parse(readFileSync(join(dir, 'cloud.json'), 'utf8')) as LocalCloudInfo;
    expect(info.iam).toEqual({ s3: cloud.iam!.s3Endpoint, dynamo: cloud.iam!.dynamoEndpoint, credentialsFile: cloud.iam!.credentialsFile });
    const principals = (JSON.parse(readFileSync(info.iam!.credentialsFile, 'utf8')) as { principals: { principal: string }[] }).principals.map((p) => p.principal);
    expect(principals).toEqual(expect.arrayContaining(['agent:demo', 'dr:demo', 'function:ingest', 'function:purge']));
  });

  it("refuses an agent's write outside its site and the stand-ins' key at the gateway, and lets the agent publish under its own prefix", async () => {
    const put = async (credentials: { accessKeyId: string; secretAccessKey: string }, key: string) => {
      const s3 = createS3Client({ region: cloud.region, endpoint: cloud.iam!.s3Endpoint, credentials, maxAttempts: 1 });
      try {
        await s3.send(new PutObjectCommand({ Bucket: cloud.bucket, Key: key, Body: 'x', ContentMD5: createHash('md5').update('x').digest('base64'), IfNoneMatch: '*' }));
        return 'ok';
      } catch (error) {
        return (error as { name: string }).name;
      } finally {
        s3.destroy();
      }
    };
    const agent = cloud.iam!.credentialsOf('agent:demo');
    expect(await put(agent, 'recordings/other-site/2024/01/01/p0.tar')).toBe('AccessDenied');
    expect(await put(cloud.credentials, 'recordings/demo/2024/01/01/p0.tar')).toBe('InvalidAccessKeyId');
    expect(await put(agent, 'recordings/demo/2024/01/01/p0.tar')).toBe('ok');
  });
});
